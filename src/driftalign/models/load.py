"""`load_student`: load any Hugging Face image-text-to-text checkpoint directory + its processor.

One path for every model: a tiny preset built by `build_student`, an SPD/APO output, or a local
Qwen2.5-VL-7B-Instruct directory all go through `AutoModelForImageTextToText` and `AutoProcessor`.
Every `--model` takes a model directory or a training output directory (`model_dir`: its final/).
Loading is always local (`local_files_only=True`): nothing is fetched from a hub. Where torchvision is
missing (CPU machines here), a Qwen2.5-VL checkpoint's stock processor cannot be built and the
image-only processor (`models.processor`) is used instead, with a one-line notice. Every load
failure is a one-line `ConfigError` naming the directory.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, PreTrainedModel, ProcessorMixin

from driftalign.errors import ConfigError
from driftalign.models.options import DEFAULT_MAX_PIXELS
from driftalign.models.processor import ImageOnlyQwen2_5_VLProcessor, image_limits, register_processor, set_image_limits


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


_NOTICES: set[str] = set()


def _notice(message: str) -> None:
    """A one-line notice on stderr, once per process."""
    if message not in _NOTICES:
        _NOTICES.add(message)
        print(f"note: {message}", file=sys.stderr, flush=True)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


def _raw_config(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path / 'config.json'}: cannot read ({_first_line(e)})") from None


def checkpoint_dtype(path: str | Path) -> torch.dtype:
    """The dtype the checkpoint's weights are stored in (config.json `dtype` / `torch_dtype`; float32 if unset)."""
    config = _raw_config(model_dir(path))
    name = config.get("dtype") or config.get("torch_dtype") or (config.get("text_config") or {}).get("dtype")
    if not isinstance(name, str) or not hasattr(torch, name.removeprefix("torch.")):
        return torch.float32
    dtype = getattr(torch, name.removeprefix("torch."))
    return dtype if isinstance(dtype, torch.dtype) else torch.float32


def _stock_processor(path: Path) -> ProcessorMixin:
    """AutoProcessor. A Qwen2-VL-family checkpoint whose video half cannot be built gets the image-only processor:
    without torchvision (ImportError; a one-line notice) or without a video processor config (driftalign's own
    students, which never had one)."""
    try:
        return AutoProcessor.from_pretrained(path, local_files_only=True)
    except (ImportError, OSError) as e:
        model_type = _raw_config(path).get("model_type", "") if (path / "config.json").is_file() else ""
        if model_type not in ("qwen2_5_vl", "qwen2_vl"):
            raise ConfigError(f"{path}: cannot load its processor ({_first_line(e)})") from None
        if isinstance(e, ImportError):
            _notice(f"torchvision is not installed: {path} uses driftalign's image-only Qwen2.5-VL processor "
                    "(the same image and text encoding; no video)")
        elif "video" not in str(e).lower():
            raise
        return ImageOnlyQwen2_5_VLProcessor.from_pretrained(path, local_files_only=True)


def load_processor(path: str | Path, min_pixels: int | None = None, max_pixels: int | None = None) -> ProcessorMixin:
    """The checkpoint's processor, from a local model (or training output) directory, with its image limits set.

    `min_pixels` / `max_pixels`: the image processor's limits (None: the checkpoint's; max capped at
    `DEFAULT_MAX_PIXELS`). Fails with a one-line ConfigError naming the directory when anything is missing.
    """
    register_processor()
    path = Path(path)
    if not (path / "config.json").is_file() and (path / FINAL_DIR / "config.json").is_file():
        path = path / FINAL_DIR                       # a training output directory: its final/ model
    if not path.is_dir():
        raise ConfigError(f"{path}: model directory not found (expected a model directory or a training output directory)")
    try:
        processor = _stock_processor(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: cannot load a processor ({_first_line(e)})") from None
    if getattr(processor, "image_processor", None) is None or getattr(processor, "tokenizer", None) is None:
        raise ConfigError(
            f"{path}: AutoProcessor returned {type(processor).__name__}, not a processor with an image processor "
            "and a tokenizer (is preprocessor_config.json missing?)"
        )
    apply_image_limits(processor, min_pixels, max_pixels, where=str(path))
    return processor


def apply_image_limits(processor: ProcessorMixin, min_pixels: int | None, max_pixels: int | None,
                       where: str = "processor") -> tuple[int, int]:
    """Set the processor's (min_pixels, max_pixels): given values win; unset min keeps the checkpoint's, unset
    max keeps the checkpoint's capped at DEFAULT_MAX_PIXELS. Returns the limits in force."""
    low, high = image_limits(processor)
    low = low if min_pixels is None else min_pixels
    high = min(high, DEFAULT_MAX_PIXELS) if max_pixels is None else max_pixels
    if low > high:
        raise ConfigError(f"{where}: min_pixels {low} is larger than max_pixels {high} "
                          "(set --min-pixels / --max-pixels)")
    set_image_limits(processor, low, high)
    return low, high


def check_weights(path: Path) -> None:
    """Every *.safetensors file of a model directory has a header that parses and covers the file (a cheap
    check, no tensor read); else a one-line ConfigError naming the file (a truncated copy, a torn write)."""
    from driftalign.data.integrity import safetensors_problem

    for file in sorted(path.glob("*.safetensors")):
        problem = safetensors_problem(file)
        if problem is not None:
            raise ConfigError(f"{path}: {file.name} is corrupt or truncated ({problem})")


def load_model(path: str | Path, dtype: torch.dtype | str = "auto",
               attn_implementation: str | None = None) -> PreTrainedModel:
    """AutoModelForImageTextToText from a local model (or training output) directory (safetensors).

    Any failure (missing weights, a broken file, an attention kernel that is not installed) is a one-line
    ConfigError naming the directory; a corrupt or truncated *.safetensors file is named before loading.
    No per-file progress bar unless `driftalign --verbose`.
    """
    path = model_dir(path)
    if isinstance(dtype, str) and dtype != "auto":
        dtype = getattr(torch, dtype)
    if not os.environ.get("DRIFTALIGN_VERBOSE"):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    check_weights(path)
    kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": True}
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    try:
        return AutoModelForImageTextToText.from_pretrained(path, **kwargs)
    except (OSError, ValueError, ImportError, KeyError, RuntimeError) as e:
        raise ConfigError(f"{path}: cannot load the model ({_first_line(e)})") from None


def load_student(path: str | Path, dtype: torch.dtype | str = "auto", attn_implementation: str | None = None,
                 min_pixels: int | None = None, max_pixels: int | None = None) -> tuple[PreTrainedModel, ProcessorMixin]:
    """(model, processor) of a local image-text-to-text checkpoint directory (see `load_model`, `load_processor`)."""
    return (load_model(path, dtype, attn_implementation),
            load_processor(path, min_pixels=min_pixels, max_pixels=max_pixels))
