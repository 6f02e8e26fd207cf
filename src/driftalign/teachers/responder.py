"""Who answers behind the simulated-teacher server: `SimulatedTeachers` (driftalign.synth.teachers).

The server only needs a `Responder`: the teacher names it serves and `reply(teacher, study, prompt)`.
Tests may pass their own small responder; the product uses the synthetic world's seven teachers,
which answer from the study's ground truth (`Study.meta["truth"]`), hinted or unhinted according
to the prompt text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from dataclasses import dataclass
from typing import Protocol

from driftalign.data.schema import Study
from driftalign.errors import DatasetError


@dataclass(frozen=True)
class TeacherReply:
    text: str
    prompt_tokens: int | None = None      # None: the server estimates from the prompt text
    completion_tokens: int | None = None  # None: the server estimates from the answer text
    meta: dict[str, Any] | None = None    # sent as the response's `driftalign_meta` extension field

# What the server passes on from a simulated answer's meta (the rest is the server's business).
SHARED_META_KEYS = ("mode", "diagnoses", "asked", "refusal", "drift_events", "claims", "synthetic")


class Responder(Protocol):
    @property
    def teachers(self) -> Sequence[str]: ...

    def reply(self, teacher: str, study: Study, prompt: str) -> TeacherReply: ...


class SimulatedTeachers:
    """The synthetic world's simulated teachers; every study must carry meta['truth']."""

    def __init__(self, studies: Sequence[Study], seed: int = 0):
        from driftalign.synth.teachers import TEACHER_NAMES, study_truth  # synth is imported only when served

        missing = [s.study_id for s in studies if "truth" not in s.meta]
        if missing:
            raise DatasetError(
                f"study {missing[0]!r} (and {len(missing) - 1} more) has no meta['truth']: the simulated teachers "
                "only answer about synthetic studies (build a synthetic world first)"
            )
        self._truths = {s.study_id: study_truth(s) for s in studies}
        self._names = tuple(TEACHER_NAMES)
        self._seed = seed

    @property
    def teachers(self) -> Sequence[str]:
        return self._names

    def reply(self, teacher: str, study: Study, prompt: str) -> TeacherReply:
        from driftalign.synth.teachers import get_teacher

        # SimTeacher seeds itself per (teacher, study, prompt, seed): the server's answers are exactly
        # those `build_world(..., seed=seed)` writes to trajectories.jsonl for the same prompt.
        answer = get_teacher(teacher).answer(self._truths[study.study_id], prompt, seed=self._seed)
        meta = answer.meta or {}
        shared = {k: meta[k] for k in SHARED_META_KEYS if k in meta}
        return TeacherReply(answer.text, meta.get("prompt_tokens"), meta.get("completion_tokens"), shared)
