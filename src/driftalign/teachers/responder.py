"""Who answers behind the simulated-teacher server: `SimulatedTeachers` (driftalign.synth.teachers).

The server only needs a `Responder`: the teacher names it serves and `reply(teacher, study, prompt)`.
Tests may pass their own small responder; the product uses the synthetic world's seven teachers,
which answer from the study's ground truth (`Study.meta["truth"]`), hinted or unhinted according
to the prompt text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from driftalign.data.schema import Study
from driftalign.errors import DatasetError


def answer_seed(seed: int, study_id: str, teacher: str) -> int:
    """A stable 31-bit seed per (server seed, study, teacher): the same question gets the same answer."""
    digest = hashlib.sha256(f"{seed}:{study_id}:{teacher}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class TeacherReply:
    text: str
    prompt_tokens: int | None = None      # None: the server estimates from the prompt text
    completion_tokens: int | None = None  # None: the server estimates from the answer text


class Responder(Protocol):
    @property
    def teachers(self) -> Sequence[str]: ...

    def reply(self, teacher: str, study: Study, prompt: str) -> TeacherReply: ...


class SimulatedTeachers:
    """The synthetic world's simulated teachers; every study must carry meta['truth']."""

    def __init__(self, studies: Sequence[Study], seed: int = 0):
        from driftalign.synth.teachers import TEACHER_NAMES  # the synth world is optional at import time
        from driftalign.synth.truth import StudyTruth

        missing = [s.study_id for s in studies if "truth" not in s.meta]
        if missing:
            raise DatasetError(
                f"study {missing[0]!r} (and {len(missing) - 1} more) has no meta['truth']: the simulated teachers "
                "only answer about synthetic studies (build one with `driftalign synth`)"
            )
        self._truths = {s.study_id: StudyTruth.from_dict(s.meta["truth"]) for s in studies}
        self._names = tuple(TEACHER_NAMES)
        self._seed = seed

    @property
    def teachers(self) -> Sequence[str]:
        return self._names

    def reply(self, teacher: str, study: Study, prompt: str) -> TeacherReply:
        from driftalign.synth.teachers import get_teacher

        answer = get_teacher(teacher).answer(self._truths[study.study_id], prompt,
                                             seed=answer_seed(self._seed, study.study_id, teacher))
        meta = answer.meta or {}
        return TeacherReply(answer.text, meta.get("prompt_tokens"), meta.get("completion_tokens"))
