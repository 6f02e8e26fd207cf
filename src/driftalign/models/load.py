"""`load_student`: load any Hugging Face image-text-to-text checkpoint directory + its processor.

One path for every model: a tiny preset built by `build_student`, an SPD/APO output, or a local
Qwen2.5-VL-7B-Instruct directory all go through `AutoModelForImageTextToText` and `AutoProcessor`.
Every `--model` takes a model directory or a training output directory (`model_dir`: its final/).
Loading is always local (`local_files_only=True`): nothing is fetched from a hub.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, PreTrainedModel, ProcessorMixin

from driftalign.errors import ConfigError
from driftalign.models.processor import register_processor


FINAL_DIR = "final"   # where SPD / APO write their trained model inside --out


def config_dir(path: str | Path) -> Path | None:
    """`path` if it holds config.json, its final/ if that does (a training output directory), else None."""
    path = Path(path)
    for candidate in (path, path / FINAL_DIR):
        if (candidate / "config.json").is_file():
            return candidate
    return None


def model_dir(path: str | Path) -> Path:
    """The model directory `path` names: itself if it holds config.json, its final/ if it is a training
    output directory (SPD / APO --out); otherwise a ConfigError saying which of the two was expected."""
    path = Path(path)
    found = config_dir(path)
    if found is not None:
        return found
    if not path.exists():
        raise ConfigError(f"{path}: not found; expected a model directory (config.json) or a training output "
                          f"directory (with {FINAL_DIR}/config.json)")
    raise ConfigError(f"{path}: neither a model directory (no config.json) nor a training output directory "
                      f"(no {FINAL_DIR}/config.json; is the training finished?)")


def load_processor(path: str | Path) -> ProcessorMixin:
    """AutoProcessor from a local model (or training output) directory; fails clearly if only a tokenizer came back."""
    register_processor()
    path = Path(path)
    if not (path / "config.json").is_file() and (path / FINAL_DIR / "config.json").is_file():
        path = path / FINAL_DIR                       # a training output directory: its final/ model
    if not path.is_dir():
        raise ConfigError(f"{path}: model directory not found (expected a model directory or a training output directory)")
    try:
        processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot load a processor ({str(e).splitlines()[0]})") from None
    if getattr(processor, "image_processor", None) is None or getattr(processor, "tokenizer", None) is None:
        raise ConfigError(
            f"{path}: AutoProcessor returned {type(processor).__name__}, not a processor with an image processor "
            "and a tokenizer (is processor_config.json / preprocessor_config.json missing?)"
        )
    return processor


def load_model(path: str | Path, dtype: torch.dtype | str = "auto") -> PreTrainedModel:
    """AutoModelForImageTextToText from a local model (or training output) directory (safetensors)."""
    path = model_dir(path)
    return AutoModelForImageTextToText.from_pretrained(path, dtype=dtype, local_files_only=True)


def load_student(path: str | Path, dtype: torch.dtype | str = "auto") -> tuple[PreTrainedModel, ProcessorMixin]:
    """(model, processor) of a local image-text-to-text checkpoint directory."""
    return load_model(path, dtype), load_processor(path)
