"""Shared-prefix forward: a study's image+prompt prefix runs ONCE, its N+1 answers reuse its KV cache.

The flat path (`sequence_logps.model_answer_logps`) repeats the prefix — all image tokens (~1,000
for Qwen2.5-VL-7B at 448 px) and the prompt — in each of the N+1 candidate sequences. Here, per study:

    1. forward the prefix [1, P] with the image, use_cache=True              -> KV cache, last logit
    2. repeat the cache K = N+1 times (batch dim; differentiable, so the policy's gradient still
       reaches the prefix and the vision features)
    3. forward the right-padded answers [K, A] on top of it                  -> answer logits
    4. log pi(t_k) = log p(a_k0 | last prefix logit) + sum_j log p(a_k,j+1 | answer logit j)   (eq. 8)

Positions: Qwen2.5-VL's M-RoPE index of the prefix comes from `get_rope_index`; text tokens after it
continue at P + j + rope_delta on all three axes — the rule the model itself uses when decoding
from a cache (`compute_3d_position_ids`). Passed explicitly, so no model state is relied on.
Equal to the flat path up to float error (tested).

Batch format (`APOCollator(shared_prefix=True)`): per study `prefix_input_ids` [B, P_max] (right
padded), `prefix_lengths` [B], `prefix_mm_token_type_ids` [B, P_max], `pixel_values` / `image_grid_thw`
once per study with `images_per_study` [B]; per candidate `answer_ids` [S, A_max] and `answer_mask`
[S, A_max], plus `candidate_row` / `candidate_slot` as in the flat format.
"""

from __future__ import annotations

import torch


def _vlm_core(model: torch.nn.Module) -> torch.nn.Module:
    """The module with `get_rope_index` (Qwen2_5_VLModel), through a peft wrapper if there is one."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.model


def _image_slices(batch: dict[str, torch.Tensor]) -> list[tuple[slice, slice]]:
    """Per study: (rows of image_grid_thw, rows of pixel_values)."""
    grid = batch["image_grid_thw"]
    patches = grid.prod(dim=1)
    out, img, pix = [], 0, 0
    for n in batch["images_per_study"].tolist():
        n_pix = int(patches[img:img + n].sum())
        out.append((slice(img, img + n), slice(pix, pix + n_pix)))
        img, pix = img + n, pix + n_pix
    return out


def study_answer_logps(model: torch.nn.Module, prefix_ids_P: torch.Tensor, prefix_mm_P: torch.Tensor,
                       pixel_values: torch.Tensor, image_grid_thw: torch.Tensor,
                       answer_ids_KA: torch.Tensor, answer_mask_KA: torch.Tensor,
                       loss_mask_KA: torch.Tensor | None = None) -> torch.Tensor:
    """log pi(answer_k | image, prefix) summed over each answer's tokens, for the K answers of one study: [K].

    `loss_mask_KA` (default: `answer_mask_KA`) selects the tokens that enter the sum (span-level negatives)."""
    K, A = answer_ids_KA.shape
    P = prefix_ids_P.numel()
    ids_1P, mm_1P = prefix_ids_P[None], prefix_mm_P[None]
    ones_1P = torch.ones_like(ids_1P)
    pos_31P, delta_11 = _vlm_core(model).get_rope_index(ids_1P, mm_1P, image_grid_thw=image_grid_thw,
                                                        attention_mask=ones_1P)
    prefix_out = model(input_ids=ids_1P, attention_mask=ones_1P, mm_token_type_ids=mm_1P, pixel_values=pixel_values,
                       image_grid_thw=image_grid_thw, position_ids=pos_31P, use_cache=True)
    cache = prefix_out.past_key_values
    cache.batch_repeat_interleave(K)
    text_pos_KA = (P + torch.arange(A, device=ids_1P.device) + delta_11.reshape(())).expand(K, A)
    answer_out = model(input_ids=answer_ids_KA, attention_mask=torch.cat([ones_1P.expand(K, P), answer_mask_KA], 1),
                       mm_token_type_ids=torch.zeros_like(answer_ids_KA), position_ids=text_pos_KA[None].expand(3, K, A),
                       past_key_values=cache, use_cache=True)
    # logits predicting answer token j: the prefix's last logit for j = 0, answer logit j-1 after that
    logits_KAV = torch.cat([prefix_out.logits[:, -1:].expand(K, 1, -1), answer_out.logits[:, :-1]], dim=1)
    token_logps_KA = torch.log_softmax(logits_KAV.float(), dim=-1).gather(-1, answer_ids_KA.unsqueeze(-1)).squeeze(-1)
    counted_KA = answer_mask_KA if loss_mask_KA is None else loss_mask_KA * answer_mask_KA
    return (token_logps_KA * counted_KA).sum(dim=1)  # eq. 8, [K]


def shared_prefix_answer_logps(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Answer log-probs [S] of a shared-prefix batch (module docstring), in the batch's candidate order."""
    logps_S = torch.zeros(batch["answer_ids"].shape[0], device=batch["answer_ids"].device)
    parts = []
    for b, (grid_rows, pix_rows) in enumerate(_image_slices(batch)):
        sel_S = (batch["candidate_row"] == b).nonzero(as_tuple=True)[0]
        P = int(batch["prefix_lengths"][b])
        parts.append((sel_S, study_answer_logps(
            model, batch["prefix_input_ids"][b, :P], batch["prefix_mm_token_type_ids"][b, :P],
            batch["pixel_values"][pix_rows], batch["image_grid_thw"][grid_rows],
            batch["answer_ids"][sel_S], batch["answer_mask"][sel_S],
            batch["answer_loss_mask"][sel_S] if "answer_loss_mask" in batch else None)))
    index = torch.cat([sel for sel, _ in parts])
    return logps_S.index_put((index,), torch.cat([v for _, v in parts]))
