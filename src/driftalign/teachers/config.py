"""The teachers file (`--teachers teachers.yaml`): one entry per OpenAI-compatible endpoint.

    teachers:
      - name: gpt-5
        base_url: https://api.example.com/v1
        model: gpt-5
        api_key_env: OPENAI_API_KEY        # the NAME of the env var holding the key, never the key
        max_concurrency: 8
        rpm: 500
        tpm: 200000
        params: {temperature: 0.7, max_tokens: 1024}
        price_per_1k: {input: 0.00125, output: 0.01}
        prompt: hinted                     # hinted | unhinted | a template containing {diseases}

Validation errors name the file, the teacher and the field. The key is read from the environment
only when a collection starts (`TeacherSpec.api_key`), and a missing variable is reported by name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from driftalign.constants import CXR_MAX_PROMPT, MSCXRT_FINDINGS, UNHINTED_PROMPT, format_diseases
from driftalign.data.schema import Study
from driftalign.errors import ConfigError
from driftalign.hashing import json_hash

HINTED = "hinted"
UNHINTED = "unhinted"
DISEASES_SLOT = "{diseases}"


def unhinted_prompt_text() -> str:
    """The unhinted prompt, asking about the five MS-CXR-T findings (lower case, as in the hinted one)."""
    return UNHINTED_PROMPT.format(findings=format_diseases(list(MSCXRT_FINDINGS)))


class Price(BaseModel):
    """US dollars per 1,000 tokens."""

    model_config = ConfigDict(extra="forbid")
    input: float = Field(0.0, ge=0)
    output: float = Field(0.0, ge=0)


class TeacherSpec(BaseModel):
    """One teacher endpoint (see module docstring)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="teacher name written to trajectories.jsonl")
    base_url: str = Field(description="OpenAI-compatible API root, e.g. https://api.openai.com/v1")
    model: str = Field(min_length=1, description="model id sent in the request")
    api_key_env: str | None = Field(None, description="name of the env var holding the API key (none: no key)")
    max_concurrency: int = Field(8, ge=1, le=1024)
    rpm: float = Field(500, gt=0, description="requests per minute")
    tpm: float = Field(200_000, gt=0, description="tokens per minute (prompt estimate + max_tokens)")
    params: dict[str, Any] = Field(default_factory=dict, description="extra request fields (temperature, max_tokens)")
    price_per_1k: Price = Field(default_factory=Price)
    prompt: str = Field(HINTED, description="hinted | unhinted | a template containing {diseases}")
    timeout_s: float = Field(120.0, gt=0, description="per-request timeout in seconds")
    max_retries: int = Field(6, ge=0, le=50,
                             description="retries after the first attempt (429, 5xx, timeouts, connection errors)")
    backoff_s: float = Field(0.5, ge=0,
                             description="first back-off delay; doubles per retry (jittered) unless Retry-After")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"base_url {v!r} must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and (not v or not all(c.isalnum() or c == "_" for c in v)):
            raise ValueError(
                "api_key_env must be the NAME of an environment variable (letters, digits, _), not the key itself"
            )
        return v

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v: str) -> str:
        if v in (HINTED, UNHINTED) or DISEASES_SLOT in v:
            return v
        raise ValueError(f"prompt must be 'hinted', 'unhinted' or a template containing {DISEASES_SLOT}")

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted({"model", "messages", "stream"} & set(v))
        if reserved:
            raise ValueError(f"params may not set {reserved} (driftalign sets them)")
        return v

    @property
    def max_tokens(self) -> int:
        value = self.params.get("max_tokens", self.params.get("max_completion_tokens", 1024))
        return int(value)

    def api_key(self) -> str | None:
        """The key from the environment; a missing variable is a ConfigError naming the variable."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(
                f"teacher {self.name!r}: environment variable {self.api_key_env} (api_key_env) is not set or empty"
            )
        return key

    def prompt_for(self, study: Study) -> str:
        """The final prompt text for one study."""
        if self.prompt == UNHINTED:
            return unhinted_prompt_text()
        template = CXR_MAX_PROMPT if self.prompt == HINTED else self.prompt
        return template.replace(DISEASES_SLOT, format_diseases(study.positive_findings()))

    def prompt_hash(self, prompt: str) -> str:
        """Content address of one request: prompt text + model + params (the store's key part)."""
        return json_hash({"prompt": prompt, "model": self.model, "params": self.params})[:32]


class TeachersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    teachers: list[TeacherSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> TeachersFile:
        names = [t.name for t in self.teachers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate teacher name(s) {dupes}")
        return self


def _where(raw: Any, loc: tuple[Any, ...]) -> str:
    """'teacher 'gpt-5' (#1), field rpm' from a pydantic error location."""
    if len(loc) >= 2 and loc[0] == "teachers" and isinstance(loc[1], int):
        idx = loc[1]
        name = None
        try:
            name = raw["teachers"][idx].get("name")
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
        label = f"teacher {name!r} (#{idx + 1})" if name else f"teacher #{idx + 1}"
        rest = ".".join(str(x) for x in loc[2:])
        return f"{label}, field {rest!r}" if rest else label
    return "field " + repr(".".join(str(x) for x in loc)) if loc else "top level"


def parse_teachers(raw: Any, source: str) -> list[TeacherSpec]:
    """Validate an already-parsed teachers mapping; errors name `source`, the teacher and the field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with a 'teachers:' list at the top level")
    try:
        return TeachersFile.model_validate(raw).teachers
    except ValidationError as e:
        msgs = [f"{_where(raw, tuple(err['loc']))}: {err['msg'].removeprefix('Value error, ')}" for err in e.errors()]
        raise ConfigError(f"{source}: " + "; ".join(msgs)) from None


def load_teachers(path: str | Path) -> list[TeacherSpec]:
    """Read and validate a teachers YAML file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: teachers file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML ({e})") from None
    return parse_teachers(raw, str(path))
