"""Refusal detection: does a teacher's answer decline the task instead of reading the image?

Hosted models sometimes answer a radiology question with a disclaimer and nothing else ("As an AI,
I'm not capable of interpreting medical images", "I cannot provide a diagnosis"). Such answers are
kept (drift measurement wants them) but flagged in `meta["refusal"]` so training can drop them.

Rule, per answer:
1. split into sentences; a *refusal sentence* matches one of the phrases below;
2. no refusal sentence -> not a refusal; empty answer -> refusal;
3. a refusal sentence that pivots ("..., but I can describe ...") is a disclaimer, not a refusal;
4. otherwise it is a refusal unless the other sentences (minus "consult a radiologist" boilerplate)
   still carry a reading of at least SUBSTANTIVE_CHARS characters.
"""

from __future__ import annotations

import re

_PHRASES = (
    r"as an ai\b[^.]{0,80}\b(?:not|cannot|can't|unable)",
    r"\bi(?:'m| am) (?:not (?:able|capable|qualified)|unable)\b",
    r"\bi (?:cannot|can't|can ?not|won't|will not|am unable to) (?:provide|offer|give|make|interpret|analy[sz]e|"
    r"diagnose|view|see|assess|read|help with)\b",
    r"\bunable to (?:provide|interpret|analy[sz]e|view|diagnose) (?:a |the |any |medical )*"
    r"(?:diagnos|medical|image|images|x-ray|radiograph)",
    r"\bi(?:'m| am) sorry,? but i (?:cannot|can't|can not|am unable|won't)\b",
)
_REFUSAL_RE = re.compile("|".join(f"(?:{p})" for p in _PHRASES), re.IGNORECASE)
_PIVOT_RE = re.compile(r"\b(?:but|however),? (?:i|here)(?: can(?!'t| ?not)| will(?! not)|'s| is| am able)\b",
                       re.IGNORECASE)
_BOILERPLATE_RE = re.compile(r"\b(?:consult|healthcare professional|medical professional|qualified)\b", re.IGNORECASE)
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+|\n+")

SUBSTANTIVE_CHARS = 120  # a reading at least this long next to a refusal phrase makes it a disclaimer


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_RE.split(text.replace("\u2019", "'")) if s.strip()]


def is_refusal(text: str) -> bool:
    """True when the answer declines the task (see module docstring)."""
    sentences = _sentences(text)
    if not sentences:
        return True
    refusing = [s for s in sentences if _REFUSAL_RE.search(s)]
    if not refusing:
        return False
    if any(_PIVOT_RE.search(s) for s in refusing):
        return False
    reading = " ".join(s for s in sentences if s not in refusing and not _BOILERPLATE_RE.search(s))
    return len(reading) < SUBSTANTIVE_CHARS
