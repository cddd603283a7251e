"""Cross-validated tuning benchmark: `modeldev tune` against scikit-learn's GridSearchCV on the
same folds.

    python benchmarks/cv_tuning.py                      # 5,000 x 30, default grid (576), 5 folds
    python benchmarks/cv_tuning.py --quick              # 400 rows, 8 combinations, 2 folds; prints
    # the same run in four invocations of about 5 minutes each on 2 cores:
    python benchmarks/cv_tuning.py --stage modeldev --work-dir DIR
    python benchmarks/cv_tuning.py --stage gridsearch --parts 2 --part 1 --work-dir DIR
    python benchmarks/cv_tuning.py --stage gridsearch --parts 2 --part 2 --work-dir DIR
    python benchmarks/cv_tuning.py --stage report --parts 2 --work-dir DIR
    python benchmarks/cv_tuning.py --render             # rewrite cv_tuning.md from cv_tuning.json

Not a test. Issue 10's target: `modeldev tune` with 5-fold cross-validation over the default
XGBoost grid (576 combinations) on 5,000 x 30 rows at least 2x faster than
`GridSearchCV(XGBClassifier(n_jobs=1), cv=<the same 5 folds>, n_jobs=<cores>)` on the same
machine in the same benchmark run, with identical per-combination mean scores. The floor: staged
evaluation grows 43,200 trees per fold where GridSearchCV grows 93,600 (2.17x).

One dataset (the seeded generator of benchmarks/phase1.py written to a CSV file), stages each in
a fresh process timed from outside (interpreter start and imports included), with the CPU
seconds of its whole process tree:

1. `modeldev train --data CSV --frameworks xgboost_baseline --cv K --json` (so tuning has a
   Phase 1 session; not part of the comparison).
2. `python -m modeldev.cli tune --training-run ID --json`: default grid and workers (the tuning
   reads K from the Phase 1 session). Where its time went is read afterwards from its own
   MLflow store at no cost to the run: the parent run starts once the data is reloaded and
   split, each group's child runs are written as soon as its last fold is in, and the parent ends
   after the refit, the verdict, the model and the files. The fit seconds are the trials' own
   `training_time` (per fold, preprocessing included), summed per staged group.
3. The reference (`--gridsearch-worker`, its own process): the same CSV read with
   `data.loading.load_table`, `validation.prepare` + `split.make_split(data, seed, K)`,
   `cv=[(fold.train, fold.valid) for fold in split.folds]`, a Pipeline of
   `preprocess.build_preprocessor(plan, "tree")`, a float32 cast and `XGBClassifier(n_jobs=1,
   tree_method="hist", random_state=seed, objective="binary:logistic", device="cpu")` (what
   the xgboost adapter passes, so every fit is the same fit), and
   `GridSearchCV(pipe, grid, scoring="f1", cv=folds, n_jobs=<cores>, refit=False)` fitted on
   `split.X_dev, split.y_dev`. With `--parts N` the grid is searched by N such processes, one
   after the other, each over every N-th combination (as single-point grids, so each part
   mixes cheap and costly fits); their search times are summed and one process's start-up,
   imports and split are counted, as one process would pay them (the plain sum is reported
   too).
4. The per-fit anatomy (`--anatomy-worker`, its own process, after the timed stages): a few
   groups on fold 0 through modeldev's steps (the fit on the cached preprocessing, the staged
   outputs, the scoring of every stage) and the same combinations through GridSearchCV's steps
   (clone, preprocessing fit and transform, fit, predict, the f1 scorer), each timed, so what
   either pays per fit beyond growing trees is visible.

Compared per combination (matched by params): modeldev's `f1_score` (the mean over the folds)
with GridSearchCV's `mean_test_score`, and every fold score; the maximum absolute difference and
how many combinations differ by more than 1e-12. Trees grown per fold are counted from the fits
each one runs: modeldev's plan (one fit per staged group and fold, at the group's largest
n_estimators, plus the baseline's) and GridSearchCV's `cv_results_` (every combination fitted
once per fold; refit=False). The machine may be shared: load averages and the CPU other
processes used during each stage are recorded next to the numbers.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchutil as bu

FRAMEWORK = "xgboost_baseline"
METRIC = "f1_score"
TARGET_RATIO = 2.0
TOLERANCE = 1e-12
FULL = {"rows": 5_000, "cv": 5, "grid": None}  # None: the adapter's default grid (576)
QUICK_GRID: dict[str, list[Any]] = {  # 8 combinations, 2 staged groups of 2 n_estimators each
    "n_estimators": [25, 50], "max_depth": [3, 5], "learning_rate": [0.1, 0.3],
    "subsample": [0.8], "colsample_bytree": [1.0]}
QUICK = {"rows": 400, "cv": 2, "grid": QUICK_GRID}
ANATOMY_GROUPS = {"full": 6, "quick": 2}


# ---------------------------------------------------------------- the grid and the trees

def default_grid() -> dict[str, list[Any]]:
    """The xgboost adapter's default grid for a binary task."""
    from modeldev.frameworks.registry import get_framework

    return get_framework(FRAMEWORK, "binary").default_grid("binary")


def trees_per_fold(grid: dict[str, list[Any]], folds: int) -> dict[str, Any]:
    """Trees each one grows per fold, counted from the fits it runs (binary: 1 tree a round)."""
    from modeldev.frameworks.registry import get_framework
    from modeldev.tuning.plan import BASELINE, group_of, make_plan

    adapter = get_framework(FRAMEWORK, "binary")
    plan = make_plan(grid, adapter, set(), folds, adapter.baseline_params("binary"))
    fold0 = [t for t in plan.tasks if t.key.endswith(":0")]
    grid_fits = [t for t in fold0 if group_of(t.key) != BASELINE]
    baseline = [t for t in fold0 if group_of(t.key) == BASELINE]
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    mine = sum(int(t.payload["params"]["n_estimators"]) for t in grid_fits)
    theirs = sum(int(c["n_estimators"]) for c in combos)
    return {"modeldev_fits": len(grid_fits), "modeldev_trees": mine,
            "modeldev_baseline_trees": sum(int(t.payload["params"]["n_estimators"])
                                           for t in baseline),
            "gridsearch_fits": len(combos), "gridsearch_trees": theirs,
            "tree_ratio": theirs / mine if mine else float("nan")}


# ---------------------------------------------------------------- stage 3: GridSearchCV

def _reference_split(data_file: Path, seed: int, cv: int, repeats: int = 1) -> Any:
    """The split modeldev's tuning makes of the same file: same loading, checks, seed, K and
    repeats."""
    from modeldev.data.loading import load_table
    from modeldev.data.split import make_split
    from modeldev.data.validation import prepare

    return make_split(prepare(load_table(data_file).frame, "target", "auto"), seed, cv, repeats)


def reference_pipeline(split: Any, seed: int) -> Any:
    """Tree preprocessing, float32 cast, XGBClassifier as the adapter builds it (1 thread)."""
    import numpy as np
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer
    from xgboost import XGBClassifier

    from modeldev.data.preprocess import build_preprocessor

    return Pipeline([
        ("pre", build_preprocessor(split.plan, "tree")),
        ("float32", FunctionTransformer(np.asarray, kw_args={"dtype": np.float32})),
        ("xgb", XGBClassifier(n_jobs=1, tree_method="hist", random_state=seed,
                              objective="binary:logistic", device="cpu"))])


def search_space(grid: dict[str, list[Any]], part: int, parts: int) -> Any:
    """GridSearchCV's param_grid: the whole grid, or every `parts`-th combination from
    `part` (1-based) as single-point grids, so each part mixes cheap and costly fits."""
    from sklearn.model_selection import ParameterGrid

    if parts == 1:
        return {f"xgb__{k}": v for k, v in grid.items()}
    return [{f"xgb__{k}": [v] for k, v in combo.items()}
            for combo in list(ParameterGrid(grid))[part - 1::parts]]


def gridsearch_worker(data_file: Path, seed: int, cv: int, grid: dict[str, list[Any]],
                      n_jobs: int, out: Path, part: int = 1, parts: int = 1,
                      repeats: int = 1) -> None:
    """GridSearchCV over the grid (or one part of it) on modeldev's folds; per-combination mean
    and fold scores."""
    process_start = time.perf_counter()
    from sklearn.model_selection import GridSearchCV

    imported = time.perf_counter()
    split = _reference_split(data_file, seed, cv, repeats)
    folds = [(fold.train, fold.valid) for fold in split.folds]
    search = GridSearchCV(reference_pipeline(split, seed), search_space(grid, part, parts),
                          scoring="f1", cv=folds, n_jobs=n_jobs, refit=False,
                          error_score="raise")
    fit_start = time.perf_counter()
    search.fit(split.X_dev, split.y_dev)
    fit_end = time.perf_counter()
    res = search.cv_results_
    trials = [{"params": {k.removeprefix("xgb__"): v for k, v in p.items()},
               "mean": float(res["mean_test_score"][i]),
               "folds": [float(res[f"split{j}_test_score"][i]) for j in range(len(folds))],
               "fit_s": float(res["mean_fit_time"][i]), "score_s": float(res["mean_score_time"][i])}
              for i, p in enumerate(res["params"])]
    bu.write_json(out, {
        "imports_s": imported - process_start, "split_s": fit_start - imported,
        "search_s": fit_end - fit_start, "in_process_s": fit_end - process_start,
        "n_jobs": n_jobs, "folds": len(folds), "fold_sizes": list(split.fold_sizes),
        "part": part, "parts": parts,
        "fit_s_total": sum(t["fit_s"] for t in trials) * len(folds),
        "score_s_total": sum(t["score_s"] for t in trials) * len(folds),
        "trials": trials})


# ---------------------------------------------------------------- stage 4: per-fit anatomy

def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def anatomy_worker(data_file: Path, seed: int, cv: int, grid: dict[str, list[Any]],
                   n_groups: int, out: Path) -> None:
    """A few groups on fold 0, step by step through modeldev's path and GridSearchCV's."""
    from sklearn.base import clone
    from sklearn.metrics import get_scorer

    from modeldev.evaluation.cross_validation import fit_fold
    from modeldev.evaluation.scoring import score_outputs
    from modeldev.frameworks.base import FitContext
    from modeldev.frameworks.registry import get_framework
    from modeldev.tuning.plan import BASELINE, group_of, make_plan
    from modeldev.tuning.trial import TrialShared, evaluate_group

    split = _reference_split(data_file, seed, cv)
    adapter = get_framework(FRAMEWORK, split.task)
    plan = make_plan(grid, adapter, set(), len(split.folds))
    tasks = [t for t in plan.tasks if t.key.endswith(":0") and group_of(t.key) != BASELINE]
    step = max(1, len(tasks) // n_groups)
    chosen = tasks[::step][:n_groups]
    shared = TrialShared(FRAMEWORK, split, "cpu", 1)
    ctx = FitContext(device="cpu", seed=seed, n_threads=1)
    _, prep_s = _timed(shared.cache.inputs, adapter, 0)  # made once per worker and fold
    pipe, scorer = reference_pipeline(split, seed), get_scorer("f1")
    X_dev, y_dev = split.X_dev, split.y_dev
    train, valid = split.folds[0].train, split.folds[0].valid
    rows = []
    for task in chosen:
        payload = task.payload
        (model, inputs, _), fit_s = _timed(fit_fold, adapter, shared.cache, 0, payload["params"],
                                           ctx)
        Xv, yv = inputs.validation()
        outputs, staged_s = _timed(adapter.staged_outputs, model, Xv, payload["stages"])
        _, score_s = _timed(lambda o=outputs, y=yv: [score_outputs(split.task, y, v,
                                                                   split.n_classes)
                                                     for v in o.values()])
        _, f1_only_s = _timed(lambda o=outputs, y=yv: [score_outputs(
            split.task, y, v, split.n_classes, ["f1_score"]) for v in o.values()])
        _, group_s = _timed(evaluate_group, shared, payload)
        ref = {"clone_s": 0.0, "preprocess_s": 0.0, "fit_s": 0.0, "score_s": 0.0}
        for _, params in payload["members"]:
            est, t = _timed(lambda p=params: clone(pipe).set_params(
                **{f"xgb__{k}": v for k, v in p.items()}))
            ref["clone_s"] += t
            Xt_train, t = _timed(lambda e=est: e[:-1].fit_transform(X_dev.iloc[train]))
            ref["preprocess_s"] += t
            _, t = _timed(est[-1].fit, Xt_train, y_dev[train])
            ref["fit_s"] += t
            _, t = _timed(scorer, est, X_dev.iloc[valid], y_dev[valid])
            ref["score_s"] += t
        rows.append({"params": payload["params"], "stages": payload["stages"],
                     "modeldev": {"fit_s": fit_s, "staged_outputs_s": staged_s,
                                  "score_all_metrics_s": score_s, "score_f1_only_s": f1_only_s,
                                  "evaluate_group_s": group_s},
                     "gridsearch_steps": ref})
    bu.write_json(out, {"fold": 0, "fold_sizes": list(split.fold_sizes),
                        "preprocessing_once_s": prep_s, "groups": rows})


# ---------------------------------------------------------------- modeldev's own record

def store_timeline(workspace: Path, parent: str) -> dict[str, Any]:
    """When the tuning's parent run and its child runs started and ended (epoch seconds)."""
    conn = sqlite3.connect(f"file:{workspace / 'mlflow.db'}?mode=ro", uri=True)
    try:
        start, end = conn.execute("SELECT start_time, end_time FROM runs WHERE run_uuid = ?",
                                  (parent,)).fetchone()
        kids = conn.execute(
            "SELECT r.name, r.start_time, r.end_time FROM runs r JOIN tags t "
            "ON t.run_uuid = r.run_uuid WHERE t.key = 'mlflow.parentRunId' AND t.value = ?",
            (parent,)).fetchall()
    finally:
        conn.close()
    trials = sorted(s for name, s, _ in kids if name.startswith("trial_"))
    return {"parent_start": start / 1000, "parent_end": (end or start) / 1000,
            "first_child": trials[0] / 1000 if trials else None,
            "last_child": trials[-1] / 1000 if trials else None, "children": len(trials)}


def modeldev_trials(artifacts_dir: Path) -> list[dict[str, Any]]:
    """The tuning's per-combination results (all_tuning_results.json)."""
    return json.loads((artifacts_dir / "all_tuning_results.json").read_text())


def group_fit_seconds(trials: list[dict[str, Any]], folds: int) -> tuple[float, int]:
    """Fit seconds of modeldev's fits (each group's largest member, x folds) and their count."""
    groups: dict[str, float] = {}
    for t in trials:
        rest = json.dumps({k: v for k, v in t["params"].items() if k != "n_estimators"},
                          sort_keys=True)
        groups[rest] = max(groups.get(rest, 0.0), t["metrics"].get("training_time") or 0.0)
    return sum(groups.values()) * folds, len(groups) * folds


def breakdown(stage: dict[str, Any], timeline: dict[str, Any], fit_s: float,
              workers: int) -> dict[str, Any]:
    """Where the tune process's wall time went, from outside and from its store."""
    t0, t_end = stage["started_epoch"], stage["ended_epoch"]
    first, last = timeline["first_child"] or t_end, timeline["last_child"] or t_end
    trials = last - timeline["parent_start"]
    return {"start_imports_and_setup_s": timeline["parent_start"] - t0,
            "workers_start_and_first_group_s": first - timeline["parent_start"],
            "trials_s": trials,
            "after_trials_s": timeline["parent_end"] - last,
            "exit_s": t_end - timeline["parent_end"],
            "fit_s": fit_s, "workers": workers,
            "fit_share_of_worker_time": fit_s / (workers * trials) if trials > 0 else None}


# ---------------------------------------------------------------- comparison

def compare(mine: list[dict[str, Any]], theirs: list[dict[str, Any]],
            folds: int) -> dict[str, Any]:
    """Per combination, matched by params: mean and fold scores, max difference, how many
    differ by more than TOLERANCE."""
    from modeldev.tuning.grid import combination_hash

    a = {combination_hash(t["params"]): t for t in mine if t["status"] == "FINISHED"}
    b = {combination_hash(t["params"]): t for t in theirs}
    common = sorted(set(a) & set(b))
    mean_diffs, fold_diffs = [], []
    for h in common:
        m = a[h]["metrics"]
        mean_diffs.append(abs(m[METRIC] - b[h]["mean"]))
        mine_folds = ([m[f"{METRIC}_fold{j}"] for j in range(1, folds + 1)] if folds > 1
                      else [m[METRIC]])
        fold_diffs.append(max(abs(x - y) for x, y in zip(mine_folds, b[h]["folds"], strict=True)))
    best_mine = max(common, key=lambda h: a[h]["metrics"][METRIC]) if common else None
    best_theirs = max(common, key=lambda h: b[h]["mean"]) if common else None
    return {"compared": len(common), "only_modeldev": len(set(a) - set(b)),
            "only_gridsearch": len(set(b) - set(a)),
            "max_abs_diff_mean": max(mean_diffs, default=float("nan")),
            "differing_mean": sum(d > TOLERANCE for d in mean_diffs),
            "max_abs_diff_fold": max(fold_diffs, default=float("nan")),
            "differing_fold": sum(d > TOLERANCE for d in fold_diffs),
            "best_modeldev": a[best_mine]["params"] if best_mine else None,
            "best_modeldev_value": a[best_mine]["metrics"][METRIC] if best_mine else None,
            "best_gridsearch": b[best_theirs]["params"] if best_theirs else None,
            "best_gridsearch_value": b[best_theirs]["mean"] if best_theirs else None}


# ---------------------------------------------------------------- the stages

def setup(work: Path, rows: int, seed: int, grid: dict[str, list[Any]] | None) -> dict[str, Any]:
    """The CSV file and the grid file (made once per work folder; the same bytes every time)."""
    data = work / "data.csv"
    if not data.is_file():
        frame = bu.make_dataset(rows, seed)
        frame.to_csv(data, index=False)
    grid = grid if grid is not None else default_grid()
    (work / "grid.json").write_text(json.dumps(grid))
    return {"data_file": str(data), "rows": rows, "grid": grid}


def stage_modeldev(work: Path, args: argparse.Namespace, grid: dict[str, list[Any]],
                   custom_grid: bool) -> dict[str, Any]:
    """Phase 1 (xgboost only, --cv K), then `modeldev tune` timed as a whole process."""
    py, ws = bu.python(), work / "ws"
    if ws.exists():
        shutil.rmtree(ws)
    train = bu.run_stage("phase1 (xgboost_baseline)", [
        py, "-m", "modeldev.cli", "train", "--data", str(work / "data.csv"), "--target",
        "target", "--frameworks", FRAMEWORK, "--cv", str(args.cv), "--seed", str(args.seed),
        "--repeats", str(args.repeats), "--threshold", "0.5",  # F1 at the argmax, as sklearn's
        "--workspace", str(ws), "--json"])
    training_run = bu.last_json(train.pop("stdout"))["parent_run_id"]
    grid_args = ["--grid", str(work / "grid.json")] if custom_grid else []
    tune = bu.run_stage("modeldev tune", [
        py, "-m", "modeldev.cli", "tune", "--training-run", training_run, *grid_args,
        "--workspace", str(ws), "--json"])
    result = bu.last_json(tune.pop("stdout"))
    tune["result"] = result
    trials = modeldev_trials(Path(result["artifacts_dir"]))
    folds = (result["cv_folds"] or 1) * (result.get("cv_repeats") or 1)  # R x K fold scores
    fit_s, fits = group_fit_seconds(trials, folds)
    tune["timeline"] = store_timeline(ws, result["parent_run_id"])
    tune["breakdown"] = breakdown(tune, tune["timeline"], fit_s, bu.usable_cpus())
    tune["fits_from_results"] = fits
    return {"phase1": train, "tune": tune, "trials": trials}


def stage_gridsearch(work: Path, args: argparse.Namespace, part: int) -> dict[str, Any]:
    """GridSearchCV (one part of the grid with --parts) in its own process, timed whole."""
    out = work / f"gridsearch_detail_{part}of{args.parts}.json"
    label = "GridSearchCV" + (f", part {part} of {args.parts}" if args.parts > 1 else "")
    stage = bu.run_stage(label, [
        bu.python(), str(Path(__file__).resolve()), "--gridsearch-worker", "--work-dir",
        str(work), "--seed", str(args.seed), "--cv", str(args.cv), "--repeats",
        str(args.repeats), "--n-jobs",
        str(args.n_jobs or bu.usable_cpus()), "--part", str(part), "--parts", str(args.parts),
        "--out", str(out)])
    stage.pop("stdout")
    stage["detail"] = json.loads(out.read_text())
    return stage


def merge_gridsearch(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The GridSearchCV parts as one stage: the searches and fits summed, the start-up of one
    process (the other parts' start-up, imports, split and exit left out: one process would pay
    them once), CPU summed as measured."""
    if len(parts) == 1:
        return {**parts[0], "wall_s_sum": parts[0]["wall_s"], "parts": 1}
    walls = [p["wall_s"] for p in parts]
    overheads = [p["wall_s"] - p["detail"]["search_s"] for p in parts]
    wall = sum(walls) - sum(overheads) + overheads[0]
    cpu = sum(p["cpu_s"] for p in parts)
    detail = {k: sum(p["detail"][k] for p in parts)
              for k in ("search_s", "fit_s_total", "score_s_total")}
    detail.update({k: parts[0]["detail"][k] for k in ("imports_s", "split_s", "n_jobs",
                                                     "folds", "fold_sizes")},
                  trials=[t for p in parts for t in p["detail"]["trials"]], parts=len(parts))
    return {"wall_s": wall, "wall_s_sum": sum(walls), "parts": len(parts), "cpu_s": cpu,
            "sampled_cpu_s": sum(p["sampled_cpu_s"] for p in parts), "cores_used": cpu / wall,
            "peak_tree_rss_mib": max(p["peak_tree_rss_mib"] for p in parts),
            "other_procs_cores": sum(p["other_procs_cores"] * p["wall_s"] for p in parts)
            / sum(walls),
            "loadavg_before": parts[0]["loadavg_before"],
            "loadavg_after": parts[-1]["loadavg_after"], "detail": detail,
            "part_walls_s": walls}


def stage_anatomy(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The per-fit anatomy in its own process (after the timed stages)."""
    out = work / "anatomy_detail.json"
    stage = bu.run_stage("per-fit anatomy", [
        bu.python(), str(Path(__file__).resolve()), "--anatomy-worker", "--work-dir", str(work),
        "--seed", str(args.seed), "--cv", str(args.cv), "--groups",
        str(ANATOMY_GROUPS["quick" if args.quick else "full"]), "--out", str(out)])
    stage.pop("stdout")
    stage["detail"] = json.loads(out.read_text())
    return stage


# ---------------------------------------------------------------- summary and report

def summarise(parts: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers, the comparison and the verdict inputs."""
    tune, ref = parts["modeldev"]["tune"], parts["gridsearch"]
    folds = (tune["result"]["cv_folds"] or 1) * (tune["result"].get("cv_repeats") or 1)
    cmp = compare(parts["modeldev"]["trials"], ref["detail"]["trials"], folds)
    trees = trees_per_fold(parts["grid"], folds)
    ratio = ref["wall_s"] / tune["wall_s"]
    identical = (cmp["differing_mean"] == 0 and cmp["only_modeldev"] == 0
                 and cmp["only_gridsearch"] == 0 and cmp["compared"] > 0)
    return {"ratio": ratio, "ratio_cpu": ref["cpu_s"] / tune["cpu_s"] if tune["cpu_s"] else None,
            "modeldev_wall_s": tune["wall_s"], "gridsearch_wall_s": ref["wall_s"],
            "modeldev_cpu_s": tune["cpu_s"], "gridsearch_cpu_s": ref["cpu_s"],
            "modeldev_sampled_cpu_s": tune["sampled_cpu_s"],
            "gridsearch_sampled_cpu_s": ref["sampled_cpu_s"],
            "modeldev_cores_used": tune["cores_used"], "gridsearch_cores_used": ref["cores_used"],
            "gridsearch_search_s": ref["detail"]["search_s"],
            "gridsearch_parts": ref.get("parts", 1),
            "gridsearch_wall_s_sum": ref.get("wall_s_sum", ref["wall_s"]),
            "gridsearch_fit_s_total": ref["detail"]["fit_s_total"],
            "gridsearch_score_s_total": ref["detail"]["score_s_total"],
            "folds": folds, "trees": trees, "comparison": cmp, "identical": identical,
            "met": identical and ratio >= TARGET_RATIO,
            "breakdown": tune["breakdown"],
            "other_procs_cores": {"modeldev_tune": tune["other_procs_cores"],
                                  "gridsearch": ref["other_procs_cores"]}}


def verdict(s: dict[str, Any], rows: int, n_combos: int) -> str:
    """Whether issue 10's target is met, in one sentence."""
    c = s["comparison"]
    return (f"**Target (`modeldev tune` with {s['folds']}-fold CV over {n_combos} combinations "
            f"on {rows:,} rows at least {TARGET_RATIO:g}x faster than GridSearchCV on the same "
            f"folds, identical per-combination means): {'met' if s['met'] else 'NOT met'}** - "
            f"{s['ratio']:.2f}x ({s['gridsearch_wall_s']:.1f} s against "
            f"{s['modeldev_wall_s']:.1f} s; the tree-count floor is "
            f"{s['trees']['tree_ratio']:.2f}x); {c['compared']} combinations compared, "
            f"{c['differing_mean']} differ by more than {TOLERANCE:g} (max |difference| of the "
            f"means {c['max_abs_diff_mean']:.3g}, of the fold scores "
            f"{c['max_abs_diff_fold']:.3g}).")


def table(results: dict[str, Any]) -> list[str]:
    """The side-by-side table."""
    s, t, c = results["summary"], results["summary"]["trees"], results["summary"]["comparison"]
    return [
        "| | `modeldev tune` | GridSearchCV |", "|---|---:|---:|",
        f"| wall time, whole process | **{s['modeldev_wall_s']:.1f} s** | "
        f"**{s['gridsearch_wall_s']:.1f} s**" + (
            f" ({s['gridsearch_parts']} processes, {s['gridsearch_wall_s_sum']:.1f} s in all; "
            "one start-up counted)" if s.get("gridsearch_parts", 1) > 1 else "") + " |",
        f"| ratio (GridSearchCV / modeldev) | | **{s['ratio']:.2f}x** |",
        f"| fits per fold | {t['modeldev_fits']} (+1 baseline) | {t['gridsearch_fits']} |",
        f"| trees grown per fold | {t['modeldev_trees']:,} (+{t['modeldev_baseline_trees']} "
        f"baseline) | {t['gridsearch_trees']:,} ({t['tree_ratio']:.2f}x) |",
        f"| CPU seconds, whole process tree (sampled) | {s['modeldev_cpu_s']:.0f} "
        f"({s['modeldev_sampled_cpu_s']:.0f}) | {s['gridsearch_cpu_s']:.0f} "
        f"({s['gridsearch_sampled_cpu_s']:.0f}) |",
        f"| cores used on average | {s['modeldev_cores_used']:.2f} | "
        f"{s['gridsearch_cores_used']:.2f} |",
        f"| per-combination mean {METRIC}: compared / differing > {TOLERANCE:g} / max diff | "
        f"{c['compared']} / {c['differing_mean']} / {c['max_abs_diff_mean']:.3g} | |",
        f"| fold scores: differing > {TOLERANCE:g} / max diff | {c['differing_fold']} / "
        f"{c['max_abs_diff_fold']:.3g} | |",
        f"| best mean {METRIC} | {c['best_modeldev_value']!r} | {c['best_gridsearch_value']!r} |",
        f"| best params | `{json.dumps(c['best_modeldev'], sort_keys=True)}` | "
        + ("same" if c["best_modeldev"] == c["best_gridsearch"]
           else f"`{json.dumps(c['best_gridsearch'], sort_keys=True)}`") + " |"]


def where_time_went(results: dict[str, Any]) -> str:
    """modeldev's breakdown from its store, GridSearchCV's from cv_results_."""
    s, b = results["summary"], results["summary"]["breakdown"]
    gs = results["parts"]["gridsearch"]["detail"]
    share = b["fit_share_of_worker_time"]
    return (
        f"Where `modeldev tune`'s {s['modeldev_wall_s']:.1f} s went (from outside and its own "
        f"store): interpreter start, imports and set-up (Phase 1 data reloaded, hashed and "
        f"split; parent run) {b['start_imports_and_setup_s']:.1f} s; worker start-up until the "
        f"first group had all its folds {b['workers_start_and_first_group_s']:.1f} s; trials "
        f"(parent start to the last child, worker start-up included) {b['trials_s']:.1f} s, "
        f"in which the fits took "
        f"{b['fit_s']:.1f} s summed over {b['workers']} workers"
        + (f" ({share:.0%} of the workers' time)" if share is not None else "")
        + f"; after the trials (refit of the best and the baseline on every development row, "
        f"verdict, model logging, charts, files) {b['after_trials_s']:.1f} s; exit "
        f"{b['exit_s']:.1f} s. GridSearchCV: imports {gs['imports_s']:.1f} s, split "
        f"{gs['split_s']:.1f} s, search {gs['search_s']:.1f} s, of which fits "
        f"{gs['fit_s_total']:.1f} s and scoring {gs['score_s_total']:.1f} s summed over "
        f"{gs['n_jobs']} jobs (its own cv_results_ timings: preprocessing included in fits).")


def anatomy_text(results: dict[str, Any]) -> str:
    """The per-fit anatomy as a paragraph (None when it did not run)."""
    an = results["parts"].get("anatomy")
    if not an:
        return "Per-fit anatomy: not run."
    d = an["detail"]
    n = len(d["groups"])

    def tot(side: str, key: str) -> float:
        return sum(g[side][key] for g in d["groups"])

    members = sum(len(g["stages"] or [1]) for g in d["groups"])
    return (
        f"Per-fit anatomy ({n} staged groups = {members} combinations, fold 0, 1 thread, one "
        f"process): modeldev grows each group once ({tot('modeldev', 'fit_s'):.2f} s on the "
        f"fold's preprocessing made once per worker, {d['preprocessing_once_s']:.3f} s), reads "
        f"the staged outputs ({tot('modeldev', 'staged_outputs_s'):.3f} s) and scores every "
        f"stage with all six metrics ({tot('modeldev', 'score_all_metrics_s'):.3f} s; f1 alone "
        f"would take {tot('modeldev', 'score_f1_only_s'):.3f} s); `evaluate_group` end to end "
        f"{tot('modeldev', 'evaluate_group_s'):.2f} s. GridSearchCV's steps for the same "
        f"combinations: clone + set_params {tot('gridsearch_steps', 'clone_s'):.3f} s, "
        f"preprocessing fit + transform {tot('gridsearch_steps', 'preprocess_s'):.2f} s, "
        f"fits {tot('gridsearch_steps', 'fit_s'):.2f} s, scoring (transform, predict, f1) "
        f"{tot('gridsearch_steps', 'score_s'):.3f} s.")


def report_markdown(results: dict[str, Any]) -> str:
    """The README-ready report."""
    m, p = results["machine"], results["packages"]
    grid = ", ".join(f"{k} {v}" for k, v in results["grid"].items())
    return "\n".join([
        "# Cross-validated tuning benchmark", "",
        f"`{' '.join(results['command'])}` on {m['usable_cpus']} cores ({m['cpu_model']}), "
        f"{m['memory_gib']} GiB, Python {m['python']}, XGBoost {p['xgboost']}, scikit-learn "
        f"{p['scikit-learn']}, joblib {p['joblib']}, MLflow {p['mlflow']}; generated "
        f"{results['generated_at']}. Synthetic binary data from benchmarks/phase1.py "
        f"({results['rows']:,} rows x 30 features) in a CSV file; 20 % test rows held out, "
        f"{results['summary']['folds']} stratified folds of the rest; {results['n_combinations']} "
        f"combinations of {FRAMEWORK} ({grid}). modeldev: `python -m modeldev.cli tune "
        "--training-run ID --json` after a Phase 1 session restricted to xgboost_baseline, "
        "default workers, SQLite MLflow (its wall time includes the refit of the best and the "
        "baseline, the verdict, model logging, charts and files, which GridSearchCV does not "
        f"do). GridSearchCV: n_jobs={results['parts']['gridsearch']['detail']['n_jobs']}, "
        "refit=False, scoring='f1', the same folds, a Pipeline of modeldev's tree preprocessing, "
        "a float32 cast and the XGBClassifier the adapter builds (n_jobs=1). Wall times are whole "
        "processes, interpreter start and imports included.", "",
        *table(results), "", results["verdict"], "", where_time_went(results), "",
        anatomy_text(results), "",
        "Load average (1/5/15 min) before each stage: " + ", ".join(
            f"{k} {v['loadavg_before']}" for k, v in results["stages"].items())
        + f"; {m['loadavg_at_end']} at the report. " + bu.shared_note(results["stages"]), ""])


def print_report(results: dict[str, Any]) -> None:
    """The readable summary on stdout."""
    print()
    print("\n".join(table(results)))
    print("\n" + results["verdict"])
    print("\n" + where_time_went(results))
    print("\n" + anatomy_text(results))


# ---------------------------------------------------------------- entry point

def _parts_file(work: Path, name: str) -> Path:
    return work / f"part_{name}.json"


def _gridsearch_file(work: Path, part: int, parts: int) -> Path:
    return _parts_file(work, f"gridsearch_{part}of{parts}")


def _config(args: argparse.Namespace, grid: dict[str, list[Any]]) -> dict[str, Any]:
    return {"rows": args.rows, "cv": args.cv, "repeats": args.repeats, "seed": args.seed,
            "grid": grid,
            "quick": args.quick}


def run_stages(args: argparse.Namespace, work: Path) -> None:
    """Run the stages asked for, each saved as a part file in the work folder."""
    custom = args.quick or args.grid is not None
    grid = QUICK_GRID if args.quick else (json.loads(Path(args.grid).read_text())
                                          if args.grid else None)
    info = setup(work, args.rows, args.seed, grid)
    config = _config(args, info["grid"])
    if args.stage in ("all", "modeldev"):
        part = stage_modeldev(work, args, info["grid"], custom)
        bu.write_json(_parts_file(work, "modeldev"), {"config": config, **part})
    if args.stage in ("all", "gridsearch"):
        for part in [args.part] if args.part else range(1, args.parts + 1):
            bu.write_json(_gridsearch_file(work, part, args.parts),
                          {"config": config, **stage_gridsearch(work, args, part)})
    anatomy = _parts_file(work, "anatomy")
    if not args.no_anatomy and (args.stage == "all" or not anatomy.is_file()):
        bu.write_json(anatomy, {"config": config, **stage_anatomy(work, args)})


def assemble(work: Path, args: argparse.Namespace, machine: dict[str, Any]) -> dict[str, Any]:
    """The results from the part files (refused if they were made with different settings)."""
    parts = {name: json.loads(_parts_file(work, name).read_text())
             for name in ("modeldev", "anatomy") if _parts_file(work, name).is_file()}
    files = [_gridsearch_file(work, i, args.parts) for i in range(1, args.parts + 1)]
    searches = [json.loads(f.read_text()) for f in files if f.is_file()]
    missing = ({"modeldev"} - set(parts)) | (
        set() if len(searches) == args.parts else {f"GridSearchCV parts (--parts {args.parts})"})
    if missing:
        raise SystemExit(f"missing stages in {work}: {', '.join(sorted(missing))}")
    parts["gridsearch"] = merge_gridsearch(searches)
    configs = {json.dumps(p["config"], sort_keys=True) for p in [*parts.values(), *searches]
               if "config" in p}
    if len(configs) > 1:
        raise SystemExit(f"the stages in {work} were run with different settings: {configs}")
    config = parts["modeldev"]["config"]
    stages = {"phase1": parts["modeldev"]["phase1"], "modeldev_tune": parts["modeldev"]["tune"],
              "gridsearch": {k: v for k, v in parts["gridsearch"].items() if k != "detail"}}
    if "anatomy" in parts:
        stages["anatomy"] = {k: v for k, v in parts["anatomy"].items() if k != "detail"}
    machine["loadavg_at_end"] = bu.loadavg()
    results = {"generated_at": bu.utc_now(), "machine": machine, "packages": bu.packages(),
               "command": ["python", "benchmarks/cv_tuning.py", *sys.argv[1:]],
               "rows": config["rows"], "seed": config["seed"], "grid": config["grid"],
               "n_combinations": len(list(itertools.product(*config["grid"].values()))),
               "quick": config["quick"], "stages": stages,
               "parts": {"gridsearch": parts["gridsearch"], "anatomy": parts.get("anatomy")}}
    results["summary"] = summarise({"modeldev": parts["modeldev"], "gridsearch":
                                    parts["gridsearch"], "grid": config["grid"]})
    results["verdict"] = verdict(results["summary"], config["rows"], results["n_combinations"])
    return results


def write_results(results: dict[str, Any], out_dir: Path) -> None:
    """cv_tuning.json (per-combination lists left out) and cv_tuning.md."""
    slim = json.loads(json.dumps(results, default=float))
    slim["parts"]["gridsearch"]["detail"].pop("trials", None)
    bu.write_json(out_dir / "cv_tuning.json", slim)
    (out_dir / "cv_tuning.md").write_text(report_markdown(results))
    print(f"\nwrote {out_dir / 'cv_tuning.json'} and {out_dir / 'cv_tuning.md'}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or one stage, or one worker), print and write the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK['rows']} rows, {QUICK['cv']} folds, 8 combinations; prints only")
    p.add_argument("--rows", type=int)
    p.add_argument("--cv", type=int, help="folds (default 5; --quick 2)")
    p.add_argument("--repeats", type=int, default=2,
                   help="repeats of the folds (default 2, the engine's default)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--grid", help="a grid JSON file instead of the adapter's default grid")
    p.add_argument("--n-jobs", type=int, help="GridSearchCV's n_jobs (default: the cores)")
    p.add_argument("--stage", default="all", choices=["all", "modeldev", "gridsearch", "report"],
                   help="run one part (its results kept in --work-dir) or assemble the report")
    p.add_argument("--work-dir", type=Path, help="where the data, workspace and parts are kept "
                   "(needed with --stage; default: a temporary folder)")
    p.add_argument("--parts", type=int, default=1, help="run GridSearchCV as this many "
                   "processes over interleaved parts of the grid (its time then counts one "
                   "process start-up); the lead's 10-minute limit per invocation needs 2")
    p.add_argument("--part", type=int, help="with --stage gridsearch: run only this part "
                   "(1..--parts)")
    p.add_argument("--no-anatomy", action="store_true", help="skip the per-fit anatomy stage")
    p.add_argument("--out-dir", type=Path, help="where cv_tuning.json/.md go (default "
                   "benchmarks/results; --quick writes nothing unless given)")
    p.add_argument("--render", action="store_true", help="rewrite cv_tuning.md from .json")
    p.add_argument("--gridsearch-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--anatomy-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--groups", type=int, default=6, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    base = QUICK if args.quick else FULL
    args.rows, args.cv = args.rows or base["rows"], args.cv if args.cv is not None else base["cv"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.gridsearch_worker or args.anatomy_worker:
        grid = json.loads((args.work_dir / "grid.json").read_text())
        if args.gridsearch_worker:
            gridsearch_worker(args.work_dir / "data.csv", args.seed, args.cv, grid, args.n_jobs,
                              args.out, args.part or 1, args.parts, args.repeats)
        else:
            anatomy_worker(args.work_dir / "data.csv", args.seed, args.cv, grid, args.groups,
                           args.out)
        return 0
    out_dir = args.out_dir or (None if args.quick else bu.RESULTS)
    if args.render:
        results = json.loads(((out_dir or bu.RESULTS) / "cv_tuning.json").read_text())
        (out_dir or bu.RESULTS).joinpath("cv_tuning.md").write_text(report_markdown(results))
        print_report(results)
        return 0
    if args.stage != "all" and args.work_dir is None:
        p.error("--stage needs --work-dir (the stages share it)")
    if args.part is not None and not 1 <= args.part <= args.parts:
        p.error(f"--part must be 1..{args.parts}")
    machine = bu.machine()
    with tempfile.TemporaryDirectory(prefix="modeldev-cv-bench-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.stage != "report":
            run_stages(args, work)
        if args.stage not in ("all", "report"):
            print(f"\n{args.stage} stage kept in {work}; run --stage report when both are in")
            return 0
        results = assemble(work, args, machine)
    print_report(results)
    if out_dir is not None:
        write_results(results, out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
