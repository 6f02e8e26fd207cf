"""Claims: what a trajectory asserts, finding by finding, and how far it drifts from a consensus.

A claim is one labeler mention (`driftalign.labeling.Mention`): an observation, a polarity
(1 present, 0 absent, -1 uncertain), an optional side/location, and the sentence that states it.
A trajectory's *stance* is one polarity per finding it mentions; when a text mentions a finding
more than once with different polarities, the CheXpert aggregation rule decides
(positive > uncertain > negative).

Drift of a trajectory u from the consensus t+ (used for the `drift` teacher weights and recorded
in every consensus row) is the Jaccard distance of their stances as sets of (finding, polarity):

    d_u = 1 - |S_u ∩ S_+| / |S_u ∪ S_+|        (d_u = 0 when both are empty)

i.e. (u's claims that contradict or are absent from t+  +  t+'s claims that u omits)
   / (u's claims + t+'s claims that u omits).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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
    from driftalign.labeling import extract_mentions

    return claims_from_mentions(extract_mentions(text))


def stance(claims: Iterable[Claim]) -> dict[str, int]:
    """finding -> polarity, one per finding (positive > uncertain > negative on conflict)."""
    out: dict[str, int] = {}
    for c in claims:
        if c.finding not in out or _POLARITY_PRIORITY[c.polarity] > _POLARITY_PRIORITY[out[c.finding]]:
            out[c.finding] = c.polarity
    return out


def drift_from(teacher: dict[str, int], consensus: dict[str, int]) -> float:
    """Jaccard distance between two stances as sets of (finding, polarity) (module docstring)."""
    a, b = set(teacher.items()), set(consensus.items())
    union = a | b
    return 0.0 if not union else 1.0 - len(a & b) / len(union)


def errors_against(teacher: dict[str, int], consensus: dict[str, int]) -> int:
    """Claims of a trajectory that t+ says are wrong: a finding t+ states with another polarity, or a
    finding asserted present/uncertain that t+ does not contain. Pertinent negatives t+ leaves out
    ("no pneumothorax") and t+'s claims the trajectory omits are not errors."""
    return sum(1 for f, p in teacher.items()
               if (f in consensus and consensus[f] != p) or (f not in consensus and p != 0))


def agreement_record(teacher: dict[str, int], consensus: dict[str, int]) -> dict[str, Any]:
    """How one trajectory relates to t+: kept / contradicted / unsupported / omitted claims, drift."""
    kept = sum(1 for f, p in teacher.items() if consensus.get(f) == p)
    contradictions = sum(1 for f, p in teacher.items() if f in consensus and consensus[f] != p)
    omissions = sum(1 for f in consensus if f not in teacher)
    return {
        "claims": len(teacher),
        "kept": kept,
        "agreement": kept / len(teacher) if teacher else 0.0,
        "contradictions": contradictions,
        "unsupported": len(teacher) - kept - contradictions,
        "omissions": omissions,
        "drift": drift_from(teacher, consensus),
    }


# List and markdown decoration at the start of a sentence: "- ", "1. ", "Step 3: ", "**", "### ".
_DECORATION = re.compile(r"^(?:\s*(?:[-*\u2022#]+|\d+[.)]|step\s+\d+\s*:)\s*)+", re.IGNORECASE)


def clean_sentence(sentence: str) -> str:
    """A sentence without list/markdown decoration and surrounding whitespace."""
    return _DECORATION.sub("", sentence.replace("**", "")).strip()


def join_sentences(sentences: Sequence[str]) -> str:
    """Join sentences into one text (decoration removed), each ending with terminal punctuation."""
    out = []
    for s in sentences:
        s = clean_sentence(s)
        if s:
            out.append(s if s[-1] in ".!?" else s + ".")
    return " ".join(out)


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
