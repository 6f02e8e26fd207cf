"""`build_student`: a randomly initialised Qwen2.5-VL student + locally trained tokenizer + processor.

The output directory is a standard Hugging Face checkpoint (config.json, model.safetensors,
generation_config.json, tokenizer.json, chat_template.jinja, processor_config.json) that
`AutoModelForImageTextToText.from_pretrained` loads offline; its processor names the standard
`Qwen2_5_VLProcessor` (what `AutoProcessor` builds where torchvision is installed; `models.load.load_processor`
builds the image-only equivalent where it is not, see `models/processor.py`).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

from driftalign.data.dataset import Dataset, load_dataset
from driftalign.data.io import atomic_directory, write_json
from driftalign.errors import ConfigError
from driftalign.models.presets import get_preset, qwen2_5_vl_config
from driftalign.models.processor import build_processor, save_processor
from driftalign.models.vision_pretraining import VisionPretrainConfig
from driftalign.models.vision_pretraining import pretrain_vision as run_vision_pretraining
from driftalign.models.tokenizer import IM_END, PAD_TOKEN, dataset_texts, train_tokenizer

BUILD_INFO_FILE = "driftalign_student.json"


def _special_token_ids(tokenizer) -> dict[str, int]:
    names = {
        "pad": PAD_TOKEN, "eos": IM_END, "image": "<|image_pad|>", "video": "<|video_pad|>",
        "vision_start": "<|vision_start|>", "vision_end": "<|vision_end|>",
    }
    return {key: tokenizer.convert_tokens_to_ids(tok) for key, tok in names.items()}


def build_student(preset: str, data: Path | Dataset, out: Path, seed: int = 0, pretrain_vision: bool | None = None,
                  vision_pretraining: VisionPretrainConfig | None = None) -> Path:
    """Build a student of `preset` and save it to `out`.

    The tokenizer is trained on `data`'s text (reports, trajectories, prompts); the model weights
    are initialised with `seed`. The vision tower is then pretrained on synthetic renders that
    belong to no dataset (`models.vision_pretraining`) when `pretrain_vision` is true (None: the
    preset's default), with `vision_pretraining` (default: `VisionPretrainConfig(seed=seed)`).
    Returns `out`, written atomically (`data.io.atomic_directory`): a kill leaves no half-written
    student, and an existing model directory at `out` is replaced only once the new one is complete.
    """
    out = Path(out)
    _check_target(out)                      # before the work: the tokenizer and vision pretraining take a while
    spec = get_preset(preset)
    ds = data if isinstance(data, Dataset) else load_dataset(data, verify_images=False)
    tokenizer = train_tokenizer(dataset_texts(ds), vocab_size=spec.max_vocab)
    processor = build_processor(tokenizer, spec.image_size)
    token_ids = _special_token_ids(tokenizer)
    config = qwen2_5_vl_config(spec, vocab_size=len(tokenizer), token_ids=token_ids)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    pretraining = None
    if spec.pretrain_vision if pretrain_vision is None else pretrain_vision:
        settings = vision_pretraining or VisionPretrainConfig(seed=seed)
        pretraining = {**asdict(settings), **run_vision_pretraining(model, processor, settings).to_dict()}
    model.generation_config = GenerationConfig(
        bos_token_id=token_ids["pad"],
        eos_token_id=[token_ids["eos"], token_ids["pad"]],
        pad_token_id=token_ids["pad"],
        do_sample=False,
    )
    with atomic_directory(out) as staged:   # the directory appears complete or not at all (replaced if it exists)
        model.save_pretrained(staged, safe_serialization=True)
        save_processor(processor, staged)
        write_json(staged / BUILD_INFO_FILE, {
            "preset": preset, "seed": seed, "data": str(ds.root), "vocab_size": len(tokenizer),
            "parameters": sum(p.numel() for p in model.parameters()),
            "synthetic_weights": "random init" if pretraining is None else
            "random init; vision tower pretrained on synthetic renders (models/vision_pretraining.py)",
            "vision_pretraining": pretraining,
        })
    return out


def _check_target(out: Path) -> None:
    """`out` is replaced as a whole: refuse a directory with files of its own that is not a model directory."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not any((out / n).is_file() for n in (BUILD_INFO_FILE, "config.json")):
        raise ConfigError(f"{out}: directory exists, is not empty and holds no model; choose another --out")
