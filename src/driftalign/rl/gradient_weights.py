"""DiTPO's gradient token weights (DEER eq. 9-12, SPEC §3): the saliency of a report classifier, moved
onto the policy's tokens.

For a completion o of a study whose reference report y has the positive findings P(y):

    F(o)  = sum_{c in P(y)} z_c^+(o)              z_c^+ = the classifier's positive-class logit of head c
    s_j   = || dF / de_j ||_2                     e_j = input (word) embedding of classifier token j of o
    s~_j  = s_j / max_k s_k                       max over o's word pieces ([CLS] / [SEP] / padding excluded)
    m_t   = max { s~_j : span(j) overlaps span(t) }   character spans in o's text; 0 if no piece overlaps t
    w_t   = 1 + beta * m_t                        beta = 1 (the paper's)

and A_i^t = A_i * w_i^t as for the TF-IDF weights (`rl.token_advantages`).

Choices where the paper (and SPEC §3: "s~") is silent, each made here once:
* **Normalisation = divide by the completion's maximum** (s~ in [0, 1], so w in [1, 1 + beta]): the most
  salient word piece of every completion gets the full bonus, proportions are kept, and a completion whose
  gradient is 0 everywhere keeps w = 1. (Min-max would also send the least salient piece to exactly 0,
  which with near-uniform saliency turns noise into a full-range weight.)
* **"Input embedding" = the word-piece embedding** fed to BERT's embedding layer (`inputs_embeds`), before
  position / token-type embeddings and LayerNorm are added: the vector that belongs to the token alone.
* **Positive findings** = the observations the study labels 1 (`Study.positive_findings`: uncertain -1 is
  not positive, No Finding is not a disease). None (a normal reference): F = 0, every w = 1.
* **Overlap** of half-open character spans [a, b) and [c, d): a < d and c < b, both non-empty. A policy
  token that decodes to nothing (EOS, a partial UTF-8 byte) and pieces cut off at the classifier's
  `max_length` get m = 0.
* The classifier runs in eval mode (no dropout); its parameters get no gradient (`torch.autograd.grad`
  with respect to the embeddings only).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from driftalign.classifier.model import POSITIVE, Classifier, head_index

Span = tuple[int, int]


def classifier_saliency(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                        heads: Sequence[Sequence[int]]) -> torch.Tensor:
    """s_nj = || d F_n / d e_nj ||_2 for a batch: [N, J] (0 on padding).

    F_n = sum of the positive-class logits of the heads `heads[n]` for row n. Rows are independent (eval
    mode, attention within a row), so the gradient of sum_n F_n w.r.t. row n's embeddings is dF_n / de_n.
    `model` maps (inputs_embeds [N, J, H], attention_mask) to a list of head logits [N, C_h] and has
    `get_input_embeddings()` (a `ReportClassifier`, or any module of that interface).
    """
    n, j = input_ids.shape
    if len(heads) != n:
        raise ValueError(f"{len(heads)} head lists for {n} rows")
    if not any(heads):
        return torch.zeros(n, j)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            embeds = model.get_input_embeddings()(input_ids).detach().requires_grad_(True)      # [N, J, H]
            logits = model(inputs_embeds=embeds, attention_mask=attention_mask)                  # 14 x [N, C_h]
            objective = embeds.new_zeros(())
            for row, row_heads in enumerate(heads):
                for h in row_heads:
                    objective = objective + logits[h][row, POSITIVE]                              # F_n
            (grad,) = torch.autograd.grad(objective, embeds)                                     # [N, J, H]
    finally:
        model.train(was_training)
    return (grad.norm(dim=-1) * attention_mask.to(grad.dtype)).detach().float().cpu()           # [N, J]


def max_normalise(s_J: torch.Tensor, valid_J: torch.Tensor) -> torch.Tensor:
    """s~ = s / max over the valid positions (0 elsewhere); all zeros when that max is 0."""
    s = torch.where(valid_J, s_J, torch.zeros_like(s_J))
    top = s.max() if s.numel() else torch.tensor(0.0)
    return s / top if top > 0 else torch.zeros_like(s)


def overlap_max(values_J: Sequence[float], source_spans: Sequence[Span], target_spans: Sequence[Span]) -> torch.Tensor:
    """m_t = max of values_j over the source spans j that overlap target span t; 0 where none does ([T])."""
    out = torch.zeros(len(target_spans), dtype=torch.float32)
    pieces = [(a, b, float(v)) for (a, b), v in zip(source_spans, values_J) if b > a]
    for t, (start, end) in enumerate(target_spans):
        if end <= start:
            continue
        hits = [v for a, b, v in pieces if a < end and start < b]
        if hits:
            out[t] = max(hits)
    return out


def completion_spans(tokenizer: Any, token_ids: Sequence[int]) -> tuple[str, list[Span]]:
    """(text, character span of each token in it) for a policy completion.

    text = tokenizer.decode(ids, skip_special_tokens=True) — what the reward reads (TRL decodes so). Token
    k's span ends where the decoded prefix ids[:k+1] stops agreeing with the text (so a byte-level token
    holding half a UTF-8 character gets an empty span and the token completing it gets the character);
    special tokens decode to nothing and get empty spans.
    """
    ids = list(token_ids)
    text = tokenizer.decode(ids, skip_special_tokens=True)
    spans: list[Span] = []
    end = 0
    for k in range(len(ids)):
        prefix = tokenizer.decode(ids[: k + 1], skip_special_tokens=True)
        new_end = max(end, len(os.path.commonprefix([prefix, text])))
        spans.append((end, new_end))
        end = new_end
    return text, spans


def gradient_token_weights(classifier: Classifier, texts: Sequence[str], positive_findings: Sequence[Sequence[str]],
                           policy_spans: Sequence[Sequence[Span]], beta: float = 1.0,
                           batch_size: int = 16) -> list[torch.Tensor]:
    """w_t = 1 + beta * m_t (module docstring) for each completion: one [T_i] float32 tensor per text.

    texts[i]: completion i's text; positive_findings[i]: its reference's positive observations (names);
    policy_spans[i]: the character span of each of its policy tokens in texts[i] (`completion_spans`).
    """
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    if not (len(texts) == len(positive_findings) == len(policy_spans)):
        raise ValueError(f"{len(texts)} texts, {len(positive_findings)} finding lists, {len(policy_spans)} span lists")
    out: list[torch.Tensor] = []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start:start + batch_size])
        enc = classifier.encode(chunk, offsets=True)
        heads = [[head_index(name) for name in names] for names in positive_findings[start:start + batch_size]]
        s_NJ = classifier_saliency(classifier.model, enc["input_ids"].to(classifier.device),
                                   enc["attention_mask"].to(classifier.device), heads)
        for row, spans in enumerate(policy_spans[start:start + batch_size]):
            pieces = [(int(a), int(b)) for a, b in enc["offset_mapping"][row].tolist()]
            valid = torch.tensor([b > a for a, b in pieces]) & enc["attention_mask"][row].bool()
            s_tilde = max_normalise(s_NJ[row], valid)
            out.append(1.0 + beta * overlap_max(s_tilde.tolist(), pieces, spans))
    return out
