"""Loading a real CheXbert checkpoint (`chexbert.pth`) — tested on a randomly initialised tiny BERT saved in
exactly CheXbert's format: its `bert_labeler` layout (self.bert, self.dropout, self.linear_heads), wrapped in
nn.DataParallel (keys "module.bert.…", "module.linear_heads.N.…"), saved as
torch.save({"epoch", "model_state_dict", "optimizer_state_dict"}), plus the transformers-3.x buffer
"module.bert.embeddings.position_ids". The model written here is our own stand-in for CheXbert's module, not
its code; the loaded classifier must give identical logits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_classifier_helpers import write_tiny_bert_base
from torch import nn
from transformers import BertConfig, BertModel, BertTokenizer

from driftalign.classifier import CHEXBERT_CONDITIONS, load_classifier
from driftalign.classifier.chexbert_format import read_chexbert_state, save_chexbert
from driftalign.errors import ConfigError

TEXTS = ["Small left pleural effusion. No pneumothorax.", "", "Heart size is normal. The lungs are clear.",
         "Possible right lower lobe pneumonia; cannot exclude a small effusion."]


class CheXbertLike(nn.Module):
    """The published layout: BERT, dropout, 13 heads x 4 + No Finding x 2 on the [CLS] hidden state."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.bert = BertModel(config)
        self.dropout = nn.Dropout(0.1)
        self.linear_heads = nn.ModuleList([nn.Linear(config.hidden_size, 4) for _ in range(13)])
        self.linear_heads.append(nn.Linear(config.hidden_size, 2))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        cls = self.dropout(self.bert(ids, attention_mask=mask)[0][:, 0, :])
        return [head(cls) for head in self.linear_heads]


def _write_chexbert(tmp_path: Path, hidden: int = 128, heads: int = 2) -> tuple[Path, Path, CheXbertLike]:
    tok_dir = write_tiny_bert_base(tmp_path / "bert-base-uncased", with_config=False)
    vocab = len((tok_dir / "vocab.txt").read_text().split())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=2, num_attention_heads=heads,
                        intermediate_size=4 * hidden, max_position_embeddings=64)
    model = CheXbertLike(config)
    with torch.no_grad():                           # non-zero biases everywhere: nothing may load as a default
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    parallel = nn.DataParallel(model)
    state = parallel.state_dict()
    assert "module.bert.embeddings.word_embeddings.weight" in state and "module.linear_heads.13.weight" in state
    state["module.bert.embeddings.position_ids"] = torch.arange(64).unsqueeze(0)   # transformers 3.x buffer
    optimizer = torch.optim.Adam(parallel.parameters(), lr=2e-5)
    path = tmp_path / "chexbert.pth"
    torch.save({"epoch": 8, "model_state_dict": state, "optimizer_state_dict": optimizer.state_dict()}, path)
    return path, tok_dir, model.eval()


def _reference_logits(model: CheXbertLike, tok_dir: Path) -> list[torch.Tensor]:
    tok = BertTokenizer.from_pretrained(tok_dir)
    enc = tok(TEXTS, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        return model(enc["input_ids"], enc["attention_mask"])


def test_chexbert_checkpoint_loads_with_identical_logits(tmp_path):
    """hidden 128 -> 128 / 64 = 2 attention heads, read off the tensors (no config.json next to the tokenizer)."""
    path, tok_dir, model = _write_chexbert(tmp_path)
    clf = load_classifier(path, tokenizer=tok_dir)
    assert clf.model.config.num_hidden_layers == 2 and clf.model.config.num_attention_heads == 2
    assert clf.max_length == 512
    ours = clf.logits(TEXTS)
    theirs = _reference_logits(model, tok_dir)
    assert [t.shape[1] for t in ours] == [4] * 13 + [2]
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    # labels come back by name, in OBSERVATIONS order, with the rule labeler's values
    labels = clf.label(TEXTS)
    assert all(set(row.values()) <= {1, 0, -1, None} for row in labels)
    pe = CHEXBERT_CONDITIONS.index("Pleural Effusion")
    expected = {0: None, 1: 1, 2: 0, 3: -1}[int(theirs[pe][0].argmax())]
    assert labels[0]["Pleural Effusion"] == expected


def test_chexbert_config_from_the_tokenizer_directory(tmp_path):
    """A local bert-base-uncased directory has config.json: it is used (here 4 heads, which 64 / 64 = 1 would miss)."""
    path, tok_dir, model = _write_chexbert(tmp_path, hidden=64, heads=4)
    BertConfig(vocab_size=len((tok_dir / "vocab.txt").read_text().split()), hidden_size=64, num_hidden_layers=2,
               num_attention_heads=4, intermediate_size=256, max_position_embeddings=64).save_pretrained(tok_dir)
    clf = load_classifier(path, tokenizer=tok_dir)
    assert clf.model.config.num_attention_heads == 4
    for a, b in zip(clf.logits(TEXTS), _reference_logits(model, tok_dir)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_save_chexbert_round_trip_and_errors(tmp_path):
    path, tok_dir, _ = _write_chexbert(tmp_path)
    clf = load_classifier(path, tokenizer=tok_dir)
    again = save_chexbert(clf.model, tmp_path / "again.pth")
    state = torch.load(again, weights_only=True)["model_state_dict"]
    assert all(k.startswith("module.") for k in state)
    for a, b in zip(load_classifier(again, tokenizer=tok_dir).logits(TEXTS), clf.logits(TEXTS)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)

    with pytest.raises(ConfigError, match="needs its tokenizer: --tokenizer"):
        load_classifier(path)
    torch.save({"state_dict": {}}, tmp_path / "other.pth")
    with pytest.raises(ConfigError, match="not a CheXbert checkpoint"):
        load_classifier(tmp_path / "other.pth", tokenizer=tok_dir)
    broken = read_chexbert_state(path)
    del broken["linear_heads.13.bias"]
    torch.save({"model_state_dict": broken}, tmp_path / "broken.pth")
    with pytest.raises(ConfigError, match="missing \\['linear_heads.13.bias'\\]"):
        load_classifier(tmp_path / "broken.pth", tokenizer=tok_dir)
