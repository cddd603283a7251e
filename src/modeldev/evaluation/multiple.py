"""Simultaneous tests on shared folds: exact max-t critical values by random rotation.

Each column of a (scores x comparisons) matrix holds the fold differences of one comparison
(positive: the challenger is better). Under Nadeau and Bengio's model (Bouckaert and Frank's
for repeated folds) a column's m fold scores are equicorrelated with rho = n_valid / n_total,
which is what the corrected t statistic assumes: t = mean / sqrt((1/m + n_valid/n_train) s^2).
A Helmert rotation whose first row is the mean, with that row rescaled, turns the m correlated
scores into m independent rows with one covariance across comparisons; the corrected t of
every column is then a function of those rows, and with no true difference their joint law is
unchanged by any rotation of the rows. Drawing random rotations (Langsrud 2005) gives the exact
null distribution of the largest t over all comparisons, however they are correlated, with
K = 5 or 10 fold scores where a bootstrap would have a few hundred distinct resamples.

Used for the top tier (Hsu's comparison with the best: a framework leaves the tier only when
some other framework is better than it, over all the comparisons at once) and for the tuning
verdict (a reality check, White 2000, studentized as Hansen's SPA: the best of N combinations
is `better` only when its t beats the largest t that N combinations reach by chance).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import helmert

ROTATIONS = 9_999
_CHUNK = 1_000


def fold_correlation(n_train: int, n_valid: int) -> float:
    """The fold scores' correlation the corrected t-test assumes: n_valid / (n_train + n_valid)."""
    return n_valid / max(n_train + n_valid, 1)


def whiten(differences: np.ndarray, n_train: int, n_valid: int) -> np.ndarray:
    """Rows that are independent under the correlation model: row 0 carries the mean (scaled),
    rows 1..m-1 the spread (Helmert contrasts)."""
    d = np.asarray(differences, dtype=float)
    m = d.shape[0]
    rho = fold_correlation(n_train, n_valid)
    rows = helmert(m, full=True) @ d
    rows[0] *= math.sqrt((1.0 - rho) / (1.0 + (m - 1) * rho))
    return rows


def _t(head: np.ndarray, spread: np.ndarray, m: int, floor: float,
       moderate: bool) -> np.ndarray:
    """Corrected t from the mean row and the residual sum of squares. A variance below the
    floor is raised to it; with no floor a column without spread counts as no evidence.
    `moderate` shrinks each column's variance halfway (m - 1 prior degrees of freedom) toward
    the mean variance of all columns (Smyth 2004): with 4 degrees of freedom of its own, a
    column's t is heavy-tailed enough to swamp the largest t of a big grid."""
    var = np.maximum(spread / (m - 1), floor**2)
    if moderate and var.size:
        var = (var + np.mean(var, axis=-1, keepdims=True)) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = head / np.sqrt(var)
    return np.where(var > 0, t, 0.0)


def corrected_t(differences: np.ndarray, n_train: int, n_valid: int, floor: float = 0.0,
                moderate: bool = False) -> np.ndarray:
    """Each column's corrected resampled t statistic (Nadeau and Bengio), spread floored at
    `floor` (one scored row's worth for the label metrics), moderated when asked."""
    rows = whiten(differences, n_train, n_valid)
    return _t(rows[0], np.sum(rows[1:] ** 2, axis=0), rows.shape[0], floor, moderate)


def rotation_max_t(differences: np.ndarray, n_train: int, n_valid: int, floor: float = 0.0,
                   rotations: int | None = None, seed: int = 0,
                   moderate: bool = False) -> np.ndarray:
    """`rotations` (default ROTATIONS) draws of the largest corrected t over all columns under
    "no difference"."""
    rotations = rotations or ROTATIONS
    rows = whiten(differences, n_train, n_valid)
    m = rows.shape[0]
    norms = np.sum(rows**2, axis=0)
    rng = np.random.default_rng(seed)
    out = np.empty(rotations)
    for start in range(0, rotations, _CHUNK):
        n = min(_CHUNK, rotations - start)
        u = rng.standard_normal((n, m))
        u /= np.linalg.norm(u, axis=1, keepdims=True)  # the first row of a Haar rotation
        head = u @ rows
        out[start:start + n] = _t(head, np.maximum(norms - head**2, 0.0), m, floor,
                                  moderate).max(axis=1)
    return out


def exceedance_p(observed: float, null_max: np.ndarray) -> float:
    """Monte Carlo p-value (1 + draws at or above `observed`) / (draws + 1): never 0."""
    return float((1 + np.count_nonzero(null_max >= observed)) / (null_max.size + 1))


def max_t_p(differences: np.ndarray, n_train: int, n_valid: int, floor: float = 0.0,
            statistic: float | None = None, seed: int = 0, rotations: int | None = None,
            moderate: bool = False) -> float:
    """The simultaneous one-sided p-value of `statistic` (default: the largest column t)
    against the largest t that all columns reach under "no difference"."""
    d = np.asarray(differences, dtype=float)
    if d.ndim != 2 or d.shape[0] < 2 or d.shape[1] == 0:
        return float("nan")
    if statistic is None:
        statistic = float(np.max(corrected_t(d, n_train, n_valid, floor, moderate)))
    return exceedance_p(statistic, rotation_max_t(d, n_train, n_valid, floor, rotations, seed,
                                                  moderate))
