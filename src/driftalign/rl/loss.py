"""The DiTPO loss: GRPO's PPO-clipped surrogate with per-token advantages (DEER eq. 6-12, SPEC §3).

Per completion i of a group of G and answer token t (all tensors [G, T], right-padded):

    rho_i^t  = exp( log pi_theta(o_i^t | ...) - log pi_old(o_i^t | ...) )
    s_i^t    = min( rho_i^t * A_i^t, clip(rho_i^t, 1 - eps, 1 + eps) * A_i^t )
    k3_i^t   = exp(ref - logp) - (ref - logp) - 1          (Schulman's k3 estimate of KL(pi || pi_ref))
    l_i^t    = -s_i^t + kl_beta * k3_i^t
    L        = (1/G) sum_i (1/|o_i|) sum_t l_i^t                                   ("grpo" normalisation)

Normalisation: per-sequence mean over its valid tokens, then mean over the group: TRL's
`loss_type="grpo"` and the objective as DeepSeekMath's GRPO and DEER write it. Chosen because it
is the paper's equation; its known cost is a length bias (a token of a short completion weighs
more: Dr. GRPO, TRL's `"dr_grpo"`), which TRL's default `"dapo"` (sum over all tokens / tokens in
the batch) and `"bnpo"` avoid. Switching is a later opt-in for the trainer, not a change here.
With gradient accumulation the trainer divides this per-call mean by the number of accumulation
steps, exactly as TRL does for "grpo".

With A_i^t = A_i (all weights 1) this is exactly GRPO's loss. Padding tokens (mask 0) contribute
nothing; a completion without valid tokens contributes 0 (denominator clamped to 1, as TRL).
"""

from __future__ import annotations

import torch


def ditpo_loss(
    logps: torch.Tensor,             # [G, T] log pi_theta of each completion token (requires grad)
    old_logps: torch.Tensor,         # [G, T] log pi_old, the policy that sampled (detached)
    token_advantages: torch.Tensor,  # [G, T] A_i^t = A_i * w_i^t (`token_advantages`)
    mask: torch.Tensor,              # [G, T] 1/True on completion tokens, 0 on padding
    clip_eps: float = 0.2,
    ref_logps: torch.Tensor | None = None,  # [G, T] log pi_ref (only needed when kl_beta != 0)
    kl_beta: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped surrogate with token advantages (see module docstring). Returns (loss scalar, metrics).

    Metrics (detached): `clip_fraction` (share of valid tokens where the clip is active, i.e. where
    the gradient is cut: rho > 1 + eps with A > 0 or rho < 1 - eps with A < 0), `kl` (mean k3 over
    valid tokens; 0 without a reference), `ratio` (mean rho over valid tokens).
    """
    shape = logps.shape
    for name, t in (("old_logps", old_logps), ("token_advantages", token_advantages), ("mask", mask)):
        if t.shape != shape:
            raise ValueError(f"{name} must have the shape of logps {tuple(shape)}, got {tuple(t.shape)}")
    if not clip_eps > 0:
        raise ValueError(f"clip_eps must be > 0, got {clip_eps}")
    if kl_beta != 0.0 and ref_logps is None:
        raise ValueError("kl_beta != 0 needs ref_logps")
    m = mask.to(logps.dtype)                                                    # [G, T]
    ratio = torch.exp(logps - old_logps.detach())                              # [G, T]
    adv = token_advantages.to(logps.dtype)
    surrogate = torch.min(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv)
    per_token = -surrogate                                                      # [G, T]
    kl = torch.zeros_like(per_token)
    if ref_logps is not None:
        if ref_logps.shape != shape:
            raise ValueError(f"ref_logps must have the shape of logps {tuple(shape)}, got {tuple(ref_logps.shape)}")
        delta = ref_logps.detach() - logps
        kl = torch.exp(delta) - delta - 1                                       # k3, >= 0
        per_token = per_token + kl_beta * kl
    per_sequence = (per_token * m).sum(-1) / m.sum(-1).clamp(min=1.0)           # [G]
    loss = per_sequence.mean()
    with torch.no_grad():
        n_valid = m.sum().clamp(min=1.0)
        clipped = ((ratio > 1 + clip_eps) & (adv > 0)) | ((ratio < 1 - clip_eps) & (adv < 0))
        metrics = {
            "clip_fraction": (clipped.to(m.dtype) * m).sum() / n_valid,
            "kl": (kl.detach() * m).sum() / n_valid,
            "ratio": (ratio.detach() * m).sum() / n_valid,
        }
    return loss, metrics
