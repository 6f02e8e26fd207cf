"""A tiny, offline stand-in for the hub repo Qwen/Qwen2.5-VL-7B-Instruct (helper for tests; not a test module).

`build_hub_checkpoint(out)` writes a directory laid out like the hub repo at revision
cc594898137f460bfe9f0759e9844b3ce807cfb5 (its newest commit, "Update tokenizer_config.json", 2025-04-06):
the same files in the same formats (flat config.json, five bf16 safetensors shards with an index and the
hub's weight names, vocab.json/merges.txt/tokenizer.json/tokenizer_config.json, chat_template.json,
preprocessor_config.json, generation_config.json), the same special tokens on the same ids and the same
chat template. Only the widths are tiny, the weights random (seeded) and the regular vocabulary a small
byte-level BPE trained here, padded with unreachable filler entries so that it fills ids 0..151642 like
Qwen's and the special tokens keep their real ids 151643..151664.

What is copied, and from where: see the report in the commit that added this file; in short the hub repo's
own files (a git mirror of it at that revision), reproduced byte for byte where they do not depend on
widths (tests/test_hub_checkpoint_layout.py checks the sha256 of each).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

HUB_REPO = "Qwen/Qwen2.5-VL-7B-Instruct"
HUB_REVISION = "cc594898137f460bfe9f0759e9844b3ce807cfb5"

VOCAB_SIZE = 152064  # rows of embed_tokens / lm_head (config.json "vocab_size")
REGULAR_VOCAB = 151643  # entries of vocab.json: ids 0..151642; the added tokens follow
N_SHARDS = 5

# Qwen2.5-VL-7B-Instruct's widths (the defaults of `hub_config`, which then reproduces the hub's config.json).
HUB_WIDTHS: dict[str, Any] = {
    "hidden_size": 3584, "intermediate_size": 18944, "num_attention_heads": 28, "num_hidden_layers": 28,
    "num_key_value_heads": 4, "max_window_layers": 28, "mrope_section": (16, 24, 24),
    "vision_depth": 32, "vision_hidden_size": 1280, "vision_intermediate_size": 3420, "vision_num_heads": 16,
    "fullatt_block_indexes": (7, 15, 23, 31),
}
# The stand-in's widths: head_dim 64 / 2 = 32, so mrope_section sums to 16 (= head_dim / 2) like [16, 24, 24] to 64.
TINY_WIDTHS: dict[str, Any] = {
    "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2, "num_hidden_layers": 2,
    "num_key_value_heads": 1, "max_window_layers": 2, "mrope_section": (4, 6, 6),
    "vision_depth": 2, "vision_hidden_size": 32, "vision_intermediate_size": 64, "vision_num_heads": 2,
    "fullatt_block_indexes": (1,),
}

# tokenizer_config.json's added_tokens_decoder: (id, content, special), ids 151643..151664.
ADDED_TOKENS: tuple[tuple[int, str, bool], ...] = (
    (151643, "<|endoftext|>", True),
    (151644, "<|im_start|>", True),
    (151645, "<|im_end|>", True),
    (151646, "<|object_ref_start|>", True),
    (151647, "<|object_ref_end|>", True),
    (151648, "<|box_start|>", True),
    (151649, "<|box_end|>", True),
    (151650, "<|quad_start|>", True),
    (151651, "<|quad_end|>", True),
    (151652, "<|vision_start|>", True),
    (151653, "<|vision_end|>", True),
    (151654, "<|vision_pad|>", True),
    (151655, "<|image_pad|>", True),
    (151656, "<|video_pad|>", True),
    (151657, "<tool_call>", False),
    (151658, "</tool_call>", False),
    (151659, "<|fim_prefix|>", False),
    (151660, "<|fim_middle|>", False),
    (151661, "<|fim_suffix|>", False),
    (151662, "<|fim_pad|>", False),
    (151663, "<|repo_name|>", False),
    (151664, "<|file_sep|>", False),
)

# The hub's chat_template.json (and, since cc594898, tokenizer_config.json's "chat_template"), verbatim.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in "
    "messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful "
    "assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string "
    "%}{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}{% if "
    "content['type'] == 'image' or 'image' in content or 'image_url' in content %}{% set image_count.value = "
    "image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif "
    "%}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'video' or 'video' in content "
    "%}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: "
    "{% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% "
    "endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt "
    "%}<|im_start|>assistant\n{% endif %}"
)

# generation_config.json verbatim (json.dumps would write the temperature as 1e-06).
GENERATION_CONFIG_JSON = (
    '{\n  "bos_token_id": 151643,\n  "pad_token_id": 151643,\n  "do_sample": true,\n  "eos_token_id": [\n'
    '    151645,\n    151643\n  ],\n  "repetition_penalty": 1.05,\n  "temperature": 0.000001,\n'
    '  "transformers_version": "4.37.0"\n}'
)

PREPROCESSOR_CONFIG: dict[str, Any] = {
    "min_pixels": 3136,
    "max_pixels": 12845056,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor",
    "processor_class": "Qwen2_5_VLProcessor",
}

# Qwen2's pre-tokenizer split (tokenizer.json: Split, behavior Isolated, then ByteLevel without its own regex).
QWEN2_SPLIT_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
# Filler vocabulary entries start with U+2400, a character outside the byte-level alphabet: no merge can
# produce them, so they only hold ids.
_FILLER_MARK = "\u2400"

# The files the hub repo has at HUB_REVISION, less README.md and .gitattributes.
HUB_FILES: tuple[str, ...] = (
    "chat_template.json",
    "config.json",
    "generation_config.json",
    "merges.txt",
    *(f"model-{i:05d}-of-{N_SHARDS:05d}.safetensors" for i in range(1, N_SHARDS + 1)),
    "model.safetensors.index.json",
    "preprocessor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
)


def hub_config(**widths: Any) -> dict[str, Any]:
    """config.json of the hub repo (flat layout, the hub's key order) with `widths` (default: the 7B's).

    `json.dumps(hub_config(), indent=2)` is byte for byte the hub's config.json.
    """
    unknown = set(widths) - set(HUB_WIDTHS)
    if unknown:
        raise TypeError(f"unknown widths: {sorted(unknown)}")
    w = {**HUB_WIDTHS, **widths}
    return {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "attention_dropout": 0.0,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "vision_start_token_id": 151652,
        "vision_end_token_id": 151653,
        "vision_token_id": 151654,
        "image_token_id": 151655,
        "video_token_id": 151656,
        "hidden_act": "silu",
        "hidden_size": w["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": w["intermediate_size"],
        "max_position_embeddings": 128000,
        "max_window_layers": w["max_window_layers"],
        "model_type": "qwen2_5_vl",
        "num_attention_heads": w["num_attention_heads"],
        "num_hidden_layers": w["num_hidden_layers"],
        "num_key_value_heads": w["num_key_value_heads"],
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "sliding_window": 32768,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.41.2",
        "use_cache": True,
        "use_sliding_window": False,
        "vision_config": {
            "depth": w["vision_depth"],
            "hidden_act": "silu",
            "hidden_size": w["vision_hidden_size"],
            "intermediate_size": w["vision_intermediate_size"],
            "num_heads": w["vision_num_heads"],
            "in_chans": 3,
            "out_hidden_size": w["hidden_size"],
            "patch_size": 14,
            "spatial_merge_size": 2,
            "spatial_patch_size": 14,
            "window_size": 112,
            "fullatt_block_indexes": list(w["fullatt_block_indexes"]),
            "tokens_per_second": 2,
            "temporal_patch_size": 2,
        },
        "rope_scaling": {"type": "mrope", "mrope_section": list(w["mrope_section"])},
        "vocab_size": VOCAB_SIZE,
    }


def tokenizer_config() -> dict[str, Any]:
    """tokenizer_config.json of the hub repo (key order included)."""
    return {
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(i): {"content": content, "lstrip": False, "normalized": False, "rstrip": False,
                     "single_word": False, "special": special}
            for i, content, special in ADDED_TOKENS
        },
        "additional_special_tokens": [content for _, content, _ in ADDED_TOKENS[1:14]],
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 131072,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
        "add_bos_token": False,
    }


# ----------------------------------------------------------------------------------------------------------
# Default tokenizer training text: chest X-ray report-like English (self-contained, no driftalign import).

_FINDINGS = (
    "small {side} pleural effusion", "moderate {side} pleural effusion", "{side} basilar atelectasis",
    "patchy opacity in the {side} lower lobe", "consolidation in the {side} upper lobe",
    "mild pulmonary vascular congestion", "mild interstitial edema", "a {side} apical pneumothorax",
    "a {size} nodule in the {side} mid lung", "mild cardiomegaly", "a healed {side} rib fracture",
    "an endotracheal tube terminating {n} cm above the carina", "a {side} internal jugular catheter",
)
_NEGATIVES = (
    "pneumothorax", "pleural effusion", "focal consolidation", "pulmonary edema", "cardiomegaly",
    "acute osseous abnormality", "free air under the diaphragm",
)
_OPENERS = ("PA and lateral views of the chest.", "Portable AP view of the chest.", "Single frontal view of the chest.")
_IMPRESSIONS = (
    "No acute cardiopulmonary process.", "Findings concerning for pneumonia.", "Interval improvement.",
    "Stable appearance of the chest.", "Recommend clinical correlation and follow-up imaging.",
)


def report_texts(n: int = 300, seed: int = 0) -> list[str]:
    """`n` short chest X-ray report-like paragraphs (deterministic for a seed)."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        found = [rng.choice(_FINDINGS).format(side=rng.choice(("left", "right", "bilateral")),
                                              size=rng.choice(("small", "8 mm", "1.2 cm")), n=rng.randint(2, 6))
                 for _ in range(rng.randint(0, 2))]
        neg = rng.sample(_NEGATIVES, rng.randint(1, 3))
        findings = " ".join(f"There is {f}." for f in found) + f" No {', '.join(neg)}."
        texts.append(f"{rng.choice(_OPENERS)} FINDINGS: {findings.strip()} IMPRESSION: {rng.choice(_IMPRESSIONS)}")
    return texts


# ----------------------------------------------------------------------------------------------------------
# Writers.

def _write_json(path: Path, obj: Any, *, indent: int = 2, newline: bool = False, **kw: Any) -> None:
    path.write_text(json.dumps(obj, indent=indent, **kw) + ("\n" if newline else ""), encoding="utf-8")


def _train_bpe(texts: list[str]) -> tuple[dict[str, int], list[str]]:
    """A byte-level BPE trained with Qwen2's normalizer and pre-tokenizer; returns (vocab, merges "a b")."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

    core = Tokenizer(models.BPE())
    core.normalizer = normalizers.NFC()
    core.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(vocab_size=2048, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False)
    core.train_from_iterator(texts, trainer=trainer)
    model = json.loads(core.to_str())["model"]
    vocab = {tok: int(i) for tok, i in model["vocab"].items()}
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise AssertionError("trained vocabulary ids are not contiguous")
    return vocab, merges


def write_tokenizer(out: Path, texts: list[str]) -> None:
    """vocab.json, merges.txt, tokenizer.json and tokenizer_config.json in the hub's formats."""
    vocab, merges = _train_bpe(texts)
    n = len(vocab)
    if n > REGULAR_VOCAB:
        raise AssertionError(f"trained vocabulary too large: {n}")
    by_id = sorted(vocab, key=vocab.__getitem__)
    by_id += [f"{_FILLER_MARK}{i}" for i in range(n, REGULAR_VOCAB)]
    full = {tok: i for i, tok in enumerate(by_id)}
    # vocab.json: compact, UTF-8, id order, no trailing newline; merges.txt: one "a b" per line, no header.
    (out / "vocab.json").write_text(json.dumps(full, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    (out / "merges.txt").write_text("".join(m + "\n" for m in merges), encoding="utf-8")
    tokenizer_json = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": special}
            for i, content, special in ADDED_TOKENS
        ],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT_REGEX}, "behavior": "Isolated", "invert": False},
            dict(_BYTE_LEVEL),
        ]},
        "post_processor": dict(_BYTE_LEVEL),
        "decoder": dict(_BYTE_LEVEL),
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
            "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": full, "merges": merges,
        },
    }
    _write_json(out / "tokenizer.json", tokenizer_json, ensure_ascii=False)
    _write_json(out / "tokenizer_config.json", tokenizer_config(), newline=True)


def hub_weight_name(name: str) -> str:
    """transformers 5's module path -> the hub checkpoint's weight name (what save_pretrained writes)."""
    for prefix, hub in (("model.visual.", "visual."), ("model.language_model.", "model.")):
        if name.startswith(prefix):
            return hub + name[len(prefix):]
    return name


def _shard_of(name: str, num_layers: int) -> int:
    """1-based shard, after the hub's split: embeddings and vision tower first, layers, final norm, lm_head last."""
    if name.startswith("lm_head."):
        return 5
    if name.startswith("model.norm."):
        return 4
    m = re.match(r"model\.layers\.(\d+)\.", name)
    if m:
        return 2 + int(m.group(1)) * 2 // num_layers  # shards 2 and 3
    return 1  # model.embed_tokens, visual.*


def write_weights(out: Path, config_dir: Path, seed: int, num_layers: int) -> None:
    """Random bf16 weights (seeded) as five safetensors shards + model.safetensors.index.json, hub names."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration

    config = AutoConfig.from_pretrained(config_dir)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).to(torch.bfloat16)
    state = {hub_weight_name(k): v.detach().contiguous() for k, v in model.state_dict().items()}
    shards: dict[int, dict[str, torch.Tensor]] = {i: {} for i in range(1, N_SHARDS + 1)}
    for name, tensor in state.items():
        shards[_shard_of(name, num_layers)][name] = tensor
    weight_map = {}
    for i, tensors in shards.items():
        fname = f"model-{i:05d}-of-{N_SHARDS:05d}.safetensors"
        save_file(tensors, str(out / fname), metadata={"format": "pt"})
        weight_map.update({name: fname for name in tensors})
    total = sum(t.numel() * t.element_size() for t in state.values())
    _write_json(out / "model.safetensors.index.json",
                {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, newline=True)


def build_hub_checkpoint(out: Path, texts: list[str] | None = None, seed: int = 0) -> Path:
    """Write a tiny Qwen2.5-VL-7B-Instruct look-alike to `out` (created if needed); returns `out`.

    `texts` trains the regular vocabulary (default: `report_texts()`); `seed` seeds the weights.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "config.json", hub_config(**TINY_WIDTHS))
    (out / "generation_config.json").write_text(GENERATION_CONFIG_JSON, encoding="utf-8")
    _write_json(out / "preprocessor_config.json", PREPROCESSOR_CONFIG)
    _write_json(out / "chat_template.json", {"chat_template": CHAT_TEMPLATE}, indent=4)
    write_tokenizer(out, list(texts) if texts is not None else report_texts())
    write_weights(out, out, seed, TINY_WIDTHS["num_hidden_layers"])
    return out
