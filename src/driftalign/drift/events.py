"""Drift events a teacher (or its simulator) recorded in `meta["drift_events"]`.

The simulated teachers of the synthetic world record every deliberate deviation from the truth:
{"type": laterality | location | sign | overgeneralisation | spurious | omission, "finding",
"detail", "sentence"}. Real teachers record none; everything here is then empty, and the drift
measurement does not depend on it — it is used to *check* the measurement (tests) and to draw the
event-density curve.

Locating an event (first that applies): a "char_span" [start, end] is mapped to the step holding
its start; "sentence" as text is searched in the response and mapped to the step holding it; as an
int it is taken as the step index. Omissions (and events that cannot be located) count in the
totals but not in the per-window density.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from driftalign.drift.answers import Answer
from driftalign.drift.steps import step_at_offset

EVENT_TYPES: tuple[str, ...] = ("laterality", "location", "sign", "overgeneralisation", "spurious", "omission")


def recorded_events(answer: Answer) -> list[dict[str, Any]]:
    """The answer's recorded drift events (empty when the meta has none or is malformed)."""
    events = answer.meta.get("drift_events")
    if not isinstance(events, list):
        return []
    return [e for e in events if isinstance(e, dict) and isinstance(e.get("type"), str)]


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def locate_event(answer: Answer, event: dict[str, Any]) -> int | None:
    """Step index of the event's sentence in the answer (None when it cannot be located)."""
    span = event.get("char_span")
    if isinstance(span, list | tuple) and span and isinstance(span[0], int):
        return step_at_offset(list(answer.steps), span[0])
    sentence = event.get("sentence")
    if isinstance(sentence, int) and not isinstance(sentence, bool):
        return sentence if 0 <= sentence < len(answer.steps) else None
    if not isinstance(sentence, str) or not sentence.strip():
        return None
    offset = answer.text.find(sentence.strip())
    if offset >= 0:
        return step_at_offset(list(answer.steps), offset)
    wanted = _normalise(sentence)
    for i, step in enumerate(answer.steps):
        if wanted in _normalise(step.text) or _normalise(step.text) in wanted:
            return i
    return None


def event_counts(answers: Sequence[Answer]) -> dict[str, int]:
    """Recorded events per type over the answers (every type present, zeros included)."""
    counts = Counter(e["type"] for a in answers for e in recorded_events(a))
    return {t: counts.get(t, 0) for t in sorted(set(EVENT_TYPES) | set(counts))}


def has_recorded_events(answers: Sequence[Answer]) -> bool:
    """True when any answer's meta carries a drift_events list (even an empty one)."""
    return any(isinstance(a.meta.get("drift_events"), list) for a in answers)
