"""Splitting a trajectory into reasoning steps (APO Definition 2.2: a trajectory is a sequence of steps).

A *step* is one sentence, one list item or one markdown bullet. Markup (bullet markers, list
numbers, `#` headings, `**bold**`) is not part of the step's text; bare headings such as
"**Findings:**" are not steps (they assert nothing). Every step keeps its character span in the
original text, so anything located by offset (e.g. a recorded drift event's sentence) can be mapped
to its step.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# A list/heading marker at the start of a line: "- ", "* ", "+ ", "• ", "1. ", "2) ", "(3) ", "## ".
_MARKER = re.compile(r"^\s*(?:#{1,6}\s+|[-*+•]\s+|\(?\d{1,3}[.)]\s+)?")
# Candidate sentence ends: . ! ? (optionally followed by a closing quote/bracket) then whitespace.
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+")
_ABBREVIATIONS = frozenset({"e.g.", "i.e.", "vs.", "approx.", "dr.", "cf.", "etc.", "fig.", "no.", "st."})
_HEADING_MAX_WORDS = 4


@dataclass(frozen=True)
class Step:
    """One reasoning step: its text (markup removed) and its [start, end) span in the source text."""

    text: str
    start: int
    end: int


def _strip_markup(text: str) -> str:
    return re.sub(r"\*\*|__|`", "", text).strip()


def _is_heading(text: str) -> bool:
    return text.endswith(":") and len(text.split()) <= _HEADING_MAX_WORDS


def _ends_with_abbreviation(chunk: str) -> bool:
    words = chunk.split()
    return bool(words) and words[-1].lower() in _ABBREVIATIONS


def _sentences(line: str, offset: int) -> list[Step]:
    """Sentence spans of one line (offset = the line's position in the source text)."""
    steps: list[Step] = []
    start = 0
    for m in _SENTENCE_END.finditer(line):
        if _ends_with_abbreviation(line[start : m.start() + 1]):
            continue
        steps.append(Step(line[start : m.end()].strip(), offset + start, offset + m.end()))
        start = m.end()
    if line[start:].strip():
        steps.append(Step(line[start:].strip(), offset + start, offset + len(line)))
    return steps


def split_steps(text: str) -> list[Step]:
    """Split a trajectory into steps: lines, then list markers, then sentences (see module doc).

    >>> [s.text for s in split_steps("## Findings:\\n- Small left effusion. No pneumothorax.\\n2) Heart normal")]
    ['Small left effusion.', 'No pneumothorax.', 'Heart normal']
    """
    steps: list[Step] = []
    for line in re.finditer(r"[^\n]+", text):
        marker = _MARKER.match(line.group()).end()
        body_offset = line.start() + marker
        for sent in _sentences(line.group()[marker:], body_offset):
            clean = _strip_markup(sent.text)
            if clean and not _is_heading(clean) and re.search(r"\w", clean):
                steps.append(Step(clean, sent.start, sent.end))
    return steps


def position_window(index: int, n_steps: int, windows: int) -> int:
    """Relative-position window of step `index` (0-based) in a trajectory of `n_steps` steps.

    The step's centre (index + 0.5) / n_steps lies in [0, 1]; window w covers [w/W, (w+1)/W).
    A one-step trajectory lands in the middle window; step 0 of 4 with W=5 -> centre 0.125 -> 0.
    """
    if not 0 <= index < n_steps:
        raise ValueError(f"step index {index} outside a trajectory of {n_steps} steps")
    if windows < 1:
        raise ValueError(f"windows must be >= 1, got {windows}")
    return min(windows - 1, math.floor((index + 0.5) / n_steps * windows))


def step_at_offset(steps: list[Step], offset: int) -> int | None:
    """Index of the step whose span contains character `offset` (None when it is in no step)."""
    for i, step in enumerate(steps):
        if step.start <= offset < step.end:
            return i
    return None
