"""Report sections that state no finding of the study: the clinical question, the technique, the
comparison.

"INDICATION: ... evaluate for pneumonia", "HISTORY: CHF", "COMPARISON: CT of ___ showing a
nodule" describe why the study was done or what another study showed, not what this radiograph
shows; labelled like the findings they would give "evaluate for pneumonia" -> Pneumonia uncertain
on every report that asks the question. The CheXpert labeler avoids this by labelling the
IMPRESSION section only (MIMIC-CXR: impression, else findings); driftalign labels the whole text —
teacher answers and generated reports have no sections — and skips these sections instead.

A skipped section starts at its heading ("INDICATION:", "Clinical history:", any case, at the
start of a line or of the text) and ends at the next heading of any kind ("FINDINGS:",
"IMPRESSION:", ...), at a blank line, or at the end of the text — so a report that continues
without a heading after a blank line is still labelled.
"""

from __future__ import annotations

import re

SKIPPED_TITLES: tuple[str, ...] = (
    "indication", "indications", "clinical indication", "history", "clinical history", "clinical information",
    "clinical data", "reason for exam", "reason for examination", "reason for study", "clinical question",
    "technique", "comparison", "comparisons", "examination", "exam", "procedure", "type of examination",
)
KEPT_TITLES: tuple[str, ...] = (
    "findings", "impression", "impressions", "conclusion", "conclusions", "opinion", "summary", "report",
    "final report", "recommendation", "recommendations", "addendum", "notification", "wet read",
)


def _titles(titles: tuple[str, ...]) -> str:
    return "|".join(sorted((t.replace(" ", " +") for t in titles), key=len, reverse=True))


# Matched on `text.lowercase(text)` (offsets unchanged, whitespace as spaces).
_SKIPPED = re.compile(rf"(?:^|(?<=[\n\r]))[ \t]*(?:{_titles(SKIPPED_TITLES)})[ \t]*:")
_ANY_HEADING = re.compile(rf"(?<![a-z0-9])(?:{_titles(SKIPPED_TITLES + KEPT_TITLES)})[ \t]*:")
_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")


def skipped_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) character spans of the sections to skip; `text` lowercased, newlines kept."""
    spans: list[tuple[int, int]] = []
    pos = 0
    while (m := _SKIPPED.search(text, pos)) is not None:
        end = len(text)
        for boundary in (_ANY_HEADING.search(text, m.end()), _BLANK_LINE.search(text, m.end())):
            if boundary is not None:
                end = min(end, boundary.start())
        spans.append((m.start(), end))
        pos = max(end, m.end())
    return spans


def mask_skipped(text: str, low: str) -> str:
    """`low` (the lowercased copy of `text`) with the skipped sections blanked to spaces (same
    offsets: nothing in them matches a phrase or a trigger)."""
    if ":" not in text:
        return low
    spans = skipped_spans(text.lower() if len(text.lower()) == len(text) else low)
    if not spans:
        return low
    parts, prev = [], 0
    for start, end in spans:
        parts.append(low[prev:start])
        parts.append(" " * (end - start))
        prev = end
    parts.append(low[prev:])
    return "".join(parts)
