"""Builders shared by the classifier tests: a tiny BERT "base" directory (config.json + a word-piece tokenizer
written here, no weights) and a tiny trained-format classifier directory. Everything is local: no hub."""

from __future__ import annotations

import string
from pathlib import Path

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [
    "no", "small", "moderate", "large", "mild", "left", "right", "bilateral", "pleural", "effusion", "effusions",
    "pneumothorax", "consolidation", "edema", "pulmonary", "heart", "size", "normal", "lungs", "are", "clear",
    "opacity", "opacities", "atelectasis", "cardiomegaly", "there", "is", "the", "of", "and", "in", "seen",
    "pneumonia", "fracture", "rib", "lesion", "nodule", "support", "devices", "tube", "catheter", "enlarged",
    "cardiomediastinum", "acute", "findings", "consistent", "with", "possible", "may", "represent", "cannot", "be",
    "excluded", "thickening", "lobe", "lower", "upper", "base", "basilar", "apical", "evidence", "stable",
    "unchanged", "silhouette", "mediastinal", "contours", "within", "limits", "focal", "airspace", "disease",
    "impression", "line",
]


def tiny_vocab() -> list[str]:
    """Specials, whole words, then every character alone and as a continuation piece (so nothing is [UNK])."""
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    return SPECIALS + WORDS + chars + [f"##{c}" for c in string.ascii_lowercase + string.digits]


def write_tiny_bert_base(root: Path, hidden: int = 32, layers: int = 2, heads: int = 2, positions: int = 128,
                         with_config: bool = True) -> Path:
    """A BERT base directory without weights: vocab.txt + tokenizer.json (+ config.json)."""
    from transformers import BertConfig, BertTokenizer

    root.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab()
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizer.from_pretrained(root, local_files_only=True).save_pretrained(root)
    if with_config:
        BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                   intermediate_size=2 * hidden, max_position_embeddings=positions).save_pretrained(root)
    return root


def write_tiny_classifier(root: Path, seed: int = 0, max_length: int = 64) -> Path:
    """A randomly initialised tiny classifier saved as `driftalign classifier train` saves one (its final/)."""
    from driftalign.classifier.checkpoint import init_classifier, save_classifier

    base = write_tiny_bert_base(root / "base")
    clf = init_classifier(base, max_length=max_length, seed=seed)
    return save_classifier(clf, root / "final")


def test_tiny_vocab_covers_report_text(tmp_path):
    from transformers import BertTokenizer

    tok = BertTokenizer.from_pretrained(write_tiny_bert_base(tmp_path, with_config=False))
    pieces = tok.tokenize("Small left pleural effusion, 5 mm. No pneumothorax (XXXX).")
    assert "[UNK]" not in pieces and pieces[:4] == ["small", "left", "pleural", "effusion"]
