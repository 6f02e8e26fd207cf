"""Model cards: every trained `final/` directory gets a README.md that says what the model is.

Hugging Face front matter (library, pipeline tag, base model, tags, datasets) and a body with the
method, the data (and whether it is SYNTHETIC), the resolved stage config and how driftalign
evaluates such a model. Written by `training.spd_trainer.save_final` for SPD, APO and GRPO.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import BaseModel

from driftalign.data.io import atomic_write

METHODS = {
    "SPDConfig": ("spd", "Supervised pre-distillation (SPD, APO paper eq. 6): next-token likelihood of every "
                         "teacher's reasoning trajectory given the image and the prompt."),
    "APOConfig": ("apo", "Autonomous Preference Optimization (APO, eq. 7-11): a multi-negative Plackett-Luce "
                         "objective that raises the consensus trajectory t+ over every teacher's trajectory, "
                         "against the frozen SPD model as reference."),
    "DiTPOConfig": ("grpo", "GRPO with DEER's clinical reward (label F1 of the 14 CheXpert observations, + gamma * "
                            "BLEU-2 in phase 2) against each study's reference report; with --token-weights tfidf "
                            "the advantage is re-weighted per token by TF-IDF over the group, with --token-weights "
                            "gradient by a report classifier's saliency (DiTPO)."),
}
EVALUATION = ("`driftalign generate` (greedy) + `driftalign eval`: balanced top-1 accuracy per MS-CXR-T finding "
              "(Consolidation, Pleural Effusion, Pneumonia, Pneumothorax, Edema), clinical precision / recall / F1 "
              "of the report labeler's 14 CheXpert labels (example-based and macro), drift errors per 100 reports "
              "(invented finding, wrong side or location, over-generalisation, sign inconsistency), BLEU-1..4, "
              "ROUGE-L, METEOR, CIDEr. See docs/labeling_and_metrics.md.")


def _is_synthetic(data: Path) -> bool:
    studies = data / "studies.jsonl"
    if not studies.is_file():
        return False
    with studies.open(encoding="utf-8") as f:
        first = f.readline()
    try:
        return bool(json.loads(first).get("meta", {}).get("synthetic"))
    except (json.JSONDecodeError, AttributeError):
        return False


def _base_model(model: Path) -> str:
    """The base model's name as recorded by the student build or the previous card, else the directory name."""
    for card in (model / "README.md", model / "final" / "README.md"):
        if card.is_file():
            text = card.read_text(encoding="utf-8")
            if text.startswith("---"):
                meta = yaml.safe_load(text.split("---")[1]) or {}
                if meta.get("driftalign_model"):
                    return str(meta["driftalign_model"])
    return model.resolve().name


def model_card(cfg: BaseModel, final_dir: Path) -> str:
    kind, method = METHODS.get(type(cfg).__name__, ("train", type(cfg).__name__))
    data = Path(getattr(cfg, "data", "."))
    synthetic = _is_synthetic(data)
    base = _base_model(Path(getattr(cfg, "model", ".")))
    name = f"{base}-{kind}"
    tags = ["driftalign", kind, "vision-language", "chest-x-ray", "radiology-report-generation"]
    if synthetic:
        tags.append("synthetic-data")
    meta = {"library_name": "transformers", "pipeline_tag": "image-text-to-text", "base_model": base,
            "tags": tags, "datasets": [data.resolve().name], "driftalign_model": name}
    config = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).strip()
    warning = ("**Trained on SYNTHETIC data** (driftalign's rendered chest X-ray world and simulated teachers): a "
               "test-bed model. It says nothing about real radiographs and must not be used clinically.\n\n"
               if synthetic else
               "Research model. Not a medical device; not validated for clinical use.\n\n")
    return (f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n# {name}\n\n{warning}"
            f"## Method\n\n{method}\n\nBase model: `{base}`. Trained with driftalign (`driftalign {kind}`).\n\n"
            f"## Data\n\n`{data}` ({'synthetic' if synthetic else 'user data'}), split `{getattr(cfg, 'split', '?')}`.\n\n"
            f"## Training configuration\n\n```yaml\n{config}\n```\n\n## Evaluation\n\n{EVALUATION}\n")


def write_model_card(cfg: BaseModel, final_dir: Path) -> Path:
    path = Path(final_dir) / "README.md"
    with atomic_write(path) as f:
        f.write(model_card(cfg, Path(final_dir)))
    return path
