"""What the default evaluation costs: Phase 1 and tuning with 2 x 5 folds against 1 x 5.

    python benchmarks/protocol_cost.py           # breast_cancer and a 10,000-row table
    python benchmarks/protocol_cost.py --quick   # breast_cancer with two frameworks

Not a test. `--repeats 1` runs exactly the fits the engine ran before repeats existed (the first
repeat is the plain 5 folds), so the two are "today's" and the new default on the same machine
in the same run. Each stage is a real `modeldev` process timed from outside (imports included)
with the CPU of its process tree (`benchutil.run_stage`); the two evaluations alternate (1 then
2 on the first table, 2 then 1 on the second) so that drift on a shared machine falls on both.
Tuning: the default grid of the Phase 1 winner on breast_cancer (the README's quick start);
on the 10,000-row table a fixed 24-combination XGBoost grid. Issue 17's budget: Phase 1 at most
2x today's on the same table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import benchutil as bu
from quickstart import entry_point

XGB_GRID = {"n_estimators": [50, 100, 200], "max_depth": [3, 6],
            "learning_rate": [0.05, 0.2], "subsample": [0.8, 1.0]}
BUDGET = 2.0


def session(cli: list[str], source: list[str], repeats: int, folder: Path,
            tune: list[str], frameworks: str | None) -> dict[str, Any]:
    """One Phase 1 and one tuning at `repeats`, in their own workspace."""
    ws = folder / f"ws_r{repeats}_{len(list(folder.iterdir()))}"
    train = [*cli, "train", *source, "--repeats", str(repeats), "--workspace", str(ws), "--json",
             *(["--frameworks", frameworks] if frameworks else [])]
    phase1 = bu.run_stage(f"train R={repeats}", train)
    out = json.loads(phase1.pop("stdout").strip().splitlines()[-1])
    tuned = bu.run_stage(f"tune R={repeats}", [*cli, "tune", "--workspace", str(ws), "--json",
                                                *tune])
    result = json.loads(tuned.pop("stdout").strip().splitlines()[-1])
    return {"repeats": repeats, "train": phase1, "tune": tuned, "winner": out["best_model"],
            "top_tier": out["top_tier"], "verdict": result["verdict"],
            "tuned": result["framework"], "combinations": result["n_combinations"]}


def main(argv: list[str] | None = None) -> int:
    """Run both evaluations on each table; write benchmarks/results/protocol_cost.{json,md}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    cli, machine, tables = entry_point(), bu.machine(), []
    with tempfile.TemporaryDirectory(prefix="modeldev-cost-") as tmp:
        folder = Path(tmp)
        csv = folder / "table10k.csv"
        bu.make_dataset(10_000, seed=42).to_csv(csv, index=False)
        grid = folder / "grid.json"
        grid.write_text(json.dumps(XGB_GRID))
        plans = [("breast_cancer", ["--demo", "breast_cancer"], [], (1, 2))]
        if not args.quick:
            plans.append(("synthetic 10,000 x 30", ["--data", str(csv), "--target", "target",
                                                   "--cv", "5"],
                          ["--framework", "xgboost_baseline", "--grid", str(grid)], (2, 1)))
        frameworks = "sklearn_logistic_regression,xgboost_baseline" if args.quick else None
        for name, source, tune, order in plans:
            runs = {r: session(cli, source, r, folder, tune, frameworks) for r in order}
            tables.append({"table": name, "runs": runs,
                           "train_ratio": runs[2]["train"]["wall_s"] / runs[1]["train"]["wall_s"],
                           "tune_ratio": runs[2]["tune"]["wall_s"] / runs[1]["tune"]["wall_s"]})
    results = {"machine": machine, "quick": args.quick, "tables": tables,
               "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    lines = ["# What the default evaluation costs (2 x 5 folds against 1 x 5)", "",
             f"`python benchmarks/protocol_cost.py{' --quick' if args.quick else ''}` on "
             f"{machine['usable_cpus']} cores ({machine['cpu_model']}); generated "
             f"{results['generated_at']}. Wall seconds of real `modeldev` processes (imports "
             "included); `others` is the CPU other processes used meanwhile, in cores.", "",
             "| table | stage | 1 x 5 s | 2 x 5 s | ratio | others (1 / 2) |",
             "|---|---|---:|---:|---:|---|"]
    for t in tables:
        for stage, ratio in (("train", t["train_ratio"]), ("tune", t["tune_ratio"])):
            one, two = t["runs"][1][stage], t["runs"][2][stage]
            lines.append(f"| {t['table']} | {stage} | {one['wall_s']:.1f} | {two['wall_s']:.1f} "
                         f"| {ratio:.2f}x | {one['other_procs_cores']:.2f} / "
                         f"{two['other_procs_cores']:.2f} |")
    met = all(t["train_ratio"] <= BUDGET for t in tables)
    lines += ["", f"Phase 1 budget (at most {BUDGET:.0f}x today's): {'met' if met else 'NOT met'}.",
              ""]
    for t in tables:
        for r, run in sorted(t["runs"].items()):
            lines.append(f"- {t['table']}, R={r}: winner {run['winner']['name']}, tier "
                         f"{', '.join(run['top_tier'])}; tuned {run['tuned']} "
                         f"({run['combinations']} combinations): {run['verdict']}")
    bu.write_results("protocol_cost", results, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
