"""Unhinted answers (asked yes/no per finding): calibrated decisions with low-discrepancy noise.

A teacher says "yes" to finding f on a study when u < sens(f) (f present) or u < 1 - spec(f)
(f absent). Plain Bernoulli draws would make the measured accuracy over 1,000 positives and
1,000 negatives wobble by ~0.011 (one standard deviation), so the max over 35 cells of Table 2
would often exceed 0.02. Instead u is a point of a Kronecker (Weyl) sequence:

    u = frac(n * alpha_{teacher,f} + offset(teacher, f, seed))

n = the study's number (the trailing digits of its id, e.g. "synth-000123" -> 123; a hash of the
id when it has none), alpha = frac(sqrt(p)) for a distinct prime p per (teacher, finding), offset a
stable hash. Studies numbered 0..N-1 then get u values spread evenly over [0, 1) (discrepancy
< 0.01 at N = 1,000 for every alpha used, against ~0.03 for i.i.d. draws), so the fraction of
"yes" matches the designed rate almost exactly on consecutively numbered sets -- which is how
`synth.calibration` numbers its balanced sets. On an arbitrary subset (e.g. the positives of a
world) the decisions behave like ordinary Bernoulli draws. Different primes keep the decisions of
different teachers and findings independent (sqrt of distinct primes are linearly independent
over the rationals).
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from functools import lru_cache

from driftalign.constants import MSCXRT_FINDINGS, OBSERVATIONS
from driftalign.synth.teacher_hinted import seen_finding
from driftalign.synth.teacher_phrases import Sentence, claim, device_text, evidence_text, negation_text
from driftalign.synth.teacher_profiles import PROFILES, TeacherProfile
from driftalign.synth.teacher_styles import Style, YesNo
from driftalign.synth.truth import StudyTruth

_TRAILING_NUMBER = re.compile(r"(\d+)$")
# Calibrated findings first, so they get the smallest primes (the best-spread sequences).
_FINDING_RANK: tuple[str, ...] = (*MSCXRT_FINDINGS, *(o for o in OBSERVATIONS if o not in MSCXRT_FINDINGS))


def _primes(n: int) -> list[int]:
    out: list[int] = []
    k = 2
    while len(out) < n:
        if all(k % p for p in out if p * p <= k):
            out.append(k)
        k += 1
    return out


_ALPHAS: tuple[float, ...] = tuple(math.sqrt(p) % 1.0 for p in _primes(len(_FINDING_RANK) * len(PROFILES)))


def stable_fraction(*parts: object) -> float:
    """A number in [0, 1) fixed by `parts` (sha256, never Python's salted hash())."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@lru_cache(maxsize=4096)
def study_number(study_id: str) -> int:
    m = _TRAILING_NUMBER.search(study_id)
    if m and len(m.group(1)) <= 12:
        return int(m.group(1))
    return int(stable_fraction("study-number", study_id) * 2**32)


def alpha(teacher: str, finding: str) -> float:
    teachers = list(PROFILES)
    return _ALPHAS[_FINDING_RANK.index(finding) * len(teachers) + teachers.index(teacher)]


def decision_uniform(teacher: str, finding: str, seed: int, study_id: str) -> float:
    """The low-discrepancy u of one (teacher, finding, seed, study) (see module docstring)."""
    return (study_number(study_id) * alpha(teacher, finding) + stable_fraction(teacher, finding, seed)) % 1.0


def says_yes(profile: TeacherProfile, finding: str, present: bool, seed: int, study_id: str) -> bool:
    u = decision_uniform(profile.name, finding, seed, study_id)
    threshold = profile.sensitivity(finding) if present else 1.0 - profile.specificity(finding)
    return u < threshold


def _yes_sentence(truth: StudyTruth, finding: str, present: bool, rng: random.Random) -> Sentence:
    if finding == "Support Devices":
        f = truth.finding(finding)
        sentence = Sentence(device_text(f.detail if f else None), [claim(finding, 1)])
    else:
        s = seen_finding(truth, finding, rng)
        sentence = Sentence(evidence_text(finding, s.side, s.location, s.severity, s.detail),
                            [claim(finding, 1, s.side, s.location)])
    if not present:
        sentence.events.append({"type": "spurious", "finding": finding, "detail": f"{finding.lower()} is not in the image"})
    return sentence


def _no_sentence(style: Style, finding: str, present: bool) -> Sentence:
    sentence = Sentence(negation_text(finding, style.negation_form), [claim(finding, 0)])
    if present:
        sentence.events.append({"type": "omission", "finding": finding, "detail": f"{finding.lower()} in the image is missed"})
    return sentence


def unhinted_answers(profile: TeacherProfile, style: Style, truth: StudyTruth, asked: list[str], seed: int,
                     rng: random.Random) -> list[YesNo]:
    """One yes/no line per asked finding; a wrong yes is a spurious event, a wrong no an omission."""
    out = []
    present_names = truth.present()
    for finding in asked:
        present = finding in present_names
        if says_yes(profile, finding, present, seed, truth.study_id):
            out.append(YesNo(finding, True, _yes_sentence(truth, finding, present, rng)))
        else:
            out.append(YesNo(finding, False, _no_sentence(style, finding, present)))
    return out
