"""How to decode, said explicitly: `SamplingConfig` (what a backend gets) and `SamplingOptions` (the flags).

A checkpoint's generation_config.json must never change a stage silently. The hub's
Qwen2.5-VL-7B-Instruct ships repetition_penalty 1.05 with temperature 1e-6 (its first upload: top_k 1,
top_p 0.001, temperature 0.1): inherited, "sampling" is greedy (6 samples at T = 1 gave 1 distinct text) and greedy decoding applies a
repetition penalty. So every decoding parameter is a field here with a plain default (top_k 0 = off,
top_p 1.0, temperature 1.0, repetition_penalty 1.0), the backends pass all of them, and greedy
(`do_sample` false) is plain greedy: argmax at every step, nothing else.
(No torch/transformers imports: configs stay cheap to import for the CLI.)
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from driftalign.errors import ConfigError


@dataclass(frozen=True)
class SamplingConfig:
    """How to decode. Greedy (do_sample False) gives exactly one output per request and ignores the
    sampling fields; top_k 0 means no top-k filter; repetition_penalty 1.0 means none."""

    max_new_tokens: int = 128
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    num_return_sequences: int = 1

    def __post_init__(self) -> None:
        if self.num_return_sequences < 1:
            raise ConfigError("--num-return-sequences must be >= 1")
        if self.num_return_sequences > 1 and not self.do_sample:
            raise ConfigError("--num-return-sequences > 1 needs --do-sample (greedy decoding gives one output)")
        if self.max_new_tokens < 1:
            raise ConfigError("--max-new-tokens must be >= 1")
        if self.do_sample and not (self.temperature > 0 and 0 < self.top_p <= 1):
            raise ConfigError("sampling needs --temperature > 0 and 0 < --top-p <= 1")
        if self.top_k < 0:
            raise ConfigError("--top-k must be >= 0 (0: no top-k filter)")
        if self.repetition_penalty <= 0:
            raise ConfigError("--repetition-penalty must be > 0 (1.0: none)")

    def generation_kwargs(self) -> dict:
        """Every decoding parameter of transformers' `GenerationConfig`, set explicitly (module docstring):
        greedy gets the neutral values too, so nothing of the checkpoint's generation_config applies."""
        sample = self.do_sample
        return {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": sample,
            "num_beams": 1,
            "num_return_sequences": self.num_return_sequences,
            "temperature": self.temperature if sample else 1.0,
            "top_p": self.top_p if sample else 1.0,
            "top_k": self.top_k if sample else 0,
            "repetition_penalty": self.repetition_penalty,
        }


class SamplingOptions(BaseModel):
    """The decoding flags of a stage that generates (a mixin of the stage configs); `sampling_fields()`
    gives them as `SamplingConfig` keywords. A stage whose method needs sampling (ddsample) overrides
    `do_sample`'s default."""

    do_sample: bool = Field(False, description="sample (--do-sample) or decode greedily (--greedy)",
                            json_schema_extra={"flags": "--do-sample/--greedy"})
    temperature: float = Field(1.0, gt=0, description="sampling temperature (with --do-sample)")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass (with --do-sample)")
    top_k: int = Field(0, ge=0, description="keep the k most likely tokens (with --do-sample; 0: no top-k filter)")
    repetition_penalty: float = Field(1.0, gt=0, description="repetition penalty (1.0: none; applies to greedy too)")

    def sampling_fields(self) -> dict:
        return {"do_sample": self.do_sample, "temperature": self.temperature, "top_p": self.top_p,
                "top_k": self.top_k, "repetition_penalty": self.repetition_penalty}
