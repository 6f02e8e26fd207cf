"""Student size presets: Qwen2.5-VL architecture, randomly initialised, sized for CPU.

The presets keep every structural feature of Qwen2.5-VL-7B (vision transformer with window
attention and 2x2 patch merger, M-RoPE text decoder with GQA, untied LM head) and only shrink the
widths and depths, so code that runs on a preset runs unchanged on the real model.

| preset | image px | image tokens | text hidden x layers | vision hidden x depth | params (vocab ~1.5k) | vision |
|---|---|---|---|---|---|---|
| tiny  | 56  | 4  | 128 x 2 | 64 x 2  | ~1M   | random (tests) |
| base  | 56  | 4  | 256 x 2 | 64 x 2  | ~2.3M | pretrained on synthetic renders (demo, experiments) |
| small | 112 | 16 | 256 x 4 | 128 x 4 | ~5M   | random |

`base` is the student the demo and the experiments use: chosen by its oracle ceiling (a student
trained on the reference reports themselves), see docs/student_and_spd.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import Qwen2_5_VLConfig

from driftalign.models.processor import MERGE_SIZE, PATCH_SIZE, TEMPORAL_PATCH_SIZE


@dataclass(frozen=True)
class StudentPreset:
    """Widths and depths of one student size. head_dim = text_hidden / text_heads."""

    image_size: int
    text_hidden: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    text_intermediate: int
    vision_hidden: int
    vision_depth: int
    vision_heads: int
    vision_intermediate: int
    max_vocab: int = 4096
    max_positions: int = 2048
    pretrain_vision: bool = False   # `init-student` pretrains the vision tower by default (models/vision_pretraining.py)


PRESETS: dict[str, StudentPreset] = {
    "tiny": StudentPreset(
        image_size=56, text_hidden=128, text_layers=2, text_heads=4, text_kv_heads=2, text_intermediate=256,
        vision_hidden=64, vision_depth=2, vision_heads=2, vision_intermediate=128,
    ),
    "base": StudentPreset(
        image_size=56, text_hidden=256, text_layers=2, text_heads=4, text_kv_heads=2, text_intermediate=512,
        vision_hidden=64, vision_depth=2, vision_heads=2, vision_intermediate=128, pretrain_vision=True,
    ),
    "small": StudentPreset(
        image_size=112, text_hidden=256, text_layers=4, text_heads=4, text_kv_heads=2, text_intermediate=768,
        vision_hidden=128, vision_depth=4, vision_heads=4, vision_intermediate=256,
    ),
}


def get_preset(name: str) -> StudentPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown student preset {name!r}; choose one of {sorted(PRESETS)}") from None


def mrope_section(head_dim: int) -> list[int]:
    """Split head_dim/2 rotary frequencies over (time, height, width) in Qwen's 16:24:24 ratio."""
    half = head_dim // 2
    t = half // 4
    h = (half - t) // 2
    return [t, h, half - t - h]


def qwen2_5_vl_config(preset: StudentPreset, *, vocab_size: int, token_ids: dict[str, int]) -> Qwen2_5_VLConfig:
    """A Qwen2_5_VLConfig for the preset; token_ids maps the special tokens to this tokenizer's ids.

    token_ids keys: pad (<|endoftext|>), eos (<|im_end|>), image (<|image_pad|>), video
    (<|video_pad|>), vision_start, vision_end.
    """
    head_dim = preset.text_hidden // preset.text_heads
    text = dict(
        vocab_size=vocab_size,
        hidden_size=preset.text_hidden,
        intermediate_size=preset.text_intermediate,
        num_hidden_layers=preset.text_layers,
        num_attention_heads=preset.text_heads,
        num_key_value_heads=preset.text_kv_heads,
        max_position_embeddings=preset.max_positions,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": mrope_section(head_dim)},
        bos_token_id=token_ids["pad"],
        eos_token_id=token_ids["eos"],
        pad_token_id=token_ids["pad"],
    )
    vision = dict(
        depth=preset.vision_depth,
        hidden_size=preset.vision_hidden,
        intermediate_size=preset.vision_intermediate,
        num_heads=preset.vision_heads,
        patch_size=PATCH_SIZE,
        spatial_merge_size=MERGE_SIZE,
        temporal_patch_size=TEMPORAL_PATCH_SIZE,
        window_size=preset.image_size,
        fullatt_block_indexes=[preset.vision_depth - 1],
        out_hidden_size=preset.text_hidden,
    )
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=token_ids["image"],
        video_token_id=token_ids["video"],
        vision_start_token_id=token_ids["vision_start"],
        vision_end_token_id=token_ids["vision_end"],
        tie_word_embeddings=False,
    )
