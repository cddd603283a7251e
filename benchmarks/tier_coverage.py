"""How often the top tier keeps the true best under repeated cross-validation, with many draws.

    python benchmarks/tier_coverage.py              # 6,000 draws at 10, 15 and 20 fold scores
    python benchmarks/tier_coverage.py --draws 500  # a quick look

Not a test. benchmarks/error_rates.py gave 94.0 % at 3 x 5 (15 fold scores) from 500 draws,
one simulation standard error below the promised 95 %; this settles whether the Bouckaert-Frank
correction under-covers with more repeats. Six frameworks with equal means (every one a true
best; f0 is followed), the fold scores from tests/test_error_rates.py's generator, the engine's
own `select_by_folds` (9,999 rotations) choosing the tier.
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
from error_rates import TIER_SDS  # noqa: E402 - the same six frameworks as its tier rows

PROMISE = 0.95


def coverage(m: int, draws: int) -> dict[str, Any]:
    """The share of draws whose tier holds f0, with its simulation standard error."""
    from modeldev.evaluation.selection import select_by_folds

    rng = np.random.default_rng(7000 + m)
    started, kept = time.perf_counter(), 0
    for s in range(draws):
        scores = sim.fold_scores(rng, np.full(6, 0.8), TIER_SDS, m, alike=0.3)
        named = {f"f{i}": list(v) for i, v in enumerate(scores)}
        sel = select_by_folds(named, "accuracy", sim.N_TRAIN, sim.N_VALID, repeats=m // 5,
                              seed=s)
        kept += "f0" in sel.top_tier
    p = kept / draws
    return {"fold_scores": m, "repeats": m // 5, "draws": draws, "best_kept": p,
            "standard_error": (p * (1 - p) / draws) ** 0.5,
            "seconds": round(time.perf_counter() - started, 1)}


def report(rows: list[dict[str, Any]]) -> str:
    """The results as Markdown."""
    lines = ["# The top tier's coverage under repeated cross-validation", "",
             "`python benchmarks/tier_coverage.py`: six frameworks with equal means, the engine's "
             "own tier; promised: the true best kept >= 95 %.", "",
             "| fold scores | draws | best kept | simulation SE | within 2 SE of >= 95 % |",
             "|---|---:|---:|---:|---|"]
    for r in rows:
        ok = r["best_kept"] + 2 * r["standard_error"] >= PROMISE
        lines.append(f"| {r['repeats']} x 5 | {r['draws']:,} | {r['best_kept']:.2%} | "
                     f"{r['standard_error']:.2%} | {'yes' if ok else 'NO'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run every fold count, print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--draws", type=int, default=6000)
    args = parser.parse_args()
    rows = []
    for m in (10, 15, 20):
        rows.append(coverage(m, args.draws))
        print(json.dumps(rows[-1]), flush=True)
    bu.write_results("tier_coverage", {"machine": bu.machine(), "rows": rows}, report(rows))


if __name__ == "__main__":
    main()
