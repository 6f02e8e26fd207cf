"""DDSampling's draw (DEER eq. 5): rank inputs by diagnostic diversity D, then draw the RL subset
without replacement with probabilities that decay with the log of the rank.

    P(rank r) = (1 / log(r + 1)) / sum_{j=1..n} (1 / log(j + 1)),   r = 1..n, natural log   (eq. 5)

The decay is slow (rank 1 weighs 1/ln 2 = 1.443, rank 100 weighs 1/ln 101 = 0.217), so the
subset favours diverse inputs without ever excluding the rest.
"""

from __future__ import annotations

import numpy as np
import torch


def log_rank_probabilities(n: int) -> torch.Tensor:
    """[n] float64 tensor P_r, r = 1..n (eq. 5). Example: n = 3 -> weights (1/ln 2, 1/ln 3, 1/ln 4)
    = (1.4427, 0.9102, 0.7213), sum 3.0742 -> P = (0.4693, 0.2961, 0.2346)."""
    if n < 1:
        raise ValueError(f"need at least one item to rank, got n = {n}")
    ranks = torch.arange(1, n + 1, dtype=torch.float64)
    weights = 1.0 / torch.log(ranks + 1.0)
    return weights / weights.sum()


def rank_by_diversity(diversity: np.ndarray) -> np.ndarray:
    """Indices of the items sorted by D descending; ties keep input order (stable), so the ranking
    is a pure function of the D values and the items' order. [n] -> [n] int64."""
    return np.argsort(-np.asarray(diversity, dtype=np.float64), kind="stable")


def draw_by_rank(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw `size` distinct ranks (0-based) out of n with the log-rank probabilities, without
    replacement: successive sampling, each draw proportional to P among the ranks not yet drawn
    (`numpy.random.Generator.choice(replace=False, p=P)`). Returns [size] int64 ranks in draw order."""
    if not 0 <= size <= n:
        raise ValueError(f"cannot draw {size} of {n} items without replacement")
    p = log_rank_probabilities(n).numpy()
    return rng.choice(n, size=size, replace=False, p=p).astype(np.int64)
