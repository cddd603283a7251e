"""Imbalanced tables: every framework's F1 at a threshold tuned out of fold against at 0.5.

    python benchmarks/imbalance.py            # 4 tables x 3 settings, about 15 minutes
    python benchmarks/imbalance.py --quick    # one table, two frameworks

Not a test. Each table runs the real `run_phase1` (every framework, 2 x 5 folds) three ways on
the same folds: `--threshold 0.5` (the argmax, as before), `auto` (tuned out of fold, since
every table here has a minority class under 30 %) and `auto` with `--class-weight balanced`.
Reported per framework: the cross-validated F1 and ROC AUC, the test F1, and whether the
cross-validated F1 lies inside the test F1's 95 % bootstrap interval (a threshold chosen on the
scored rows would make the cross-validated F1 optimistic; the mean of cross-validated minus
test F1 says which way it leans). Issue 18's checks: no framework at F1 0 where its ROC AUC
is above 0.7.

Tables: `churn` is `make_classification(n_samples=3000, weights=[0.89])` (the issue's); `hard`
the same with `class_sep=0.5, flip_y=0.1`; `fraud` 2 % positives; `fair` the statsmodels survey
with the rarer outcome (more than two affairs, 13 %).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from typing import Any

import benchutil as bu
import numpy as np

SETTINGS = {"0.5": {"threshold": 0.5}, "tuned": {"threshold": "auto"},
            "tuned + balanced": {"threshold": "auto", "class_weight": "balanced"}}


def table(name: str) -> Any:
    """A modeldev Source for one of the tables."""
    import pandas as pd
    from sklearn.datasets import make_classification

    from modeldev.data.loading import Source

    if name == "fair":
        import statsmodels.api as sm

        frame = sm.datasets.fair.load_pandas().data.copy()
        frame["affairs"] = (frame["affairs"] > 2).map({True: "yes", False: "no"})
        return Source(frame, "fair", "affairs", "statsmodels:fair")
    kwargs = {"churn": {"weights": [0.89]},
              "hard": {"weights": [0.89], "class_sep": 0.5, "flip_y": 0.1},
              "fraud": {"weights": [0.98], "n_informative": 4}}[name]
    X, y = make_classification(n_samples=3000, random_state=7, **kwargs)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]).assign(target=y)
    return Source(frame, name, "target", f"synthetic:{name}")


def one_run(name: str, options: dict[str, Any], frameworks: list[str] | None) -> dict[str, Any]:
    """Phase 1 on a table with one setting: per framework, CV and test F1, AUC, threshold."""
    from modeldev.config import resolve_settings
    from modeldev.phase1.results import TrainRequest
    from modeldev.phase1.run import run_phase1

    with tempfile.TemporaryDirectory(prefix="modeldev-imbalance-") as ws:
        settings = resolve_settings(workspace=ws, tracking_uri=f"sqlite:///{ws}/mlflow.db")
        request = TrainRequest(source=table(name), frameworks=frameworks, cv=5, seed=1,
                               **options)
        started = time.perf_counter()
        result = run_phase1(request, settings)
        wall = time.perf_counter() - started
    out = {}
    for r in result.runs:
        if r.status != "FINISHED" or r.model is None:
            continue
        f1 = r.cv["f1_score"]
        out[r.name] = {"cv_f1": f1.mean, "cv_f1_ci": [f1.ci_low, f1.ci_high],
                       "cv_auc": r.metrics.get("roc_auc"), "cv_ap": r.metrics.get(
                           "average_precision"), "test_f1": r.test_metrics.get("f1_score"),
                       "test_f1_ci": _test_interval(r.model, result.split),
                       "threshold": r.decision_threshold, "warning": r.warning}
    return {"wall_s": wall, "frameworks": out, "winner": result.best.name if result.best else None}


def _test_interval(model: Any, split: Any) -> list[float | None]:
    """The test F1's 95 % bootstrap interval over the test rows (999 resamples)."""
    from modeldev.evaluation.scoring import metric_of_outputs
    from modeldev.evaluation.statistics import row_summary

    outputs = model.outputs(model.transform(split.X_test))
    summary = row_summary(lambda yy, oo: metric_of_outputs("f1_score", "binary", yy, oo, 2,
                                                           model.threshold),
                          (split.y_test, outputs), seed=0)
    return [summary.ci_low, summary.ci_high]


def checks(runs: dict[str, Any]) -> dict[str, Any]:
    """Issue 18's checks over a table's settings."""
    zero = [(s, n) for s, run in runs.items() if s != "0.5" for n, f in run["frameworks"].items()
            if f["cv_f1"] == 0 and (f["cv_auc"] or 0) > 0.7]
    inside, gaps = [], []
    for s, run in runs.items():
        if s == "0.5":
            continue
        for f in run["frameworks"].values():
            low, high = f["test_f1_ci"]
            inside.append(low is not None and low <= f["cv_f1"] <= high)
            gaps.append(f["cv_f1"] - f["test_f1"])
    return {"f1_zero_with_auc_above_0_7": zero, "cv_inside_test_interval": int(sum(inside)),
            "of": len(inside), "mean_cv_minus_test_f1": float(np.mean(gaps)) if gaps else None}


def report(results: dict[str, Any]) -> str:
    """The README-ready tables."""
    lines = ["# Imbalanced tables: F1 at a tuned threshold against at 0.5", "",
             f"`python benchmarks/imbalance.py` on {results['machine']['usable_cpus']} cores; "
             f"generated {results['generated_at']}. Phase 1, every framework, 2 x 5 folds, the "
             "same folds for each setting.", ""]
    for name, entry in results["tables"].items():
        c = entry["checks"]
        lines += [f"## {name} ({entry['positives']:.1%} positives, {entry['rows']} rows)", "",
                  "| framework | ROC AUC | F1 at 0.5 | F1 tuned | threshold | F1 tuned + "
                  "balanced | test F1 (tuned) |", "|---|---:|---:|---:|---:|---:|---:|"]
        runs = entry["runs"]
        for fw, at_half in runs["0.5"]["frameworks"].items():
            tuned = runs["tuned"]["frameworks"].get(fw, {})
            both = runs["tuned + balanced"]["frameworks"].get(fw, {})
            lines.append(f"| {fw} | {at_half['cv_auc']:.3f} | {at_half['cv_f1']:.3f} | "
                         f"{tuned.get('cv_f1', float('nan')):.3f} | "
                         f"{tuned.get('threshold') or float('nan'):.3f} | "
                         f"{both.get('cv_f1', float('nan')):.3f} | "
                         f"{tuned.get('test_f1', float('nan')):.3f} |")
        lines += ["", f"F1 0 where ROC AUC > 0.7 (tuned settings): "
                  f"{len(c['f1_zero_with_auc_above_0_7'])}; cross-validated F1 inside the test "
                  f"F1's 95 % interval: {c['cv_inside_test_interval']} of {c['of']}; mean "
                  f"cross-validated minus test F1: {c['mean_cv_minus_test_f1']:+.3f}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every table and setting; write benchmarks/results/imbalance.{json,md}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    names = ["churn"] if args.quick else ["churn", "hard", "fraud", "fair"]
    frameworks = ["sklearn_logistic_regression", "xgboost_baseline"] if args.quick else None
    results: dict[str, Any] = {"machine": bu.machine(), "quick": args.quick, "tables": {}}
    for name in names:
        source = table(name)
        y = source.frame[source.target]
        runs = {label: one_run(name, options, frameworks) for label, options in SETTINGS.items()}
        results["tables"][name] = {"rows": len(y), "positives": float(
            (y == y.value_counts().idxmin()).mean()), "runs": runs, "checks": checks(runs)}
        print(json.dumps({name: results["tables"][name]["checks"]}, default=str), flush=True)
    results["generated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    bu.write_results("imbalance", results, report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
