"""How a stage loads its model and processor: `ModelOptions`, shared by every stage that reads a checkpoint.

A Hugging Face checkpoint (e.g. Qwen/Qwen2.5-VL-7B-Instruct) arrives with its own dtype (bf16),
attention implementation, image limits (min_pixels 3,136 / max_pixels 12,845,056: ~1,400 image tokens
for a 1024 px study) and generation_config. None of these may change a stage silently, so every stage
that loads a model names them as options (flags == YAML keys):

    --dtype                auto | float32 | bfloat16 | float16     (`resolve_dtype`: what "auto" means per stage)
    --attn-implementation  sdpa | eager | flash_attention_2        (unset: transformers' default, sdpa)
    --min-pixels           the processor's lower image limit        (unset: the checkpoint's)
    --max-pixels           the processor's upper image limit        (unset: the checkpoint's, capped at
                                                                   DEFAULT_MAX_PIXELS = 448 x 448 px = 256 tokens)

The pixel limits are applied to the processor a stage uses and so recorded in every processor it
saves (preprocessor_config.json's `size`). Sampling options live in `generation.sampling`.
(This module imports no torch/transformers: configs stay cheap to import for the CLI.)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

DType = Literal["auto", "float32", "bfloat16", "float16"]
AttnImplementation = Literal["sdpa", "eager", "flash_attention_2"]

# 448 x 448 px: 16 x 16 merged patches = 256 image tokens per image for Qwen2.5-VL (one token per 28 x 28 px).
DEFAULT_MAX_PIXELS = 448 * 448


class ModelOptions(BaseModel):
    """Options of every stage that loads a model + processor (a mixin of the stage configs)."""

    dtype: DType = Field("auto", description="dtype the model is loaded in (auto: the checkpoint's for inference; "
                                             "training stages: float32 master weights for --full, the checkpoint's "
                                             "for LoRA's frozen base)")
    attn_implementation: AttnImplementation | None = Field(
        None, description="attention kernel: sdpa, eager or flash_attention_2 (GPU, pip install flash-attn) "
                          "[unset: transformers' default, sdpa]")
    min_pixels: int | None = Field(None, ge=1, description="smallest image area in pixels after resizing "
                                                           "[unset: the checkpoint processor's]")
    max_pixels: int | None = Field(None, ge=1, description="largest image area in pixels after resizing (Qwen2.5-VL: "
                                   f"one image token per 28x28 px) [unset: the checkpoint's, at most {DEFAULT_MAX_PIXELS}"
                                   " = 448x448 px, 256 tokens]")

    @model_validator(mode="after")
    def _pixels_ordered(self):
        if self.min_pixels is not None and self.max_pixels is not None and self.min_pixels > self.max_pixels:
            raise ValueError(f"--min-pixels {self.min_pixels} is larger than --max-pixels {self.max_pixels}")
        return self

    def load_kwargs(self) -> dict:
        """Keyword arguments of `models.load.load_student` / `load_processor` for these options."""
        return {"attn_implementation": self.attn_implementation, "min_pixels": self.min_pixels,
                "max_pixels": self.max_pixels}
