"""Laterality drift: does the teacher put a finding on the side the reference report puts it?

Label-level precision cannot see a left effusion called right (both assert Pleural Effusion). Here
the sides come from the labeler's mentions: for each step (each distinct sentence once) the sides
of its *positive* mentions per finding; a text's side set for finding f is the union over its steps.
For a (study, finding) where both the trajectory and the reference report give f a side:

    comparable = both side sets non-empty
    mismatch   = the trajectory names a side the reference does not
                 (right for left, or one side for a bilateral finding)

and the teacher's laterality error rate = mismatches / comparable pairs (NaN when none).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from driftalign.drift.answers import FINDINGS

Sides = dict[str, frozenset[str]]                      # finding -> sides named in positive mentions
SideFinder = Callable[[Sequence[str]], list[Sides]]


def mention_sides(texts: Sequence[str]) -> list[Sides]:
    """Sides of the positive mentions of each text (the default SideFinder: the rule labeler's mentions)."""
    from driftalign.labeling import extract_mentions

    out: list[Sides] = []
    for text in texts:
        sides: dict[str, set[str]] = {}
        for m in extract_mentions(text):
            if m.value == 1 and m.side and m.observation in FINDINGS:
                sides.setdefault(m.observation, set()).add(m.side)
        out.append({f: frozenset(s) for f, s in sides.items()})
    return out


def merge_sides(per_step: Sequence[Sides]) -> Sides:
    """Union of the steps' side sets, per finding."""
    merged: dict[str, set[str]] = {}
    for sides in per_step:
        for finding, s in sides.items():
            merged.setdefault(finding, set()).update(s)
    return {f: frozenset(s) for f, s in merged.items()}


def laterality_counts(answer_sides: Sides, reference_sides: Sides) -> tuple[int, int]:
    """(comparable, mismatched) (study, finding) pairs of one answer against its reference."""
    comparable = mismatched = 0
    for finding, sides in answer_sides.items():
        ref = reference_sides.get(finding)
        if sides and ref:
            comparable += 1
            mismatched += bool(sides - ref)
    return comparable, mismatched
