"""Student models: presets, locally trained tokenizer, image-only processor, build/load, LoRA, load options, and
their inputs: `chat` (one (images, prompt[, answer]) turn with the answer-token mask) and `collators`
(`VisionChatCollator`), shared by the trainers and the generation backends.

The names below are imported lazily (PEP 562), so that `driftalign.models.options` (imported by every
stage config) does not pull in transformers: the CLI builds its flags from the configs and must start
fast. `models.processor` registers the image-only Qwen2.5-VL processor with AutoProcessor when it is
imported; `load_processor` does so before every load.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ImageOnlyQwen2_5_VLProcessor": "driftalign.models.processor",
    "register_processor": "driftalign.models.processor",
    "build_student": "driftalign.models.build",
    "load_model": "driftalign.models.load",
    "load_processor": "driftalign.models.load",
    "load_student": "driftalign.models.load",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'driftalign.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
