"""Laterality and anatomical location of a mention, read from the words around it.

The nearest side/location word before the mention (within `BEFORE_WORDS` words, in the same
sentence) wins ("small left pleural effusion", "right basilar opacity"); otherwise the nearest one
after it (within `AFTER_WORDS`: "opacity in the left lower lobe", "effusions bilaterally").
Locations are normalised to the synthetic world's vocabulary ("lower lobe", "upper lobe",
"middle lobe", "lingula", "base", "apical", "perihilar", "retrocardiac", "mid lung",
"costophrenic angle").
"""

from __future__ import annotations

import re

from driftalign.labeling.text import Span, WordIndex

BEFORE_WORDS = 4
AFTER_WORDS = 6

_SIDE = re.compile(
    r"\b(?P<bilateral>bilateral(?:ly)?|bibasilar|bibasal|biapical|both (?:lungs?|lung bases|bases|sides|apices|hemithoraces|lower lobes|upper lobes)"
    r"|left and right|right and left)\b"
    r"|\b(?P<left>left)\b(?![- ](?:atri|ventric))"
    r"|\b(?P<right>right)\b(?![- ](?:atri|ventric))",
)

_LOCATIONS: tuple[tuple[str, str], ...] = (
    ("upper lobe", r"upper (?:lobes?|lungs?|zones?)"),
    ("lower lobe", r"lower (?:lobes?|lungs?|zones?)"),
    ("middle lobe", r"middle lobe"),
    ("lingula", r"lingula(?:r)?"),
    ("retrocardiac", r"retrocardiac"),
    ("costophrenic angle", r"costophrenic"),
    ("perihilar", r"(?:peri|infra|supra)?hilar|hila|hilum"),
    ("mid lung", r"mid[- ]?(?:lung|zone)s?"),
    ("apical", r"ap(?:ex|ices|ical)|biapical"),
    ("base", r"bas(?:e|es|ilar|al|ally)|bibasilar|bibasal|subpulmonic"),
)
_LOCATION = re.compile(
    "|".join(rf"\b(?P<g{i}>{pattern})\b" for i, (_, pattern) in enumerate(_LOCATIONS))
)


def _side_of(match: re.Match[str]) -> str:
    return match.lastgroup or "bilateral"


def _location_of(match: re.Match[str]) -> str:
    return _LOCATIONS[int(match.lastgroup[1:])][0]


def _nearest(regex: re.Pattern[str], text: str, lo: int, hi: int, *, last: bool) -> re.Match[str] | None:
    matches = list(regex.finditer(text, lo, hi))
    if not matches:
        return None
    return matches[-1] if last else matches[0]


def _window(sentence: Span, start: int, end: int, words: WordIndex) -> tuple[int, int, int, int]:
    before_lo = max(sentence.start, words.offset_before(start, BEFORE_WORDS))
    after_hi = min(sentence.end, words.offset_after(end, AFTER_WORDS))
    return before_lo, start, end, after_hi


def side_and_location(text: str, sentence: Span, start: int, end: int, words: WordIndex) -> tuple[str | None, str | None]:
    """(side, location) of the mention text[start:end] (`text` lowercased); either may be None."""
    before_lo, before_hi, after_lo, after_hi = _window(sentence, start, end, words)
    side = location = None
    own = _nearest(_SIDE, text, start, end, last=True) or _nearest(_SIDE, text, before_lo, before_hi, last=True) \
        or _nearest(_SIDE, text, after_lo, after_hi, last=False)
    if own is not None:
        side = _side_of(own)
        before = text[before_lo:before_hi]
        if side in ("left", "right") and "left" in before and "right" in before and " and " in before:
            side = "bilateral"
    loc = _nearest(_LOCATION, text, start, end, last=True) or _nearest(_LOCATION, text, before_lo, before_hi, last=True) \
        or _nearest(_LOCATION, text, after_lo, after_hi, last=False)
    if loc is not None:
        location = _location_of(loc)
    return side, location
