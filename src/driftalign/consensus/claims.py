"""How far a trajectory's claims drift from a consensus t+, and the sentence helpers t+ is written with.

Claims and stances are the labeler's (`labeling.claims`). Drift of a trajectory u from the
consensus t+ (used for the `drift` teacher weights and recorded in every consensus row) is the
Jaccard distance of their stances as sets of (finding, polarity):

    d_u = 1 - |S_u ∩ S_+| / |S_u ∪ S_+|        (d_u = 0 when both are empty)

i.e. (u's claims that contradict or are absent from t+  +  t+'s claims that u omits)
   / (u's claims + t+'s claims that u omits).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any



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
