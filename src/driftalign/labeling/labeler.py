"""Report -> 14 CheXpert labels, aggregating mentions the way the CheXpert labeler does.

Per observation, over all its mentions in the report: positive beats uncertain beats negative
(CheXpert `stages/aggregate.py`). No Finding = 1 when no observation other than Support Devices
(and no other abnormality such as emphysema or scoliosis) is positive or uncertain, else None.
CheXpert exception kept: a positive/uncertain "CHF"/"heart failure" makes Cardiomegaly at least
uncertain. A blank text is "not mentioned" everywhere (No Finding None): nothing was said.
"""

from __future__ import annotations

import re
from functools import lru_cache

from driftalign.constants import OBSERVATIONS
from driftalign.labeling.mentions import UNCERTAIN, Mention, find_all_mentions
from driftalign.labeling.patterns import OTHER_FINDING

NO_FINDING = "No Finding"
SUPPORT_DEVICES = "Support Devices"
_RANK = {None: 0, 0: 1, -1: 2, 1: 3}   # positive > uncertain > negative > not mentioned
_HEART_FAILURE = re.compile(r"^(?:chf|heart failure)$", re.IGNORECASE)


def merge_value(a: int | None, b: int | None) -> int | None:
    """Combine two values of one observation: positive beats uncertain beats negative."""
    return a if _RANK[a] >= _RANK[b] else b


def labels_from_mentions(mentions: list[Mention], *, blank: bool = False) -> dict[str, int | None]:
    """Aggregate mentions into the 14 labels (see module docstring)."""
    labels: dict[str, int | None] = {name: None for name in OBSERVATIONS}
    if blank:
        return labels
    abnormal = False
    for m in mentions:
        if m.value in (1, -1) and m.observation not in (NO_FINDING, SUPPORT_DEVICES):
            abnormal = True
        if m.observation in (OTHER_FINDING, NO_FINDING):
            continue
        labels[m.observation] = merge_value(labels[m.observation], m.value)
        if m.observation == "Edema" and m.value in (1, -1) and _HEART_FAILURE.match(m.phrase):
            labels["Cardiomegaly"] = merge_value(labels["Cardiomegaly"], UNCERTAIN)
    labels[NO_FINDING] = None if abnormal else 1
    return labels


@lru_cache(maxsize=32768)
def _label_tuple(text: str) -> tuple[int | None, ...]:
    labels = labels_from_mentions(find_all_mentions(text, anatomy=False), blank=not text.strip())
    return tuple(labels[name] for name in OBSERVATIONS)


def label_report(text: str) -> dict[str, int | None]:
    """The 14 labels of one report: 1 positive, 0 negative, -1 uncertain, None not mentioned."""
    return dict(zip(OBSERVATIONS, _label_tuple(text or "")))


def label_reports(texts: list[str]) -> list[dict[str, int | None]]:
    """`label_report` for each text (results are cached per distinct text)."""
    return [label_report(t) for t in texts]
