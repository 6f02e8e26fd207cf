"""The teachers YAML: shape, prompts, and clear errors naming file, teacher and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftalign.constants import CXR_MAX_PROMPT
from driftalign.data.schema import Study
from driftalign.errors import ConfigError
from driftalign.teachers.config import load_teachers, unhinted_prompt_text

GOOD = """
teachers:
  - name: gpt-5
    base_url: https://api.example.com/v1/
    model: gpt-5
    api_key_env: OPENAI_API_KEY
    max_concurrency: 8
    rpm: 500
    tpm: 200000
    params: {temperature: 0.7, max_tokens: 1024}
    price_per_1k: {input: 0.00125, output: 0.01}
    prompt: hinted
  - name: local
    base_url: http://localhost:8000/v1
    model: Qwen/Qwen2.5-VL-72B-Instruct
    prompt: "Findings for {diseases}?"
"""

STUDY = Study(study_id="s1", images=["a.png"], labels={"Pneumonia": 1, "Pleural Effusion": 1, "Edema": 0})


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "teachers.yaml"
    path.write_text(text)
    return path


def test_good_file_parses_with_defaults(tmp_path):
    gpt, local = load_teachers(_write(tmp_path, GOOD))
    assert gpt.base_url == "https://api.example.com/v1"  # trailing slash dropped
    assert gpt.max_tokens == 1024 and gpt.price_per_1k.output == 0.01
    assert local.api_key_env is None and local.api_key() is None
    assert local.max_concurrency == 8 and local.timeout_s == 120.0


def test_prompts_hinted_unhinted_template(tmp_path):
    gpt, local = load_teachers(_write(tmp_path, GOOD))
    assert gpt.prompt_for(STUDY) == CXR_MAX_PROMPT.format(diseases="pleural effusion and pneumonia")
    assert local.prompt_for(STUDY) == "Findings for pleural effusion and pneumonia?"
    unhinted = gpt.model_copy(update={"prompt": "unhinted"})
    assert unhinted.prompt_for(STUDY) == unhinted_prompt_text()
    assert "consolidation, pleural effusion, pneumonia, pneumothorax and edema" in unhinted_prompt_text()


def test_prompt_hash_changes_with_model_params_and_prompt(tmp_path):
    gpt, _ = load_teachers(_write(tmp_path, GOOD))
    base = gpt.prompt_hash("p")
    assert gpt.prompt_hash("p") == base
    assert gpt.prompt_hash("q") != base
    assert gpt.model_copy(update={"model": "gpt-5-mini"}).prompt_hash("p") != base
    assert gpt.model_copy(update={"params": {"temperature": 0.0}}).prompt_hash("p") != base


def test_yaml_syntax_error_names_file(tmp_path):
    path = _write(tmp_path, "teachers:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"teachers\.yaml: invalid YAML"):
        load_teachers(path)


def test_missing_field_names_file_teacher_field(tmp_path):
    path = _write(tmp_path, GOOD.replace("    model: gpt-5\n", ""))
    with pytest.raises(ConfigError) as e:
        load_teachers(path)
    assert str(path) in str(e.value) and "teacher 'gpt-5' (#1)" in str(e.value) and "'model'" in str(e.value)
    assert "Field required" in str(e.value)


def test_unknown_field_names_file_teacher_field(tmp_path):
    path = _write(tmp_path, GOOD.replace("    rpm: 500\n", "    rpm: 500\n    rmp: 5\n"))
    with pytest.raises(ConfigError, match=r"teachers\.yaml: teacher 'gpt-5' \(#1\), field 'rmp': Extra inputs"):
        load_teachers(path)


def test_bad_prompt_template(tmp_path):
    path = _write(tmp_path, GOOD.replace("    prompt: hinted\n", "    prompt: tell me\n"))
    with pytest.raises(ConfigError, match=r"field 'prompt': prompt must be 'hinted', 'unhinted' or a template"):
        load_teachers(path)


def test_bad_url_and_key_in_place_of_env_name(tmp_path):
    path = _write(tmp_path, GOOD.replace("https://api.example.com/v1/", "api.example.com")
                  .replace("api_key_env: OPENAI_API_KEY", "api_key_env: sk-live-abc123"))
    with pytest.raises(ConfigError) as e:
        load_teachers(path)
    assert "base_url 'api.example.com' must start with http" in str(e.value)
    assert "must be the NAME of an environment variable" in str(e.value)
    assert "sk-live-abc123" not in str(e.value)  # a key pasted by mistake is not echoed back


def test_duplicate_names_and_empty_file(tmp_path):
    with pytest.raises(ConfigError, match="duplicate teacher name"):
        load_teachers(_write(tmp_path, GOOD.replace("name: local", "name: gpt-5")))
    with pytest.raises(ConfigError, match="expected a mapping with a 'teachers:' list"):
        load_teachers(_write(tmp_path, ""))
    with pytest.raises(ConfigError, match="teachers file not found"):
        load_teachers(tmp_path / "nope.yaml")


def test_missing_env_var_names_the_variable_not_a_value(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    gpt, _ = load_teachers(_write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match=r"teacher 'gpt-5': environment variable OPENAI_API_KEY"):
        gpt.api_key()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET123")
    assert gpt.api_key() == "sk-test-SECRET123"


def test_shipped_configs_are_valid():
    root = Path(__file__).resolve().parents[1] / "configs"
    example = load_teachers(root / "teachers.example.yaml")
    assert [t.base_url for t in example][-1] == "http://localhost:8000/v1"
    assert all(t.api_key_env for t in example[:2]) and example[2].api_key_env is None
    local = load_teachers(root / "teachers.local.yaml")
    assert len(local) == 7 and {t.base_url for t in local} == {"http://127.0.0.1:8765/v1"}
