"""Is a teacher's answer a refusal? The trajectory's own flag first, a phrase detector otherwise."""

from __future__ import annotations

import re

from driftalign.data.schema import Trajectory

# First-person refusals only: "cannot exclude pneumonia" is a radiologist's hedge, not a refusal.
_REFUSAL = re.compile(
    r"\b(?:i\s*(?:am|'m)\s+(?:sorry|unable|not able|not capable)"
    r"|i\s+(?:cannot|can't|can\s+not|won't|will\s+not)\s+(?:provide|give|offer|interpret|diagnose|help|assist|analy[sz]e|review|read|make)"
    r"|i\s+(?:do\s+not|don't)\s+(?:provide|give|offer)\s+(?:medical\s+)?(?:diagnos|advice|interpretation))",
    re.IGNORECASE,
)


def looks_like_refusal(text: str) -> bool:
    """Phrase detector: an empty answer, or a first-person refusal anywhere in the text."""
    return not text.strip() or _REFUSAL.search(text) is not None


def is_refusal(trajectory: Trajectory, asserts_findings: bool) -> bool:
    """meta["refusal"] when the collector recorded it; else a refusal phrase in an answer that asserts
    no finding (a disclaimer such as "I cannot provide a diagnosis, but ..." followed by findings is
    an answer, not a refusal)."""
    flag = trajectory.meta.get("refusal")
    if isinstance(flag, bool):
        return flag
    return looks_like_refusal(trajectory.response) and not asserts_findings
