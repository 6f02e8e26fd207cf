"""Typed rows of the dataset contract (SPEC §2).

`studies.jsonl`: one `Study` per line. `trajectories.jsonl`: one `Trajectory` (a teacher's answer)
per line. Both accept extra keys in `meta` so later stages can extend the contract without
breaking it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from driftalign.constants import LABEL_VALUES, OBSERVATIONS, SPLITS

Labels = dict[str, int | None]


def normalize_labels(raw: Any) -> Labels:
    """Check a labels mapping and return it over all 14 observations (absent keys -> None)."""
    if not isinstance(raw, dict):
        raise ValueError(f"labels must be an object mapping observation -> value, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(OBSERVATIONS))
    if unknown:
        raise ValueError(
            f"unknown observation name(s) {unknown}; expected CheXpert spelling, one of {list(OBSERVATIONS)}"
        )
    out: Labels = {}
    for name in OBSERVATIONS:
        value = raw.get(name)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or value not in LABEL_VALUES:
            raise ValueError(f"label {name!r} has value {value!r}; allowed: 1, 0, -1, null")
        out[name] = value
    return out


class Study(BaseModel):
    """One imaging study: images, 14 observation labels, reference report text, split."""

    model_config = ConfigDict(extra="forbid")

    study_id: str = Field(min_length=1)
    images: list[str] = Field(min_length=1, description="paths relative to the dataset directory")
    labels: Labels
    findings: str = ""
    impression: str = ""
    split: str = "train"
    meta: dict[str, Any] = Field(default_factory=dict, description="free-form; the synthetic world stores its truth here")

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, v: Any) -> Labels:
        return normalize_labels(v)

    @field_validator("split")
    @classmethod
    def _split(cls, v: str) -> str:
        if v not in SPLITS:
            raise ValueError(f"split {v!r} is not one of {list(SPLITS)}")
        return v

    @property
    def report(self) -> str:
        """Reference report: findings then impression, as one text."""
        parts = [p.strip() for p in (self.findings, self.impression) if p and p.strip()]
        return " ".join(parts)

    def positive_findings(self) -> list[str]:
        """Observations labelled 1, excluding 'No Finding', in CheXpert order."""
        return [n for n in OBSERVATIONS if n != "No Finding" and self.labels.get(n) == 1]


class Trajectory(BaseModel):
    """One teacher's answer about one study."""

    model_config = ConfigDict(extra="forbid")

    study_id: str = Field(min_length=1)
    teacher: str = Field(min_length=1)
    prompt: str
    response: str
    meta: dict[str, Any] = Field(default_factory=dict)
