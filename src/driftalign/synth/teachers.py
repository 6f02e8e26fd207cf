"""Seven simulated drifting teachers: deterministic stand-ins for the APO paper's commercial MLLMs.

A simulated teacher "sees" a study's truth (`synth.truth.StudyTruth`) and answers the prompt the
way its namesake would, then drifts (SPEC §1, "multi-stream concept drift"):

* **hinted** (the CXR-MAX prompt, diagnoses given): a multi-sentence reasoning trajectory in the
  teacher's own style (`teacher_styles`) that affirms every given diagnosis with image evidence,
  drifting at the teacher's own rates (`teacher_profiles`, `teacher_hinted`);
* **unhinted** (asked yes/no per finding): one "Finding: Yes/No — ..." line per finding, with
  sensitivity/specificity calibrated to the paper's Table 2 (`teacher_unhinted`, `calibration`).

`meta` records what the text says: `claims` (finding, polarity, side, location, sentence,
char_span) and `drift_events` (type, finding, detail, sentence, char_span), with sentences
numbered by `teacher_text.split_sentences`.

Determinism: an answer is a pure function of (teacher, study truth, prompt, seed). Randomness
comes from a `random.Random` seeded with the string "teacher|study_id|prompt|seed" (str seeds
are hashed with SHA-512, not Python's salted hash()), so the order in which studies are
processed never matters.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from driftalign.constants import CXR_MAX_PROMPT, MSCXRT_FINDINGS, OBSERVATIONS, UNHINTED_PROMPT, format_diseases
from driftalign.data.schema import Study, Trajectory
from driftalign.errors import DatasetError
from driftalign.synth.teacher_hinted import hinted_parts
from driftalign.synth.teacher_profiles import PROFILES, TeacherProfile
from driftalign.synth.teacher_styles import STYLES, Style
from driftalign.synth.teacher_text import Line, paragraph, render
from driftalign.synth.teacher_phrases import Sentence
from driftalign.synth.teacher_unhinted import unhinted_answers
from driftalign.synth.truth import StudyTruth

TEACHER_NAMES: tuple[str, ...] = (
    "sim-gpt-5", "sim-gemini-2.5", "sim-sonnet-4", "sim-qwen-vl-max", "sim-grok-4", "sim-glm-4.5v", "sim-moonshot",
)
MODES: tuple[str, ...] = ("hinted", "unhinted")
TOKENS_PER_WORD = 1.3

_BY_LOWER_NAME = {name.lower(): name for name in OBSERVATIONS}


def _template_regex(template: str, field_name: str) -> re.Pattern[str]:
    before, after = template.split("{" + field_name + "}")
    return re.compile(re.escape(before) + r"(?P<names>[^.?]+)" + re.escape(after.rstrip(".")), re.IGNORECASE)


_HINTED = _template_regex(CXR_MAX_PROMPT, "diseases")
_UNHINTED = _template_regex(UNHINTED_PROMPT, "findings")


def _split_names(listed: str, prompt: str) -> list[str]:
    """'a, b and c' -> CheXpert names; an unknown name is an error that lists the vocabulary."""
    parts = [p.strip() for chunk in listed.split(", ") for p in chunk.split(" and ")]
    out = []
    for part in parts:
        name = _BY_LOWER_NAME.get(" ".join(part.split()).lower())
        if name is None:
            raise ValueError(f"unknown finding {part!r} in prompt {prompt!r}; the simulated teachers know the "
                             f"CheXpert observations {list(OBSERVATIONS)}")
        out.append(name)
    return out


def parse_prompt(prompt: str) -> tuple[str, list[str]]:
    """("hinted", diagnoses given) for the CXR-MAX prompt, ("unhinted", findings asked) for the yes/no one."""
    flat = " ".join(prompt.split())
    if m := _HINTED.search(flat):
        return "hinted", _split_names(m.group("names"), prompt)
    if m := _UNHINTED.search(flat):
        asked = _split_names(m.group("names"), prompt)
        if "No Finding" in asked:
            raise ValueError(f"'no finding' cannot be asked as a yes/no finding (prompt {prompt!r})")
        return "unhinted", asked
    raise ValueError(
        f"prompt not understood by the simulated teachers: {prompt!r}; expected the CXR-MAX prompt "
        f"({CXR_MAX_PROMPT!r}) or the unhinted prompt ({UNHINTED_PROMPT!r})"
    )


def hinted_prompt(study_or_truth: Study | StudyTruth) -> str:
    """The CXR-MAX prompt with the study's positive findings (label 1) as the diagnoses."""
    if isinstance(study_or_truth, Study):
        positives = study_or_truth.positive_findings()
    elif isinstance(study_or_truth, StudyTruth):
        labels = study_or_truth.labels()
        positives = [n for n in OBSERVATIONS if n != "No Finding" and labels[n] == 1]
    else:
        raise TypeError(f"expected a Study or StudyTruth, got {type(study_or_truth).__name__}")
    return CXR_MAX_PROMPT.format(diseases=format_diseases(positives))


def unhinted_prompt(findings: Sequence[str] = tuple(MSCXRT_FINDINGS)) -> str:
    """The yes/no prompt asking about each finding (default: the five MS-CXR-T findings)."""
    unknown = [f for f in findings if f not in OBSERVATIONS or f == "No Finding"]
    if unknown or not findings:
        raise ValueError(f"findings must be CheXpert observations other than 'No Finding', got {list(findings)}")
    return UNHINTED_PROMPT.format(findings=format_diseases(list(findings)))


def count_tokens(text: str) -> int:
    """Approximate tokenizer count: 1.3 tokens per word."""
    return math.ceil(len(text.split()) * TOKENS_PER_WORD)


@dataclass
class TeacherAnswer:
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


class SimTeacher:
    """One simulated teacher: a profile (numbers) and a style (words)."""

    def __init__(self, profile: TeacherProfile):
        self.profile = profile
        self.name = profile.name
        self.style: Style = STYLES[profile.style]

    def __repr__(self) -> str:
        return f"SimTeacher({self.name!r})"

    def answer(self, truth: StudyTruth, prompt: str, *, seed: int) -> TeacherAnswer:
        """The teacher's answer to `prompt` about the study `truth` (mode detected from the prompt)."""
        mode, names = parse_prompt(prompt)
        rng = random.Random(f"{self.name}\x1f{truth.study_id}\x1f{prompt}\x1f{seed}")
        refusal = mode == "hinted" and rng.random() < self.profile.refusal_rate
        if refusal:
            lines = [paragraph(Sentence(self.style.refusal))]
        elif mode == "hinted":
            lines = self.style.hinted(hinted_parts(self.profile, self.style, truth, names, rng))
        else:
            lines = self.style.unhinted(unhinted_answers(self.profile, self.style, truth, names, seed, rng))
        return self._answer(lines, prompt, mode, names, refusal, seed)

    def _answer(self, lines: list[Line], prompt: str, mode: str, names: list[str], refusal: bool,
                seed: int) -> TeacherAnswer:
        text, claims, events = render(lines)
        meta = {
            "model": self.name,
            "mode": mode,
            "asked" if mode == "unhinted" else "diagnoses": names,
            "refusal": refusal,
            "drift_events": events,
            "claims": claims,
            "prompt_tokens": count_tokens(prompt) + self.profile.image_tokens,
            "completion_tokens": count_tokens(text),
            "finish_reason": "stop",
            "seed": seed,
            "synthetic": True,
        }
        return TeacherAnswer(text, meta)


_TEACHERS: dict[str, SimTeacher] = {name: SimTeacher(PROFILES[name]) for name in TEACHER_NAMES}


def get_teacher(name: str) -> SimTeacher:
    """The simulated teacher called `name` (ValueError listing the names otherwise)."""
    try:
        return _TEACHERS[name]
    except KeyError:
        raise ValueError(f"unknown simulated teacher {name!r}; choose from {list(TEACHER_NAMES)}") from None


def resolve_teachers(teachers: str | Sequence[str]) -> list[str]:
    """'all' / 'a,b' / ['a', 'b'] -> checked teacher names."""
    if isinstance(teachers, str):
        teachers = list(TEACHER_NAMES) if teachers == "all" else [t for t in teachers.split(",") if t.strip()]
    names = [t.strip() for t in teachers]
    for name in names:
        get_teacher(name)
    return names


def study_truth(study: Study) -> StudyTruth:
    """The truth stored in a synthetic study (DatasetError naming the study when absent or broken)."""
    raw = study.meta.get("truth")
    if raw is None:
        raise DatasetError(f"study {study.study_id!r}: no meta['truth']; simulated teachers answer synthetic studies only")
    try:
        return StudyTruth.from_dict(raw)
    except (KeyError, TypeError, ValueError) as e:
        raise DatasetError(f"study {study.study_id!r}: malformed meta['truth'] ({e})") from None


def simulate_trajectories(studies: list[Study], teachers: Sequence[str], *, seed: int,
                          mode: str = "hinted") -> list[Trajectory]:
    """One Trajectory per (study, teacher), study-major; meta = the TeacherAnswer.meta."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    names = resolve_teachers(teachers)
    out = []
    for study in studies:
        truth = study_truth(study)
        prompt = hinted_prompt(study) if mode == "hinted" else unhinted_prompt()
        for name in names:
            answer = get_teacher(name).answer(truth, prompt, seed=seed)
            out.append(Trajectory(study_id=study.study_id, teacher=name, prompt=prompt,
                                  response=answer.text, meta=answer.meta))
    return out
