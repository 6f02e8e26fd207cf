"""Agreement between teachers: Cohen's kappa (pairs), Fleiss' kappa (all raters), Jensen-Shannon.

Pure functions over numpy arrays; undefined values (e.g. kappa when every rater always says "no")
are returned as NaN and written as null, never silently as 0 or 1.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from sklearn.metrics import cohen_kappa_score


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa (Fleiss 1971) of a [N subjects, k categories] matrix of rater counts.

    counts[i, j] = number of raters who put subject i in category j; every row sums to the same
    number of raters n >= 2.
        P_i   = (sum_j counts[i, j]^2 - n) / (n (n - 1))      agreement on subject i
        P_bar = mean_i P_i                                     observed agreement
        p_j   = sum_i counts[i, j] / (N n)                     category proportions
        P_e   = sum_j p_j^2                                    chance agreement
        kappa = (P_bar - P_e) / (1 - P_e)                      NaN when P_e == 1 (one category only)
    """
    counts = np.asarray(counts, dtype=np.float64)  # [N, k]
    if counts.ndim != 2 or counts.shape[0] == 0:
        raise ValueError(f"counts must be a non-empty [subjects, categories] matrix, got shape {counts.shape}")
    raters = counts.sum(axis=1)  # [N]
    n = raters[0]
    if not np.all(raters == n) or n < 2:
        raise ValueError("every subject must be rated by the same number (>= 2) of raters")
    n_subjects = counts.shape[0]
    p_i = (np.square(counts).sum(axis=1) - n) / (n * (n - 1))  # [N]
    p_bar = p_i.mean()
    p_j = counts.sum(axis=0) / (n_subjects * n)  # [k]
    p_e = np.square(p_j).sum()
    if np.isclose(p_e, 1.0):
        return float("nan")
    return float((p_bar - p_e) / (1.0 - p_e))


def binary_counts(decisions: np.ndarray) -> np.ndarray:
    """[N subjects, R raters] 0/1 decisions -> [N, 2] counts (column 0 = "no", column 1 = "yes")."""
    decisions = np.asarray(decisions, dtype=np.int64)
    yes = decisions.sum(axis=1)
    return np.stack([decisions.shape[1] - yes, yes], axis=1)


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two raters' decisions (sklearn); NaN when chance agreement is 1."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"two raters need equally many (> 0) decisions, got {a.shape} and {b.shape}")
    if len(np.union1d(a, b)) < 2:  # both raters constant and equal: kappa is 0/0
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(cohen_kappa_score(a, b))


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (in [0, 1]) of two distributions (normalised here).

    JS(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m),  m = (p + q) / 2,  0 log 0 = 0.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape or p.sum() <= 0 or q.sum() <= 0 or (p < 0).any() or (q < 0).any():
        raise ValueError("JS divergence needs two non-negative vectors of the same shape with positive mass")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    return float(0.5 * _kl_bits(p, m) + 0.5 * _kl_bits(q, m))


def _kl_bits(p: np.ndarray, q: np.ndarray) -> float:
    nz = p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / q[nz])))


def mean_pairwise_js(distributions: list[np.ndarray]) -> float:
    """Mean JS divergence over all pairs of the given distributions (those with zero mass are skipped).

    NaN when fewer than two distributions have mass.
    """
    usable = [d for d in distributions if np.asarray(d).sum() > 0]
    pairs = list(itertools.combinations(usable, 2))
    if not pairs:
        return float("nan")
    return float(np.mean([js_divergence(p, q) for p, q in pairs]))


def mean_pairwise_cosine_distance(vectors: np.ndarray) -> float:
    """Mean of 1 - cos(u, v) over all pairs of rows of a [R, D] matrix (NaN when R < 2)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.shape[0] < 2:
        return float("nan")
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = unit @ unit.T  # [R, R]
    iu = np.triu_indices(len(unit), k=1)
    return float(np.mean(1.0 - sims[iu]))
