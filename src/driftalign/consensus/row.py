"""One line of CONSENSUS.jsonl: a study's t+, its negatives, and how each teacher relates to t+.

    {"study_id": "s0001", "prompt": "...", "chosen": "t+ text", "strategy": "vote",
     "supporters": {"Pleural Effusion": ["sim-gpt-5", ...]},        # finding -> teachers asserting t+'s polarity
     "claims": [{"finding": ..., "polarity": 1, "side": "left", ...}],  # t+'s claims
     "teachers": {"sim-gpt-5": {"agreement": 1.0, "contradictions": 0, "drift": 0.0, ...}},
     "negatives": [{"teacher": "sim-gpt-5", "response": "...", "drift": 0.0, "refusal": false}],
     "cache_key": "sha256...", "synthetic": true}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from driftalign.data.dataset import read_unique_rows


class Negative(BaseModel):
    model_config = ConfigDict(extra="forbid")

    teacher: str = Field(min_length=1)
    response: str
    drift: float = Field(ge=0.0, le=1.0, description="Jaccard distance of the teacher's claims from t+'s")
    refusal: bool = False


class ConsensusRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    study_id: str = Field(min_length=1)
    prompt: str
    chosen: str
    strategy: str
    supporters: dict[str, list[str]] = Field(default_factory=dict)
    claims: list[dict[str, Any]] = Field(default_factory=list)
    teachers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    negatives: list[Negative] = Field(default_factory=list)
    cache_key: str = ""
    synthetic: bool = False
    details: dict[str, Any] = Field(default_factory=dict, description="strategy-specific bookkeeping")


def read_consensus(path: str | Path) -> list[ConsensusRow]:
    """Parse CONSENSUS.jsonl; a malformed row or a duplicate study names the file and line."""
    return read_unique_rows(path, ConsensusRow)
