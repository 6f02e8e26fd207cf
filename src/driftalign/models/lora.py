"""LoRA on the language model only, and freezing the vision tower.

PEFT's "all-linear" also matches the vision tower of Qwen2.5-VL (its MLP reuses the names
gate_proj/up_proj/down_proj, SPEC §4), so the target is a regex over module names that requires
`language_model.` in the path. The regex is built from the model's own linear layers, so it works
for any HF vision-language model whose text decoder lives under `language_model`.
"""

from __future__ import annotations

import re

import torch
from pathlib import Path

from peft import LoraConfig, PeftModel, get_peft_model
from transformers import PreTrainedModel

from driftalign.errors import ConfigError

LANGUAGE_MODEL_KEY = "language_model"
# Submodule names that hold a vision encoder in HF VLMs (Qwen: "visual"; LLaVA-like: "vision_tower").
VISION_KEYS: tuple[str, ...] = ("visual", "vision_tower", "vision_model")


def is_vision_name(name: str) -> bool:
    """True for a parameter/module name inside the vision tower (including its merger/projector)."""
    return any(part in VISION_KEYS for part in name.split("."))


def language_model_linear_names(model: torch.nn.Module) -> list[str]:
    """Leaf names (q_proj, ..., down_proj) of the nn.Linear layers inside the language model."""
    leaves = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and f"{LANGUAGE_MODEL_KEY}." in name and not is_vision_name(name)
    }
    if not leaves:
        raise ConfigError(f"{type(model).__name__}: no linear layers under '{LANGUAGE_MODEL_KEY}' to put LoRA on")
    return sorted(leaves)


def language_model_lora_regex(model: torch.nn.Module) -> str:
    """PEFT target_modules regex (full match): the language model's linear layers, never the vision tower."""
    leaves = "|".join(re.escape(n) for n in language_model_linear_names(model))
    return rf"^(?:.*\.)?{LANGUAGE_MODEL_KEY}\.(?:.*\.)?(?:{leaves})$"


def lora_config(model: torch.nn.Module, r: int = 8, alpha: int = 32, dropout: float = 0.1) -> LoraConfig:
    """The LoRA config of `apply_lora` (language model's linear layers only), e.g. for a trainer that applies it."""
    return LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=language_model_lora_regex(model),
        bias="none", task_type="CAUSAL_LM",
    )


def apply_lora(model: PreTrainedModel, r: int = 8, alpha: int = 32, dropout: float = 0.1) -> PeftModel:
    """Wrap `model` with LoRA (paper: r 8, alpha 32, dropout 0.1) on the language model's linear layers.

    Everything else, the vision tower included, is frozen by PEFT.
    """
    peft_model = get_peft_model(model, lora_config(model, r, alpha, dropout))
    targeted = [n for n, m in peft_model.named_modules() if hasattr(m, "lora_A") and is_vision_name(n)]
    if targeted:  # a guard for model families whose vision tower sits under 'language_model'
        raise ConfigError(f"LoRA would adapt vision modules: {targeted[:3]}")
    return peft_model


def freeze_vision_tower(model: torch.nn.Module) -> int:
    """Set requires_grad=False on every vision-tower parameter; returns how many tensors were frozen."""
    frozen = 0
    for name, param in model.named_parameters():
        if is_vision_name(name):
            param.requires_grad_(False)
            frozen += 1
    return frozen


def train_only_vision(model: torch.nn.Module) -> int:
    """Train the vision tower (encoder + its projector/merger) only: every other parameter, the whole language
    model included, gets requires_grad=False (DEER's SFT cold start). Returns how many tensors stay trainable."""
    trainable = 0
    for name, param in model.named_parameters():
        keep = is_vision_name(name)
        param.requires_grad_(keep)
        trainable += keep
    if not trainable:
        raise ConfigError(f"{type(model).__name__}: no vision-tower parameters (none under {VISION_KEYS}) to train")
    return trainable


def trainable_parameter_count(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


def merge_adapter(base_dir: str | Path, adapter_dir: str | Path, out_dir: str | Path) -> Path:
    """Load the base model from disk, apply the saved adapter, merge it and save a plain model.

    Merging from files (not from the in-memory training model) works the same under DDP,
    DeepSpeed ZeRO-3 and FSDP, where the training model's weights may be sharded across ranks.
    """
    from driftalign.models.load import load_model

    merged = PeftModel.from_pretrained(load_model(base_dir), str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out_dir, safe_serialization=True)
    return Path(out_dir)
