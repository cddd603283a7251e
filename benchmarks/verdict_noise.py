"""End to end: how often a real tuning says `better` on tables where nothing can be better.

    python benchmarks/verdict_noise.py             # 20 noise tables, about 15 minutes
    python benchmarks/verdict_noise.py --tables 4  # fewer

Not a test. Each table has 1,500 rows, ten numeric columns and a binary target drawn
independently of them, so no combination can truly beat the baseline. On each, the real
`run_tuning` tunes XGBoost directly (a 54-combination grid, ROC AUC, the default evaluation:
2 x 5 folds) in a fresh workspace. "Now" is the verdict the engine gave; "before" is the rule
it replaced, applied to the same trials: the best mean's corrected t-test against the
baseline on the first 5 folds (the plain 5-fold protocol), `better` when p < 0.05. The issue
that asked for this measured `better` on 2 of 20 such tables before (10 %).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from typing import Any

import benchutil as bu
import numpy as np

GRID = {"n_estimators": [50, 100, 200], "max_depth": [3, 5, 7],
        "learning_rate": [0.03, 0.1, 0.3], "subsample": [0.8, 1.0]}  # 54 combinations
ROWS, COLUMNS = 1500, 10
FOLD_ROWS = (960, 240)  # a fold's training and validation rows: 1,200 development rows / 5


def noise_table(seed: int) -> Any:
    """A Source whose target is independent of every column."""
    import pandas as pd

    from modeldev.data.loading import Source

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.standard_normal((ROWS, COLUMNS)),
                         columns=[f"x{i}" for i in range(COLUMNS)])
    frame["target"] = rng.integers(0, 2, ROWS)
    return Source(frame, f"noise{seed}", "target", f"synthetic:noise{seed}")


def one_tuning(seed: int) -> dict[str, Any]:
    """Tune XGBoost on one noise table; the verdict now and under the old rule."""
    from modeldev.config import resolve_settings
    from modeldev.evaluation.statistics import corrected_paired_ttest
    from modeldev.tracking.tracker import Tracker
    from modeldev.tuning import analysis
    from modeldev.tuning.outputs import load_trials
    from modeldev.tuning.session import run_tuning
    from modeldev.tuning.types import TuneRequest

    with tempfile.TemporaryDirectory(prefix="modeldev-noise-") as ws:
        settings = resolve_settings(workspace=ws, tracking_uri=f"sqlite:///{ws}/mlflow.db")
        request = TuneRequest(source=noise_table(seed), framework="xgboost_baseline",
                              grid=GRID, primary_metric="roc_auc", seed=seed, cv=5)
        started = time.perf_counter()
        result = run_tuning(request, settings)
        wall = time.perf_counter() - started
        info = json.loads((result.artifacts_dir / "tuned_model_info.json").read_text())
        trials = load_trials(Tracker(settings), result.parent_run_id)
    best = analysis.best_trial(trials, "roc_auc")
    tuned_folds = analysis.trial_folds(best, "roc_auc") if best else None
    baseline_folds = (info.get("baseline_cv") or {}).get("folds")
    before = None
    if tuned_folds and baseline_folds:  # the first repeat: the plain 5 folds
        test = corrected_paired_ttest(tuned_folds[:5], baseline_folds[:5], *FOLD_ROWS)
        before = "better" if test.p_value < 0.05 and test.difference > 0 else "not better"
    return {"seed": seed, "wall_s": wall, "verdict": result.verdict,
            "carried": result.carried_forward, "verdict_p": result.verdict_p_value,
            "before": before, "test_improvement_pct": result.improvement_pct,
            "n_combinations": result.n_combinations}


def main(argv: list[str] | None = None) -> int:
    """Run the tunings, print and write benchmarks/results/verdict_noise.{json,md}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=20)
    args = parser.parse_args(argv)
    machine = bu.machine()
    runs = []
    for seed in range(1, args.tables + 1):
        runs.append(one_tuning(seed))
        print(json.dumps(runs[-1]), flush=True)
    now = sum(r["verdict"] == "better" for r in runs)
    before = sum(r["before"] == "better" for r in runs)
    carried = sum(r["carried"] == "tuned" for r in runs)
    results = {"machine": machine, "grid": GRID, "rows": ROWS, "runs": runs,
               "better_now": now, "better_before": before, "carried_tuned": carried,
               "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    lines = ["# The tuning verdict on pure-noise tables (end to end)", "",
             f"`python benchmarks/verdict_noise.py --tables {args.tables}` on "
             f"{machine['usable_cpus']} cores; generated {results['generated_at']}. "
             f"{args.tables} tables of {ROWS} rows whose target is independent of every column; "
             "XGBoost tuned over 54 combinations (ROC AUC, 2 x 5 folds).", "",
             f"- `better` now: **{now} of {len(runs)}** (the tuned model carried: {carried})",
             f"- `better` under the old rule, on the same trials (best mean vs baseline, "
             f"first 5 folds, p < 0.05): {before} of {len(runs)}",
             f"- wall time per tuning: {np.mean([r['wall_s'] for r in runs]):.0f} s", ""]
    bu.write_results("verdict_noise", results, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
