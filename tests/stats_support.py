"""Shared inputs for the statistics tests: noisy binary probabilities of a given skill."""

from __future__ import annotations

import numpy as np


def noisy_outputs(rng: np.random.Generator, y: np.ndarray, skill: float) -> np.ndarray:
    """Two-column probabilities that lean to the true class by `skill`, with noise."""
    p = np.clip(np.where(y == 1, skill, 1 - skill) + rng.normal(0, 0.25, len(y)), 0.01, 0.99)
    return np.column_stack([1 - p, p])
