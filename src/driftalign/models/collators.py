"""Batching the per-example tensors of `models.chat` into model inputs.

Worked example (pad id 0, right padding, two examples with 3 and 5 text tokens, one image each
of grid (1, 4, 4) = 16 patches of dim D):

    input_ids          [[11, 12, 13,  0,  0],       attention_mask  [[1, 1, 1, 0, 0],
                        [21, 22, 23, 24, 25]]                        [1, 1, 1, 1, 1]]
    labels             [[-100, -100, 13, -100, -100],
                        [-100, -100, -100, 24, 25]]  (padding is -100 too)
    mm_token_type_ids  zeros except image tokens, padded with 0                    [B, T]
    pixel_values       the examples' patches concatenated: [16 + 16, D]           [sum P, D]
    image_grid_thw     [[1, 4, 4], [1, 4, 4]]                                      [sum I, 3]

Left padding (`padding_side="left"`) puts the pad columns first, as batched generation needs.
Any extra 1-D per-token field (e.g. per-token weights for DiTPO) can be padded too by listing it
in `pad_values`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

from driftalign.models.chat import IGNORE_INDEX

# Fields concatenated along dim 0 (one row per image patch / per image), not padded.
CONCAT_FIELDS: tuple[str, ...] = ("pixel_values", "image_grid_thw")


def pad_1d(seqs: Sequence[torch.Tensor], value: float | int, side: Literal["left", "right"]) -> torch.Tensor:
    """Stack 1-D tensors of different lengths into [B, T_max], padding with `value` on `side`."""
    width = max(s.numel() for s in seqs)
    out = torch.full((len(seqs), width), value, dtype=seqs[0].dtype)
    for i, s in enumerate(seqs):
        if side == "right":
            out[i, : s.numel()] = s
        else:
            out[i, width - s.numel():] = s
    return out


@dataclass
class VisionChatCollator:
    """Pad the text fields of `encode_example`/`encode_prompt` outputs and concatenate the image fields.

    pad_token_id: the tokenizer's pad id, used for input_ids.
    padding_side: "right" for training, "left" for generation.
    pad_values:   padding value per text field; fields absent from the examples are skipped.
    """

    pad_token_id: int
    padding_side: Literal["left", "right"] = "right"
    pad_values: dict[str, float | int] = field(
        default_factory=lambda: {"attention_mask": 0, "labels": IGNORE_INDEX, "mm_token_type_ids": 0}
    )

    def __call__(self, examples: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        if not examples:
            raise ValueError("cannot collate an empty batch")
        batch = {"input_ids": pad_1d([e["input_ids"] for e in examples], self.pad_token_id, self.padding_side)}
        for name, value in self.pad_values.items():
            if name in examples[0]:
                batch[name] = pad_1d([e[name] for e in examples], value, self.padding_side)
        for name in CONCAT_FIELDS:
            parts = [e[name] for e in examples if name in e]
            if parts:
                batch[name] = torch.cat(parts, dim=0)
        return batch
