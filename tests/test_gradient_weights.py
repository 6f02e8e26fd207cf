"""DiTPO's gradient token weights (DEER eq. 9-12, `rl.gradient_weights`) and their wiring into `driftalign grpo`.

* a hand-made example whose saliency is known: a fake classifier whose positive logit of head h is
  0.5 * sum_j e_j[h]^2, so dF/de_j = e_j restricted to the reference's findings and s_j = its norm, which the
  test sets through the embedding table; the policy tokens are a hand-made tokenisation of the same text
  with known character spans;
* on a real (tiny, random) `ReportClassifier`: batched = one by one, embeddings path = ids path;
* the policy tokenizer's spans (`completion_spans`) on a byte-level BPE (the tiny student's);
* the trainer override on a fixed batch (A_i * w_i^t as computed here), and `driftalign grpo --token-weights
  gradient --labeler classifier` end to end; no classifier -> a clear error.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
from test_classifier_helpers import write_tiny_bert_base, write_tiny_classifier
from torch import nn
from transformers import BertTokenizer

from driftalign.classifier import Classifier, head_index, load_classifier
from driftalign.cli.app import main
from driftalign.errors import ConfigError
from driftalign.rl.gradient_weights import (
    classifier_saliency,
    completion_spans,
    gradient_token_weights,
    max_normalise,
    overlap_max,
)

TEXT = "Small left pleural effusion. No pneumothorax."
# the classifier's word pieces of TEXT (tiny vocabulary: "effusion" and "pneumothorax" are whole words there)
PIECES = ["small", "left", "pleural", "effusion", ".", "no", "pneumothorax", "."]
# a policy tokenisation of TEXT with known character spans (a leading space belongs to the token, as in BPE),
# and a final EOS that decodes to nothing
POLICY = [(0, 5), (5, 10), (10, 15), (15, 18), (18, 22), (22, 27), (27, 28), (28, 31), (31, 44), (44, 45), (45, 45)]
PE, PTX = head_index("Pleural Effusion"), head_index("Pneumothorax")


class FakeSaliencyModel(nn.Module):
    """Positive logit of head h = 0.5 * sum_j mask_j * e_j[h]^2 (other classes 0): dF/de_j = e_j on the heads of F."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.embed = nn.Embedding.from_pretrained(table, freeze=True)

    def get_input_embeddings(self) -> nn.Module:
        return self.embed

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, **_) -> list[torch.Tensor]:
        energy = 0.5 * (inputs_embeds ** 2 * attention_mask[..., None]).sum(1)          # [B, 14]
        return [torch.stack([torch.zeros_like(energy[:, h]), energy[:, h]] + [torch.zeros_like(energy[:, h])] *
                            (2 if h < 13 else 0), dim=1) for h in range(14)]


@pytest.fixture(scope="module")
def fake(tmp_path_factory) -> Classifier:
    tok = BertTokenizer.from_pretrained(write_tiny_bert_base(tmp_path_factory.mktemp("tok"), with_config=False))
    assert tok.tokenize(TEXT) == PIECES
    table = torch.zeros(len(tok), 14)
    saliency = {"small": {PE: 1.0}, "pleural": {PE: 2.0}, "effusion": {PE: 4.0, PTX: 3.0},
                "no": {PTX: 0.5}, "pneumothorax": {PTX: 4.0}}
    for word, coords in saliency.items():
        for h, v in coords.items():
            table[tok.convert_tokens_to_ids(word), h] = v
    return Classifier(model=FakeSaliencyModel(table), tokenizer=tok, max_length=32)


def test_hand_made_example(fake):
    """Reference positives {Pleural Effusion}: s = small 1, pleural 2, effusion 4, the rest 0; max 4 ->
    s~ = .25, .5, 1. Policy tokens: "Small" -> .25; " left" -> 0; " pleu" and "ral" both overlap "pleural"
    (11-18) -> .5; " eff" (18-22) and "usion" (22-27) overlap "effusion" (19-27) -> 1; "." " No" -> 0;
    " pneumothorax" -> 0; "." -> 0; EOS (empty span) -> 0. w = 1 + s~."""
    (w,) = gradient_token_weights(fake, [TEXT], [["Pleural Effusion"]], [POLICY])
    torch.testing.assert_close(w, torch.tensor([1.25, 1, 1.5, 1.5, 2, 2, 1, 1, 1, 1, 1]))

    # {Pleural Effusion, Pneumothorax}: s_j = sqrt(PE^2 + PTX^2): effusion 5, pneumothorax 4, no .5 -> max 5
    (w2,) = gradient_token_weights(fake, [TEXT], [["Pleural Effusion", "Pneumothorax"]], [POLICY], beta=0.5)
    s = torch.tensor([1, 0, 2, 2, 5, 5, 0, 0.5, 4, 0, 0]) / 5
    torch.testing.assert_close(w2, 1 + 0.5 * s)

    # a policy token spanning two pieces takes their max; no positive finding (a normal reference) -> all 1
    (w3,) = gradient_token_weights(fake, [TEXT], [["Pneumothorax"]], [[(0, 28), (28, 45), (45, 45)]])
    torch.testing.assert_close(w3, torch.tensor([1 + 3 / 4, 1 + 4 / 4, 1.0]))
    (ones,) = gradient_token_weights(fake, [TEXT], [[]], [POLICY])
    assert torch.equal(ones, torch.ones(len(POLICY)))


def test_pieces_cut_at_max_length_and_batches(fake):
    """Pieces beyond the classifier's max_length get no saliency: "effusion" cut off -> its policy tokens 0."""
    short = Classifier(model=fake.model, tokenizer=fake.tokenizer, max_length=5)   # [CLS] small left pleural [SEP]
    (w,) = gradient_token_weights(short, [TEXT], [["Pleural Effusion"]], [POLICY])
    torch.testing.assert_close(w, torch.tensor([1.5, 1, 2, 2, 1, 1, 1, 1, 1, 1, 1]))
    # batching (padding) changes nothing
    texts = [TEXT, "No pleural effusion.", TEXT + " " + TEXT]
    spans = [POLICY, [(0, 2), (2, 20)], [(0, len(texts[2]))]]
    finds = [["Pleural Effusion"], ["Pleural Effusion"], ["Pneumothorax"]]
    batched = gradient_token_weights(fake, texts, finds, spans, batch_size=3)
    single = [gradient_token_weights(fake, [t], [f], [s])[0] for t, f, s in zip(texts, finds, spans)]
    for a, b in zip(batched, single):
        torch.testing.assert_close(a, b)


def test_pure_pieces():
    assert overlap_max([0.2, 0.9, 0.4], [(0, 3), (3, 5), (0, 0)], [(0, 1), (2, 4), (5, 6), (1, 1)]).tolist() == \
        pytest.approx([0.2, 0.9, 0.0, 0.0])
    valid = torch.tensor([False, True, True, False])
    assert max_normalise(torch.tensor([9.0, 2.0, 4.0, 7.0]), valid).tolist() == [0.0, 0.5, 1.0, 0.0]
    assert max_normalise(torch.zeros(3), torch.ones(3, dtype=torch.bool)).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="beta must be >= 0"):
        gradient_token_weights(None, [], [], [], beta=-1)


def test_real_classifier_saliency_is_batch_independent(tmp_path):
    clf = load_classifier(write_tiny_classifier(tmp_path))
    texts = ["Small left pleural effusion. No pneumothorax.", "Heart size is normal.", "Possible pneumonia."]
    heads = [[PE], [head_index("Cardiomegaly"), PE], []]
    enc = clf.encode(texts)
    s = classifier_saliency(clf.model, enc["input_ids"], enc["attention_mask"], heads)
    assert s.shape == enc["input_ids"].shape and torch.all(s[2] == 0) and torch.all(s[0] > 0)
    for i, text in enumerate(texts):
        one = clf.encode([text])
        alone = classifier_saliency(clf.model, one["input_ids"], one["attention_mask"], [heads[i]])[0]
        torch.testing.assert_close(s[i, : alone.numel()], alone, rtol=1e-5, atol=1e-7)
        assert torch.all(s[i, alone.numel():] == 0)                                   # padding
    # the embeddings path is the model itself: same logits as from the ids
    with torch.no_grad():
        via_ids = clf.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        via_emb = clf.model(inputs_embeds=clf.model.get_input_embeddings()(enc["input_ids"]),
                            attention_mask=enc["attention_mask"])
    for a, b in zip(via_ids, via_emb):
        torch.testing.assert_close(a, b)
    assert not any(p.grad is not None for p in clf.model.parameters())              # no parameter gradient


# ---- the policy side and the trainer ---------------------------------------------------------------


@pytest.fixture(scope="module")
def world(mini_world, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gradw")
    return {**mini_world, "root": root, "classifier": write_tiny_classifier(root / "clf").parent}


def test_completion_spans_on_a_byte_level_tokenizer(world):
    from driftalign.models.load import load_processor

    tok = load_processor(world["student"]).tokenizer
    text = "Small left pleural effusion — 5 mm ± 1. No pneumothorax."
    ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    decoded, spans = completion_spans(tok, ids)
    assert decoded == text and len(spans) == len(ids)
    assert spans[0][0] == 0 and spans[-1] == (len(text), len(text))                  # EOS decodes to nothing
    assert all(a <= b and b == c for (a, b), (c, _) in itertools.pairwise(spans))          # contiguous, in order
    assert "".join(text[a:b] for a, b in spans) == text
    pieces = [text[a:b] for a, b in spans]
    assert any("effusion" in p for p in pieces)


def _config(world, out: Path, **kw):
    from driftalign.training.grpo import DiTPOConfig

    values = {"model": world["student"], "data": world["data"], "out": out, "num_generations": 2,
              "max_new_tokens": 8, "switch_step": 1, "lora": False, "max_steps": 1, "token_weights": "gradient",
              "classifier": world["classifier"]}
    return DiTPOConfig(**{**values, **kw})


def test_override_gives_a_times_gradient_weights(world, monkeypatch):
    """The trainer's [B] advantages become A_i * w_i^t with w from `gradient_token_weights` on the decoded
    completions and the study's positive findings (the mini studies: Pleural Effusion)."""
    from trl import GRPOTrainer

    from driftalign.training.grpo_trainer import build_trainer

    trainer, _, data = build_trainer(_config(world, world["root"] / "unit"))
    assert data["classifier"].endswith("final")
    tok = trainer.processing_class.tokenizer
    texts = ["Left pleural effusion.", "No pneumothorax. Heart size is normal."]
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(map(len, ids)) + 1
    completion_ids = torch.full((2, width), tok.pad_token_id)
    mask = torch.zeros(2, width, dtype=torch.long)
    for i, row in enumerate(ids):
        completion_ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    batch = {"completion_ids": completion_ids, "completion_mask": mask, "advantages": torch.tensor([0.7, -0.7])}
    monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions", lambda self, inputs: dict(batch))
    inputs = [trainer.train_dataset[0]] * 2
    assert inputs[0]["positive_findings"] == ["Pleural Effusion"]
    out = trainer._generate_and_score_completions(inputs)

    clf = trainer.classifier
    spans = [completion_spans(tok, row)[1] for row in ids]
    weights = gradient_token_weights(clf, texts, [["Pleural Effusion"]] * 2, spans)
    assert out["advantages"].shape == (2, width)
    for i in range(2):
        n = len(ids[i])
        torch.testing.assert_close(out["advantages"][i, :n], batch["advantages"][i] * weights[i])
        assert torch.all(out["advantages"][i, n:] == 0)
        assert weights[i].min() >= 1 and weights[i].max() == pytest.approx(2.0)      # s~ max-normalised: max 1


def test_grpo_gradient_weights_and_classifier_labeler_end_to_end(world, tmp_path):
    out = tmp_path / "run"
    main(["grpo", "--model", str(world["student"]), "--data", str(world["data"]), "--out", str(out),
          "--num-generations", "2", "--max-new-tokens", "8", "--max-steps", "1", "--switch-step", "1",
          "--token-weights", "gradient", "--classifier", str(world["classifier"]), "--labeler", "classifier",
          "--full", "--lr", "1e-3", "--warmup-ratio", "0"])
    assert (out / "final" / "model.safetensors").is_file()
    data = json.loads((out / "grpo_data.json").read_text())
    assert data["classifier"] == str(world["classifier"] / "final")
    assert "token_weights: gradient" in (out / "final" / "README.md").read_text()


def test_gradient_without_classifier_fails_clearly(world, tmp_path, capsys):
    base = ["grpo", "--model", str(world["student"]), "--data", str(world["data"]), "--out", str(tmp_path / "o"),
            "--switch-step", "0"]
    for flags in (["--token-weights", "gradient"], ["--labeler", "classifier"]):
        with pytest.raises(SystemExit) as e:
            main([*base, *flags])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert f"{' '.join(flags)} needs a report classifier: --classifier DIR" in err, err
    with pytest.raises(SystemExit) as e:
        main([*base, "--token-weights", "gradient", "--classifier", str(tmp_path / "missing")])
    assert e.value.code == 2 and "not found" in capsys.readouterr().err
    from driftalign.training.grpo_trainer import DiTPOTrainer

    with pytest.raises(ConfigError, match="gradient needs a report classifier"):
        DiTPOTrainer(token_weights="gradient")


def test_which_options_need_a_classifier_is_one_rule_of_the_config(tmp_path):
    from driftalign.training.grpo import DiTPOConfig

    assert DiTPOConfig.options_need_classifier({"token_weights": "gradient"})      # a section before validation
    assert DiTPOConfig.options_need_classifier({"labeler": "classifier"})
    assert not DiTPOConfig.options_need_classifier({"token_weights": "tfidf", "labeler": "rules"})
    assert not DiTPOConfig.options_need_classifier({})                              # the defaults read none
    base = {"model": tmp_path, "data": tmp_path, "out": tmp_path / "o", "switch_step": 0}
    assert not DiTPOConfig(**base, token_weights="none").needs_classifier
    for options in ({"token_weights": "gradient"}, {"labeler": "classifier"}):
        assert DiTPOConfig(**base, **options, classifier=tmp_path / "clf").needs_classifier
