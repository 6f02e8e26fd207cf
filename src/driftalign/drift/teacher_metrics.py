"""Per-teacher drift against the reference (APO Fig. 1a): precision, recall, F1, per-finding accuracy,
semantic similarity, refusal rate and length.

* asserted = the labeler marks the finding 1 in the trajectory; positive = the study's label is 1.
  TP = asserted & positive, FP = asserted & not positive (label 0, -1 or null), FN = positive &
  not asserted; micro-averaged over all (study, finding) pairs of the teacher, findings = the 13
  CheXpert observations other than "No Finding".
* per-finding accuracy = mean over studies of [asserted == positive]; studies whose label for that
  finding is -1 (uncertain) are left out — neither answer is right or wrong there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from driftalign.data.schema import Study
from driftalign.drift.answers import FINDINGS, Answer
from driftalign.labeling.uncertain import DEFAULT_UNCERTAIN, UncertainPolicy, is_positive


@dataclass(frozen=True)
class TeacherMetrics:
    teacher: str
    n_trajectories: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    similarity: float          # mean cosine(trajectory, reference report); NaN without references
    n_similarity: int          # studies with a reference report that entered `similarity`
    refusal_rate: float
    mean_words: float
    mean_steps: float
    finding_accuracy: dict[str, float]   # finding -> accuracy (NaN when no study qualifies)
    finding_support: dict[str, int]      # finding -> studies that entered the accuracy
    laterality_comparable: int           # (study, finding) pairs with a side in answer and reference
    laterality_mismatch: int             # ... where the answer names a side the reference does not
    laterality_error_rate: float         # mismatch / comparable (laterality.py)
    drift_errors: dict[str, float] = field(default_factory=dict)  # per 100 trajectories, by kind (drift/errors.py)


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def precision_recall_f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """P = TP/(TP+FP), R = TP/(TP+FN), F1 = 2PR/(P+R); NaN where a denominator is 0."""
    p, r = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = float("nan") if math.isnan(p) or math.isnan(r) else _ratio(2 * p * r, p + r)
    return p, r, f1


def confusion(
    answers: Sequence[Answer], studies: dict[str, Study], findings: Sequence[str] = FINDINGS,
    uncertain: UncertainPolicy | str = DEFAULT_UNCERTAIN,
) -> tuple[int, int, int]:
    """(TP, FP, FN) over every (answer, finding) pair, findings in scope only; a study label of -1
    is positive only when uncertain counts as positive (`labeling.uncertain`)."""
    tp = fp = fn = 0
    for a in answers:
        positive = {f for f in findings if is_positive(studies[a.study_id].labels.get(f), uncertain)}
        tp += len(a.asserted & positive)
        fp += len(a.asserted - positive)
        fn += len(positive - a.asserted)
    return tp, fp, fn


def finding_accuracy(answers: Sequence[Answer], studies: dict[str, Study], finding: str) -> tuple[float, int]:
    """(accuracy, support) of asserted-vs-positive for one finding, uncertain (-1) labels left out."""
    hits = [
        (finding in a.asserted) == (studies[a.study_id].labels.get(finding) == 1)
        for a in answers
        if studies[a.study_id].labels.get(finding) != -1
    ]
    return _ratio(sum(hits), len(hits)), len(hits)


def teacher_metrics(
    teacher: str,
    answers: Sequence[Answer],
    studies: dict[str, Study],
    similarities: Sequence[float],
    accuracy_findings: Sequence[str],
    laterality: tuple[int, int] = (0, 0),
    findings: Sequence[str] = FINDINGS,
    drift_errors: dict[str, float] | None = None,
    uncertain: UncertainPolicy | str = DEFAULT_UNCERTAIN,
) -> TeacherMetrics:
    """All per-teacher numbers for one teacher's answers (`similarities`: one per study with a reference;
    `laterality`: (comparable, mismatched) side pairs from `laterality.laterality_counts`)."""
    tp, fp, fn = confusion(answers, studies, findings, uncertain)
    p, r, f1 = precision_recall_f1(tp, fp, fn)
    acc = {f: finding_accuracy(answers, studies, f) for f in accuracy_findings}
    n = len(answers)
    return TeacherMetrics(
        teacher=teacher,
        n_trajectories=n,
        tp=tp, fp=fp, fn=fn,
        precision=p, recall=r, f1=f1,
        similarity=_ratio(sum(similarities), len(similarities)),
        n_similarity=len(similarities),
        refusal_rate=_ratio(sum(a.refusal for a in answers), n),
        mean_words=_ratio(sum(a.n_words for a in answers), n),
        mean_steps=_ratio(sum(len(a.steps) for a in answers), n),
        finding_accuracy={f: v[0] for f, v in acc.items()},
        finding_support={f: v[1] for f, v in acc.items()},
        laterality_comparable=laterality[0],
        laterality_mismatch=laterality[1],
        laterality_error_rate=_ratio(laterality[1], laterality[0]),
        drift_errors=dict(drift_errors or {}),
    )
