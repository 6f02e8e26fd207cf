"""Hinted answers (CXR-MAX prompt, diagnoses given): affirm every diagnosis, and drift.

For each given diagnosis the teacher writes one evidence sentence from the study's truth (side,
location, size) -- unless one drift event is drawn with the teacher's rates
(`teacher_profiles.DriftRates`):

* laterality          the evidence names the wrong side (left <-> right; bilateral -> one side)
* location            the evidence names a wrong lobe / region (side kept)
* sign                the evidence has the wrong radiographic sign ("darker, hyperlucent" consolidation)
* overgeneralisation  "diffuse bilateral opacities" blamed for a one-sided finding
* omission            no evidence sentence; only the summary names the diagnosis

An event that does not apply to the finding (no side to flip, no sign to invert) leaves the
evidence correct. Then, for each absent candidate finding (`HINT_CANDIDATES`), a *spurious*
mention with probability `profile.hinted_spurious_rate`; then `profile.n_negatives` correct
pertinent negatives; then a summary naming every diagnosis. Refusals assert nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from driftalign.synth.teacher_phrases import (
    DEFAULT_LOCATION,
    OVERGENERALISABLE,
    SIDED,
    SIGN_DRIFTABLE,
    SUMMARY_PHRASE,
    WRONG_LOCATIONS,
    Sentence,
    claim,
    device_text,
    evidence_text,
    join_names,
    negation_text,
    overgeneralised_text,
    sign_inverted_text,
    where,
)
from driftalign.synth.teacher_profiles import HINT_CANDIDATES, TeacherProfile
from driftalign.synth.teacher_styles import HintedParts, Style
from driftalign.synth.truth import Finding, StudyTruth


@dataclass(frozen=True)
class Seen:
    """What the teacher sees of one finding (from the truth, or guessed for a prompt-only diagnosis)."""

    name: str
    side: str | None
    location: str | None
    severity: str | None = None
    detail: str | None = None


def guess_side(name: str, rng: random.Random) -> str | None:
    if name not in SIDED:
        return None
    if name == "Edema":
        return "bilateral"
    return rng.choice(("left", "right"))


def seen_finding(truth: StudyTruth, name: str, rng: random.Random) -> Seen:
    f: Finding | None = truth.finding(name)
    if f is None:
        return Seen(name, guess_side(name, rng), DEFAULT_LOCATION.get(name))
    side = f.side if name in SIDED else None
    return Seen(name, side, f.location or DEFAULT_LOCATION.get(name), f.severity, f.detail)


def draw_drift(profile: TeacherProfile, rng: random.Random) -> str | None:
    """At most one drift type for one diagnosis, with the teacher's rates."""
    u, acc = rng.random(), 0.0
    for kind, rate in profile.drift.as_dict().items():
        acc += rate
        if u < acc:
            return kind
    return None


def _event(kind: str, finding: str, detail: str) -> dict:
    return {"type": kind, "finding": finding, "detail": detail}


def _plain(s: Seen) -> Sentence:
    text = evidence_text(s.name, s.side, s.location, s.severity, s.detail)
    return Sentence(text, [claim(s.name, 1, s.side, s.location)])


def _flipped_side(side: str, rng: random.Random) -> str:
    return {"left": "right", "right": "left"}.get(side) or rng.choice(("left", "right"))


def drifted_evidence(s: Seen, kind: str | None, rng: random.Random) -> Sentence | None:
    """The evidence sentence for one diagnosis under drift `kind` (None for omission)."""
    if kind == "omission":
        return None
    if kind == "laterality" and s.side is not None:
        side = _flipped_side(s.side, rng)
        text = evidence_text(s.name, side, s.location, s.severity, s.detail)
        return Sentence(text, [claim(s.name, 1, side, s.location)],
                        [_event(kind, s.name, f"{s.side} {s.name.lower()} described as {side}")])
    wrong = [loc for loc in WRONG_LOCATIONS.get(s.name, ()) if loc != s.location]
    if kind == "location" and wrong:
        loc = rng.choice(wrong)
        text = evidence_text(s.name, s.side, loc, s.severity, s.detail)
        return Sentence(text, [claim(s.name, 1, s.side, loc)],
                        [_event(kind, s.name, f"{s.name.lower()} {where(s.side, s.location)} described {where(s.side, loc)}")])
    if kind == "sign" and s.name in SIGN_DRIFTABLE:
        text = sign_inverted_text(s.name, s.side, s.location, s.detail)
        return Sentence(text, [claim(s.name, 1, s.side, s.location)],
                        [_event(kind, s.name, f"{s.name.lower()} described with the wrong radiographic sign")])
    if kind == "overgeneralisation" and s.name in OVERGENERALISABLE and s.side in ("left", "right"):
        claims = [claim("Lung Opacity", 1, "bilateral", None)]
        if s.name != "Lung Opacity":
            claims.append(claim(s.name, 1, "bilateral", None))
        return Sentence(overgeneralised_text(s.name), claims,
                        [_event(kind, s.name, f"{s.side} {s.name.lower()} blamed on diffuse bilateral opacities")])
    return _plain(s)


def device_sentences(truth: StudyTruth) -> list[Sentence]:
    devices = [f.detail for f in truth.findings if f.name == "Support Devices"] or [None]
    return [Sentence(device_text(d), [claim("Support Devices", 1)]) for d in dict.fromkeys(devices)]


def spurious_sentences(profile: TeacherProfile, truth: StudyTruth, given: list[str],
                       rng: random.Random) -> list[Sentence]:
    out = []
    for name in HINT_CANDIDATES:
        if name in truth.present() or name in given or rng.random() >= profile.hinted_spurious_rate(name):
            continue
        side, loc = guess_side(name, rng), DEFAULT_LOCATION.get(name)
        out.append(Sentence(evidence_text(name, side, loc), [claim(name, 1, side, loc)],
                            [_event("spurious", name, f"{name.lower()} is not in the image")]))
    return out


# A negative a radiologist would not state next to these findings (consolidation is an opacity).
_CONFLICTING_NEGATIVES: dict[str, frozenset[str]] = {
    "Lung Opacity": frozenset({"Consolidation", "Pneumonia", "Atelectasis", "Edema", "Lung Lesion"}),
    "Pneumonia": frozenset({"Consolidation", "Lung Opacity"}),
    "Consolidation": frozenset({"Pneumonia"}),
}


def negative_sentences(profile: TeacherProfile, style: Style, truth: StudyTruth, excluded: set[str],
                       rng: random.Random) -> list[Sentence]:
    mentioned = truth.present() | excluded
    candidates = [n for n in HINT_CANDIDATES
                  if n not in mentioned and not (_CONFLICTING_NEGATIVES.get(n, frozenset()) & mentioned)]
    chosen = rng.sample(candidates, min(profile.n_negatives, len(candidates)))
    return [Sentence(negation_text(n, style.negation_form), [claim(n, 0)]) for n in chosen]


def summary_sentence(style: Style, affirmed: list[str], omitted: dict[str, Seen]) -> Sentence:
    if not affirmed:
        return Sentence(style.normal_text(), [claim("No Finding", 1)])
    text = style.summary_text(join_names([SUMMARY_PHRASE[n] for n in affirmed]))
    events = [_event("omission", n, f"no image evidence given for the {s.side or ''} {n.lower()}".replace("  ", " "))
              for n, s in omitted.items()]
    return Sentence(text, [claim(n, 1) for n in affirmed], events)


def hinted_parts(profile: TeacherProfile, style: Style, truth: StudyTruth, diagnoses: list[str],
                 rng: random.Random) -> HintedParts:
    """Evidence (with drift), spurious extras, negatives and summary for one hinted answer."""
    affirmed = [d for d in diagnoses if d != "No Finding"]
    evidence: list[Sentence] = []
    omitted: dict[str, Seen] = {}
    for name in affirmed:
        if name == "Support Devices":
            evidence += device_sentences(truth)
            continue
        seen = seen_finding(truth, name, rng)
        sentence = drifted_evidence(seen, draw_drift(profile, rng), rng)
        if sentence is None:
            omitted[name] = seen
        else:
            evidence.append(sentence)
    extras = spurious_sentences(profile, truth, diagnoses, rng)
    spurious = {e["finding"] for s in extras for e in s.events}
    negatives = negative_sentences(profile, style, truth, set(diagnoses) | spurious, rng)
    return HintedParts(evidence, extras, negatives, summary_sentence(style, affirmed, omitted))
