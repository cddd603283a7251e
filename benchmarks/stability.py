"""Winner stability: which framework Phase 1 picks on each demo across seeds 1..6.

    python benchmarks/stability.py                        # 3 demos x 6 seeds, default evaluation
    python benchmarks/stability.py --demos breast_cancer  # one demo (merged into the results)
    python benchmarks/stability.py --demos wine --holdout # also cv=0: the before/after contrast
    python benchmarks/stability.py --quick                # 2 seeds, 2 frameworks, 2 folds
    python benchmarks/stability.py --render               # rewrite stability.md from .json

Not a test. Issue 10's target: on breast_cancer, seeds 1..6 pick the same framework at least 5
times (and the README says how stable the winners are on the other demos). For each demo and
seed it runs the real `run_phase1` in this process (every framework of the task, the default
evaluation: auto, which is 5-fold cross-validation on these small tables; a fresh temporary
workspace per session), and records the winner, the top tier (the frameworks not significantly
different from it on the same folds), the winner's mean primary metric and its 95 % interval,
every framework's mean, and the session's wall time. `--holdout` runs the same sessions with
`cv=0` too (one 60/20/20 split, as before issue 10) for the contrast.

Per demo (and evaluation) the report gives how many of the seeds picked the most frequent
winner, and how many times that framework was at least in the top tier. The results file is
keyed by demo and evaluation, and a run updates only what it ran (`--fresh` starts over), so
the demos can be run one invocation at a time on a slow machine.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchutil as bu

DEMOS = ("breast_cancer", "wine", "diabetes")
SEEDS = (1, 2, 3, 4, 5, 6)
TARGET_DEMO, TARGET_COUNT = "breast_cancer", 5
QUICK = {"demos": ("breast_cancer",), "seeds": (1, 2), "cv": 2,
         "frameworks": ["sklearn_logistic_regression", "xgboost_baseline"]}
MODES = {"auto": None, "holdout": 0}  # label -> TrainRequest.cv


def one_session(demo: str, seed: int, cv: int | None,
                frameworks: list[str] | None) -> dict[str, Any]:
    """Phase 1 on a demo with one seed in a fresh workspace: the winner, its tier and interval."""
    from modeldev.config import resolve_settings
    from modeldev.data.loading import load_demo
    from modeldev.phase1.results import TrainRequest
    from modeldev.phase1.run import run_phase1

    with tempfile.TemporaryDirectory(prefix="modeldev-stability-") as ws:
        settings = resolve_settings(workspace=ws, tracking_uri=f"sqlite:///{ws}/mlflow.db")
        request = TrainRequest(source=load_demo(demo), seed=seed, cv=cv, frameworks=frameworks)
        start = time.perf_counter()
        result = run_phase1(request, settings)
        wall = time.perf_counter() - start
    metric, best = result.primary_metric, result.best
    spread = best.cv_dict().get(metric, {}) if best else {}
    selection = result.selection
    return {
        "demo": demo, "seed": seed, "cv_folds": result.split.cv_folds, "wall_s": wall,
        "primary_metric": metric, "winner": best.name if best else None,
        "top_tier": result.top_tier, "method": selection.method if selection else None,
        "winner_mean": best.metrics.get(metric) if best else None,
        "winner_ci": [spread.get("ci_low"), spread.get("ci_high")],
        "means": {r.name: r.metrics.get(metric) for r in result.runs if r.status == "FINISHED"},
        "failed": {r.name: r.error for r in result.runs if r.status != "FINISHED"},
    }


def summarise_demo(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """The most frequent winner and how often it won (and was in the top tier)."""
    winners = collections.Counter(s["winner"] for s in sessions if s["winner"])
    top, count = winners.most_common(1)[0] if winners else (None, 0)
    return {"seeds": len(sessions), "most_frequent_winner": top, "times_won": count,
            "times_in_top_tier": sum(top in s["top_tier"] for s in sessions),
            "winners": dict(winners),
            "mean_tier_size": sum(len(s["top_tier"]) for s in sessions) / max(len(sessions), 1),
            "wall_s_total": sum(s["wall_s"] for s in sessions)}


def verdict(results: dict[str, Any]) -> str:
    """Whether breast_cancer picks the same framework at least 5 times out of 6 (auto mode)."""
    entry = results["demos"].get(f"{TARGET_DEMO}/auto")
    if not entry or results.get("quick"):
        return (f"Target (on {TARGET_DEMO}, seeds 1..6 pick the same framework at least "
                f"{TARGET_COUNT} times) not judged: "
                + ("a --quick run." if results.get("quick") else f"{TARGET_DEMO} was not run."))
    s = entry["summary"]
    met = s["seeds"] == len(SEEDS) and s["times_won"] >= TARGET_COUNT
    return (f"**Target (on {TARGET_DEMO}, seeds 1..6 pick the same framework at least "
            f"{TARGET_COUNT} times): {'met' if met else 'NOT met'}** - "
            f"{s['most_frequent_winner']} won {s['times_won']} of {s['seeds']} and was in the "
            f"top tier {s['times_in_top_tier']} times.")


def _ci(pair: list[Any]) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return "-"
    return f"[{pair[0]:.4f}, {pair[1]:.4f}]"


def demo_lines(key: str, entry: dict[str, Any]) -> list[str]:
    """One demo and evaluation: per seed, then the summary sentence."""
    s, sessions = entry["summary"], entry["sessions"]
    folds = sessions[0]["cv_folds"] if sessions else None
    how = f"{folds}-fold cross-validation" if folds else "one holdout split"
    demo, mode = key.split("/")
    lines = [f"### {demo}, {mode} ({how})", "",
             f"| seed | winner | {sessions[0]['primary_metric'] if sessions else 'metric'} "
             "(95 % CI) | top tier | wall s |", "|---:|---|---:|---|---:|"]
    for x in sessions:
        mean = "-" if x["winner_mean"] is None else f"{x['winner_mean']:.4f}"
        lines.append(f"| {x['seed']} | {x['winner']} | {mean} {_ci(x['winner_ci'])} | "
                     f"{', '.join(x['top_tier'])} | {x['wall_s']:.1f} |")
    lines += ["", f"Most frequent winner: **{s['most_frequent_winner']}**, {s['times_won']} of "
              f"{s['seeds']} seeds (in the top tier {s['times_in_top_tier']} of {s['seeds']}); "
              f"winners {json.dumps(s['winners'])}; top tier {s['mean_tier_size']:.1f} "
              f"frameworks on average; {s['wall_s_total']:.0f} s for the {s['seeds']} sessions.",
              ""]
    return lines


def report_markdown(results: dict[str, Any]) -> str:
    """The README-ready report."""
    m = results["machine"]
    lines = ["# Winner stability", "",
             f"`python benchmarks/stability.py` runs (last: `{' '.join(results['command'])}`) on "
             f"{m['usable_cpus']} cores ({m['cpu_model']}), Python {m['python']}; generated "
             f"{results['generated_at']}. Phase 1 with every framework of the task, seeds 1..6 "
             "(the seed sets the test rows, the folds and every model's own seed), the default "
             "evaluation (auto: 5-fold cross-validation on these small tables) and, where run, "
             "the one holdout split (cv=0) for contrast. The winner is the best mean of the "
             "primary metric; the top tier holds the frameworks not significantly different from "
             "it on the same folds (corrected resampled t-test; holdout: paired bootstrap).", "",
             results["verdict"], ""]
    for key in sorted(results["demos"], key=lambda k: (DEMOS.index(k.split("/")[0])
                                                       if k.split("/")[0] in DEMOS else 9, k)):
        lines += demo_lines(key, results["demos"][key])
    return "\n".join(lines)


def print_report(results: dict[str, Any]) -> None:
    """The tables on stdout."""
    for key, entry in results["demos"].items():
        print()
        print("\n".join(demo_lines(key, entry)))
    print(results["verdict"])


def main(argv: list[str] | None = None) -> int:
    """Run the sessions, merge them into the results, print and write them."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demos", help=f"comma-separated (default: {','.join(DEMOS)})")
    p.add_argument("--seeds", help="comma-separated (default: 1..6)")
    p.add_argument("--holdout", action="store_true", help="also run each session with cv=0")
    p.add_argument("--only-holdout", action="store_true", help="run only the cv=0 sessions")
    p.add_argument("--quick", action="store_true", help="breast_cancer, seeds 1-2, two "
                   "frameworks, 2 folds; prints only")
    p.add_argument("--fresh", action="store_true", help="start a new results file instead of "
                   "updating the demos run into the existing one")
    p.add_argument("--out-dir", type=Path, help="where stability.json/.md go (default "
                   "benchmarks/results; --quick writes nothing unless given)")
    p.add_argument("--render", action="store_true", help="rewrite stability.md from .json")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    out_dir = args.out_dir or (None if args.quick else bu.RESULTS)
    path = (out_dir or bu.RESULTS) / "stability.json"
    if args.render:
        results = json.loads(path.read_text())
        print_report(results)
        (path.parent / "stability.md").write_text(report_markdown(results))
        return 0
    demos = QUICK["demos"] if args.quick else tuple((args.demos or ",".join(DEMOS)).split(","))
    seeds = QUICK["seeds"] if args.quick else tuple(
        int(s) for s in (args.seeds or ",".join(map(str, SEEDS))).split(","))
    modes = {"holdout": 0} if args.only_holdout else (
        {"auto": QUICK["cv"] if args.quick else None, **({"holdout": 0} if args.holdout
                                                          else {})})
    frameworks = QUICK["frameworks"] if args.quick else None
    keep = (not args.fresh and not args.quick and out_dir is not None and path.is_file())
    results = json.loads(path.read_text()) if keep else {"demos": {}}
    results.update(generated_at=bu.utc_now(), machine=bu.machine(), packages=bu.packages(),
                   quick=args.quick,
                   command=["python", "benchmarks/stability.py", *sys.argv[1:]])
    for demo in demos:
        for mode, cv in modes.items():
            sessions = []
            for seed in seeds:
                print(f"[{time.strftime('%H:%M:%S')}] {demo}, {mode}, seed {seed} (load "
                      f"{bu.loadavg()})", flush=True)
                session = one_session(demo, seed, cv, frameworks)
                print(f"  winner {session['winner']} {session['winner_mean']} "
                      f"{_ci(session['winner_ci'])}; tier {session['top_tier']}; "
                      f"{session['wall_s']:.1f} s", flush=True)
                sessions.append(session)
            results["demos"][f"{demo}/{mode}"] = {
                "sessions": sessions, "summary": summarise_demo(sessions),
                "loadavg_after": bu.loadavg(), "generated_at": bu.utc_now()}
    results["machine"]["loadavg_at_end"] = bu.loadavg()
    results["verdict"] = verdict(results)
    print_report(results)
    if out_dir is not None:
        bu.write_json(path, results)
        (path.parent / "stability.md").write_text(report_markdown(results))
        print(f"\nwrote {path} and {path.parent / 'stability.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
