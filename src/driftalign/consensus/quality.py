"""How good is t+? Label F1 of the consensus text against the study labels, beside each teacher's.

Measured with the project's report labeler (`driftalign.labeling.label_reports`) on the rows'
studies: positive-class micro precision / recall / F1 over the 14 CheXpert observations
(`driftalign.metrics.clinical_scores`: a prediction counts as positive when the labeler says 1; the
truth when the study label is 1), and
the balanced top-1 accuracy on the five MS-CXR-T findings of `driftalign.metrics.mscxrt_accuracy`
(the same numbers `driftalign eval` reports), and the mean words per text (a terse t+ shows here).
A teacher that refused or did not answer a study predicts nothing for it.
"""

from __future__ import annotations

from typing import Any

from driftalign.data.dataset import Dataset


def positive_f1(pred: list[dict[str, int | None]], true: list[dict[str, int | None]]) -> dict[str, float]:
    """Micro P/R/F1 of the positive class over all (study, observation) pairs: `metrics.clinical`'s micro
    scores (uncertain -1 not positive, as `driftalign eval` counts by default); zeros for no studies."""
    from driftalign.metrics import clinical_scores

    if not pred and not true:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    return clinical_scores(pred, true)["micro"]


def _scores(study_ids: list[str], texts: list[str], true: list[dict[str, int | None]]) -> dict[str, Any]:
    from driftalign.labeling import label_reports
    from driftalign.metrics import mscxrt_accuracy

    pred = label_reports(texts)
    words = sum(len(t.split()) for t in texts) / len(texts) if texts else 0.0
    return {**positive_f1(pred, true), "accuracy": mscxrt_accuracy(study_ids, pred, true)[0], "words": words}


def consensus_quality(ds: Dataset, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """{"consensus": scores of t+, "teachers": {name: scores}, "drift": {name: mean d_u}} on the rows' studies."""
    if not rows:
        return {}
    ids = [r["study_id"] for r in rows]
    true = [ds.study(i).labels for i in ids]
    teachers = sorted({t for r in rows for t in r["teachers"]})
    answers = {t: [] for t in teachers}
    drift: dict[str, list[float]] = {t: [] for t in teachers}
    for r in rows:
        by_teacher = {n["teacher"]: n for n in r["negatives"]}
        for t in teachers:
            n = by_teacher.get(t)
            answers[t].append("" if n is None or n["refusal"] else n["response"])
            if t in r["teachers"]:
                drift[t].append(r["teachers"][t]["drift"])
    return {
        "consensus": _scores(ids, [r["chosen"] for r in rows], true),
        "teachers": {t: _scores(ids, answers[t], true) for t in teachers},
        "drift": {t: sum(v) / len(v) for t, v in drift.items() if v},
        "studies": len(rows),
    }
