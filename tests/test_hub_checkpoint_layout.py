"""The `hub_checkpoint` fixture is laid out like the hub repo Qwen/Qwen2.5-VL-7B-Instruct.

Reference: the hub repo at revision cc594898137f460bfe9f0759e9844b3ce807cfb5 (its newest commit). The sha256
sums and the weight-name patterns below were taken from that revision's own files.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

import pytest
from hub_checkpoint import HUB_FILES, TINY_WIDTHS, hub_config, report_texts

# sha256 of the hub's files at cc594898 that do not depend on widths (and of config.json at the 7B's widths).
HUB_SHA256 = {
    "chat_template.json": "ad60d90252ed0b0705ba14e2d0ad0fec0beac1ea955642b54059b36052d8bc96",
    "generation_config.json": "0a3aea82869fe29f20dc95ccf3e2bcff380eca1f5ad6447a4a4b37110b08e43e",
    "preprocessor_config.json": "f2058c716eef96ccaed1cc1e2d0c08306b62586d535b28d9d08e691b2fab7ca0",
    "tokenizer_config.json": "4abd3520120e266da84c0864fee064d1fb10806f02225911a47253dd38dc5f56",
}
HUB_CONFIG_SHA256 = "77d9ec7321cc572e3579e2c84799c9cadaded63c49ce93b101733349fc330c43"
HUB_CHAT_TEMPLATE_SHA256 = "a0bc6f6fc7a29a80017a433e8f03a1cc1236e838a944a2d034295a60c4f2fddb"

# The hub's model.safetensors.index.json weight names, layer/block numbers replaced by N.
HUB_WEIGHT_PATTERNS = {
    "lm_head.weight", "model.embed_tokens.weight", "model.norm.weight",
    *(f"model.layers.N.{p}" for p in (
        "input_layernorm.weight", "post_attention_layernorm.weight",
        "mlp.down_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
        "self_attn.q_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.weight", "self_attn.k_proj.bias",
        "self_attn.v_proj.weight", "self_attn.v_proj.bias", "self_attn.o_proj.weight")),
    *(f"visual.blocks.N.{p}" for p in (
        "norm1.weight", "norm2.weight", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
        "mlp.gate_proj.weight", "mlp.gate_proj.bias", "mlp.up_proj.weight", "mlp.up_proj.bias",
        "mlp.down_proj.weight", "mlp.down_proj.bias")),
    "visual.merger.ln_q.weight", "visual.merger.mlp.N.weight", "visual.merger.mlp.N.bias",
    "visual.patch_embed.proj.weight",
}

# Qwen2.5-VL's added tokens: id -> (content, special), as in the hub's tokenizer_config.json.
SPECIAL_IDS = {
    151643: ("<|endoftext|>", True), 151644: ("<|im_start|>", True), 151645: ("<|im_end|>", True),
    151646: ("<|object_ref_start|>", True), 151647: ("<|object_ref_end|>", True), 151648: ("<|box_start|>", True),
    151649: ("<|box_end|>", True), 151650: ("<|quad_start|>", True), 151651: ("<|quad_end|>", True),
    151652: ("<|vision_start|>", True), 151653: ("<|vision_end|>", True), 151654: ("<|vision_pad|>", True),
    151655: ("<|image_pad|>", True), 151656: ("<|video_pad|>", True), 151657: ("<tool_call>", False),
    151658: ("</tool_call>", False), 151659: ("<|fim_prefix|>", False), 151660: ("<|fim_middle|>", False),
    151661: ("<|fim_suffix|>", False), 151662: ("<|fim_pad|>", False), 151663: ("<|repo_name|>", False),
    151664: ("<|file_sep|>", False),
}

REPORT = "FINDINGS: Small left pleural effusion. No pneumothorax. IMPRESSION: Mild cardiomegaly, unchanged."


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _safetensors_header(path: Path) -> dict:
    with path.open("rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


@pytest.fixture(scope="module")
def tokenizer(hub_checkpoint: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(hub_checkpoint)


def test_files_are_the_hub_repos(hub_checkpoint: Path) -> None:
    names = {p.name for p in hub_checkpoint.iterdir()}
    assert names == set(HUB_FILES)
    # Files transformers 5 itself would write but the hub repo does not have.
    for absent in ("processor_config.json", "chat_template.jinja", "special_tokens_map.json", "added_tokens.json",
                   "video_preprocessor_config.json", "model.safetensors"):
        assert absent not in names


def test_width_independent_files_are_byte_identical_to_the_hubs(hub_checkpoint: Path) -> None:
    for name, digest in HUB_SHA256.items():
        assert _sha256((hub_checkpoint / name).read_bytes()) == digest, name


def test_config_generator_reproduces_the_hubs_config_at_7b_widths() -> None:
    assert _sha256(json.dumps(hub_config(), indent=2).encode()) == HUB_CONFIG_SHA256


def test_config_json_is_the_flat_hub_layout(hub_checkpoint: Path) -> None:
    cfg = _load(hub_checkpoint / "config.json")
    assert list(cfg) == list(hub_config())  # the hub's keys, in its order: no text_config
    assert cfg["model_type"] == "qwen2_5_vl"
    assert cfg["architectures"] == ["Qwen2_5_VLForConditionalGeneration"]
    assert "text_config" not in cfg
    assert {k: cfg[k] for k in ("vocab_size", "bos_token_id", "eos_token_id", "image_token_id", "video_token_id",
                                "vision_start_token_id", "vision_end_token_id", "vision_token_id")} == {
        "vocab_size": 152064, "bos_token_id": 151643, "eos_token_id": 151645, "image_token_id": 151655,
        "video_token_id": 151656, "vision_start_token_id": 151652, "vision_end_token_id": 151653,
        "vision_token_id": 151654}
    assert cfg["rope_scaling"] == {"type": "mrope", "mrope_section": [4, 6, 6]}
    head_dim = cfg["hidden_size"] // cfg["num_attention_heads"]
    assert sum(cfg["rope_scaling"]["mrope_section"]) * 2 == head_dim
    assert cfg["rope_theta"] == 1000000.0 and cfg["tie_word_embeddings"] is False
    assert cfg["torch_dtype"] == "bfloat16" and cfg["max_position_embeddings"] == 128000
    assert cfg["sliding_window"] == 32768 and cfg["use_sliding_window"] is False
    assert (cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_hidden_layers"],
            cfg["intermediate_size"]) == (64, 2, 1, 2, 128)
    vision = cfg["vision_config"]
    assert list(vision) == list(hub_config()["vision_config"])
    assert {k: vision[k] for k in ("in_chans", "patch_size", "spatial_merge_size", "spatial_patch_size",
                                   "temporal_patch_size", "window_size", "tokens_per_second", "hidden_act")} == {
        "in_chans": 3, "patch_size": 14, "spatial_merge_size": 2, "spatial_patch_size": 14, "temporal_patch_size": 2,
        "window_size": 112, "tokens_per_second": 2, "hidden_act": "silu"}
    assert (vision["depth"], vision["hidden_size"], vision["num_heads"], vision["intermediate_size"],
            vision["fullatt_block_indexes"], vision["out_hidden_size"]) == (2, 32, 2, 64, [1], cfg["hidden_size"])
    # Everything that is not a width is the hub's value.
    widths = {"hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers", "num_key_value_heads",
              "max_window_layers", "rope_scaling", "vision_config"}
    hub = hub_config()
    assert {k: v for k, v in cfg.items() if k not in widths} == {k: v for k, v in hub.items() if k not in widths}


def test_config_loads_with_transformers(hub_checkpoint: Path) -> None:
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(hub_checkpoint)
    assert type(cfg).__name__ == "Qwen2_5_VLConfig"
    assert cfg.text_config.hidden_size == TINY_WIDTHS["hidden_size"]
    assert cfg.text_config.vocab_size == 152064
    assert cfg.vision_config.depth == 2 and list(cfg.vision_config.fullatt_block_indexes) == [1]
    assert cfg.image_token_id == 151655 and cfg.video_token_id == 151656


def test_weights_are_bf16_shards_with_the_hubs_names(hub_checkpoint: Path) -> None:
    index = _load(hub_checkpoint / "model.safetensors.index.json")
    assert list(index) == ["metadata", "weight_map"] and list(index["metadata"]) == ["total_size"]
    shards = sorted(p.name for p in hub_checkpoint.glob("*.safetensors"))
    assert shards == [f"model-{i:05d}-of-00005.safetensors" for i in range(1, 6)]
    seen: dict[str, str] = {}
    total = 0
    shapes = {}
    for shard in shards:
        header = _safetensors_header(hub_checkpoint / shard)
        assert header.pop("__metadata__") == {"format": "pt"}
        assert header, f"{shard} is empty"
        for name, info in header.items():
            assert info["dtype"] == "BF16", name
            seen[name] = shard
            total += info["data_offsets"][1] - info["data_offsets"][0]
            shapes[name] = info["shape"]
    assert index["weight_map"] == seen
    assert list(index["weight_map"]) == sorted(seen)
    assert index["metadata"]["total_size"] == total
    assert {re.sub(r"\.\d+\.", ".N.", k) for k in seen} == HUB_WEIGHT_PATTERNS
    assert seen["model.embed_tokens.weight"] == "model-00001-of-00005.safetensors"
    assert seen["lm_head.weight"] == "model-00005-of-00005.safetensors"
    assert shapes["model.embed_tokens.weight"] == [152064, 64]
    assert shapes["lm_head.weight"] == [152064, 64]
    assert shapes["visual.patch_embed.proj.weight"] == [32, 3, 2, 14, 14]
    assert shapes["visual.merger.mlp.2.weight"][0] == 64


def test_model_loads_with_every_weight(hub_checkpoint: Path) -> None:
    import torch
    from transformers import AutoModelForImageTextToText

    model, info = AutoModelForImageTextToText.from_pretrained(hub_checkpoint, output_loading_info=True)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert model.dtype == torch.bfloat16
    assert model.get_input_embeddings().weight.shape == (152064, 64)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[151644, 40, 41, 151645]])).logits
    assert logits.shape == (1, 4, 152064)


def test_tokenizer_has_the_hubs_special_ids(hub_checkpoint: Path, tokenizer) -> None:
    assert type(tokenizer).__name__.startswith("Qwen2Tokenizer")
    assert len(tokenizer) == 151665
    for i, (content, _) in SPECIAL_IDS.items():
        assert tokenizer.convert_tokens_to_ids(content) == i, content
        assert tokenizer.encode(content, add_special_tokens=False) == [i], content
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.eos_token_id == 151645
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.pad_token_id == 151643
    assert tokenizer.bos_token is None
    assert tokenizer.model_max_length == 131072
    tok_cfg = _load(hub_checkpoint / "tokenizer_config.json")
    assert {int(i): (d["content"], d["special"]) for i, d in tok_cfg["added_tokens_decoder"].items()} == SPECIAL_IDS
    assert tok_cfg["tokenizer_class"] == "Qwen2Tokenizer" and tok_cfg["errors"] == "replace"
    assert tok_cfg["split_special_tokens"] is False and tok_cfg["add_prefix_space"] is False
    tok_json = _load(hub_checkpoint / "tokenizer.json")
    assert {d["id"]: (d["content"], d["special"]) for d in tok_json["added_tokens"]} == SPECIAL_IDS


def test_regular_vocabulary_fills_ids_below_the_special_tokens(hub_checkpoint: Path, tokenizer) -> None:
    vocab = _load(hub_checkpoint / "vocab.json")
    assert sorted(vocab.values()) == list(range(151643))
    assert not {content for content, _ in SPECIAL_IDS.values()} & set(vocab)
    merges = (hub_checkpoint / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert merges and not merges[0].startswith("#")  # the hub's merges.txt has no "#version" header
    assert all(len(m.split(" ")) == 2 for m in merges)
    assert _load(hub_checkpoint / "tokenizer.json")["model"]["vocab"] == vocab
    # Filler entries (after the trained ones) are never produced by encoding.
    n_trained = 256 + len(merges)
    ids = tokenizer.encode(" ".join(report_texts(50, seed=1)) + " 0123 ünïcödé ✓ 肺", add_special_tokens=False)
    assert max(ids) < n_trained


@pytest.mark.parametrize("text", [
    REPORT,
    "Portable AP view of the chest.\nFINDINGS: ET tube 4 cm above the carina; right IJ line. Heart size 12 × 9 cm.",
])
def test_report_text_round_trips(tokenizer, text: str) -> None:
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert all(i < 151643 for i in ids)
    assert tokenizer.decode(ids) == text


def test_chat_template_is_the_hubs_and_renders_an_image_turn(hub_checkpoint: Path, tokenizer) -> None:
    template = _load(hub_checkpoint / "chat_template.json")["chat_template"]
    assert _sha256(template.encode()) == HUB_CHAT_TEMPLATE_SHA256
    assert _load(hub_checkpoint / "tokenizer_config.json")["chat_template"] == template
    assert tokenizer.chat_template == template
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe the study."}]}]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe the study.<|im_end|>\n"
                        "<|im_start|>assistant\n")
    ids = tokenizer.encode(rendered, add_special_tokens=False)
    start = ids.index(151652)
    assert ids[start:start + 3] == [151652, 151655, 151653]
    assert ids[0] == 151644 and ids.count(151645) == 2
    with_system = [{"role": "system", "content": "Be brief."}, *messages]
    rendered = tokenizer.apply_chat_template(with_system, tokenize=False, add_vision_id=True)
    assert rendered.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    assert "You are a helpful assistant." not in rendered
    assert "Picture 1: <|vision_start|><|image_pad|><|vision_end|>" in rendered


def test_generation_config_is_the_hubs(hub_checkpoint: Path) -> None:
    from transformers import GenerationConfig

    raw = _load(hub_checkpoint / "generation_config.json")
    assert raw == {"bos_token_id": 151643, "pad_token_id": 151643, "do_sample": True, "eos_token_id": [151645, 151643],
                   "repetition_penalty": 1.05, "temperature": 1e-06, "transformers_version": "4.37.0"}
    gen = GenerationConfig.from_pretrained(hub_checkpoint)
    assert gen.eos_token_id == [151645, 151643] and gen.pad_token_id == 151643 and gen.bos_token_id == 151643
    assert gen.do_sample is True and gen.temperature == 1e-06 and gen.repetition_penalty == 1.05


def test_preprocessor_config_is_the_hubs(hub_checkpoint: Path) -> None:
    assert _load(hub_checkpoint / "preprocessor_config.json") == {
        "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
        "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor"}
