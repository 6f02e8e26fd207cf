"""Sentences and words of a report, with character offsets into the original text.

Sentences end at '.', '?' or '!' followed by whitespace (or the end), at blank lines, and never
after a decimal point ("1.5 cm") or a common abbreviation ("vs.", "e.g."). Single newlines do not
end a sentence: MIMIC-CXR reports are hard-wrapped. Anonymisation tokens ("XXXX") are ordinary
words here.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"[.?!](?=\s|$)|\n\s*\n")
_ABBREVIATIONS = frozenset({"vs", "e.g", "i.e", "dr", "approx", "st", "cf", "fig", "no"})
_WORD = re.compile(r"[A-Za-z0-9][\w'/-]*")
_PREV_TOKEN = re.compile(r"([\w.]+)$")
_ABBREVIATION_WINDOW = 8


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def _is_abbreviation(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return False
    # Look only at the last few characters (searching from 0 made sentence splitting quadratic);
    # a token longer than the window is no abbreviation.
    lo = max(0, dot - _ABBREVIATION_WINDOW)
    m = _PREV_TOKEN.search(text, lo, dot)
    if m is None or (m.start() == lo and lo > 0 and (text[lo - 1].isalnum() or text[lo - 1] in "._")):
        return False
    token = m.group(1).lower()
    if token == "no":  # "No." ends a sentence ("Pneumothorax: no."), except in "No. 2"
        return bool(re.match(r"\s*\d", text[dot + 1 : dot + 4]))
    return token in _ABBREVIATIONS


def split_sentences(text: str) -> list[Span]:
    """Sentence spans (start inclusive, end exclusive, end includes the full stop)."""
    spans: list[Span] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if _is_abbreviation(text, m.start()):
            continue
        end = m.end()
        if text[start:end].strip():
            spans.append(Span(start, end))
        start = end
    if text[start:].strip():
        spans.append(Span(start, len(text)))
    return spans


_SPACES = str.maketrans({c: " " for c in "\n\r\t\f\v\u00a0"})


def lowercase(text: str) -> str:
    """Lowercase, every whitespace character a space, with unchanged character offsets.

    The regexes are compiled case-sensitive on this copy (twice as fast as re.IGNORECASE), and
    their spaces match runs of spaces (`context.flexible_spaces`), so a phrase hard-wrapped across
    lines ("pleural\\neffusion") still matches. Characters whose lowercase form is longer (e.g.
    'İ') are kept as they are."""
    low = text.lower()
    if len(low) != len(text):
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return low.translate(_SPACES)


class WordIndex:
    """Word start/end offsets of a text, to turn 'N words after offset x' into a character offset."""

    def __init__(self, text: str) -> None:
        words = [m.span() for m in _WORD.finditer(text)]
        self.starts = [s for s, _ in words]
        self.ends = [e for _, e in words]

    def offset_after(self, pos: int, n_words: int) -> int:
        """Character offset just after the n-th word starting at or after `pos`."""
        i = bisect.bisect_left(self.starts, pos) + n_words - 1
        return self.ends[min(i, len(self.ends) - 1)] if self.ends and i >= 0 else pos

    def offset_before(self, pos: int, n_words: int) -> int:
        """Character offset of the start of the n-th word ending at or before `pos`."""
        i = bisect.bisect_right(self.ends, pos) - n_words
        return self.starts[max(i, 0)] if self.starts else pos


def _inside_word(text: str, start: int) -> bool:
    return start > 0 and text[start - 1].isalnum() and text[start - 1].isascii()


def word_matches(regex: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """The matches of `regex` that start at a word start, left to right, non-overlapping: what
    `finditer` of "(?<![a-z0-9])" + pattern gives, but about 1.7x faster — a leading lookbehind
    stops CPython's regex engine from skipping ahead to possible first characters. A match inside
    a word is retried from the next character, so no word-start match is ever hidden by it."""
    pos, n = 0, len(text)
    while pos <= n:
        m = regex.search(text, pos)
        if m is None:
            return
        start = m.start()
        if _inside_word(text, start):
            pos = start + 1
            continue
        yield m
        pos = m.end() if m.end() > start else start + 1
