"""DiTPO's rule-based token weights (DEER eq. 6-12, SPEC §3): TF-IDF over the G completions of one group.

    TF(x, o_i)  = count of token x in o_i / |o_i|
    IDF(x)      = ln(G / df(x)),   df(x) = number of the group's completions that contain x
    w_i^t       = 1 + alpha * TF(o_i[t], o_i) * IDF(o_i[t])              (alpha = 4, the paper's)

A token that every completion contains (template words, "the", ".") has IDF 0 and keeps weight 1:
its advantage is the plain GRPO one. A token only some completions use ("effusion" in 3 of 8)
is what distinguishes them, and its advantage is amplified. Weights are >= 1 and need no
gradient: they are a function of token ids only.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import torch


def tfidf_token_weights(group_token_ids: Sequence[Sequence[int]], alpha: float = 4.0) -> list[torch.Tensor]:
    """One [|o_i|] float32 tensor of weights per completion of the group (see module docstring).

    group_token_ids: the G completions' token ids, without padding or prompt tokens (the caller
    strips them; whether EOS is included is the caller's choice: it is in every finished
    completion, so it gets weight 1 anyway).
    Example (alpha 4, G = 2): o_1 = [5, 7, 5], o_2 = [5, 9]. Token 5 is in both: w = 1. Token 7:
    TF 1/3, IDF ln 2 -> 1 + 4 * 0.2310 = 1.9242. Token 9: TF 1/2, IDF ln 2 -> 2.3863.
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    g = len(group_token_ids)
    df: Counter[int] = Counter()
    for ids in group_token_ids:
        df.update(set(ids))
    idf = {tok: math.log(g / n) for tok, n in df.items()}
    weights = []
    for ids in group_token_ids:
        counts = Counter(ids)
        n = len(ids)
        weights.append(torch.tensor([1.0 + alpha * (counts[t] / n) * idf[t] for t in ids], dtype=torch.float32))
    return weights
