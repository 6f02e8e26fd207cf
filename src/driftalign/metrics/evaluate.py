"""`evaluate_predictions`: every metric of a set of predicted reports against a dataset split.

PRED.jsonl rows: `study_id`, `text` (the predicted report), optional `scores`
{observation: probability} for AUC. Result (stable keys, see docs/labeling_and_metrics.md):

    {"n", "n_missing", "split", "synthetic",
     "accuracy": {<5 MS-CXR-T findings>, "average"},  "accuracy_detail": {...},
     "clinical": {"example_based": {precision, recall, f1}, "macro": {...}, "micro": {...}, "per_label": {...}},
     "nlg": {"BLEU-1".."BLEU-4", "ROUGE-L", "METEOR", "CIDEr"} | None,  "n_nlg",
     "drift_errors": {"invented", "wrong_side", "overgeneralisation", "wrong_location", "sign", "total"}
                     per 100 reports (`drift.errors`: the drift the report inherits, APO Fig. 1b),
     "auc": {<finding>: AUC, "average"}  (only when scores are given)}
"""

from __future__ import annotations

from collections.abc import Callable

import math
import warnings
from pathlib import Path
from typing import Any

from driftalign.constants import OBSERVATIONS
from driftalign.data.dataset import Dataset
from driftalign.data.io import read_jsonl
from driftalign.data.schema import Study
from driftalign.drift.errors import drift_errors, error_rates
from driftalign.errors import DatasetError
from driftalign.labeling import label_reports
from driftalign.labeling.uncertain import DEFAULT_UNCERTAIN, UncertainPolicy
from driftalign.metrics.accuracy import mscxrt_accuracy
from driftalign.metrics.auc import auc_scores
from driftalign.metrics.clinical import clinical_scores
from driftalign.metrics.nlg import nlg_scores

WHERE_KEY = "_where"   # "file:line" of a prediction row, added by `load_predictions`


def _check_scores(scores: Any, where: str) -> dict[str, float]:
    if not isinstance(scores, dict):
        raise DatasetError(f"{where}: 'scores' must be an object {{observation: probability}}")
    for name, value in scores.items():
        if name not in OBSERVATIONS:
            raise DatasetError(f"{where}: unknown observation {name!r} in 'scores'; expected one of {list(OBSERVATIONS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 1:
            raise DatasetError(f"{where}: score of {name!r} must be a probability in [0, 1], got {value!r}")
    return {k: float(v) for k, v in scores.items()}


def check_prediction(row: dict[str, Any], where: str) -> dict[str, Any]:
    """Validate one prediction row; returns {study_id, text, scores}."""
    study_id, text = row.get("study_id"), row.get("text")
    if not isinstance(study_id, str) or not study_id:
        raise DatasetError(f"{where}: missing or empty 'study_id'")
    if not isinstance(text, str):
        raise DatasetError(f"{where}: 'text' must be a string (the predicted report)")
    scores = row.get("scores")
    return {"study_id": study_id, "text": text, "scores": None if scores is None else _check_scores(scores, where)}


def load_predictions(path: str | Path) -> list[dict[str, Any]]:
    """Read PRED.jsonl; each row is validated and remembers its "file:line" under `WHERE_KEY`."""
    rows = []
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        rows.append({**check_prediction(obj, where), WHERE_KEY: where})
    return rows


def _match(preds: list[dict[str, Any]], studies: list[Study], dataset: Dataset) -> list[tuple[Study, dict[str, Any]]]:
    """Pair predictions with the split's studies; unknown/duplicate/other-split ids are errors."""
    in_split = {s.study_id for s in studies}
    seen: dict[str, str] = {}
    by_id: dict[str, dict[str, Any]] = {}
    for i, raw in enumerate(preds):
        where = raw.get(WHERE_KEY, f"prediction row {i + 1}")
        row = check_prediction(raw, where)
        sid = row["study_id"]
        if sid not in in_split:
            known = any(s.study_id == sid for s in dataset.studies)
            reason = "belongs to another split" if known else "is not in the dataset"
            raise DatasetError(f"{where}: study_id {sid!r} {reason} ({dataset.root})")
        if sid in seen:
            raise DatasetError(f"{where}: duplicate prediction for study_id {sid!r} (first at {seen[sid]})")
        seen[sid] = where
        by_id[sid] = row
    return [(s, by_id[s.study_id]) for s in studies if s.study_id in by_id]


def _nlg(pairs: list[tuple[Study, dict[str, Any]]], meteor: bool) -> tuple[dict | None, int]:
    with_report = [(s, p) for s, p in pairs if s.report]
    if not with_report:
        return None, 0
    return nlg_scores([s.report for s, _ in with_report], [p["text"] for _, p in with_report], meteor=meteor), len(with_report)


def evaluate_predictions(
    preds: list[dict[str, Any]], dataset: Dataset, split: str | None = "test", *, nlg: bool = True, meteor: bool = True,
    uncertain: UncertainPolicy | str = DEFAULT_UNCERTAIN, labeler: Callable[[list[str]], list[dict]] = label_reports,
) -> dict[str, Any]:
    """All metrics of `preds` on the studies of `split` (None or "all": every study).

    uncertain: what an uncertain label counts as in the clinical P/R/F1 (`labeling.uncertain`);
    the MS-CXR-T accuracy always skips uncertain studies. labeler: texts -> 14 labels each, for
    both the predictions and the reference reports (default the rule labeler; a report
    classifier's `label` works too). The drift-error detectors stay rule-based."""
    studies = dataset.split(split)
    if not studies:
        raise DatasetError(f"{dataset.root}: no studies in split {split!r}")
    pairs = _match(preds, studies, dataset)
    missing = len(studies) - len(pairs)
    if missing:
        warnings.warn(f"{missing} of {len(studies)} studies of split {split!r} have no prediction; "
                      f"evaluating the {len(pairs)} that do", stacklevel=2)
    if not pairs:
        raise DatasetError(f"no prediction matches a study of split {split!r}")
    ids = [s.study_id for s, _ in pairs]
    pred_labels = labeler([p["text"] for _, p in pairs])
    study_labels = [s.labels for s, _ in pairs]
    # Clinical efficacy compares labeler(prediction) with labeler(reference report); a study
    # without report text falls back to its dataset labels.
    report_labels = labeler([s.report for s, _ in pairs])
    ref_labels = [rl if s.report else s.labels for (s, _), rl in zip(pairs, report_labels)]
    accuracy, accuracy_detail = mscxrt_accuracy(ids, pred_labels, study_labels)
    result: dict[str, Any] = {
        "n": len(pairs),
        "n_missing": missing,
        "split": split or "all",
        "synthetic": any(s.meta.get("synthetic") for s, _ in pairs),
        "accuracy": accuracy,
        "accuracy_detail": accuracy_detail,
        "clinical": clinical_scores(pred_labels, ref_labels, uncertain=uncertain),
        "uncertain": UncertainPolicy(uncertain).value,
        "drift_errors": error_rates(drift_errors([p["text"] for _, p in pairs], [s for s, _ in pairs])),
    }
    result["nlg"], result["n_nlg"] = _nlg(pairs, meteor) if nlg else (None, 0)
    auc = auc_scores([p["scores"] for _, p in pairs], study_labels)
    if auc is not None:
        result["auc"] = auc
    return result
