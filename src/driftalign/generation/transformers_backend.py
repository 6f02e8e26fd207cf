"""Batched generation with transformers' `model.generate` (left padding), the tested default backend.

Inputs are built by `training.chat.encode_prompt` (the same prompt rendering the trainers use)
and batched by `VisionChatCollator(padding_side="left")`, so a prompt's last token is the last
column of every row and the new tokens start at the same index for the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel

from driftalign.generation.backend import GenerationBackend, GenerationRequest, SamplingConfig
from driftalign.models.load import load_student
from driftalign.training.chat import encode_prompt
from driftalign.training.collators import VisionChatCollator


class TransformersBackend(GenerationBackend):
    """Wraps a loaded model + processor (e.g. the policy being trained, for RL rollouts)."""

    def __init__(self, model: PreTrainedModel, processor, sampling: SamplingConfig | None = None):
        super().__init__(sampling)
        self.model, self.processor = model, processor
        self.collator = VisionChatCollator(pad_token_id=processor.tokenizer.pad_token_id, padding_side="left")

    @classmethod
    def from_pretrained(cls, model_dir: str, sampling: SamplingConfig | None = None) -> TransformersBackend:
        model, processor = load_student(model_dir)
        return cls(model.eval(), processor, sampling)

    def _batch(self, requests: Sequence[GenerationRequest]) -> dict[str, torch.Tensor]:
        examples = [encode_prompt(self.processor, r.images, r.prompt) for r in requests]
        return {k: v.to(self.model.device) for k, v in self.collator(examples).items()}

    @torch.no_grad()
    def generate(self, requests: Sequence[GenerationRequest],
                 sampling: SamplingConfig | None = None) -> list[list[str]]:
        if not requests:
            return []
        s = sampling or self.sampling
        batch = self._batch(requests)
        sample_kwargs = {"temperature": s.temperature, "top_p": s.top_p} if s.do_sample else {}
        out = self.model.generate(
            **batch,
            max_new_tokens=s.max_new_tokens,
            do_sample=s.do_sample,
            num_return_sequences=s.num_return_sequences,
            pad_token_id=self.processor.tokenizer.pad_token_id,
            **sample_kwargs,
        )  # [B * K, T_prompt + T_new], the K samples of request i in rows i*K .. i*K + K-1
        new_tokens = out[:, batch["input_ids"].shape[1]:]
        texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        k = s.num_return_sequences
        return [[t.strip() for t in texts[i * k:(i + 1) * k]] for i in range(len(requests))]
