"""Serving latency: milliseconds per call of a model's predict at batch 1 and batch 1,024.

One definition for the Comparison page's figures (each Phase 1 model's own `predict`, in its
worker) and the serving card's (`pyfunc.predict` of the loaded model, in a fresh process): p50
and p95 over repeated calls after one warm-up call, the calls capped by count and by time so a
slow model costs at most its budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

BATCHES = (1, 1024)
FIGURES = tuple(f"latency_{q}_ms_batch{b}" for b in BATCHES for q in ("p50", "p95"))


def batch_of(rows: pd.DataFrame, size: int) -> pd.DataFrame:
    """`size` rows drawn from `rows` (repeated where there are fewer; fixed seed)."""
    return rows.sample(n=size, replace=len(rows) < size, random_state=0).reset_index(drop=True)


def latency_ms(predict: Callable[[pd.DataFrame], Any], rows: pd.DataFrame, repeats: int,
               budget_s: float) -> tuple[float, float]:
    """p50 and p95 milliseconds of `predict(rows)` over up to `repeats` calls (at least 3, and
    no more once `budget_s` seconds have passed), after one warm-up call."""
    predict(rows)
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() < deadline):
        started = time.perf_counter()
        predict(rows)
        times.append((time.perf_counter() - started) * 1000.0)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def latency_figures(predict: Callable[[pd.DataFrame], Any], rows: pd.DataFrame,
                    repeats: tuple[int, int] = (50, 20),
                    budget_s: tuple[float, float] = (0.25, 0.5)) -> dict[str, float]:
    """`latency_p50_ms_batch1`, `latency_p95_ms_batch1` and the same at batch 1,024, each
    batch drawn from `rows`; `repeats` and `budget_s` per batch size."""
    out: dict[str, float] = {}
    for size, n, budget in zip(BATCHES, repeats, budget_s, strict=True):
        p50, p95 = latency_ms(predict, batch_of(rows, size), n, budget)
        out[f"latency_p50_ms_batch{size}"] = p50
        out[f"latency_p95_ms_batch{size}"] = p95
    return out
