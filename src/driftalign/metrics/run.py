"""`driftalign eval` as a library call: predictions JSONL + dataset -> every metric (and a JSON file).

The CLI (`cli/eval_commands.py`) prints the tables; the pipeline (`driftalign.pipeline`) calls
`run_eval` quietly and reads the JSON.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from pydantic import Field

from driftalign.config import StageConfig
from driftalign.constants import Split
from driftalign.data.dataset import load_dataset
from driftalign.data.io import write_json
from driftalign.labeling import label_reports
from driftalign.labeling.uncertain import DEFAULT_UNCERTAIN, UncertainPolicy
from driftalign.metrics.evaluate import evaluate_predictions, load_predictions

log = logging.getLogger(__name__)

with warnings.catch_warnings():
    # The flag must be `--json` (flags == field names); pydantic warns that the field shadows the
    # deprecated BaseModel.json() method, which no driftalign code calls.
    warnings.filterwarnings("ignore", message='Field name "json"', category=UserWarning)

    class EvalConfig(StageConfig):
        pred: Path = Field(description="predictions JSONL: study_id, text, optional scores {observation: probability}")
        data: Path = Field(description="dataset directory (studies.jsonl with labels and reference reports)")
        split: Split = Field("test", description="split to evaluate ('all' for every study)")
        json: Path | None = Field(None, description="write every metric to this JSON file")
        nlg: bool = Field(True, description="compute BLEU/ROUGE-L/METEOR/CIDEr against the reference reports")
        meteor: bool = Field(True, description="compute METEOR (needs Java; ~8 s JVM start)")
        uncertain: UncertainPolicy = Field(DEFAULT_UNCERTAIN, description="what an uncertain label counts as in the "
                                           "clinical P/R/F1: negative (default), positive, or own (its own class)")
        classifier: Path | None = Field(None, description="label reports with this report classifier (`driftalign "
                                        "classifier train` output or a chexbert.pth) instead of the rule labeler")
        classifier_tokenizer: Path | None = Field(None, description="local bert-base-uncased tokenizer directory "
                                                  "(with a chexbert.pth)")


def run_eval(cfg: EvalConfig) -> tuple[dict[str, Any], list[str]]:
    """(every metric of `cfg.pred` on `cfg.data`'s split, the warnings raised while computing them);
    the metrics are also written to `cfg.json` when given."""
    dataset = load_dataset(cfg.data, with_trajectories=False, verify_images=False)
    preds = load_predictions(cfg.pred)
    labeler = label_reports
    if cfg.classifier is not None:
        from driftalign.classifier import load_classifier

        labeler = load_classifier(cfg.classifier, cfg.classifier_tokenizer).label
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = evaluate_predictions(preds, dataset, cfg.split, nlg=cfg.nlg, meteor=cfg.meteor, uncertain=cfg.uncertain,
                                      labeler=labeler)
    result["labeler"] = "rules" if cfg.classifier is None else f"classifier {cfg.classifier}"
    messages = [str(w.message) for w in caught]
    for m in messages:
        log.warning("eval: %s", m)
    if cfg.json is not None:
        write_json(cfg.json, result)
    return result, messages
