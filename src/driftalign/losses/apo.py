"""The APO loss: a multi-negative Plackett-Luce preference objective (SPEC §3, eq. 8-11).

One preferred (consensus) trajectory t+ is ranked above the N drifting teacher trajectories of the
same study in ONE listwise term, relative to a frozen reference policy (the SPD model):

    r(v, l, t)   = beta * log( pi_theta(t | v, l) / pi_ref(t | v, l) )                      (eq. 8)
    P(t+ > T)    = exp(r+) / ( exp(r+) + sum_u w_u exp(r_u) )                                (eq. 9-10)
    L_APO        = -log P(t+ > T)
                 = logsumexp([r+, r_1 + log w_1, ..., r_N + log w_N]) - r+                    (eq. 11)

With N = 1 and w = 1 this is exactly DPO's -log sigmoid(r+ - r-). A negative with w_u = 0 or
mask = False is dropped: its logit is -inf, so it contributes exp(-inf) = 0 to the sum and its
gradient is exactly 0 (never NaN). A row without any valid negative has loss 0 (logsumexp of
[r+] minus r+) and zero gradient.

Log-probs are SUMS over the answer tokens of each trajectory (eq. 8: log pi(t | v, l)), computed by
the caller; this module never sees tokens.

Design (STYLE.md "losses are pure functions"): one function, log-probs in, per-row losses and
detached metrics out, no trainer state. There is deliberately no loss registry: APO has one
formula. `APO_NEEDS_REFERENCE_MODEL` tells the trainer what the loss needs instead of the trainer
branching on a loss name.

One opt-in anchor on t+'s absolute likelihood (NOT in the APO paper; `Anchor`, default "none"):
"dpop", Smaug's DPO-Positive penalty inside the preference (`dpop_penalty`, `apo_loss(dpop_lambda=)`).
"""

from __future__ import annotations

from typing import Literal

import torch

# The trainer asks the loss what it needs (open-instruct's `needs_reference_model` idea).
APO_NEEDS_REFERENCE_MODEL = True

# The absolute-likelihood anchors `driftalign apo --anchor` offers: none (the paper's eq. 11) or
# dpop (Pal et al. 2024, see `dpop_penalty`). One name list, used by the config and the trainer.
Anchor = Literal["none", "dpop"]
DPOP_LAMBDA = 50.0  # lambda of DPOP as used for Smaug (also PaddleNLP's default)


def _valid_negatives(shape: torch.Size, device: torch.device, weights: torch.Tensor | None,
                     mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (weights [B, N] float, valid [B, N] bool): w defaults to 1; w <= 0 or mask False -> invalid."""
    w_BN = torch.ones(shape, device=device) if weights is None else weights.to(device=device, dtype=torch.float32)
    if w_BN.shape != shape:
        raise ValueError(f"weights must have shape {tuple(shape)}, got {tuple(w_BN.shape)}")
    if torch.isnan(w_BN).any() or (w_BN < 0).any():
        raise ValueError("weights must be finite and >= 0 (0 drops a negative)")
    valid_BN = w_BN > 0
    if mask is not None:
        if mask.shape != shape:
            raise ValueError(f"mask must have shape {tuple(shape)}, got {tuple(mask.shape)}")
        valid_BN = valid_BN & mask.to(device=device, dtype=torch.bool)
    return w_BN, valid_BN


def apo_loss(
    policy_chosen_logps: torch.Tensor,     # [B]    log pi_theta(t+ | v, l), summed over answer tokens
    policy_rejected_logps: torch.Tensor,   # [B, N] log pi_theta(t_u | v, l)
    ref_chosen_logps: torch.Tensor,        # [B]    log pi_ref(t+ | v, l)
    ref_rejected_logps: torch.Tensor,      # [B, N] log pi_ref(t_u | v, l)
    beta: float,
    weights: torch.Tensor | None = None,   # [B, N] w_u >= 0; None = all 1 (the paper's default)
    mask: torch.Tensor | None = None,      # [B, N] bool; False = no such negative (refusal, padding)
    dpop_lambda: float = 0.0,              # > 0: the DPOP anchor inside the preference (`dpop_penalty`)
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Multi-negative Plackett-Luce preference loss (eq. 8-11). Returns (losses [B], metrics).

    With `dpop_lambda` = lambda > 0 (the opt-in `--anchor dpop`, not in the paper), t+'s logit in
    eq. 9-11 is Smaug's penalised reward (`dpop_penalty`):
        r+_DPOP = beta * ( log pi_theta(t+) - log pi_ref(t+) - lambda * max(0, log pi_ref(t+) - log pi_theta(t+)) )
    lambda = 0 is exactly eq. 11 (the same computation, not merely the same value).

    Metrics (all detached; rewards, margins and accuracy are eq. 8's, without the penalty, so they
    mean the same with and without the anchor):
      chosen_rewards   [B]     r+
      rejected_rewards [B, N]  r_u (0 where invalid)
      valid            [B, N]  which negatives took part (mask and w > 0)
      margins          [B, N]  r+ - r_u (0 where invalid)
      weighted_margin  [B]     r+ - sum_u w_u r_u / sum_u w_u over valid negatives (0 if none)
      accuracy         [B]     1.0 if r+ > every valid r_u (vacuously 1.0 for a row with none)
      num_negatives    [B]     number of valid negatives
      dpop_penalty     [B]     max(0, log pi_ref(t+) - log pi_theta(t+)) in nats (only when dpop_lambda > 0)
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if dpop_lambda < 0:
        raise ValueError(f"dpop_lambda must be >= 0, got {dpop_lambda}")
    if policy_rejected_logps.dim() != 2 or policy_chosen_logps.dim() != 1:
        raise ValueError("expected chosen log-probs of shape [B] and rejected log-probs of shape [B, N]")
    if ref_rejected_logps.shape != policy_rejected_logps.shape or ref_chosen_logps.shape != policy_chosen_logps.shape:
        raise ValueError("policy and reference log-probs must have the same shapes")
    shape = policy_rejected_logps.shape
    w_BN, valid_BN = _valid_negatives(shape, policy_rejected_logps.device, weights, mask)

    chosen_B = beta * (policy_chosen_logps - ref_chosen_logps)                          # eq. 8, [B]
    rejected_BN = beta * (policy_rejected_logps - ref_rejected_logps)                   # eq. 8, [B, N]
    preferred_B = chosen_B                                                              # t+'s logit in eq. 9-11
    if dpop_lambda > 0:
        penalty_B = dpop_penalty(policy_chosen_logps, ref_chosen_logps)                 # [B], nats
        preferred_B = chosen_B - beta * dpop_lambda * penalty_B                         # Smaug's DPOP, [B]
    neg_inf = torch.full_like(rejected_BN, float("-inf"))
    # log w_u only where valid; clamp keeps log() finite so no NaN can leak through where().
    log_w_BN = torch.where(valid_BN, w_BN.clamp_min(torch.finfo(torch.float32).tiny).log(), neg_inf)
    neg_logits_BN = torch.where(valid_BN, rejected_BN + log_w_BN, neg_inf)              # r_u + log w_u, [B, N]
    logits_B1N = torch.cat([preferred_B.unsqueeze(1), neg_logits_BN], dim=1)            # [B, 1 + N]
    losses_B = torch.logsumexp(logits_B1N, dim=1) - preferred_B                         # eq. 11, [B]

    metrics = _preference_metrics(chosen_B.detach(), rejected_BN.detach(), w_BN, valid_BN)
    if dpop_lambda > 0:
        metrics["dpop_penalty"] = penalty_B.detach()
    return losses_B, metrics


def dpop_penalty(policy_chosen_logps: torch.Tensor, ref_chosen_logps: torch.Tensor) -> torch.Tensor:
    """DPOP's hinge on t+'s absolute likelihood: max(0, log pi_ref(t+) - log pi_theta(t+)), [B] -> [B] (nats).

    Source: Pal et al. 2024, "Smaug: Fixing Failure Modes of Preference Optimisation with
    DPO-Positive" (arXiv:2402.13228), the DPOP loss
        L_DPOP = -log sigmoid( beta * ( log pi(y_w)/pi_ref(y_w) - log pi(y_l)/pi_ref(y_l)
                                        - lambda * max(0, log pi_ref(y_w)/pi(y_w)) ) ),   lambda = 50.
    `apo_loss(dpop_lambda=lambda)` puts the same term into t+'s logit of the listwise eq. 9-11; with
    N = 1 and w = 1 it is exactly L_DPOP (tested).

    Why this anchor and not NCA's or mDPO's -log sigmoid(beta * (log pi(t+) - log pi_ref(t+)) - delta),
    nor the existing RPO NLL (`chosen_nll`, `--sft-weight`): ../shared/APO-EVIDENCE.md measured that APO
    learns t+'s *style* (the vote t+'s terse one-sentence-per-claim reports: 58 -> 36 words, invented
    findings 23.6 -> 44.4 per 100), and that with sequence sums the cheap way to lower eq. 11 is to make
    every candidate less likely, t+ included (likelihood displacement, Razin et al. 2025; Pal et al.
    2024). NCA, mDPO and the NLL pull t+ up *always* (their gradient never vanishes), i.e. they teach
    t+'s style harder; the hinge acts only while t+ is below the reference, so it stops the displacement
    without pulling the student beyond the SPD model towards t+'s style. At or above the reference the
    penalty and its gradient are exactly 0 and the loss is the paper's.
    Caveat (inside the preference, as in Smaug): if the negatives fall much faster than t+, the
    softmax saturates and the penalty's gradient with it; `anchor/dpop_penalty` shows it in the logs.
    """
    if policy_chosen_logps.shape != ref_chosen_logps.shape:
        raise ValueError("policy and reference chosen log-probs must have the same shape [B]")
    return torch.relu(ref_chosen_logps - policy_chosen_logps)  # [B]; relu: gradient exactly 0 at equality too


def chosen_nll(policy_chosen_logps: torch.Tensor, chosen_token_counts: torch.Tensor) -> torch.Tensor:
    """Length-normalised NLL of t+: -log pi_theta(t+ | v, l) / |t+|, [B] -> [B].

    NOT part of APO (eq. 8-11): an opt-in regulariser (`--sft-weight`, default 0), as in RPO
    (Pang et al. 2024, "Iterative Reasoning Preference Optimization", L = L_DPO + alpha * L_NLL).
    The listwise objective only constrains log-ratios, and with sequence SUMS it can be lowered by
    making every candidate — t+ included — less likely ("likelihood displacement"); on the tiny
    synthetic student this ends in empty generations (docs/apo.md). Anchoring t+'s likelihood stops it.
    """
    if policy_chosen_logps.shape != chosen_token_counts.shape:
        raise ValueError("chosen log-probs and token counts must have the same shape [B]")
    return -policy_chosen_logps / chosen_token_counts.clamp_min(1).to(policy_chosen_logps.dtype)  # [B]


def _preference_metrics(chosen_B: torch.Tensor, rejected_BN: torch.Tensor, w_BN: torch.Tensor,
                        valid_BN: torch.Tensor) -> dict[str, torch.Tensor]:
    """Detached rewards, margins and ranking accuracy; invalid negatives never enter a mean or max."""
    zeros = torch.zeros_like(rejected_BN)
    rejected_BN = torch.where(valid_BN, rejected_BN, zeros)
    margins_BN = torch.where(valid_BN, chosen_B.unsqueeze(1) - rejected_BN, zeros)
    w_valid_BN = torch.where(valid_BN, w_BN, zeros)
    w_sum_B = w_valid_BN.sum(dim=1)
    has_neg_B = valid_BN.any(dim=1)
    weighted_mean_B = (w_valid_BN * rejected_BN).sum(dim=1) / w_sum_B.clamp_min(1e-12)
    weighted_margin_B = torch.where(has_neg_B, chosen_B - weighted_mean_B, torch.zeros_like(chosen_B))
    best_rejected_B = torch.where(valid_BN, rejected_BN, torch.full_like(rejected_BN, float("-inf"))).amax(dim=1)
    accuracy_B = (chosen_B > best_rejected_B).float()  # -inf when no valid negative -> 1.0
    return {
        "chosen_rewards": chosen_B,
        "rejected_rewards": rejected_BN,
        "valid": valid_BN,
        "margins": margins_BN,
        "weighted_margin": weighted_margin_B,
        "accuracy": accuracy_B,
        "num_negatives": valid_BN.sum(dim=1),
    }
