"""Drift errors of a text against its study: the kinds of the APO paper's Figure 1b, counted.

The paper's point is that a distilled student *inherits* its teachers' drift. These detectors
count that drift in any text about a study — a teacher's trajectory or a student's generated
report — against the study's labels and its reference report, so teachers (`driftalign drift`)
and students (`driftalign eval`) are measured by one definition. Every detector reads the text
through the report labeler's mentions (`labeling.extract_mentions`); nothing here knows how the
text was produced.

Per text, with "asserted" = a positive mention (value 1) of one of the 13 findings (CheXpert minus
No Finding) and the reference = the study's labels plus the sides and lobes of the reference
report's positive mentions:

* invented            a finding asserted whose study label is 0 or not mentioned (uncertain -1
                      labels are left out: asserting a finding the reference hedges is not invention).
                      One per finding.
* wrong side          a truly positive finding asserted on a side the reference does not name
                      (right for left, or one side of a bilateral finding); both sides must be known.
* over-generalisation a truly positive one-sided finding asserted as bilateral/diffuse.
* wrong location      a truly positive finding asserted in a zone the reference does not name
                      (zones: upper = upper lobe/apical, middle = middle lobe/lingula, lower = lower
                      lobe/base, perihilar); both must be known.
* sign inconsistency  a sentence asserting an opacity-type finding that calls it dark or lucent, or
                      a pneumothorax that calls it white or dense (`labeling.claims.sign_inconsistent`):
                      one per sentence.

`drift_errors(texts, studies)` returns the counts per text; `error_rates` the rates per 100 texts
(per kind and in total). For the synthetic world the reference report states the truth exactly
(tested), so "against the reference" is "against the truth" there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from driftalign.data.schema import Study
from driftalign.drift.answers import FINDINGS
from driftalign.labeling.claims import claims_from_mentions, sign_inconsistent

ERROR_KINDS: tuple[str, ...] = ("invented", "wrong_side", "overgeneralisation", "wrong_location", "sign")
ERROR_LABELS: dict[str, str] = {
    "invented": "invented finding", "wrong_side": "wrong side", "overgeneralisation": "over-generalisation",
    "wrong_location": "wrong location", "sign": "sign inconsistency",
}
# Zones compared by the location detector (labeler location -> zone); other regions are not compared.
_LOBE = {"upper lobe": "upper", "apical": "upper", "middle lobe": "middle", "lingula": "middle",
         "lower lobe": "lower", "base": "lower", "perihilar": "perihilar"}


@dataclass(frozen=True)
class Reference:
    """What a text is checked against: positive findings, with the sides and lobes the reference names."""

    positive: frozenset[str]
    negative_or_unmentioned: frozenset[str]
    sides: dict[str, frozenset[str]] = field(default_factory=dict)
    lobes: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class TextErrors:
    """Error counts of one text, with the offending sentences (for reports and tests)."""

    counts: dict[str, int]
    sentences: dict[str, tuple[str, ...]]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def positive_places(mentions: Iterable) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    sides: dict[str, set[str]] = {}
    lobes: dict[str, set[str]] = {}
    for m in mentions:
        if m.value != 1 or m.observation not in FINDINGS:
            continue
        if m.side:
            sides.setdefault(m.observation, set()).add(m.side)
        if m.location in _LOBE:
            lobes.setdefault(m.observation, set()).add(_LOBE[m.location])
    return sides, lobes


def reference_for(study: Study) -> Reference:
    """The study's labels and the sides/lobes of its reference report's positive mentions."""
    from driftalign.labeling import extract_mentions

    sides, lobes = positive_places(extract_mentions(study.report)) if study.report else ({}, {})
    return Reference(
        positive=frozenset(f for f in FINDINGS if study.labels.get(f) == 1),
        negative_or_unmentioned=frozenset(f for f in FINDINGS if study.labels.get(f) in (0, None)),
        sides={f: frozenset(s) for f, s in sides.items()},
        lobes={f: frozenset(s) for f, s in lobes.items()},
    )


def text_errors(text: str, ref: Reference) -> TextErrors:
    """Count each kind of drift error in one text (module docstring)."""
    from driftalign.labeling import extract_mentions

    mentions = extract_mentions(text)
    counts = dict.fromkeys(ERROR_KINDS, 0)
    where: dict[str, list[str]] = {k: [] for k in ERROR_KINDS}

    def add(kind: str, sentence: str) -> None:
        counts[kind] += 1
        where[kind].append(sentence.strip())

    positives = [m for m in mentions if m.value == 1 and m.observation in FINDINGS]
    first: dict[str, str] = {}
    for m in positives:
        first.setdefault(m.observation, m.sentence)
    for finding, sentence in first.items():
        if finding in ref.negative_or_unmentioned:
            add("invented", sentence)
    sides, lobes = positive_places(positives)
    for finding, named in sides.items():
        truth = ref.sides.get(finding)
        if finding not in ref.positive or not truth or not named - truth:
            continue
        sentence = next(m.sentence for m in positives if m.observation == finding and m.side in named - truth)
        one_sided = truth <= {"left", "right"} and len(truth) == 1
        add("overgeneralisation" if one_sided and "bilateral" in named else "wrong_side", sentence)
    for finding, named in lobes.items():
        truth = ref.lobes.get(finding)
        if finding not in ref.positive or not truth or not named - truth:
            continue
        sentence = next(m.sentence for m in positives if m.observation == finding and _LOBE.get(m.location) in named - truth)
        add("wrong_location", sentence)
    by_sentence: dict[int, list] = {}
    for claim in claims_from_mentions(mentions):
        by_sentence.setdefault(claim.sentence_index, []).append(claim)
    for claims in by_sentence.values():
        if sign_inconsistent(claims):
            add("sign", claims[0].sentence)
    return TextErrors(counts, {k: tuple(v) for k, v in where.items()})


def drift_errors(texts: Sequence[str], studies: Sequence[Study]) -> list[TextErrors]:
    """`text_errors` of each (text, study) pair; each study's reference is read once."""
    if len(texts) != len(studies):
        raise ValueError(f"{len(texts)} texts but {len(studies)} studies")
    refs: dict[str, Reference] = {}
    out = []
    for text, study in zip(texts, studies):
        if study.study_id not in refs:
            refs[study.study_id] = reference_for(study)
        out.append(text_errors(text, refs[study.study_id]))
    return out


def error_rates(errors: Sequence[TextErrors]) -> dict[str, float]:
    """Errors per 100 texts, per kind and in total ("total"); {} for no texts."""
    if not errors:
        return {}
    n = len(errors)
    rates = {k: 100.0 * sum(e.counts[k] for e in errors) / n for k in ERROR_KINDS}
    rates["total"] = 100.0 * sum(e.total for e in errors) / n
    return rates
