"""Group-relative advantages (DEER eq. 2) and their per-token version (DiTPO, DEER eq. 6-12).

    A_i   = (r_i - mean(r)) / (std(r) + eps)     over the G completions of one input   (eq. 2)
    A_i^t = A_i * w_i^t                          w = token weights (TF-IDF or saliency) (DiTPO)

`token_advantages` returns the padded [G, T] tensor that TRL's GRPO loss accepts in place of its
[G] advantages (`GRPOTrainer._compute_loss` unsqueezes only a 1-D tensor, SPEC §4).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def group_advantages(rewards_G: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """[G] rewards of one group -> [G] advantages (eq. 2), float32.

    std is the SAMPLE std (Bessel, ddof = 1) and eps is added to it, not under a square root:
    exactly what TRL 1.16's GRPOTrainer computes (`nanstd` with Bessel's correction, then
    `advantages / (std_rewards + 1e-4)`, scale_rewards="group"), so advantages from this function
    and from the trainer that consumes them (`driftalign grpo`) agree. (Population std would scale every advantage
    by sqrt(G / (G - 1)): 1.054 at G = 10, a learning-rate-sized difference, not a sign one.)

    All-equal rewards give exactly zeros (the numerator is 0): a group that cannot tell its
    completions apart teaches nothing. G = 1 has no group baseline: ValueError.

    Example: r = (1, 0, 0, 1): mean 0.5, sample std sqrt(1/3) = 0.5774 -> A = +-0.8659 (eps 1e-4).
    """
    r = torch.as_tensor(rewards_G, dtype=torch.float32)
    if r.ndim != 1:
        raise ValueError(f"rewards_G must be 1-D [G], got shape {tuple(r.shape)}")
    if r.numel() < 2:
        raise ValueError(f"a group needs at least 2 completions for a baseline, got G = {r.numel()}")
    centred = r - r.mean()
    if torch.all(centred == 0):
        return torch.zeros_like(r)
    return centred / (r.std(unbiased=True) + eps)


def token_advantages(advantages_G: torch.Tensor, weights: Sequence[torch.Tensor],
                     pad_to: int | None = None) -> torch.Tensor:
    """A_i^t = A_i * w_i^t (DiTPO), right-padded with 0 to [G, T].

    weights[i]: [T_i] token weights of completion i (e.g. `tfidf_token_weights`); T = max T_i, or
    `pad_to` (>= every T_i) to match the width of the completion tensor. Padding positions are 0,
    so they add nothing even before the loss applies its mask.
    Example: A = (1, -2), w = ([1, 3], [0.5]) -> [[1, 3], [-1, 0]].
    """
    a = torch.as_tensor(advantages_G, dtype=torch.float32)
    if a.ndim != 1 or a.numel() != len(weights):
        raise ValueError(f"need one advantage per completion: advantages shape {tuple(a.shape)}, "
                         f"{len(weights)} weight rows")
    longest = max((int(w.numel()) for w in weights), default=0)
    width = longest if pad_to is None else pad_to
    if width < longest:
        raise ValueError(f"pad_to = {pad_to} is shorter than the longest completion ({longest} tokens)")
    out = torch.zeros(len(weights), width, dtype=torch.float32)
    for i, w in enumerate(weights):
        out[i, : w.numel()] = a[i] * w.to(torch.float32)
    return out
