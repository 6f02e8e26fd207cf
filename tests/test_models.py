"""Student construction and loading: offline round trip, processor registration, presets, LoRA targets."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from test_models_data import make_tiny_dataset
from transformers import AutoModelForImageTextToText, AutoProcessor

from driftalign.errors import ConfigError
from driftalign.models import build_student, load_processor, load_student
from driftalign.models.chat import encode_example
from driftalign.models.collators import VisionChatCollator
from driftalign.models.lora import apply_lora, language_model_lora_regex
from driftalign.models.presets import get_preset, mrope_section
from driftalign.models.processor import image_tokens_per_image
from driftalign.models.tokenizer import SPECIAL_TOKENS


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    return build_student("tiny", make_tiny_dataset(root / "data"), root / "tiny", seed=0)


def _answer_logps(model, processor) -> torch.Tensor:
    """Per-token log-probs of the answer tokens of two examples. [N_answer_tokens]"""
    images = [Image.new("RGB", (64, 64), (90, 90, 90))]
    examples = [encode_example(processor, images, "Describe the image.", a)
                for a in ("The lungs are clear.", "There is a moderate right pleural effusion.")]
    batch = VisionChatCollator(processor.tokenizer.pad_token_id)(examples)
    model.eval()
    with torch.no_grad():
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits  # [B, T, V]
    logps = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    labels = batch["labels"][:, 1:]  # [B, T-1]
    mask = labels != -100
    return logps.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)[mask]


def test_tiny_student_is_about_one_million_parameters(student: Path) -> None:
    info = json.loads((student / "driftalign_student.json").read_text())
    assert info["preset"] == "tiny"
    assert 0.5e6 < info["parameters"] < 1.5e6
    config = json.loads((student / "config.json").read_text())
    assert config["model_type"] == "qwen2_5_vl"
    assert config["text_config"]["hidden_size"] == 128 and config["text_config"]["num_hidden_layers"] == 2
    assert config["vision_config"]["hidden_size"] == 64 and config["vision_config"]["depth"] == 2
    assert (student / "model.safetensors").is_file()


def test_save_and_reload_offline_gives_identical_logprobs(student: Path, tmp_path: Path) -> None:
    model, processor = load_student(student)
    model.save_pretrained(tmp_path / "copy")
    processor.save_pretrained(tmp_path / "copy")
    reloaded = AutoModelForImageTextToText.from_pretrained(tmp_path / "copy", local_files_only=True)
    reprocessor = AutoProcessor.from_pretrained(tmp_path / "copy", local_files_only=True)
    before, after = _answer_logps(model, processor), _answer_logps(reloaded, reprocessor)
    assert before.numel() > 10
    assert torch.isfinite(before).all()
    assert torch.allclose(before, after, atol=1e-6)


def test_build_is_deterministic_for_a_seed(student: Path, tmp_path: Path) -> None:
    data = make_tiny_dataset(tmp_path / "data")
    again = build_student("tiny", data, tmp_path / "again", seed=0)
    other = build_student("tiny", data, tmp_path / "other", seed=1)
    a, b, c = (load_student(p)[0].state_dict() for p in (student, again, other))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_saved_processor_names_the_standard_class_and_loads_image_only_without_torchvision(student: Path) -> None:
    for name in ("processor_config.json", "tokenizer_config.json"):
        saved = json.loads((student / name).read_text())
        assert saved.get("processor_class") in (None, "Qwen2_5_VLProcessor"), name
    processor = load_processor(student)
    from transformers.utils import is_torchvision_available

    expected = "Qwen2_5_VLProcessor" if is_torchvision_available() else "ImageOnlyQwen2_5_VLProcessor"
    assert type(processor).__name__ == expected
    out = processor(text=["<|vision_start|><|image_pad|><|vision_end|>hi"], images=[Image.new("RGB", (64, 64))],
                    return_tensors="pt")
    # 64 px is resized to 56 px = 4 x 4 patches of 14 px -> 2 x 2 merged -> 4 image tokens
    assert out["image_grid_thw"].tolist() == [[1, 4, 4]]
    assert int((out["input_ids"] == processor.image_token_id).sum()) == 4 == image_tokens_per_image(56)


def test_tokenizer_has_qwen_special_tokens_and_template(student: Path) -> None:
    tok = load_processor(student).tokenizer
    for token in SPECIAL_TOKENS:
        ids = tok(token, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and tok.convert_ids_to_tokens(ids[0]) == token
    text = tok.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi"}]}],
                                   tokenize=False, add_generation_prompt=True)
    assert text == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                    "<|vision_start|><|image_pad|><|vision_end|>Hi<|im_end|>\n<|im_start|>assistant\n")
    assert tok.decode(tok("No pleural effusion.")["input_ids"]) == "No pleural effusion."


def test_processor_missing_fails_clearly(student: Path, tmp_path: Path) -> None:
    only_tokenizer = tmp_path / "tok_only"
    only_tokenizer.mkdir()
    shutil.copy(student / "tokenizer.json", only_tokenizer / "tokenizer.json")
    tok_config = json.loads((student / "tokenizer_config.json").read_text())
    tok_config.pop("processor_class", None)
    (only_tokenizer / "tokenizer_config.json").write_text(json.dumps(tok_config))
    with pytest.raises(ConfigError, match="not a processor with an image processor"):  # AutoProcessor -> tokenizer
        load_processor(only_tokenizer)
    shutil.copy(student / "config.json", only_tokenizer / "config.json")
    with pytest.raises(ConfigError, match="cannot load a processor"):
        load_processor(only_tokenizer)
    with pytest.raises(ConfigError, match="model directory not found"):
        load_processor(tmp_path / "nope")


def test_lora_targets_the_language_model_only(student: Path) -> None:
    model, _ = load_student(student)
    regex = language_model_lora_regex(model)
    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    matched = {n for n in names if re.fullmatch(regex, n)}
    assert matched and all("language_model" in n for n in matched)
    assert not any(n.startswith("model.visual") for n in matched)
    assert any(n.startswith("model.visual") and n.endswith("mlp.gate_proj") for n in names)  # the trap exists
    assert "lm_head" not in matched
    assert len(matched) == 2 * 7  # 2 layers x (q, k, v, o, gate, up, down)
    peft_model = apply_lora(model)
    adapted = [n for n, m in peft_model.named_modules() if hasattr(m, "lora_A")]
    assert len(adapted) == 14 and not any("visual" in n for n in adapted)


def test_presets_and_mrope_section() -> None:
    assert mrope_section(128) == [16, 24, 24]  # Qwen2.5-VL-7B's own split
    assert sum(mrope_section(32)) == 16
    assert get_preset("small").image_size == 112
    with pytest.raises(ValueError, match="unknown student preset"):
        get_preset("huge")


def test_plain_autoprocessor_builds_the_standard_processor_or_asks_for_torchvision(student: Path) -> None:
    """Outputs name `Qwen2_5_VLProcessor`: a fresh interpreter that never imported driftalign gets that class
    where torchvision is installed, and transformers' own error about the video processor where it is not
    (never a bare tokenizer, the old trap of a private class name)."""
    import subprocess
    import sys

    code = ("from transformers import AutoProcessor\n"
            "try:\n"
            f"    print(type(AutoProcessor.from_pretrained({str(student)!r}, local_files_only=True)).__name__)\n"
            "except (ImportError, OSError) as e:\n"
            "    print('refused', 'video' in str(e).lower())\n")
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert fresh.stdout.strip() in ("Qwen2_5_VLProcessor", "refused True")


def test_build_student_replaces_a_model_directory_only(tmp_path: Path) -> None:
    """init-student publishes its directory atomically, replacing a model directory; it refuses one of a user's."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="holds no model"):
        build_student("tiny", tmp_path / "no-data-needed", mine, seed=0)
    assert (mine / "notes.txt").read_text() == "keep me"
