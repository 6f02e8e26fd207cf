"""Pure loss functions: log-probs (or advantages) in, per-row losses and detached metrics out."""

from driftalign.losses.apo import APO_NEEDS_REFERENCE_MODEL, DPOP_LAMBDA, Anchor, apo_loss, chosen_nll, dpop_penalty

__all__ = ["APO_NEEDS_REFERENCE_MODEL", "DPOP_LAMBDA", "Anchor", "apo_loss", "chosen_nll", "dpop_penalty"]
