"""Sequence log-probabilities log pi(t | v, l): SUMS of answer-token log-probs (SPEC §3 eq. 8).

Used by the APO trainer for the policy and by the reference cache for pi_ref, so both sides of
the log-ratio r = beta * (log pi_theta - log pi_ref) are computed by the same code.
"""

from __future__ import annotations

import torch

from driftalign.models.chat import IGNORE_INDEX

# Keys of a collated batch that the model's forward takes.
MODEL_INPUT_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw")


def answer_logps(logits_STV: torch.Tensor, labels_ST: torch.Tensor) -> torch.Tensor:
    """Sum over answer tokens of log p(token): logits [S, T, V], labels [S, T] (-100 = not answer) -> [S].

    Causal shift: the logits at position i predict the token at position i + 1.
    """
    logits_STV = logits_STV[:, :-1, :]
    labels_ST = labels_ST[:, 1:]
    answer_ST = labels_ST != IGNORE_INDEX
    safe_labels_ST = torch.where(answer_ST, labels_ST, torch.zeros_like(labels_ST))
    token_logps_ST = torch.log_softmax(logits_STV.float(), dim=-1).gather(-1, safe_labels_ST.unsqueeze(-1)).squeeze(-1)
    return (token_logps_ST * answer_ST).sum(dim=1)  # eq. 8: log pi(t|v,l) = sum over answer tokens, [S]


def answer_token_counts(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Number of answer tokens per sequence (the tokens the log-probs sum over), [S]."""
    if "answer_mask" in batch:
        return batch.get("answer_loss_mask", batch["answer_mask"]).sum(dim=1)
    return (batch["labels"][:, 1:] != IGNORE_INDEX).sum(dim=1)


def model_answer_logps(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Forward the batch's sequences through `model` and return their answer log-probs [S].

    A shared-prefix batch (`APOCollator(shared_prefix=True)`) goes through `training.shared_prefix`.
    """
    if "answer_ids" in batch:
        from driftalign.training.shared_prefix import shared_prefix_answer_logps

        return shared_prefix_answer_logps(model, batch)
    inputs = {k: batch[k] for k in MODEL_INPUT_KEYS if k in batch}
    logits = model(**inputs, use_cache=False).logits  # [S, T, V]
    return answer_logps(logits, batch["labels"])
