"""Serving benchmark: `modeldev predict` on 1,000,000 rows x 30 columns for the six
classification frameworks, and each model's serving card.

    python benchmarks/serving.py                    # 1,000,000 rows scored, writes results
    python benchmarks/serving.py --rows 200000      # a smaller file
    python benchmarks/serving.py --quick            # 20,000 rows, two frameworks, prints only
    python benchmarks/serving.py --render           # rewrite serving.md from serving.json

Not a test. In a fresh temporary workspace, as separate `modeldev` processes:
1. `modeldev train` fits every classification framework on 20,000 rows of benchmarks/phase1.py's
   table (24 numeric columns, six with missing values, and 6 text columns), 2 folds;
2. `modeldev register --run <framework run> --name bench_<framework>` registers each framework's
   model as its own champion, which measures its serving card (cold load, p50/p95 latency of
   `pyfunc.predict` at batch 1 and 1,024, memory: `tracking/probe.py` in a fresh process);
3. `modeldev predict --model models:/bench_<framework>@champion --data <ROWS rows>.csv --out
   <...>.parquet --json` once per framework on a file of `--rows` fresh rows of the same table
   (another seed; the target column left in: it is ignored and listed).
Rows per second: rows / the command's own `seconds` (file checks, model load and scoring; not
interpreter start-up and imports) and rows / the process's wall time. Peak memory: the predict
process's own peak resident memory, from a small launcher that forks it and reads `wait4`'s
rusage (a child forked straight from this large process would report this process's size:
Linux carries `ru_maxrss` across exec). Tests never assert these numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchutil

RESULTS = benchutil.RESULTS
FRAMEWORKS = ("sklearn_logistic_regression", "sklearn_random_forest", "xgboost_baseline",
              "lightgbm_baseline", "tensorflow_nn", "pytorch_nn")
TRAIN_ROWS, ROWS, QUICK_ROWS = 20_000, 1_000_000, 20_000
LAUNCHER = ("import json, os, sys, time\nt = time.perf_counter()\npid = os.fork()\n"
            "if pid == 0:\n    os.execv(sys.argv[1], sys.argv[1:])\n"
            "_, status, ru = os.wait4(pid, 0)\n"
            "print(json.dumps({'exit': os.waitstatus_to_exitcode(status), "
            "'wall_s': time.perf_counter() - t, 'peak_rss_mib': ru.ru_maxrss / 1024, "
            "'cpu_s': ru.ru_utime + ru.ru_stime}), file=sys.stderr)\n")


def modeldev(*args: Any) -> list[str]:
    """The `modeldev` command of this environment with `args`."""
    return [sys.executable, "-m", "modeldev.cli", *map(str, args)]


def train(ws: Path, frameworks: tuple[str, ...]) -> dict[str, str]:
    """Phase 1 on TRAIN_ROWS rows; framework -> its run id."""
    frame = benchutil.make_dataset(TRAIN_ROWS, seed=0)
    frame.to_csv(ws / "train.csv", index=False)
    stage = benchutil.run_stage("train", modeldev(
        "train", "--data", ws / "train.csv", "--target", "target", "--frameworks",
        ",".join(frameworks), "--cv", "2", "--repeats", "1", "--json", "--workspace", ws))
    runs = json.loads(stage["stdout"])["runs"]
    return {r["name"]: r["run_id"] for r in runs if r["status"] == "FINISHED"}


def register(ws: Path, name: str, run_id: str) -> dict[str, Any]:
    """`modeldev register` of one framework's run; its --json summary (with the card)."""
    stage = benchutil.run_stage(f"register {name}", modeldev(
        "register", "--run", run_id, "--name", f"bench_{name}", "--json", "--workspace", ws))
    return json.loads(stage["stdout"])


def predict(ws: Path, name: str, data: Path) -> dict[str, Any]:
    """`modeldev predict` of the big file by one framework's champion, through the launcher."""
    out = ws / f"{name}.parquet"
    cmd = [sys.executable, "-c", LAUNCHER, sys.executable, "-m", "modeldev.cli", "predict",
           "--model", f"models:/bench_{name}@champion", "--data", str(data), "--out", str(out),
           "--json", "--workspace", str(ws)]
    import subprocess

    print(f"[{time.strftime('%H:%M:%S')}] predict {name}", flush=True)
    load = benchutil.loadavg()
    done = subprocess.run(cmd, capture_output=True, text=True, env=benchutil.child_env())
    launched = json.loads(done.stderr.strip().splitlines()[-1])
    if launched["exit"] != 0:
        raise SystemExit(f"predict {name} failed: {done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    row = {"framework": name, "rows": summary["rows"], "seconds": summary["seconds"],
           "rows_per_s": summary["rows"] / summary["seconds"],
           "process_wall_s": launched["wall_s"],
           "rows_per_s_process": summary["rows"] / launched["wall_s"],
           "peak_rss_mib": launched["peak_rss_mib"], "cpu_s": launched["cpu_s"],
           "output_mib": out.stat().st_size / 2**20, "loadavg_before": load,
           "loadavg_after": benchutil.loadavg(), "ignored": summary["ignored_columns"],
           "converted": summary["converted_columns"]}
    print(f"  {name}: {row['rows']:,} rows in {row['seconds']:.1f} s "
          f"({row['rows_per_s']:,.0f} rows/s), peak {row['peak_rss_mib']:.0f} MiB", flush=True)
    return row


def card_row(name: str, summary: dict[str, Any]) -> dict[str, Any]:
    """The serving card's measured figures of one framework."""
    m = summary["measured"]
    lat = m.get("latency_ms") or {}
    return {"framework": name, "error": m.get("error"),
            "cold_load_s": m.get("cold_load_seconds"),
            "first_prediction_s": m.get("first_prediction_seconds"),
            **{f"{q}_ms_{b}": (lat.get(b) or {}).get(q) for b in ("batch_1", "batch_1024")
               for q in ("p50", "p95")},
            "model_mib": m.get("model_size_mib"),
            "memory_model_mib": (m["memory_after_load_mib"] - m["memory_before_load_mib"])
            if "memory_after_load_mib" in m else None,
            "peak_memory_mib": m.get("peak_memory_mib")}


def run(rows: int, frameworks: tuple[str, ...]) -> dict[str, Any]:
    """Every stage in a fresh workspace; the figures."""
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="modeldev-serving-bench-") as tmp:
        ws = Path(tmp)
        data = ws / "new.csv"
        benchutil.make_dataset(rows, seed=1).to_csv(data, index=False)
        file_mib = data.stat().st_size / 2**20
        run_ids = train(ws, frameworks)
        cards = [card_row(n, register(ws, n, run_ids[n])) for n in frameworks if n in run_ids]
        scored = [predict(ws, n, data) for n in frameworks if n in run_ids]
    return {"generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": benchutil.machine(), "packages": benchutil.packages(), "rows": rows,
            "train_rows": TRAIN_ROWS, "columns": 30, "file_mib": file_mib,
            "failed": [n for n in frameworks if n not in run_ids], "predict": scored,
            "cards": cards, "wall_s": time.time() - started}


def _f(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render(result: dict[str, Any]) -> str:
    """serving.md from serving.json."""
    m = result["machine"]
    lines = [
        "# Serving benchmark", "",
        f"`python benchmarks/serving.py` on {m['usable_cpus']} cores ({m['cpu_model']}), "
        f"{m['memory_gib']} GiB, Python {m['python']}, MLflow {result['packages']['mlflow']}; "
        f"generated {result['generated']}. Each framework fitted on {result['train_rows']:,} "
        f"rows of the benchmark table (2 folds), registered as `bench_<framework>@champion` "
        f"(its serving card measured), then `modeldev predict` on a CSV of "
        f"{result['rows']:,} rows x {result['columns']} columns ({result['file_mib']:,.0f} MiB) "
        "into Parquet, each a separate process.", "",
        "## `modeldev predict` throughput", "",
        "| framework | rows/s (command) | seconds | rows/s (process) | peak RSS MiB | CPU s |",
        "|---|---:|---:|---:|---:|---:|"]
    for r in result["predict"]:
        lines.append(f"| {r['framework']} | {_f(r['rows_per_s'], 0)} | {_f(r['seconds'])} | "
                     f"{_f(r['rows_per_s_process'], 0)} | {_f(r['peak_rss_mib'], 0)} | "
                     f"{_f(r['cpu_s'])} |")
    lines += ["", "## Serving cards (`pyfunc.predict` in a fresh process)", "",
              "| framework | cold load s | first call s | p50 / p95 ms, 1 row | "
              "p50 / p95 ms, 1,024 rows | model MiB | model's memory MiB | peak RSS MiB |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for c in result["cards"]:
        lines.append(f"| {c['framework']} | {_f(c['cold_load_s'], 2)} | "
                     f"{_f(c['first_prediction_s'], 2)} | {_f(c['p50_ms_batch_1'])} / "
                     f"{_f(c['p95_ms_batch_1'])} | {_f(c['p50_ms_batch_1024'])} / "
                     f"{_f(c['p95_ms_batch_1024'])} | {_f(c['model_mib'], 2)} | "
                     f"{_f(c['memory_model_mib'], 0)} | {_f(c['peak_memory_mib'], 0)} |")
    loads = [r["loadavg_after"][0] for r in result["predict"]]
    lines += ["", f"Load average (1 min) after each predict: {loads}; load at the start "
              f"{m['loadavg_at_start']}. Failed to train: {result['failed'] or 'none'}."]
    if max(loads, default=0) > m["usable_cpus"]:
        lines += ["", f"**Taken on a shared machine**: the load stayed above the "
                  f"{m['usable_cpus']} cores (other test suites and benchmarks ran), so every "
                  "figure here is slower and noisier than on an idle machine; p95 latencies "
                  "most of all."]
    lines += ["", "Rows/s (command): rows over the command's own `seconds` (file checks, model "
              "load and fetch, reading the CSV in 50,000-row chunks, scoring, writing Parquet); "
              "rows/s (process): over the process's wall time, interpreter start and imports "
              "included. Peak RSS: the predict process's own. Serving cards: see "
              "docs/serving.md for how each figure is measured.", ""]
    return "\n".join(lines)


def main() -> None:
    """Run (or render) the benchmark."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=ROWS)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--render", action="store_true")
    args = p.parse_args()
    if args.render:
        result = json.loads((RESULTS / "serving.json").read_text())
        (RESULTS / "serving.md").write_text(render(result))
        return
    rows, frameworks = (QUICK_ROWS, FRAMEWORKS[:2]) if args.quick else (args.rows, FRAMEWORKS)
    result = run(rows, frameworks)
    print(render(result))
    if not args.quick:
        (RESULTS / "serving.json").write_text(json.dumps(result, indent=2) + "\n")
        (RESULTS / "serving.md").write_text(render(result))


if __name__ == "__main__":
    main()
