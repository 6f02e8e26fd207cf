"""Collator for APO: all N+1 candidates of a study (t+ and its N negatives) in the same batch.

One feature = one study (see `APOFeature`). The image+prompt prefix is encoded ONCE per study
(`encode_prompt`), then each candidate answer is appended to it, so the N+1 sequences of a study
share exactly the same prefix tokens and pixel values.

Worked example: B = 2 studies, one 56 px image each (4 image tokens), study 0 with t+ and 2
negatives (teachers a, b), study 1 with t+ and 1 negative (teacher b); teachers = ["a", "b"]:

    candidate_row    [S=5]        [0, 0, 0, 1, 1]           which study each sequence belongs to
    candidate_slot   [S]          [0, 1, 2, 0, 1]           0 = t+, j = negative j-1
    input_ids        [S, T]       prefix + answer ids, right-padded with the pad id
    attention_mask   [S, T]       1 on real tokens, 0 on padding
    labels           [S, T]       -100 on prefix/image/padding, answer ids (incl. end marker) elsewhere
    mm_token_type_ids[S, T]       1 on image tokens
    pixel_values     [5*P, D]     the study's patches repeated once per candidate (row order)
    image_grid_thw   [5, 3]
    rejected_mask    [B=2, N=2]   [[T, T], [T, F]]
    weights          [B, N]       w_u from the consensus row (0 on padding)
    teacher_ids      [B, N]       [[0, 1], [1, -1]]         index into `teachers`, -1 = padding
    ref_chosen_logps [B]          cached log pi_ref(t+)     (only when every feature carries them)
    ref_rejected_logps [B, N]     cached log pi_ref(t_u)    (0 on padding)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import torch
from PIL import Image

from driftalign.training.chat import IGNORE_INDEX, encode_answer, encode_prompt
from driftalign.training.collators import VisionChatCollator, pad_1d


class APOFeature(TypedDict, total=False):
    """One study's APO example (the ref_* keys are added once the reference cache is filled)."""

    study_id: str
    images: list[Image.Image]
    prompt: str
    chosen: str
    rejected: list[str]          # [n] negative responses
    teachers: list[str]          # [n] their teachers
    weights: list[float]         # [n] w_u
    ref_chosen_logps: float
    ref_rejected_logps: list[float]


def encode_candidates(processor, images: Sequence[Image.Image], prompt: str, answers: Sequence[str],
                      max_length: int | None = None) -> list[dict[str, torch.Tensor]]:
    """One encoded sequence per answer, all sharing one encoding of the image+prompt prefix.

    Same tensors as `training.chat.encode_example` (labels on answer tokens only); answers are cut
    to fit max_length, the prefix never is.
    """
    prefix = encode_prompt(processor, images, prompt)
    prefix_ids = prefix["input_ids"]  # [Tp]
    room = None if max_length is None else max_length - prefix_ids.numel()
    if room is not None and room < 1:
        raise ValueError(f"prompt needs {prefix_ids.numel()} tokens, more than max_length={max_length}")
    out = []
    for answer in answers:
        answer_ids = torch.tensor(encode_answer(processor, answer), dtype=prefix_ids.dtype)[:room]  # [Ta]
        example = dict(prefix)
        example["input_ids"] = torch.cat([prefix_ids, answer_ids])
        example["attention_mask"] = torch.ones_like(example["input_ids"])
        example["mm_token_type_ids"] = torch.cat([prefix["mm_token_type_ids"], torch.zeros_like(answer_ids)])
        example["labels"] = torch.cat([torch.full_like(prefix_ids, IGNORE_INDEX), answer_ids])
        out.append(example)
    return out


@dataclass
class APOCollator:
    """Pads and batches `APOFeature`s into the tensors of the module docstring."""

    processor: Any
    teachers: list[str] = field(default_factory=list)
    max_length: int | None = None
    shared_prefix: bool = False  # emit the prefix once per study (training/shared_prefix.py format)

    def __call__(self, features: list[APOFeature]) -> dict[str, torch.Tensor]:
        n_max = max((len(f["rejected"]) for f in features), default=0)
        if self.shared_prefix:
            batch = self._shared_prefix_batch(features)
            batch.update(self._negative_tensors(features, n_max))
            return batch
        seqs, rows, slots = [], [], []
        for b, f in enumerate(features):
            answers = [f["chosen"], *f["rejected"]]
            for j, enc in enumerate(encode_candidates(self.processor, f["images"], f["prompt"], answers, self.max_length)):
                seqs.append(enc)
                rows.append(b)
                slots.append(j)
        batch = self._pad_sequences(seqs)
        batch["candidate_row"] = torch.tensor(rows)
        batch["candidate_slot"] = torch.tensor(slots)
        batch.update(self._negative_tensors(features, n_max))
        return batch

    def _shared_prefix_batch(self, features: list[APOFeature]) -> dict[str, torch.Tensor]:
        """Prefix tensors once per study, answers once per candidate (training/shared_prefix.py)."""
        pad_id = self.processor.tokenizer.pad_token_id
        prefixes, answers, rows, slots = [], [], [], []
        for b, f in enumerate(features):
            prefix = encode_prompt(self.processor, f["images"], f["prompt"])
            room = None if self.max_length is None else self.max_length - prefix["input_ids"].numel()
            prefixes.append(prefix)
            for j, answer in enumerate([f["chosen"], *f["rejected"]]):
                answers.append(torch.tensor(encode_answer(self.processor, answer), dtype=torch.long)[:room])
                rows.append(b)
                slots.append(j)
        batch = {
            "prefix_input_ids": pad_1d([p["input_ids"] for p in prefixes], pad_id, "right"),
            "prefix_mm_token_type_ids": pad_1d([p["mm_token_type_ids"] for p in prefixes], 0, "right"),
            "prefix_lengths": torch.tensor([p["input_ids"].numel() for p in prefixes]),
            "answer_ids": pad_1d(answers, pad_id, "right"),
            "answer_mask": pad_1d([torch.ones_like(a) for a in answers], 0, "right"),
            "candidate_row": torch.tensor(rows),
            "candidate_slot": torch.tensor(slots),
        }
        if "pixel_values" in prefixes[0]:
            batch["pixel_values"] = torch.cat([p["pixel_values"] for p in prefixes])
            batch["image_grid_thw"] = torch.cat([p["image_grid_thw"] for p in prefixes])
            batch["images_per_study"] = torch.tensor([p["image_grid_thw"].shape[0] for p in prefixes])
        return batch

    def _pad_sequences(self, seqs: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Right-pad text fields and concatenate image fields with the shared SPD/APO collator."""
        return VisionChatCollator(pad_token_id=self.processor.tokenizer.pad_token_id, padding_side="right")(seqs)

    def _negative_tensors(self, features: list[APOFeature], n_max: int) -> dict[str, torch.Tensor]:
        B = len(features)
        mask = torch.zeros(B, n_max, dtype=torch.bool)
        weights = torch.zeros(B, n_max)
        teacher_ids = torch.full((B, n_max), -1, dtype=torch.long)
        index = {t: i for i, t in enumerate(self.teachers)}
        for b, f in enumerate(features):
            n = len(f["rejected"])
            mask[b, :n] = True
            weights[b, :n] = torch.tensor(f.get("weights") or [1.0] * n, dtype=torch.float32)
            teacher_ids[b, :n] = torch.tensor([index.get(t, -1) for t in f.get("teachers", [])] or [-1] * n)
        out = {"rejected_mask": mask, "weights": weights, "teacher_ids": teacher_ids}
        if all("ref_chosen_logps" in f for f in features):
            ref_rejected = torch.zeros(B, n_max)
            for b, f in enumerate(features):
                ref_rejected[b, : len(f["rejected"])] = torch.tensor(f["ref_rejected_logps"], dtype=torch.float32)
            out["ref_chosen_logps"] = torch.tensor([f["ref_chosen_logps"] for f in features], dtype=torch.float32)
            out["ref_rejected_logps"] = ref_rejected
        return out


def scatter_candidates(logps_S: torch.Tensor, rows_S: torch.Tensor, slots_S: torch.Tensor,
                       batch_size: int, n_max: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence log-probs [S] -> (chosen [B], rejected [B, N]); padding slots are 0 (masked later)."""
    table = logps_S.new_zeros(batch_size, n_max + 1)  # [B, 1 + N]
    table = table.index_put((rows_S, slots_S), logps_S)
    return table[:, 0], table[:, 1:]
