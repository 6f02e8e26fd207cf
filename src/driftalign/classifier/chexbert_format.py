"""Read (and write) a checkpoint in the published CheXbert's own format: `chexbert.pth`.

CheXbert (stanfordmlgroup/CheXbert `src/run_bert.py`) trains its `bert_labeler` wrapped in
`nn.DataParallel` and saves

    torch.save({"epoch": ..., "model_state_dict": model.state_dict(), "optimizer_state_dict": ...}, path)

so every key carries DataParallel's prefix: "module.bert.embeddings.word_embeddings.weight",
"module.bert.encoder.layer.0.attention.self.query.weight", ..., "module.bert.pooler.dense.weight",
"module.linear_heads.0.weight" ... "module.linear_heads.13.bias" (dropout has no parameters). Checkpoints
from the transformers 3.x era also hold the buffer "module.bert.embeddings.position_ids", which current
transformers does not keep in the state dict: it is dropped (it is arange(max_positions), nothing learned).
CheXbert's own `label.py` strips the prefix with k[7:]; we strip "module." only where it is present, so a
checkpoint saved without DataParallel loads as well.

The encoder's shape comes from `config.json` in the tokenizer directory when there is one (a local
bert-base-uncased directory has it); otherwise it is read off the tensors (vocabulary, hidden size, layers,
intermediate size, positions, token types), with hidden_size / 64 attention heads (bert-base: 768 / 64 = 12;
the count cannot be read off the weights). The tokenizer is the user's local bert-base-uncased directory
(CheXbert's `BertTokenizer.from_pretrained('bert-base-uncased')`): nothing is downloaded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from transformers import BertConfig, BertTokenizer

from driftalign.classifier.model import (
    CHEXBERT_CONDITIONS,
    HEAD_CLASSES,
    Classifier,
    ReportClassifier,
    classifier_config,
)
from driftalign.errors import ConfigError

STATE_KEY = "model_state_dict"
PREFIX = "module."
CHEXBERT_MAX_LENGTH = 512          # CheXbert cuts reports at 512 word pieces
_DROPPED = ("bert.embeddings.position_ids",)


def read_chexbert_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The model's tensors of a `chexbert.pth`, "module." stripped, the position_ids buffer dropped."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: CheXbert checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 — pickle / zip errors come in many types
        raise ConfigError(f"{path}: cannot read as a torch checkpoint ({str(e).splitlines()[0]})") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get(STATE_KEY), dict):
        keys = list(checkpoint)[:5] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ConfigError(f"{path}: not a CheXbert checkpoint (expected a dict with {STATE_KEY!r}, got {keys})")
    state = {}
    for key, value in checkpoint[STATE_KEY].items():
        name = key.removeprefix(PREFIX)
        if name not in _DROPPED:
            state[name] = value
    return state


def _inferred_config(state: dict[str, torch.Tensor], path: Path) -> BertConfig:
    try:
        vocab, hidden = state["bert.embeddings.word_embeddings.weight"].shape
        intermediate = state["bert.encoder.layer.0.intermediate.dense.weight"].shape[0]
        positions = state["bert.embeddings.position_embeddings.weight"].shape[0]
        token_types = state["bert.embeddings.token_type_embeddings.weight"].shape[0]
    except KeyError as e:
        raise ConfigError(f"{path}: not a CheXbert checkpoint (no tensor {e.args[0]!r} after stripping "
                          f"{PREFIX!r})") from None
    layers = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"bert\.encoder\.layer\.(\d+)\.", k)))
    return BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=max(1, hidden // 64), intermediate_size=intermediate,
                      max_position_embeddings=positions, type_vocab_size=token_types)


def chexbert_bert_config(state: dict[str, torch.Tensor], path: Path, tokenizer_dir: Path | None = None) -> BertConfig:
    """The encoder's BertConfig: `tokenizer_dir/config.json` if present, else read off the tensors."""
    config_file = tokenizer_dir / "config.json" if tokenizer_dir is not None else None
    if config_file is not None and config_file.is_file():
        if json.loads(config_file.read_text(encoding="utf-8")).get("model_type", "bert") != "bert":
            raise ConfigError(f"{config_file}: not a BERT config (CheXbert's encoder is bert-base-uncased)")
        return BertConfig.from_pretrained(config_file.parent, local_files_only=True)
    return _inferred_config(state, path)


def load_chexbert(path: str | Path, tokenizer_dir: str | Path | None, *,
                  max_length: int = CHEXBERT_MAX_LENGTH) -> Classifier:
    """A `Classifier` from CheXbert's `chexbert.pth` + a local bert-base-uncased tokenizer directory.

    Every tensor must match (strict load): a missing or surplus head, or a shape that differs from the
    encoder's config, is a ConfigError naming it.
    """
    path = Path(path)
    if tokenizer_dir is None:
        raise ConfigError(f"{path}: a CheXbert checkpoint needs its tokenizer: --tokenizer DIR (a local "
                          "bert-base-uncased directory with vocab.txt or tokenizer.json)")
    tokenizer_dir = Path(tokenizer_dir)
    if not ((tokenizer_dir / "vocab.txt").is_file() or (tokenizer_dir / "tokenizer.json").is_file()):
        raise ConfigError(f"{tokenizer_dir}: no vocab.txt or tokenizer.json (expected a local bert-base-uncased "
                          "tokenizer directory)")
    state = read_chexbert_state(path)
    config = classifier_config(chexbert_bert_config(state, path, tokenizer_dir), max_length=max_length)
    model = ReportClassifier(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    surplus = sorted(set(state) - set(expected))
    if missing or surplus:
        raise ConfigError(f"{path}: does not have CheXbert's layout (missing {missing[:5]}, unexpected {surplus[:5]}; "
                          f"expected {len(CHEXBERT_CONDITIONS)} heads of {list(HEAD_CLASSES)} classes)")
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise ConfigError(f"{path}: {key} has shape {tuple(state[key].shape)}, the encoder config expects "
                              f"{tuple(tensor.shape)} (pass --tokenizer a directory whose config.json matches)")
    model.load_state_dict(state, strict=True)
    model.eval()
    tokenizer = BertTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    return Classifier(model=model, tokenizer=tokenizer, max_length=max_length, source=path,
                      meta={"format": "chexbert.pth"})


def save_chexbert(model: ReportClassifier, path: str | Path, epoch: int = 0) -> Path:
    """Write `model` as CheXbert writes its checkpoints (DataParallel "module." keys, under model_state_dict),
    so CheXbert's own `label.py` can read it."""
    from driftalign.data.io import atomic_write

    path = Path(path)
    state = {PREFIX + k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_write(path, "wb") as f:
        torch.save({"epoch": epoch, STATE_KEY: state}, f)
    return path
