"""Batched generation with transformers' `model.generate` (left padding), the tested default backend.

Inputs are built by `models.chat.encode_prompt` (the same prompt rendering the trainers use)
and batched by `VisionChatCollator(padding_side="left")`, so a prompt's last token is the last
column of every row and the new tokens start at the same index for the whole batch.

Decoding is exactly the stage's `SamplingConfig`: every decoding parameter is passed in an explicit
`GenerationConfig`, and while `generate` runs the model's own generation_config is swapped for one
holding only its special-token ids, so a checkpoint's defaults (the hub's repetition_penalty 1.05 and
temperature 1e-6; top_k 1 and top_p 0.001 in its first upload) cannot fill in anything (`generation.sampling`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from transformers import GenerationConfig, PreTrainedModel

from driftalign.generation.backend import GenerationBackend, GenerationRequest, SamplingConfig
from driftalign.models.chat import encode_prompt
from driftalign.models.collators import VisionChatCollator
from driftalign.models.load import load_student


class TransformersBackend(GenerationBackend):
    """Wraps a loaded model + processor (e.g. the policy being trained, for RL rollouts)."""

    def __init__(self, model: PreTrainedModel, processor, sampling: SamplingConfig | None = None):
        super().__init__(sampling)
        self.model, self.processor = model, processor
        self.collator = VisionChatCollator(pad_token_id=processor.tokenizer.pad_token_id, padding_side="left")

    @classmethod
    def from_pretrained(cls, model_dir: str, sampling: SamplingConfig | None = None, dtype: str = "auto",
                        **load_kwargs) -> TransformersBackend:
        """`load_kwargs`: attn_implementation, min_pixels, max_pixels (`models.options.ModelOptions`)."""
        model, processor = load_student(model_dir, dtype=dtype, **load_kwargs)
        return cls(model.eval(), processor, sampling)

    def token_ids(self) -> dict:
        """The special-token ids decoding needs: end of turn (the model's eos ids), padding and bos."""
        own = self.model.generation_config
        tok = self.processor.tokenizer
        eos = own.eos_token_id if own.eos_token_id is not None else tok.eos_token_id
        return {"eos_token_id": eos, "pad_token_id": tok.pad_token_id,
                "bos_token_id": own.bos_token_id if own.bos_token_id is not None else tok.pad_token_id}

    def generation_config(self, s: SamplingConfig) -> GenerationConfig:
        """The explicit GenerationConfig of `s` (every decoding parameter set; module docstring)."""
        return GenerationConfig(**s.generation_kwargs(), **self.token_ids())

    @contextmanager
    def _only_token_defaults(self) -> Iterator[None]:
        """Swap the model's generation_config for one with its token ids only, for the duration of a call."""
        own = self.model.generation_config
        self.model.generation_config = GenerationConfig(**self.token_ids())
        try:
            yield
        finally:
            self.model.generation_config = own

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
        config = self.generation_config(s)
        with self._only_token_defaults():
            out = self.model.generate(**batch, generation_config=config)
        # out: [B * K, T_prompt + T_new], the K samples of request i in rows i*K .. i*K + K-1
        new_tokens = out[:, batch["input_ids"].shape[1]:]
        texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        k = s.num_return_sequences
        return [[t.strip() for t in texts[i * k:(i + 1) * k]] for i in range(len(requests))]
