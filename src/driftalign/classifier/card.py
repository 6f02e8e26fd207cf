"""The model card (README.md) of a trained report classifier: what it is, what it read, how well it agrees."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel

from driftalign.classifier.model import CHEXBERT_CONDITIONS, HEAD_CLASSES
from driftalign.constants import OBSERVATIONS
from driftalign.models.model_card import _is_synthetic

ARCHITECTURE = (
    "CheXbert's layout (stanfordmlgroup/CheXbert `bert_labeler`): a BERT encoder, dropout on the [CLS] hidden "
    "state and 14 linear heads — 13 x 4 classes (blank, positive, negative, uncertain) and No Finding x 2 "
    "(blank, positive) — in CheXbert's condition order ({order}). `driftalign.classifier.load_classifier(dir)` "
    "reads it; its labels use the rule labeler's values (1 positive, 0 negative, -1 uncertain, null blank)."
)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def agreement_table(agreement: dict) -> str:
    """Markdown table of one `label_agreement` result: per observation and macro."""
    lines = ["| observation | accuracy | kappa | positive F1 |", "|---|---|---|---|"]
    for name in OBSERVATIONS:
        row = agreement["per_observation"][name]
        lines.append(f"| {name} | {_fmt(row['accuracy'])} | {_fmt(row['kappa'])} | {_fmt(row['positive_f1'])} |")
    macro = agreement["macro"]
    lines.append(f"| **macro** | {_fmt(macro['accuracy'])} | {_fmt(macro['kappa'])} | {_fmt(macro['positive_f1'])} |")
    lines.append(f"\n{agreement['n']} held-out texts; all 14 labels equal on {_fmt(agreement['exact'])} of them.")
    return "\n".join(lines)


def classifier_card(cfg: BaseModel, metrics: dict) -> str:
    data = getattr(cfg, "data", None) or getattr(cfg, "texts", None) or Path(".")
    synthetic = getattr(cfg, "data", None) is not None and _is_synthetic(Path(data))
    base = metrics.get("base") or "?"
    meta = {"library_name": "transformers", "pipeline_tag": "text-classification", "base_model": str(base),
            "tags": ["driftalign", "report-classifier", "chexbert", "radiology", "chest-x-ray"]
            + (["synthetic-data"] if synthetic else []),
            "datasets": [Path(data).resolve().name]}
    warning = ("**Trained on SYNTHETIC report text** (driftalign's synthetic chest X-ray world and simulated "
               "teachers), labelled by driftalign's rule labeler: a test-bed model; not for clinical use.\n\n"
               if synthetic else "Research model. Not a medical device; not validated for clinical use.\n\n")
    heads = ", ".join(f"{n} ({c})" for n, c in zip(CHEXBERT_CONDITIONS, HEAD_CLASSES))
    train = metrics.get("train", {})
    counts = metrics.get("data", {})
    evaluation = metrics.get("eval") or {}
    table = (f"Agreement with the labels it was trained to reproduce ({metrics.get('labels')}), on held-out "
             f"texts it never saw:\n\n{agreement_table(evaluation['all'])}\n" if evaluation.get("all")
             else "No held-out evaluation was run.\n")
    config = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).strip()
    return (f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n# driftalign report classifier\n\n{warning}"
            f"## Architecture\n\n{ARCHITECTURE.format(order=heads)}\n\nEncoder initialised from `{base}`"
            f"{'' if metrics.get('pretrained_encoder', True) else ' (architecture only: random weights)'}.\n\n"
            f"## Training\n\n{counts.get('train_texts', '?')} distinct texts ({metrics.get('labels')} labels), "
            f"{train.get('steps', '?')} steps of {train.get('batch_size', '?')}, final loss "
            f"{_fmt(train.get('final_loss'))}; `driftalign classifier train`.\n\n## Evaluation\n\n{table}\n"
            f"## Training configuration\n\n```yaml\n{config}\n```\n")
