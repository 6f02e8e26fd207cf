"""Shared-prefix forward (APO's default path): one vision pass and one prefix pass per study, every
answer of the micro-batch in one batched forward on the prefixes' KV cache, and the LM head only
on the answer tokens that count, in chunks.

The flat path (`sequence_logps.model_answer_logps` on a flat batch) repeats the prefix — all image
tokens (256 per image for Qwen2.5-VL-7B at 448 px, ~1,400 at 1024 px) and the prompt — in each of the
N+1 candidate sequences, runs the vision tower N+1 times per study, and materialises [S, T, V] float32 logits (~5 GB for 8
candidates of 1,000 tokens and a 152k vocabulary). Here, for a micro-batch of B studies and
S = sum of (N_b + 1) candidates:

    1. prefixes [B, P] (LEFT padded, so every prefix ends at column P-1) with their images, one
       forward of the decoder's body (`model.model`, no LM head), use_cache=True
                                   -> KV cache [B, ...], last prefix hidden state [B, H]
    2. cache rows gathered by candidate_row -> [S, ...] (an index_select: differentiable, so the
       gradient of every answer reaches its study's prefix and vision features)
    3. answers [S, A] (right padded) in ONE forward on that cache      -> answer hidden states [S, A, H]
    4. h predicting answer token j: the prefix's last hidden for j = 0, answer hidden j-1 after that;
       only the M counted (candidate, token) positions are gathered, and `chunked_token_logps` runs
       LM head + log-softmax on chunks of CHUNK_ELEMENTS // V of them at a time under activation
       checkpointing (the [chunk, V] logits are recomputed in backward, never stored; one chunk
       alone is not recomputed): peak log-prob memory is O(CHUNK_ELEMENTS), independent of S, T, N
       and V.
    5. log pi(t_k) = sum of its counted token log-probs (eq. 8), scattered back to [S].

Positions: Qwen2.5-VL's M-RoPE index of each prefix comes from `get_rope_index` (which skips the
left padding through the attention mask); answer tokens continue at max(prefix position) + 1 + j on
all three axes — the rule the model itself uses when decoding from a cache. Passed explicitly, so
no model state (`rope_deltas`) is relied on. Log-probs and gradients equal the flat path up to float
error (tests/test_apo_training.py, atol 1e-4).

Batch format (`APOCollator(shared_prefix=True)`): per study `prefix_input_ids` [B, P] (left padded),
`prefix_attention_mask` [B, P], `prefix_mm_token_type_ids` [B, P], `pixel_values` / `image_grid_thw`
once per study; per candidate `answer_ids` [S, A], `answer_mask` [S, A], `answer_loss_mask` [S, A]
(the tokens that enter the sum), `candidate_row` / `candidate_slot` as in the flat format.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

# Logits per LM-head chunk: a chunk holds CHUNK_ELEMENTS // V answer tokens, so [chunk, V] float32 logits
# are ~0.3 GB whatever the vocabulary (512 tokens at Qwen2.5-VL's V = 152,064).
CHUNK_ELEMENTS = 512 * 152_064


def chunk_tokens(vocab_size: int) -> int:
    """Answer tokens per LM-head chunk for a vocabulary of `vocab_size` (CHUNK_ELEMENTS logits)."""
    return max(1, CHUNK_ELEMENTS // vocab_size)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The Qwen2_5_VLForConditionalGeneration under a peft wrapper, if there is one."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _token_logps(hidden_CH: torch.Tensor, targets_C: torch.Tensor, head: torch.nn.Module) -> torch.Tensor:
    logits_CV = head(hidden_CH).float()
    return torch.log_softmax(logits_CV, dim=-1).gather(-1, targets_C[:, None]).squeeze(-1)


def chunked_token_logps(hidden_MH: torch.Tensor, targets_M: torch.Tensor, head: torch.nn.Module,
                        chunk: int | None = None) -> torch.Tensor:
    """log p(target_m | hidden_m) for M positions: LM head + log-softmax on `chunk` rows at a time, [M].

    `chunk` defaults to `chunk_tokens(V)`. With autograd on and more than one chunk, each chunk runs
    under `torch.utils.checkpoint`, so backward recomputes its [chunk, V] logits instead of keeping
    them: peak memory O(chunk x V) in both passes. When all M rows fit in one chunk, keeping its
    logits costs no more than that bound, so it is not recomputed (a small vocabulary or a short batch
    pays no second LM-head pass)."""
    if chunk is None:
        chunk = chunk_tokens(head.out_features)
    recompute = torch.is_grad_enabled() and hidden_MH.shape[0] > chunk
    parts = []
    for i in range(0, hidden_MH.shape[0], chunk):
        h, t = hidden_MH[i:i + chunk], targets_M[i:i + chunk]
        if recompute and h.requires_grad:
            parts.append(checkpoint(_token_logps, h, t, head, use_reentrant=False))
        else:
            parts.append(_token_logps(h, t, head))
    return torch.cat(parts) if parts else hidden_MH.new_zeros(0)


def prefix_positions(core: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(M-RoPE positions of the prefixes [3, B, P], the first answer position of each study [B])."""
    mask_BP = batch["prefix_attention_mask"]
    pos_3BP, _ = core.get_rope_index(batch["prefix_input_ids"], batch["prefix_mm_token_type_ids"],
                                     image_grid_thw=batch.get("image_grid_thw"), attention_mask=mask_BP)
    valid_pos = torch.where(mask_BP.bool()[None], pos_3BP, torch.full_like(pos_3BP, -1))
    return pos_3BP, valid_pos.amax(dim=(0, 2)) + 1


def shared_prefix_answer_logps(model: torch.nn.Module, batch: dict[str, torch.Tensor],
                               chunk: int | None = None) -> torch.Tensor:
    """Answer log-probs [S] of a shared-prefix batch (module docstring), in the batch's candidate order."""
    lm = unwrap(model)
    core, head = lm.model, lm.lm_head
    row_S = batch["candidate_row"]
    mask_BP = batch["prefix_attention_mask"]
    pos_3BP, start_B = prefix_positions(core, batch)
    prefix = core(input_ids=batch["prefix_input_ids"], attention_mask=mask_BP,
                  mm_token_type_ids=batch["prefix_mm_token_type_ids"], pixel_values=batch.get("pixel_values"),
                  image_grid_thw=batch.get("image_grid_thw"), position_ids=pos_3BP, use_cache=True)
    cache = prefix.past_key_values
    cache.batch_select_indices(row_S)                                    # [B, ...] -> [S, ...]
    answer_ids_SA, answer_mask_SA = batch["answer_ids"], batch["answer_mask"]
    S, A = answer_ids_SA.shape
    pos_SA = start_B[row_S][:, None] + torch.arange(A, device=answer_ids_SA.device)
    answers = core(input_ids=answer_ids_SA, attention_mask=torch.cat([mask_BP[row_S], answer_mask_SA], dim=1),
                   mm_token_type_ids=torch.zeros_like(answer_ids_SA), position_ids=pos_SA[None].expand(3, S, A),
                   past_key_values=cache, use_cache=True)
    # hidden state predicting answer token j: the prefix's last one for j = 0, answer hidden j-1 after that
    hidden_SAH = torch.cat([prefix.last_hidden_state[row_S, -1:], answers.last_hidden_state[:, :-1]], dim=1)
    counted_SA = answer_mask_SA.bool()
    if "answer_loss_mask" in batch:
        counted_SA = counted_SA & batch["answer_loss_mask"].bool()
    seq_M, tok_M = counted_SA.nonzero(as_tuple=True)
    token_logps_M = chunked_token_logps(hidden_SAH[seq_M, tok_M], answer_ids_SA[seq_M, tok_M], head, chunk)
    return token_logps_M.new_zeros(S).index_add(0, seq_M, token_logps_M)   # eq. 8, [S]
