"""Saved weights in the dtype asked for: `cast_saved_weights` rewrites a model directory's safetensors files.

Training keeps float32 master weights (a bf16 hub checkpoint is upcast for full fine-tuning), and
`save_pretrained` writes what the model holds: final/ of a bf16 Qwen2.5-VL-7B would be 30 GB of
float32 instead of the checkpoint's 15 GB. Casting the *files* after `Trainer.save_model` works the
same whatever wrote them (one process, DeepSpeed ZeRO-3 or FSDP gathering on the main process).
Each file is rewritten atomically (temporary file + rename) one at a time, so peak memory is one
shard; config.json's dtype is updated to match.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from driftalign.data.io import atomic_write


def saved_dtypes(model_dir: str | Path) -> set[torch.dtype]:
    """The dtypes of the floating-point tensors in a directory's *.safetensors files (headers only)."""
    dtypes: set[torch.dtype] = set()
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():
                dtype = f.get_slice(key).get_dtype()
                name = {"F32": "float32", "BF16": "bfloat16", "F16": "float16", "F64": "float64"}.get(dtype)
                if name is not None:
                    dtypes.add(getattr(torch, name))
    return dtypes


def _set_config_dtype(config: dict, name: str) -> None:
    for key in ("dtype", "torch_dtype"):
        if key in config:
            config[key] = name
    for value in config.values():
        if isinstance(value, dict) and ("dtype" in value or "torch_dtype" in value):
            _set_config_dtype(value, name)


def cast_saved_weights(model_dir: str | Path, dtype: torch.dtype) -> bool:
    """Cast every floating-point tensor of `model_dir`'s safetensors files to `dtype` and record it in config.json.

    Returns False (nothing rewritten) when the files already hold `dtype` only.
    """
    model_dir = Path(model_dir)
    if saved_dtypes(model_dir) <= {dtype}:
        return False
    total = 0
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {"format": "pt"}
            tensors = {}
            for key in f.keys():
                t = f.get_tensor(key)
                tensors[key] = t.to(dtype) if t.is_floating_point() else t
        total += sum(t.numel() * t.element_size() for t in tensors.values())
        tmp = path.with_name(f".{path.name}.tmp")
        save_file(tensors, str(tmp), metadata=metadata)
        os.replace(tmp, path)
        del tensors
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        data = json.loads(index.read_text(encoding="utf-8"))
        data.setdefault("metadata", {})["total_size"] = total
        with atomic_write(index) as out:
            json.dump(data, out, indent=2)
    config_path = model_dir / "config.json"
    if config_path.is_file():
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config["dtype"] = str(dtype).removeprefix("torch.")
        _set_config_dtype(config, config["dtype"])
        with atomic_write(config_path) as out:
            json.dump(config, out, indent=2, sort_keys=True)
            out.write("\n")
    return True
