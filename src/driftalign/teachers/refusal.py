"""Refusal detection: does a teacher's answer decline the task instead of reading the image?

Hosted models sometimes answer a radiology question with a disclaimer and nothing else ("As an AI,
I'm not capable of interpreting medical images", "I cannot provide a diagnosis"). Such answers are
kept (drift measurement wants them) but flagged in `meta["refusal"]` so training can drop them.

The rule is deliberately conservative: a refusal phrase in the *opening* of the answer, or an
answer that is short and contains one anywhere. A long, substantive reading that ends with
"consult a radiologist" is not a refusal.
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
    r"\bnot (?:able|qualified|capable) to (?:provide|interpret|diagnose|give) (?:a |any |medical )*"
    r"(?:diagnos|medical|interpret)",
    r"\bi(?:'m| am) sorry,? but i (?:cannot|can't|can not|am unable|won't)\b",
)
_REFUSAL_RE = re.compile("|".join(f"(?:{p})" for p in _PHRASES), re.IGNORECASE)

OPENING_CHARS = 200   # a refusal phrase here marks the answer as a refusal
SHORT_ANSWER_CHARS = 400  # an answer this short with a refusal phrase anywhere is a refusal


def is_refusal(text: str) -> bool:
    """True when the answer declines the task (see module docstring). Empty answers are refusals."""
    normalized = " ".join(text.replace("\u2019", "'").split())
    if not normalized:
        return True
    if _REFUSAL_RE.search(normalized[:OPENING_CHARS]):
        return True
    return len(normalized) <= SHORT_ANSWER_CHARS and _REFUSAL_RE.search(normalized) is not None
