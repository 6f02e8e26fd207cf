"""`driftalign classifier label` and `driftalign classifier eval`: use a trained (or CheXbert) classifier.

* label: a JSONL of reports -> the same rows with `labels` (14 values in the rule labeler's convention:
  1 positive, 0 negative, -1 uncertain, null not mentioned) and `scores` (P(positive) per observation:
  the softmax of each head, the optional `scores` of `driftalign eval --pred` for its AUC).
* eval: agreement of the classifier with the rule labeler on a JSONL of reports, and with the rows' own
  `labels` where every row has them (e.g. hand labels); observations a row leaves out count as not mentioned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftalign.classifier.agreement import label_agreement
from driftalign.classifier.config import ClassifierEvalConfig, ClassifierLabelConfig, _ClassifierInput
from driftalign.classifier.model import Classifier
from driftalign.constants import OBSERVATIONS
from driftalign.data.io import read_jsonl, write_json, write_jsonl
from driftalign.errors import DatasetError

CHUNK = 256  # texts per progress step


def read_reports(path: Path, field: str) -> list[dict[str, Any]]:
    rows = []
    for line, obj in read_jsonl(path):
        if not isinstance(obj.get(field), str):
            raise DatasetError(f"{path}:{line}: missing string field {field!r} (choose it with --field)")
        rows.append(obj)
    return rows


def _load(cfg: _ClassifierInput) -> Classifier:
    from driftalign.classifier.checkpoint import load_classifier

    clf = load_classifier(cfg.model, cfg.tokenizer, device=cfg.device)
    clf.batch_size = cfg.batch_size
    return clf


def classify(clf: Classifier, texts: list[str], with_scores: bool = True) -> tuple[list[dict], list[dict] | None]:
    """(labels, P(positive) scores or None) of every text, with a progress bar."""
    import torch
    from rich.progress import track

    logits: list[list[torch.Tensor]] = []
    for start in track(range(0, len(texts), CHUNK), description=f"classifying {len(texts)} reports", transient=True):
        logits.append(clf.logits(texts[start:start + CHUNK]))
    if not logits:
        return [], [] if with_scores else None
    heads = [torch.cat([chunk[h] for chunk in logits]) for h in range(len(logits[0]))]
    labels = clf.labels_from_logits(heads)
    scores = [{k: round(v, 6) for k, v in row.items()} for row in clf.positive_probabilities(heads)] \
        if with_scores else None
    return labels, scores


def run_classifier_label(cfg: ClassifierLabelConfig) -> str:
    rows = read_reports(cfg.input, cfg.field)
    labels, scores = classify(_load(cfg), [r[cfg.field] for r in rows], cfg.scores)
    out_rows = []
    for i, row in enumerate(rows):
        new = {**row, cfg.key: labels[i]}
        if scores is not None:
            new["scores"] = scores[i]
        out_rows.append(new)
    write_jsonl(cfg.out, out_rows)
    positives = sum(v == 1 for lab in labels for v in lab.values())
    return f"classifier label: {len(rows)} reports -> {cfg.out} ({positives} positive labels)"


def _row_labels(rows: list[dict], key: str, path: Path) -> list[dict] | None:
    if not rows or not all(isinstance(r.get(key), dict) for r in rows):
        return None
    for i, r in enumerate(rows, start=1):
        unknown = sorted(set(r[key]) - set(OBSERVATIONS))
        if unknown:
            raise DatasetError(f"{path}: row {i}: unknown observation(s) {unknown} in {key!r}")
    return [{name: r[key].get(name) for name in OBSERVATIONS} for r in rows]


def run_classifier_eval(cfg: ClassifierEvalConfig) -> dict:
    """{"rules": agreement with the rule labeler, "given": agreement with the rows' labels (if any)}."""
    from driftalign.labeling import label_reports

    rows = read_reports(cfg.input, cfg.field)
    texts = [r[cfg.field] for r in rows]
    pred, _ = classify(_load(cfg), texts, with_scores=False)
    result = {"input": str(cfg.input), "model": str(cfg.model), "rules": label_agreement(pred, label_reports(texts))}
    given = _row_labels(rows, cfg.labels_key, cfg.input)
    if given is not None:
        result["given"] = label_agreement(pred, given)
        result["rules_vs_given"] = label_agreement(label_reports(texts), given)
    if cfg.out is not None:
        write_json(cfg.out, result)
    return result
