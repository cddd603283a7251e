"""Quick-start benchmark: the README's two commands, end to end, as an analyst runs them.

    python benchmarks/quickstart.py               # breast_cancer, writes results/quickstart.*
    python benchmarks/quickstart.py --quick       # a 4-combination grid: checks the script only
    python benchmarks/quickstart.py --render      # rewrite quickstart.md from quickstart.json

Not a test. In a fresh temporary folder (the working directory, so the workspace is the default
`./modeldev_workspace`, with no MODELDEV_* or MLFLOW_TRACKING_URI variables), it runs

    modeldev train --demo breast_cancer
    modeldev tune

as two real processes, one after the other, through the `modeldev` console script next to this
interpreter (or `python -m modeldev.cli`, the same entry point, where there is none), and times
each from outside (interpreter start and imports included) with the CPU seconds of its whole
process tree. Issue 10's target: the two together under 5 minutes on 2 cores. Both print what
an analyst sees (kept in the results); what won, what was tuned, how many combinations and the
verdict are read from the files the session leaves in the workspace (`pipeline_context.json`,
the Phase 1 folder's `best_model_info.json` and `selection_rationale.json`, the tuning
folder's `tuned_model_info.json` and `tuning_summary_report.json`).

`--quick` adds `--grid` with 4 combinations to the tune command (so it is not the README's
command); it only proves that the script works and writes nothing unless --out-dir is given.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import benchutil as bu

TARGET_S = 300.0
DEMO = "breast_cancer"
QUICK_GRID = {"C": [0.1, 1.0], "max_iter": [500, 1000]}  # logistic regression's names


def entry_point() -> list[str]:
    """The `modeldev` command: the console script beside this interpreter, else -m."""
    script = Path(sys.executable).with_name("modeldev")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "modeldev.cli"]


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _one(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.rglob(pattern))
    return found[-1] if found else None


def session_facts(workspace: Path) -> dict[str, Any]:
    """What won Phase 1, what was tuned and how it ended, from the workspace's files."""
    context = _read(workspace / "pipeline_context.json") or {}
    phase1 = context.get("epoch_005_phase1") or {}
    outputs = context.get("epoch_005_outputs") or {}
    best_info = _one(workspace, "best_model_info.json")
    selection = _one(workspace, "selection_rationale.json")
    tuned = _one(workspace, "tuned_model_info.json")
    summary = _one(workspace, "tuning_summary_report.json")
    tuned_info, summary_info = _read(tuned) if tuned else {}, _read(summary) if summary else {}
    sel = _read(selection) if selection else {}
    return {
        "phase1_winner": phase1.get("best_model_name"),
        "phase1_primary_metric": phase1.get("primary_metric"),
        "phase1_best_value": phase1.get("best_metric_value"),
        "phase1_top_tier": (sel or {}).get("top_tier"),
        "phase1_best_model_info": _read(best_info) if best_info else None,
        "tuned_framework": (tuned_info or {}).get("model_name") or outputs.get("best_model_name"),
        "n_combinations": (summary_info or {}).get("n_combinations"),
        "n_completed": (summary_info or {}).get("n_completed"),
        "n_failed": (summary_info or {}).get("n_failed"),
        "verdict": (tuned_info or {}).get("verdict") or outputs.get("verdict"),
        "carried_forward": (tuned_info or {}).get("carried_forward"),
        "note": (tuned_info or {}).get("note"),
        "improvement_pct": (tuned_info or {}).get("improvement_pct"),
        "tuned_test_value": (tuned_info or {}).get("final_metric_value"),
        "baseline_test_value": (tuned_info or {}).get("baseline_metric_value"),
        "tuning_engine_wall_s": (summary_info or {}).get("wall_seconds"),
        "cv_folds": (tuned_info or {}).get("cv_folds"),
        "cv_repeats": (tuned_info or {}).get("cv_repeats"),
    }


def run(quick: bool) -> dict[str, Any]:
    """Both commands in a fresh folder; their times, outputs and the session's facts."""
    cmd = entry_point()
    with tempfile.TemporaryDirectory(prefix="modeldev-quickstart-") as tmp:
        folder = Path(tmp)
        grid: list[str] = []
        if quick:
            (folder / "grid.json").write_text(json.dumps(QUICK_GRID))
            grid = ["--grid", str(folder / "grid.json")]
        env = bu.child_env()
        train = bu.run_stage("modeldev train", [*cmd, "train", "--demo", DEMO], env=env,
                             cwd=folder, timeout=1800)
        facts = session_facts(folder / "modeldev_workspace")
        if quick and facts["phase1_winner"] != "sklearn_logistic_regression":
            grid = []  # the quick grid is logistic regression's: let another winner use its own
            print("  (quick: the winner is not logistic regression, so tune runs its default "
                  "grid)", flush=True)
        tune = bu.run_stage("modeldev tune", [*cmd, "tune", *grid], env=env, cwd=folder,
                            timeout=1800)
        facts = session_facts(folder / "modeldev_workspace")
        shutil.rmtree(folder / "modeldev_workspace", ignore_errors=True)
    return {"entry_point": cmd, "stages": {"train": train, "tune": tune}, "facts": facts,
            "total_wall_s": train["wall_s"] + tune["wall_s"],
            "total_cpu_s": train["cpu_s"] + tune["cpu_s"]}


def verdict(results: dict[str, Any]) -> str:
    """Whether the quick start stays under the target."""
    total, met = results["total_wall_s"], results["total_wall_s"] < TARGET_S
    target = (f"`modeldev train --demo {DEMO} && modeldev tune` end to end under "
              f"{TARGET_S:.0f} s")
    if results["quick"]:
        return f"Target ({target}) not judged: --quick ran a 4-combination grid ({total:.1f} s)."
    return (f"**Target ({target}): {'met' if met else 'NOT met'}** - {total:.1f} s "
            f"(train {results['stages']['train']['wall_s']:.1f} s, tune "
            f"{results['stages']['tune']['wall_s']:.1f} s).")


def lines(results: dict[str, Any]) -> list[str]:
    """The table and the facts."""
    s, f = results["stages"], results["facts"]
    rows = ["| command | wall s | CPU s (tree) | cores used | peak RSS of the tree MiB | "
            "other processes' cores |", "|---|---:|---:|---:|---:|---:|"]
    for name, label in (("train", f"modeldev train --demo {DEMO}"), ("tune", "modeldev tune")):
        st = s[name]
        rows.append(f"| `{label}` | {st['wall_s']:.1f} | {st['cpu_s']:.0f} | "
                    f"{st['cores_used']:.2f} | {st['peak_tree_rss_mib']:.0f} | "
                    f"{st['other_procs_cores']:.2f} |")
    rows.append(f"| **both** | **{results['total_wall_s']:.1f}** | "
                f"{results['total_cpu_s']:.0f} | | | |")
    tier = ", ".join(f["phase1_top_tier"] or []) or "-"
    value = f["phase1_best_value"]
    gain = f["improvement_pct"]
    facts = (f"Phase 1 winner: **{f['phase1_winner']}** ({f['phase1_primary_metric']} "
             f"{'-' if value is None else f'{value:.4f}'}; top tier: {tier}). Tuned: "
             f"**{f['tuned_framework']}**, {f['n_combinations']} combinations "
             f"({f['n_completed']} finished, {f['n_failed']} failed) on "
             + (f"{f.get('cv_repeats') or 1} x {f['cv_folds']} folds" if f["cv_folds"]
                else "one holdout split")
             + (f" ({f['note']})" if f["note"] else "")
             + f". Verdict: **{f['verdict']}**, carried forward: the {f['carried_forward']} "
             f"model (test {f['phase1_primary_metric']}: tuned {f['tuned_test_value']}, "
             f"baseline {f['baseline_test_value']}, improvement "
             f"{'-' if gain is None else f'{gain:+.2f} %'}).")
    return [*rows, "", facts]


def report_markdown(results: dict[str, Any]) -> str:
    """The README-ready report."""
    m, p = results["machine"], results["packages"]
    return "\n".join([
        "# Quick-start benchmark", "",
        f"`{' '.join(results['command'])}` on {m['usable_cpus']} cores ({m['cpu_model']}), "
        f"{m['memory_gib']} GiB, Python {m['python']}, MLflow {p['mlflow']}, TensorFlow "
        f"{p['tensorflow']}, PyTorch {p['torch']}; generated {results['generated_at']}. The "
        f"README's `modeldev train --demo {DEMO} && modeldev tune`, run as "
        f"`{' '.join(Path(c).name for c in results['entry_point'])}` in a fresh folder (default "
        "workspace, embedded SQLite MLflow, every framework, default grid and workers), each "
        "command timed from outside as a whole process.", "",
        *lines(results), "", results["verdict"], "",
        f"Load average (1/5/15 min) {m['loadavg_at_start']} at the start, "
        f"{m['loadavg_at_end']} at the end. " + bu.shared_note(results["stages"]), ""])


def print_report(results: dict[str, Any]) -> None:
    """The summary on stdout, with what each command printed."""
    for name, stage in results["stages"].items():
        print(f"\n--- what `modeldev {name}` printed ---\n{stage.get('stdout', '').rstrip()}")
    print()
    print("\n".join(lines(results)))
    print("\n" + results["verdict"])


def main(argv: list[str] | None = None) -> int:
    """Run the two commands, print and write the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="tune a 4-combination grid (not the README's command); prints only")
    p.add_argument("--out-dir", type=Path, help="where quickstart.json/.md go (default "
                   "benchmarks/results; --quick writes nothing unless given)")
    p.add_argument("--render", action="store_true", help="rewrite quickstart.md from .json")
    args = p.parse_args(argv)
    out_dir = args.out_dir or (None if args.quick else bu.RESULTS)
    if args.render:
        results = json.loads(((out_dir or bu.RESULTS) / "quickstart.json").read_text())
    else:
        results = {"generated_at": bu.utc_now(), "machine": bu.machine(),
                   "packages": bu.packages(), "quick": args.quick,
                   "command": ["python", "benchmarks/quickstart.py", *sys.argv[1:]],
                   **run(args.quick)}
        results["machine"]["loadavg_at_end"] = bu.loadavg()
        results["verdict"] = verdict(results)
    print_report(results)
    if out_dir is not None:
        bu.write_json(out_dir / "quickstart.json", results)
        (out_dir / "quickstart.md").write_text(report_markdown(results))
        print(f"\nwrote {out_dir / 'quickstart.json'} and {out_dir / 'quickstart.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
