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
from difflib import SequenceMatcher
from typing import Any, Literal, TypedDict

import torch
from PIL import Image

from driftalign.models.chat import IGNORE_INDEX, encode_answer, encode_prompt, turn_end_text
from driftalign.models.collators import VisionChatCollator, pad_1d

# Which of a negative's answer tokens enter its log-probability (`driftalign apo --negative-tokens`):
# all (the paper), drifting (only its drifting sentences' tokens, `rejected_spans`), unshared (tokens
# outside the runs of >= MIN_SHARED_TOKENS tokens it shares with t+). t+ always counts whole.
NegativeTokens = Literal["all", "drifting", "unshared"]
MIN_SHARED_TOKENS = 3
ANSWER_CACHE_SIZE = 200_000   # answer texts whose token ids an APOCollator remembers


class APOFeature(TypedDict, total=False):
    """One study's APO example (the ref_* keys are added once the reference cache is filled)."""

    study_id: str
    images: list[Image.Image]    # empty when `prompt_part` is given
    prompt: str
    prompt_part: dict[str, torch.Tensor]  # the encoded image + prompt (`encode_prompt`), e.g. from a PromptCache
    chosen: str
    rejected: list[str]          # [n] negative responses
    teachers: list[str]          # [n] their teachers
    weights: list[float]         # [n] w_u
    rejected_spans: list[list[tuple[int, int]]]  # [n] character spans that count (--negative-tokens drifting)
    ref_chosen_logps: float
    ref_rejected_logps: list[float]


def encode_candidates(processor, images: Sequence[Image.Image], prompt: str, answers: Sequence[str],
                      max_length: int | None = None, prefix: dict[str, torch.Tensor] | None = None,
                      answer_ids: Sequence[Sequence[int]] | None = None) -> list[dict[str, torch.Tensor]]:
    """One encoded sequence per answer, all sharing one encoding of the image+prompt prefix.

    Same tensors as `models.chat.encode_example` (labels on answer tokens only); answers are cut
    to fit max_length, the prefix never is. `prefix` / `answer_ids`: already computed
    `encode_prompt(processor, images, prompt)` / `encode_answer` ids of `answers`.
    """
    if prefix is None:
        prefix = encode_prompt(processor, images, prompt)
    if answer_ids is None:
        answer_ids = [encode_answer(processor, a) for a in answers]
    prefix_ids = prefix["input_ids"]  # [Tp]
    room = None if max_length is None else max_length - prefix_ids.numel()
    if room is not None and room < 1:
        raise ValueError(f"prompt needs {prefix_ids.numel()} tokens, more than max_length={max_length}")
    out = []
    for ids in answer_ids:
        answer_ids_ = torch.tensor(ids, dtype=prefix_ids.dtype)[:room]  # [Ta]
        example = dict(prefix)
        example["input_ids"] = torch.cat([prefix_ids, answer_ids_])
        example["attention_mask"] = torch.ones_like(example["input_ids"])
        example["mm_token_type_ids"] = torch.cat([prefix["mm_token_type_ids"], torch.zeros_like(answer_ids_)])
        example["labels"] = torch.cat([torch.full_like(prefix_ids, IGNORE_INDEX), answer_ids_])
        out.append(example)
    return out


def negative_token_mask(mode: NegativeTokens, answer_ids: Sequence[int], offsets: Sequence[tuple[int, int]],
                        chosen_ids: Sequence[int], spans: Sequence[tuple[int, int]] = ()) -> torch.Tensor:
    """[len(answer_ids)] bool: the negative answer's tokens that enter its log-probability.

    drifting: tokens whose character range overlaps one of `spans`; unshared: tokens not inside a run
    of at least MIN_SHARED_TOKENS tokens that also occurs in t+ (difflib's longest matching blocks);
    all: every token.
    """
    n = len(answer_ids)
    if mode == "all":
        return torch.ones(n, dtype=torch.bool)
    if mode == "drifting":
        return torch.tensor([any(a < end and start < b for start, end in spans) for a, b in offsets], dtype=torch.bool)
    keep = torch.ones(n, dtype=torch.bool)
    for block in SequenceMatcher(None, list(chosen_ids), list(answer_ids), autojunk=False).get_matching_blocks():
        if block.size >= MIN_SHARED_TOKENS:
            keep[block.b:block.b + block.size] = False
    return keep


def _answer_ids_and_offsets(processor, answer: str) -> tuple[list[int], list[tuple[int, int]]]:
    """The ids `encode_answer` gives, with each token's character range in `answer` (+ end marker)."""
    enc = processor.tokenizer(answer + turn_end_text(processor), add_special_tokens=False, return_offsets_mapping=True)
    return enc["input_ids"], [tuple(o) for o in enc["offset_mapping"]]


def negative_token_masks(processor, feature: APOFeature, mode: NegativeTokens) -> list[torch.Tensor]:
    """One mask per negative of `feature` (see `negative_token_mask`)."""
    chosen_ids = encode_answer(processor, feature["chosen"])
    spans = feature.get("rejected_spans") or [[] for _ in feature["rejected"]]
    masks = []
    for answer, answer_spans in zip(feature["rejected"], spans, strict=True):
        ids, offsets = _answer_ids_and_offsets(processor, answer)
        masks.append(negative_token_mask(mode, ids, offsets, chosen_ids, answer_spans))
    return masks


@dataclass
class APOCollator:
    """Pads and batches `APOFeature`s into the tensors of the module docstring."""

    processor: Any
    teachers: list[str] = field(default_factory=list)
    max_length: int | None = None
    shared_prefix: bool = True  # emit the prefix once per study (training/shared_prefix.py); False: the flat reference format
    negative_tokens: NegativeTokens = "all"

    def __post_init__(self) -> None:
        self._answer_cache: dict[str, list[int]] = {}

    def answer_ids(self, answer: str) -> list[int]:
        """`encode_answer` ids, remembered per text: the reference pass and every epoch tokenize the
        same answers (bounded: cleared past ANSWER_CACHE_SIZE texts)."""
        ids = self._answer_cache.get(answer)
        if ids is None:
            if len(self._answer_cache) >= ANSWER_CACHE_SIZE:
                self._answer_cache.clear()
            ids = self._answer_cache[answer] = encode_answer(self.processor, answer)
        return ids

    def _prefix(self, feature: APOFeature) -> dict[str, torch.Tensor]:
        part = feature.get("prompt_part")
        return part if part is not None else encode_prompt(self.processor, feature["images"], feature["prompt"])

    def __call__(self, features: list[APOFeature]) -> dict[str, torch.Tensor]:
        n_max = max((len(f["rejected"]) for f in features), default=0)
        masks = [self._masks(f) for f in features]  # per study: None (every token counts) or one mask per negative
        if self.shared_prefix:
            batch = self._shared_prefix_batch(features, masks)
            batch.update(self._negative_tensors(features, n_max, masks))
            return batch
        seqs, rows, slots = [], [], []
        for b, f in enumerate(features):
            answers = [f["chosen"], *f["rejected"]]
            encoded = encode_candidates(self.processor, f["images"], f["prompt"], answers, self.max_length,
                                        prefix=self._prefix(f), answer_ids=[self.answer_ids(a) for a in answers])
            for j, enc in enumerate(encoded):
                if j > 0 and masks[b] is not None:
                    enc = _mask_answer_labels(enc, masks[b][j - 1])
                seqs.append(enc)
                rows.append(b)
                slots.append(j)
        batch = self._pad_sequences(seqs)
        batch["candidate_row"] = torch.tensor(rows)
        batch["candidate_slot"] = torch.tensor(slots)
        batch.update(self._negative_tensors(features, n_max, masks))
        return batch

    def _masks(self, feature: APOFeature) -> list[torch.Tensor] | None:
        if self.negative_tokens == "all":
            return None
        return negative_token_masks(self.processor, feature, self.negative_tokens)

    def _shared_prefix_batch(self, features: list[APOFeature],
                             masks: list[list[torch.Tensor] | None]) -> dict[str, torch.Tensor]:
        """Prefix tensors once per study (left padded), answers once per candidate (training/shared_prefix.py)."""
        pad_id = self.processor.tokenizer.pad_token_id
        prefixes, answers, loss_masks, rows, slots = [], [], [], [], []
        for b, f in enumerate(features):
            prefix = self._prefix(f)
            room = None if self.max_length is None else self.max_length - prefix["input_ids"].numel()
            prefixes.append(prefix)
            for j, answer in enumerate([f["chosen"], *f["rejected"]]):
                ids = torch.tensor(self.answer_ids(answer), dtype=torch.long)[:room]
                answers.append(ids)
                counted = torch.ones_like(ids) if j == 0 or masks[b] is None else masks[b][j - 1][:room].long()
                loss_masks.append(counted)
                rows.append(b)
                slots.append(j)
        batch = {
            "prefix_input_ids": pad_1d([p["input_ids"] for p in prefixes], pad_id, "left"),
            "prefix_attention_mask": pad_1d([torch.ones_like(p["input_ids"]) for p in prefixes], 0, "left"),
            "prefix_mm_token_type_ids": pad_1d([p["mm_token_type_ids"] for p in prefixes], 0, "left"),
            "answer_ids": pad_1d(answers, pad_id, "right"),
            "answer_mask": pad_1d([torch.ones_like(a) for a in answers], 0, "right"),
            "answer_loss_mask": pad_1d(loss_masks, 0, "right"),
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

    def _negative_tensors(self, features: list[APOFeature], n_max: int,
                          token_masks: list[list[torch.Tensor] | None] | None = None) -> dict[str, torch.Tensor]:
        B = len(features)
        mask = torch.zeros(B, n_max, dtype=torch.bool)
        weights = torch.zeros(B, n_max)
        teacher_ids = torch.full((B, n_max), -1, dtype=torch.long)
        index = {t: i for i, t in enumerate(self.teachers)}
        for b, f in enumerate(features):
            n = len(f["rejected"])
            mask[b, :n] = True
            if token_masks is not None and token_masks[b] is not None:  # a negative with no counted token drops out
                mask[b, :n] = torch.tensor([bool(m.any()) for m in token_masks[b]], dtype=torch.bool)
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


def _mask_answer_labels(example: dict[str, torch.Tensor], keep: torch.Tensor) -> dict[str, torch.Tensor]:
    """Labels -100 on the answer tokens that do not count (the answer is the tail of the sequence)."""
    labels = example["labels"].clone()
    answer = (labels != IGNORE_INDEX).nonzero(as_tuple=True)[0]
    n = answer.numel()
    labels[answer[~keep[:n]]] = IGNORE_INDEX
    return {**example, "labels": labels}


def scatter_candidates(logps_S: torch.Tensor, rows_S: torch.Tensor, slots_S: torch.Tensor,
                       batch_size: int, n_max: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence log-probs [S] -> (chosen [B], rejected [B, N]); padding slots are 0 (masked later)."""
    table = logps_S.new_zeros(batch_size, n_max + 1)  # [B, 1 + N]
    table = table.index_put((rows_S, slots_S), logps_S)
    return table[:, 0], table[:, 1:]
