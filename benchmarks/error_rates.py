"""Error rates and power of the tier and the tuning verdict, by simulation at full size.

    python benchmarks/error_rates.py          # about 10 minutes on 2 cores
    python benchmarks/error_rates.py --quick  # a tenth of the draws

Not a test: tests/test_error_rates.py asserts the same rates on fewer draws in CI; this
prints them with more draws (and 999 rotations, the engine's count is 9,999) for the README.
The fold scores come from the test module's generator (the correlation the corrected tests
assume: n_valid / n_total between folds; grid combinations alike by 0.5; a shared fold
difficulty), and the engine's own code chooses and judges. "Before" is the rule this replaced:
the best mean's plain corrected t-test against the baseline (tuning), the corrected t-test of
each framework against the winner, two-sided (tier), the best against the worst value
(parameter impact).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import benchutil as bu
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import test_error_rates as sim  # noqa: E402 - the generator the tests use, not a copy

SD = 0.02  # the simulated per-fold standard deviation of a combination's score
TIER_SDS = np.array([0.010, 0.012, 0.012, 0.015, 0.02, 0.02])  # six frameworks' fold SDs


def _old_better(rng: np.random.Generator, n: int, m: int, gains: np.ndarray) -> bool:
    from modeldev.evaluation.statistics import corrected_paired_ttest

    scores = sim.fold_scores(rng, 0.8 + np.r_[0.0, gains], np.full(n + 1, SD), m)
    best = int(np.argmax(scores[1:].mean(axis=1))) + 1
    test = corrected_paired_ttest(scores[best], scores[0], sim.N_TRAIN, sim.N_VALID)
    return bool(test.p_value < 0.05 and test.difference > 0)


def verdict_rates(draws: int) -> list[dict[str, Any]]:
    """False `better` on null grids and power at gains of 1-3 SD, before and now."""
    rows = []
    for m in (5, 10):
        for n in (9, 27, 81, 243, 729):
            for gain_sd in (0.0, 1.0, 2.0, 3.0):
                if gain_sd and n not in (9, 81, 729):
                    continue
                rng = np.random.default_rng(n * 10 + m)
                gains = np.zeros(n)
                gains[: max(1, n // 10)] = gain_sd * SD
                k = draws if n < 729 else draws // 2
                now = [sim.tuning_outcome(rng, gains, m, s) for s in range(k)]
                before = sum(_old_better(rng, n, m, gains) for _ in range(k))
                rows.append({"folds": m, "combinations": n, "gain_sd": gain_sd, "draws": k,
                             "better_now": sum(v == "better" for v, _ in now) / k,
                             "better_before": before / k,
                             "false_better_now": sum(v == "better" and not t
                                                     for v, t in now) / k})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def tier_rates(draws: int) -> list[dict[str, Any]]:
    """How often the tier keeps the true best, and its size, now and before."""
    from modeldev.evaluation.selection import select_by_folds
    from modeldev.evaluation.statistics import corrected_paired_ttest

    configs = {"all equal": np.full(6, 0.8),
               "spread": np.array([0.80, 0.797, 0.79, 0.78, 0.75, 0.70]),
               "one 2-SD gap": np.array([0.80, 0.78, 0.78, 0.78, 0.78, 0.78])}
    rows = []
    for label, means in configs.items():
        for m in (5, 10, 15):
            rng = np.random.default_rng(m)
            kept = kept_before = 0
            sizes, sizes_before = [], []
            for s in range(draws):
                scores = sim.fold_scores(rng, means, TIER_SDS, m, alike=0.3)
                named = {f"f{i}": list(v) for i, v in enumerate(scores)}
                sel = select_by_folds(named, "accuracy", sim.N_TRAIN, sim.N_VALID,
                                      repeats=m // 5, seed=s)
                kept += "f0" in sel.top_tier
                sizes.append(len(sel.top_tier))
                winner = sel.winner or "f0"
                old = [n for n in named if n == winner or not corrected_paired_ttest(
                    named[winner], named[n], sim.N_TRAIN, sim.N_VALID).p_value < 0.05]
                kept_before += "f0" in old
                sizes_before.append(len(old))
            rows.append({"truth": label, "folds": m, "draws": draws,
                         "best_kept_now": kept / draws, "best_kept_before": kept_before / draws,
                         "tier_size_now": float(np.mean(sizes)),
                         "tier_size_before": float(np.mean(sizes_before))})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def impact_rates(draws: int) -> list[dict[str, Any]]:
    """False "beyond noise" for a parameter with no effect, now and before."""
    from modeldev.evaluation.statistics import corrected_paired_ttest
    from modeldev.tuning import analysis

    rows, fold_rows = [], (sim.N_TRAIN, sim.N_VALID)
    for values in (2, 4, 8):
        rng = np.random.default_rng(values)
        beyond = beyond_before = 0
        for s in range(draws):
            scores = sim.fold_scores(rng, np.full(values * 6, 0.8), np.full(values * 6, SD), 10)
            trials = sim.trials_from(scores)
            for t in trials:
                t["params"] = {"p": t["index"] % values, "other": t["index"] // values}
            impact = analysis.parameter_impact(trials, ["p"], sim.METRIC, fold_rows)
            beyond += analysis.within_noise(impact, sim.METRIC, fold_rows, seed=s
                                            )["p"]["within_noise"] is False
            groups = sorted(impact["p"], key=lambda g: g["mean"])
            old = corrected_paired_ttest(groups[-1]["fold_means"], groups[0]["fold_means"],
                                         *fold_rows)
            beyond_before += old.p_value < 0.05
        rows.append({"values": values, "draws": draws, "beyond_noise_now": beyond / draws,
                     "beyond_noise_before": beyond_before / draws})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def report_markdown(results: dict[str, Any]) -> str:
    """The README-ready tables."""
    lines = ["# Error rates and power (simulation)", "",
             f"`python benchmarks/error_rates.py` on {results['machine']['usable_cpus']} cores; "
             f"generated {results['generated_at']}; {results['seconds']:.0f} s. Promised: "
             "false `better` <= 2.5 % (one side of a 5 % test), the true best in the tier >= "
             "95 %, false 'beyond noise' <= 5 %.", "",
             "## Tuning verdict: `better` said (gain 0: every `better` is false)", "",
             "| fold scores | combinations | true gain (SD) of a tenth of the grid | now | "
             "before |", "|---:|---:|---:|---:|---:|"]
    for r in results["verdict"]:
        lines.append(f"| {r['folds']} | {r['combinations']} | {r['gain_sd']:g} | "
                     f"{r['better_now']:.3f} | {r['better_before']:.3f} |")
    lines += ["", "## Top tier", "", "| truth | fold scores | best kept now | before | "
              "tier size now | before |", "|---|---:|---:|---:|---:|---:|"]
    for r in results["tier"]:
        lines.append(f"| {r['truth']} | {r['folds']} | {r['best_kept_now']:.3f} | "
                     f"{r['best_kept_before']:.3f} | {r['tier_size_now']:.2f} | "
                     f"{r['tier_size_before']:.2f} |")
    lines += ["", "## Parameter impact with no effect: 'beyond noise' said", "",
              "| values | now | before |", "|---:|---:|---:|"]
    for r in results["impact"]:
        lines.append(f"| {r['values']} | {r['beyond_noise_now']:.3f} | "
                     f"{r['beyond_noise_before']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Simulate, print, and write benchmarks/results/error_rates.{json,md}."""
    import modeldev.evaluation.multiple as multiple

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    multiple.ROTATIONS = 999
    draws = 100 if args.quick else 1000
    started = time.perf_counter()
    results = {"machine": bu.machine(), "quick": args.quick,
               "verdict": verdict_rates(draws), "tier": tier_rates(draws // 2),
               "impact": impact_rates(draws // 2)}
    results.update(seconds=time.perf_counter() - started,
                   generated_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    bu.write_results("error_rates", results, report_markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
