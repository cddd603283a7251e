"""A shared app under attack by file (issue 19): the bomb refused, the liar killed in its child.

    python benchmarks/safety.py                 # build the files in a temp folder, measure, write
    python benchmarks/safety.py --workdir DIR   # keep (or reuse) the files in DIR

Not a test. Two files, both in the workspace's data folder (a data root):

- the bomb of issue 19: a 5,000,000 rows x 2,000 zero floats Parquet file (zstd, about 44 MiB on
  disk, about 75 GiB decoded). Its rows and columns each pass their caps; their product does
  not, which the footer says.
- a liar: 5,000 rows of one 1 MiB text behind a dictionary page, no Arrow schema stored: a few
  KiB on disk, its footer declares about 1 MiB of text, it decodes to about 5 GiB. It passes
  every cap; only the memory limit of the child that parses it (about twice the 2,048 MiB
  budget) stops it.

Measured twice:

1. The loader alone, in a fresh interpreter (the app's code path: caps, then the isolated
   parse): seconds to the refusal and the growth of its peak RSS (VmHWM) over the baseline
   after imports.
2. The real app (`streamlit run app.py`, headless Chromium through Playwright): a browser session
   types each path into "File on the server"; timed from Enter to the refusal on the page; the
   app process's RSS and peak RSS (VmHWM) before and after; for the liar, a second session opens
   the Data page (the demo) while the child parses and dies, timed against the same page opened
   alone, the app's health endpoint polled meanwhile, and the child's peak RSS sampled.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # browser_support: the app server and Chromium helpers
sys.path.insert(0, str(ROOT / "benchmarks"))

import benchutil  # noqa: E402

BOMB_ROWS, BOMB_COLUMNS, GROUP_ROWS = 5_000_000, 2_000, 1_000_000
LIAR_ROWS = 5_000
TARGET_S, TARGET_MIB = 1.0, 50.0
PROBE = """
import json, re, sys, time
import pandas, pyarrow.parquet
from modeldev.config import Limits
from modeldev.data.loading import load_table
from modeldev.errors import InputError
def peak():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", f.read()).group(1))
base, message, start = peak(), None, time.perf_counter()
try:
    load_table(sys.argv[1], Limits(isolate=True))
except InputError as exc:
    message = str(exc)
print(json.dumps({"message": message, "seconds": time.perf_counter() - start,
                  "grew_mib": (peak() - base) / 1024}))
"""


def build_files(data: Path) -> dict[str, Any]:
    """The bomb and the liar in `data` (kept when already there); their sizes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    data.mkdir(parents=True, exist_ok=True)
    bomb, liar = data / "bomb.parquet", data / "liar.parquet"
    if not bomb.is_file():
        started = time.perf_counter()
        zeros = pa.array(np.zeros(GROUP_ROWS))
        schema = pa.schema([(f"c{i}", pa.float64()) for i in range(BOMB_COLUMNS)])
        group = pa.Table.from_arrays([zeros] * BOMB_COLUMNS, schema=schema)
        partial = bomb.with_suffix(".partial")
        with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
            for _ in range(BOMB_ROWS // GROUP_ROWS):
                writer.write_table(group, row_group_size=GROUP_ROWS)
        partial.rename(bomb)
        print(f"bomb written in {time.perf_counter() - started:.0f} s", flush=True)
    if not liar.is_file():
        text = pa.array(["x" * (1 << 20)])
        column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(LIAR_ROWS, dtype="int32")),
                                                text)
        pq.write_table(pa.table({"text": column, "y": np.arange(LIAR_ROWS) % 2}), liar,
                       compression="zstd", store_schema=False)
    return {"bomb_bytes": bomb.stat().st_size, "liar_bytes": liar.stat().st_size,
            "bomb_decoded_gib": BOMB_ROWS * BOMB_COLUMNS * 8 / 2**30,
            "liar_decoded_gib": LIAR_ROWS * (1 << 20) / 2**30}


def probe(path: Path) -> dict[str, Any]:
    """The loader alone, in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True,
                         text=True, timeout=600, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout)


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return int(re.search(rf"{field}:\s+(\d+) kB", fh.read()).group(1))


def _memory(pid: int) -> dict[str, float]:
    return {"rss_mib": _status_kib(pid, "VmRSS") / 1024,
            "peak_mib": _status_kib(pid, "VmHWM") / 1024}


class Watch:
    """Polls the app's health endpoint and its children's RSS in a thread while it runs."""

    def __init__(self, url: str, pid: int) -> None:
        self.url, self.pid = url, pid
        self.health_ms: list[float] = []
        self.child_peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        app = psutil.Process(self.pid)
        while not self._stop.is_set():
            start = time.perf_counter()
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=30):
                self.health_ms.append((time.perf_counter() - start) * 1000)
            for child in app.children(recursive=True):
                try:
                    if "modeldev.data.isolated" in " ".join(child.cmdline()):
                        rss = child.memory_info().rss / 2**20
                        self.child_peak_mib = max(self.child_peak_mib, rss)
                except psutil.Error:
                    continue
            self._stop.wait(0.05)


def in_the_app(workspace: Path, log: Path) -> dict[str, Any]:
    """Both files typed into the real app by one browser session, another one served; first a
    path that does not exist, for what the same rerun costs without any table."""
    from browser_support import (
        WAIT_MS,
        launch_chromium,
        new_context,
        running_app,
        runs_ended,
        settled,
        wait_idle,
        wait_runs_ended,
    )
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with running_app(workspace, log) as app, sync_playwright() as pw:
        browser = launch_chromium(pw)
        victim, bystander = new_context(browser).new_page(), new_context(browser).new_page()

        def open_data(page: Any) -> float:
            start = time.perf_counter()
            page.goto(app.url + "/")
            page.get_by_text("Task in use: binary").wait_for(state="visible", timeout=WAIT_MS)
            return time.perf_counter() - start

        open_data(victim)
        wait_idle(victim)
        settled(victim, victim.get_by_text("File on the server", exact=True).click)
        field = victim.get_by_role("textbox", name="Path of a CSV or Parquet file on the server")
        alone = [open_data(bystander) for _ in range(3)]
        pid = app.process.pid
        for name, pattern in (("missing", r"no such file"), ("bomb", r"^Too large: bomb"),
                              ("liar", r"decoded, it needs more than")):
            before = _memory(pid)
            field.fill(str(workspace / "data" / f"{name}.parquet"))
            runs = runs_ended(victim)
            with Watch(app.url, pid) as watch:
                start = time.perf_counter()
                field.press("Enter")
                during = open_data(bystander) if name == "liar" else None
                wait_runs_ended(victim, runs)
                ran = time.perf_counter() - start
                shown = victim.get_by_text(re.compile(pattern))
                shown.wait_for(state="visible", timeout=WAIT_MS)
                refused = time.perf_counter() - start
            after = _memory(pid)
            out[name] = {"run_ended_s": ran, "refused_s": refused, "app_before": before,
                         "app_after": after,
                         "app_rss_grew_mib": after["rss_mib"] - before["rss_mib"],
                         "app_peak_grew_mib": after["peak_mib"] - before["peak_mib"],
                         "health_max_ms": max(watch.health_ms, default=None),
                         "health_polls": len(watch.health_ms),
                         "child_peak_mib": watch.child_peak_mib or None,
                         "bystander_during_s": during, "app_alive": app.process.poll() is None,
                         "message": shown.inner_text()}
        out["bystander_alone_s"] = alone
        out["bystander_alone_median_s"] = statistics.median(alone)
        browser.close()
    return out


def render(result: dict[str, Any]) -> str:
    """safety.md from the measured result."""
    files, app, load = result["files"], result["app"], result["loader"]
    cases = ("missing", "bomb", "liar")
    bomb, liar = app["bomb"], app["liar"]
    met = (load["bomb"]["seconds"] < TARGET_S and bomb["run_ended_s"] < TARGET_S
           and bomb["app_peak_grew_mib"] < TARGET_MIB)

    def row(label: str, fmt: str, key: str) -> str:
        values = [app[c].get(key) for c in cases]
        return f"| {label} | " + " | ".join("-" if v is None else fmt.format(v)
                                           for v in values) + " |"

    lines = [
        "# A shared app under attack by file (benchmarks/safety.py)", "",
        f"Measured {result['when']} on {result['machine'].get('cpu_model') or '?'} "
        f"({result['machine'].get('usable_cpus', '?')} cores, "
        f"{result['machine'].get('memory_gib', '?')} GiB), load average before "
        f"{result['load_before']}, after {result['load_after']} (the machine was shared: "
        "another checkout's test suite ran beside it).", "",
        f"- the bomb: {BOMB_ROWS:,} rows x {BOMB_COLUMNS:,} zero floats, "
        f"{files['bomb_bytes'] / 2**20:.1f} MiB on disk, {files['bomb_decoded_gib']:.1f} GiB "
        "decoded;",
        f"- the liar: {LIAR_ROWS:,} rows of one 1 MiB text behind a dictionary page, "
        f"{files['liar_bytes']:,} bytes on disk, {files['liar_decoded_gib']:.1f} GiB decoded;",
        "- missing: a path in the data folder that does not exist (the same rerun, no table).", "",
        "The loader alone, in a fresh interpreter:", "",
        "| | bomb | liar |", "|---|---:|---:|",
        f"| refused after | {load['bomb']['seconds']:.3f} s | {load['liar']['seconds']:.3f} s |",
        f"| peak RSS grew | {load['bomb']['grew_mib']:.1f} MiB | "
        f"{load['liar']['grew_mib']:.1f} MiB |", "",
        "The real app, a browser session typing the path into \"File on the server\":", "",
        "| | missing | bomb | liar |", "|---|---:|---:|---:|",
        row("Enter to the end of the script run (s)", "{:.3f}", "run_ended_s"),
        row("Enter to the refusal visible (s)", "{:.3f}", "refused_s"),
        row("the app's RSS grew (MiB)", "{:+.1f}", "app_rss_grew_mib"),
        row("the app's peak RSS (VmHWM) grew (MiB)", "{:+.1f}", "app_peak_grew_mib"),
        row("the parsing child's peak RSS, sampled (MiB)", "{:.0f}", "child_peak_mib"),
        row("slowest answer of the health endpoint meanwhile (ms)", "{:.0f}", "health_max_ms"),
        row("the app alive afterwards", "{}", "app_alive"), "",
        f"Another session opening the Data page (the demo) while the liar's child parsed and "
        f"died: {liar['bystander_during_s']:.2f} s; the same page alone, median of 3: "
        f"{app['bystander_alone_median_s']:.2f} s.", "",
        f"Target (the bomb refused in under {TARGET_S:.0f} s, by the loader and by the app's "
        f"script run, with the app's memory flat, +< {TARGET_MIB:.0f} MiB): "
        f"{'met' if met else 'NOT met'}.", "",
        f"The refusals: \"{bomb['message']}\" and \"{liar['message']}\"",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="keep the files here (reused if present)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modeldev-safety-") as tmp:
        work = args.workdir or Path(tmp)
        workspace = work / "ws"
        files = build_files(workspace / "data")
        result: dict[str, Any] = {"when": benchutil.utc_now(), "machine": benchutil.machine(),
                                  "packages": benchutil.packages(), "files": files,
                                  "load_before": benchutil.loadavg()}
        result["loader"] = {name: probe(workspace / "data" / f"{name}.parquet")
                            for name in ("bomb", "liar")}
        print(json.dumps(result["loader"], indent=2), flush=True)
        result["app"] = in_the_app(workspace, work / "streamlit.log")
        result["load_after"] = benchutil.loadavg()
    benchutil.write_json(benchutil.RESULTS / "safety.json", result)
    text = render(result)
    (benchutil.RESULTS / "safety.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
