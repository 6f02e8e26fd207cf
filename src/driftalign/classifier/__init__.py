"""A CheXbert-style report classifier: BERT + 14 linear heads on [CLS] (docs/deer.md §6).

* `config`          — the stage configs of `driftalign classifier train|label|eval` (no torch import)
* `model`           — `ReportClassifier` (CheXbert's layout), `Classifier` (model + tokenizer; a labeler),
                      head order / class encoding <-> the rule labeler's label values
* `checkpoint`      — `init_classifier` (encoder from the bundled MiniLM), `save_classifier`, `load_classifier`
* `chexbert_format` — read / write the published CheXbert's `chexbert.pth`
* `data`            — training texts (a dataset's references + trajectories, or a JSONL) and their labels
* `train`           — `driftalign classifier train` (CheXbert's per-head cross-entropy)
* `agreement`       — per-observation accuracy / kappa / positive F1 of two label sets
* `label`           — `driftalign classifier label` and `eval`
* `card`            — the model card

    from driftalign.classifier import load_classifier
    clf = load_classifier("clf_out")            # or load_classifier("chexbert.pth", tokenizer="bert-base-uncased/")
    clf.label(["Small left pleural effusion. No pneumothorax."])
    # [{"Pleural Effusion": 1, "Pneumothorax": 0, ...}]   (1 / 0 / -1 / None, as labeling.label_reports)

Names are imported on first use, so `driftalign.classifier.config` does not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CHEXBERT_CONDITIONS": "driftalign.classifier.model",
    "Classifier": "driftalign.classifier.model",
    "ReportClassifier": "driftalign.classifier.model",
    "head_index": "driftalign.classifier.model",
    "init_classifier": "driftalign.classifier.checkpoint",
    "load_classifier": "driftalign.classifier.checkpoint",
    "save_classifier": "driftalign.classifier.checkpoint",
    "label_agreement": "driftalign.classifier.agreement",
}

__all__ = [
    "CHEXBERT_CONDITIONS", "Classifier", "ReportClassifier", "head_index", "init_classifier", "label_agreement",
    "load_classifier", "save_classifier",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'driftalign.classifier' has no attribute {name!r}")
