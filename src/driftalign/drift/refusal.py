"""Is a teacher's answer a refusal? The trajectory's own flag first, the collector's detector otherwise.

The phrase rules live in one place, `driftalign.teachers.refusal` (the collector flags answers
with them as they arrive); drift measurement adds only one rule: an answer that asserts findings
is an answer, whatever disclaimer it starts with.
"""

from __future__ import annotations

from driftalign.data.schema import Trajectory
from driftalign.teachers.refusal import is_refusal as text_is_refusal


def is_refusal(trajectory: Trajectory, asserts_findings: bool) -> bool:
    """meta["refusal"] when the collector recorded it; else the collector's text detector on an answer
    that asserts no finding (a disclaimer such as "I cannot provide a diagnosis, but ..." followed by
    findings is an answer, not a refusal)."""
    flag = trajectory.meta.get("refusal")
    if isinstance(flag, bool):
        return flag
    return not asserts_findings and text_is_refusal(trajectory.response)
