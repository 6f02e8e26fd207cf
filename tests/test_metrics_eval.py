"""evaluate_predictions and the `eval` / `label` commands on a tiny hand-made dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from driftalign.cli.app import main
from driftalign.data import Study, load_dataset, write_studies
from driftalign.errors import DatasetError
from driftalign.metrics import evaluate_predictions, load_predictions
from driftalign.metrics.nlg import NLG_KEYS

# study_id, split, labels, reference report
STUDIES = [
    ("t1", "test", {"Pleural Effusion": 1, "Pneumothorax": 0}, "Small left pleural effusion. No pneumothorax."),
    ("t2", "test", {"Pneumothorax": 1}, "Large right pneumothorax."),
    ("t3", "test", {"No Finding": 1, "Pleural Effusion": 0}, "No pleural effusion. No acute cardiopulmonary process."),
    ("t4", "test", {"Edema": 1, "Cardiomegaly": 1}, "Cardiomegaly with mild pulmonary edema."),
    ("r1", "train", {"No Finding": 1}, "No acute cardiopulmonary process."),
]
# t4 has no prediction (warning); t1 right, t2 misses the pneumothorax, t3 right.
PREDS = [
    {"study_id": "t1", "text": "Small left pleural effusion. No pneumothorax.", "scores": {"Pneumothorax": 0.2}},
    {"study_id": "t2", "text": "No pneumothorax. No acute cardiopulmonary process.", "scores": {"Pneumothorax": 0.6}},
    {"study_id": "t3", "text": "No acute cardiopulmonary process.", "scores": {"Pneumothorax": 0.1}},
]


@pytest.fixture()
def dataset_dir(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    studies = []
    for sid, split, labels, report in STUDIES:
        Image.new("L", (8, 8)).save(root / "images" / f"{sid}.png")
        studies.append(Study(study_id=sid, images=[f"images/{sid}.png"], labels=labels, findings=report, split=split))
    write_studies(root, studies)
    return root


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_evaluate_predictions_on_the_intersection_with_a_warning(dataset_dir: Path) -> None:
    ds = load_dataset(dataset_dir)
    with pytest.warns(UserWarning, match="1 of 4 studies of split 'test' have no prediction"):
        result = evaluate_predictions(PREDS, ds, "test", meteor=False)
    assert result["n"] == 3 and result["n_missing"] == 1 and result["split"] == "test"
    # Pneumothorax: t2 positive (predicted negative), t1 and t3 negative (0 / None), both right.
    pnx = result["accuracy_detail"]["Pneumothorax"]
    assert (pnx["n"], pnx["positives"], pnx["unbalanced"]) == (3, 1, pytest.approx(2 / 3))
    assert pnx["n_balanced"] == 2 and pnx["balanced"] == 0.5
    # Pleural Effusion: t1 positive predicted positive; t2, t3 negative predicted negative -> 1.0
    assert result["accuracy"]["Pleural Effusion"] == 1.0
    assert set(result["accuracy"]) == {"Consolidation", "Pleural Effusion", "Pneumonia", "Pneumothorax", "Edema", "average"}
    assert result["accuracy"]["average"] == pytest.approx(0.75)
    # Clinical: t1 {PE} vs {PE}: 1; t2 {No Finding} vs {Pneumothorax}: 0; t3 {No Finding} vs {No Finding}: 1
    assert result["clinical"]["example_based"]["f1"] == pytest.approx(2 / 3)
    assert set(result["nlg"]) == set(NLG_KEYS) and result["nlg"]["METEOR"] is None
    # AUC Pneumothorax: positive t2 (.6) above both negatives (.2, .1) -> 1.0
    assert result["auc"] == {"Pneumothorax": 1.0, "average": 1.0}
    assert result["synthetic"] is False


def test_unknown_study_id_names_the_file_and_line(dataset_dir: Path, tmp_path: Path) -> None:
    pred_path = _write_jsonl(tmp_path / "pred.jsonl", [PREDS[0], {"study_id": "nope", "text": "x"}])
    preds = load_predictions(pred_path)
    with pytest.raises(DatasetError, match=r"pred\.jsonl:2: study_id 'nope' is not in the dataset"):
        evaluate_predictions(preds, load_dataset(dataset_dir), "test", nlg=False)


def test_prediction_for_another_split_and_duplicates_are_errors(dataset_dir: Path) -> None:
    ds = load_dataset(dataset_dir)
    with pytest.raises(DatasetError, match="'r1' belongs to another split"):
        evaluate_predictions([{"study_id": "r1", "text": ""}], ds, "test", nlg=False)
    with pytest.raises(DatasetError, match="duplicate prediction for study_id 't1'"):
        evaluate_predictions([PREDS[0], PREDS[0]], ds, "test", nlg=False)


def test_bad_prediction_rows_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"study_id": "t1", "text": "ok"}\n{"study_id": "t2", "text": \n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad\.jsonl:2: malformed JSON"):
        load_predictions(bad)
    _write_jsonl(bad, [{"study_id": "t1", "text": "ok", "scores": {"Pneumothorax": 1.5}}])
    with pytest.raises(DatasetError, match=r"bad\.jsonl:1: score of 'Pneumothorax' must be a probability"):
        load_predictions(bad)
    _write_jsonl(bad, [{"study_id": "t1", "text": "ok", "scores": {"PTX": 0.5}}])
    with pytest.raises(DatasetError, match=r"bad\.jsonl:1: unknown observation 'PTX'"):
        load_predictions(bad)
    _write_jsonl(bad, [{"study_id": "t1"}])
    with pytest.raises(DatasetError, match=r"bad\.jsonl:1: 'text' must be a string"):
        load_predictions(bad)


def test_eval_command_writes_stable_json_keys(dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pred_path = _write_jsonl(tmp_path / "pred.jsonl", PREDS)
    out = tmp_path / "metrics.json"
    main(["eval", "--pred", str(pred_path), "--data", str(dataset_dir), "--json", str(out), "--no-meteor"])
    result = json.loads(out.read_text())
    assert {"accuracy", "nlg", "clinical", "auc", "n"} <= set(result)
    assert set(result["clinical"]["example_based"]) == {"precision", "recall", "f1"}
    assert set(result["clinical"]["macro"]) == {"precision", "recall", "f1"}
    assert set(result["nlg"]) == set(NLG_KEYS)
    captured = capsys.readouterr()
    assert "Top-1 accuracy" in captured.out and "1 of 4 studies" in captured.err


def test_eval_command_unknown_study_exits_2_naming_file_and_line(dataset_dir: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    pred_path = _write_jsonl(tmp_path / "pred.jsonl", [{"study_id": "zzz", "text": "x"}])
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--pred", str(pred_path), "--data", str(dataset_dir), "--no-nlg"])
    assert exc.value.code == 2
    assert "pred.jsonl:1: study_id 'zzz'" in capsys.readouterr().err


def test_label_command_adds_labels(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "reports.jsonl", [{"id": 1, "report": "No pneumothorax."}, {"id": 2, "report": "Cardiomegaly."}])
    out = tmp_path / "labelled.jsonl"
    main(["label", str(src), "--field", "report", "--out", str(out)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [1, 2]
    assert rows[0]["labels"]["Pneumothorax"] == 0 and rows[1]["labels"]["Cardiomegaly"] == 1
    assert rows[0]["report"] == "No pneumothorax."


def test_label_command_malformed_jsonl_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "reports.jsonl"
    src.write_text('{"text": "No effusion."}\n\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["label", str(src), "--out", str(tmp_path / "o.jsonl")])
    assert exc.value.code == 2 and "reports.jsonl:3: malformed JSON" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()
    src.write_text('{"body": "No effusion."}\n', encoding="utf-8")
    with pytest.raises(SystemExit):
        main(["label", str(src), "--out", str(tmp_path / "o.jsonl")])
    assert "reports.jsonl:1: missing string field 'text'" in capsys.readouterr().err


def test_eval_labels_with_the_given_labeler(dataset_dir: Path) -> None:
    """Both the predictions and the reference reports go through the labeler given (e.g. a classifier)."""
    seen: list[str] = []

    def everything_positive(texts: list[str]) -> list[dict]:
        seen.extend(texts)
        return [{name: 1 for name in ("Pleural Effusion", "Pneumothorax", "Edema", "Cardiomegaly")} for _ in texts]

    ds = load_dataset(dataset_dir)
    result = evaluate_predictions(PREDS, ds, "test", nlg=False, labeler=everything_positive)
    assert set(seen) >= {p["text"] for p in PREDS} | {"Large right pneumothorax."}
    assert result["clinical"]["example_based"]["f1"] == pytest.approx(1.0)   # labels agree everywhere


def test_eval_command_with_a_report_classifier(dataset_dir: Path, tmp_path: Path) -> None:
    from test_classifier_helpers import write_tiny_classifier

    clf = write_tiny_classifier(tmp_path / "clf")
    pred_path = _write_jsonl(tmp_path / "pred.jsonl", PREDS)
    out = tmp_path / "metrics.json"
    main(["eval", "--pred", str(pred_path), "--data", str(dataset_dir), "--json", str(out), "--no-nlg",
          "--classifier", str(clf)])
    result = json.loads(out.read_text())
    assert result["labeler"] == f"classifier {clf}" and result["n"] == 3
