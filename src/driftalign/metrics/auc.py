"""AUC per finding from predicted probabilities (APO paper, zero-shot Table 4).

Truth as in `accuracy.py`: 1 if the study's label is 1, 0 if 0 or None, studies labelled -1
skipped. Only prediction rows that carry a score for the finding count. AUC is sklearn's
`roc_auc_score`; it is None (undefined) when the scored studies are all of one class.
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.metrics import roc_auc_score

from driftalign.constants import OBSERVATIONS

Labels = dict[str, int | None]


def finding_auc(finding: str, scores: Sequence[dict[str, float] | None], ref: Sequence[Labels]) -> tuple[float | None, int]:
    """(AUC, number of scored studies) for one finding."""
    y, s = [], []
    for row_scores, labels in zip(scores, ref):
        if not row_scores or finding not in row_scores or labels.get(finding) == -1:
            continue
        y.append(1 if labels.get(finding) == 1 else 0)
        s.append(float(row_scores[finding]))
    if len(set(y)) < 2:
        return None, len(y)
    return float(roc_auc_score(y, s)), len(y)


def auc_scores(scores: Sequence[dict[str, float] | None], ref: Sequence[Labels]) -> dict[str, float | None] | None:
    """{finding: AUC, ..., "average": mean of the defined AUCs} for every finding that has scores."""
    findings = [f for f in OBSERVATIONS if any(row and f in row for row in scores)]
    if not findings:
        return None
    out: dict[str, float | None] = {f: finding_auc(f, scores, ref)[0] for f in findings}
    defined = [v for v in out.values() if v is not None]
    out["average"] = sum(defined) / len(defined) if defined else None
    return out
