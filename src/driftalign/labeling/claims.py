"""Claims: what a text asserts, finding by finding (the report labeler's mentions as claims).

A claim is one labeler mention (`driftalign.labeling.Mention`): an observation, a polarity
(1 present, 0 absent, -1 uncertain), an optional side/location, and the sentence that states it.
A text's *stance* is one polarity per finding it mentions; when a text mentions a finding
more than once with different polarities, the CheXpert aggregation rule decides
(positive > uncertain > negative). `sign_inconsistent` flags a sentence that describes an
opacity as dark or a pneumothorax as white (a drift error of its own, `drift.errors`).

How far one stance drifts from another (the consensus t+) is `consensus.claims`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from driftalign.labeling.mentions import extract_mentions

# CheXpert's aggregation when one text mentions a finding with several polarities.
_POLARITY_PRIORITY = {1: 2, -1: 1, 0: 0}


class MentionLike(Protocol):
    """The fields of `driftalign.labeling.Mention` this module reads."""

    observation: str
    value: int
    sentence_index: int
    sentence: str
    side: str | None


@dataclass(frozen=True)
class Claim:
    """One asserted finding in one sentence of one trajectory."""

    finding: str
    polarity: int            # 1 present, 0 absent, -1 uncertain
    side: str | None
    sentence_index: int
    sentence: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.finding, self.polarity)


def claims_from_mentions(mentions: Iterable[MentionLike]) -> list[Claim]:
    """Labeler mentions -> claims, in text order."""
    return [
        Claim(m.observation, int(m.value), getattr(m, "side", None), int(m.sentence_index), m.sentence.strip())
        for m in mentions
    ]


def extract_claims(text: str) -> list[Claim]:
    """Run the report labeler's mention extractor on one text."""
    return claims_from_mentions(extract_mentions(text))


def stance(claims: Iterable[Claim]) -> dict[str, int]:
    """finding -> polarity, one per finding (positive > uncertain > negative on conflict)."""
    out: dict[str, int] = {}
    for c in claims:
        if c.finding not in out or _POLARITY_PRIORITY[c.polarity] > _POLARITY_PRIORITY[out[c.finding]]:
            out[c.finding] = c.polarity
    return out


# Radiographic sign polarity: these findings are opacities (whiter than aerated lung); a sentence
# that calls one of them dark or lucent contradicts itself (the "sign inconsistency" drift of the
# APO paper, e.g. atelectasis described as "darker"). A pneumothorax is lucent (air without lung
# markings): calling it white, dense or opaque, or its markings preserved, is the same error.
OPACITY_FINDINGS = frozenset({"Atelectasis", "Consolidation", "Edema", "Lung Lesion", "Lung Opacity",
                              "Pleural Effusion", "Pneumonia"})
_LUCENCY_RE = re.compile(r"\b(?:dark(?:er|ened)?|black|hyper-?lucen(?:t|cy)|radiolucen(?:t|cy)|lucen(?:t|cy))\b",
                         re.IGNORECASE)
_OPACITY_RE = re.compile(r"\b(?:bright(?:er)?|whit(?:e|er)|opaque|radio-?opa(?:que|city)|dense|increased density"
                         r"|preserved (?:lung |vascular )?markings)\b", re.IGNORECASE)


def sign_inconsistent(sentence_claims: Sequence[Claim]) -> bool:
    """True when a sentence asserts an opacity-type finding as present but describes it as lucent/dark
    (and asserts no pneumothorax the lucency could belong to), or asserts a pneumothorax but describes
    it as white/dense/opaque (and asserts no opacity the density could belong to)."""
    if not sentence_claims:
        return False
    positive = {c.finding for c in sentence_claims if c.polarity != 0}
    sentence = sentence_claims[0].sentence
    if positive & OPACITY_FINDINGS and "Pneumothorax" not in positive:
        return _LUCENCY_RE.search(sentence) is not None
    if "Pneumothorax" in positive and not positive & OPACITY_FINDINGS:
        return _OPACITY_RE.search(sentence) is not None
    return False
