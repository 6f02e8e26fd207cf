"""Laying sentences out as an answer text, numbering its sentences, and reading yes/no answers back.

Sentence numbering (the `sentence` of every claim and drift event in a teacher's meta) is
`split_sentences(text)`: the text is read line by line; a bare heading (a line that, without
markdown markers, ends with ":" and has at most four words, e.g. "**Impression:**" or
"### Image analysis:") is not a sentence; inside a line, a sentence ends at ".", "!" or "?"
followed by whitespace. List markers ("1. ", "- ", "(2) ") stay part of their line's first
sentence. Every claim and event also carries `char_span`, the [start, end) offsets of the
sentence's own words in the text, for readers that split sentences differently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from driftalign.constants import OBSERVATIONS
from driftalign.synth.teacher_phrases import Sentence

_MARKER = re.compile(r"^\s*(?:#{1,6}\s+|[-*+•]\s+|\(?\d{1,3}[.)]\s+)?")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+")
_HEADING_MAX_WORDS = 4

# One answer line of an unhinted answer: optional list marker, optional **bold**, the finding's
# name, a colon, then yes or no. E.g. "1. **Pleural Effusion**: Yes — ...", "- Edema: no — ...",
# "(3) Pneumothorax: No — ...".
ANSWER_LINE = re.compile(
    r"^\s*(?:[-*•]\s+|\(?\d{1,3}[.)]\s+)?(?:\*\*)?(?P<name>[A-Za-z][A-Za-z ]*?)(?:\*\*)?\s*:\s*(?:\*\*)?\s*"
    r"(?P<answer>yes|no)\b",
    re.IGNORECASE | re.MULTILINE,
)
_BY_LOWER_NAME = {name.lower(): name for name in OBSERVATIONS}


@dataclass(frozen=True)
class Line:
    """One line of an answer: a prefix (list marker, heading, "Finding: Yes — ") and its sentences."""

    prefix: str = ""
    sentences: tuple[Sentence, ...] = ()


def paragraph(*sentences: Sentence) -> Line:
    return Line("", tuple(sentences))


def heading(text: str) -> Line:
    return Line(text)


BLANK = Line()


def is_heading(line: str) -> bool:
    bare = re.sub(r"\*\*|__|`", "", _MARKER.sub("", line, count=1)).strip()
    return not bare or (bare.endswith(":") and len(bare.split()) <= _HEADING_MAX_WORDS)


def split_sentences(text: str) -> list[tuple[str, int, int]]:
    """(sentence, start, end) of every sentence, in order (see module docstring)."""
    out: list[tuple[str, int, int]] = []
    offset = 0
    for line in text.split("\n"):
        if not is_heading(line):
            start = 0
            for m in _SENTENCE_END.finditer(line):
                out.append((line[start : m.end()].strip(), offset + start, offset + m.end()))
                start = m.end()
            if line[start:].strip():
                out.append((line[start:].strip(), offset + start, offset + len(line)))
        offset += len(line) + 1
    return out


def render(lines: list[Line]) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """Text of the answer, and its claims and drift events with sentence index and char span."""
    parts: list[str] = []
    placed: list[tuple[Sentence, int]] = []
    offset = 0
    for line in lines:
        text = line.prefix
        for i, sentence in enumerate(line.sentences):
            if i or (text and not text.endswith(" ")):
                text += " "
            placed.append((sentence, offset + len(text)))
            text += sentence.text
        parts.append(text)
        offset += len(text) + 1
    full = "\n".join(parts).rstrip()
    spans = split_sentences(full)
    claims: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for sentence, start in placed:
        where = {"sentence": _sentence_index(spans, start), "char_span": [start, start + len(sentence.text)]}
        claims += [{**c, **where} for c in sentence.claims]
        events += [{**e, **where} for e in sentence.events]
    return full, claims, events


def _sentence_index(spans: list[tuple[str, int, int]], start: int) -> int:
    for i, (_, s, e) in enumerate(spans):
        if s <= start < e:
            return i
    raise AssertionError(f"sentence starting at {start} is not in the split text")  # a bug in a style layout


def parse_yes_no(text: str) -> dict[str, int]:
    """{CheXpert name: 1 (yes) | 0 (no)} from an unhinted answer's lines (first answer per finding wins)."""
    out: dict[str, int] = {}
    for m in ANSWER_LINE.finditer(text):
        name = _BY_LOWER_NAME.get(" ".join(m.group("name").split()).lower())
        if name is not None and name not in out:
            out[name] = 1 if m.group("answer").lower() == "yes" else 0
    return out
