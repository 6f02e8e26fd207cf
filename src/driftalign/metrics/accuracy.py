"""Top-1 accuracy per MS-CXR-T finding on a class-balanced set (APO paper, Tables 1, 2, 5).

For each finding f (Consolidation, Pleural Effusion, Pneumonia, Pneumothorax, Edema):
* truth y = 1 if the study's label is 1, 0 if it is 0 or None (not mentioned); studies labelled -1
  (uncertain) are skipped;
* prediction yhat = 1 if the labeler gives the predicted report's f label 1, else 0;
* balanced set: every study of the minority class plus the same number of the majority class,
  chosen deterministically as those with the smallest sha256("<finding>|<study_id>") — independent
  of input order, a different subsample per finding;
* balanced accuracy = mean(yhat == y) on that set (0.5 is chance; the majority-class baseline is
  0.5 by construction). The unbalanced accuracy and its majority-class baseline
  max(#pos, #neg) / n are reported too: a student must beat the baseline.
`average` = mean of the five balanced accuracies (those defined).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from driftalign.constants import MSCXRT_FINDINGS

Labels = dict[str, int | None]


def _order_key(finding: str, study_id: str) -> str:
    return hashlib.sha256(f"{finding}|{study_id}".encode()).hexdigest()


def balanced_indices(finding: str, study_ids: Sequence[str], truth: Sequence[int]) -> list[int]:
    """Indices of the balanced subset: all of the minority class + as many of the majority class."""
    pos = [i for i, y in enumerate(truth) if y == 1]
    neg = [i for i, y in enumerate(truth) if y == 0]
    k = min(len(pos), len(neg))
    pick = []
    for group in (pos, neg):
        pick += sorted(group, key=lambda i: _order_key(finding, study_ids[i]))[:k]
    return sorted(pick)


def finding_accuracy(finding: str, study_ids: Sequence[str], pred: Sequence[Labels], ref: Sequence[Labels]) -> dict:
    """Balanced and unbalanced accuracy of one finding, with counts and the majority baseline."""
    rows = [(sid, 1 if p.get(finding) == 1 else 0, 1 if r.get(finding) == 1 else 0)
            for sid, p, r in zip(study_ids, pred, ref) if r.get(finding) != -1]
    ids, yhat, y = [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
    n, positives = len(y), sum(y)
    correct = [int(a == b) for a, b in zip(yhat, y)]
    balanced = balanced_indices(finding, ids, y)
    return {
        "balanced": sum(correct[i] for i in balanced) / len(balanced) if balanced else None,
        "n_balanced": len(balanced),
        "unbalanced": sum(correct) / n if n else None,
        "n": n,
        "positives": positives,
        "negatives": n - positives,
        "majority_baseline": max(positives, n - positives) / n if n else None,
        "skipped_uncertain": len(study_ids) - n,
    }


def mscxrt_accuracy(study_ids: Sequence[str], pred: Sequence[Labels], ref: Sequence[Labels]) -> tuple[dict, dict]:
    """({finding: balanced accuracy, ..., "average": mean}, {finding: details}) over MS-CXR-T findings."""
    details = {f: finding_accuracy(f, study_ids, pred, ref) for f in MSCXRT_FINDINGS}
    summary: dict[str, float | None] = {f: d["balanced"] for f, d in details.items()}
    defined = [v for v in summary.values() if v is not None]
    summary["average"] = sum(defined) / len(defined) if defined else None
    return summary, details
