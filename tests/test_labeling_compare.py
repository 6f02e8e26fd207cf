"""`driftalign label --compare`: another labeler's CSV / JSONL, matched, compared, errors named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driftalign.cli.eval_commands import LabelConfig, run_label
from driftalign.constants import OBSERVATIONS
from driftalign.errors import ConfigError, DatasetError
from driftalign.labeling.compare import cohen_kappa, compare_labels, read_other_labels

REPORTS = [
    {"study_id": "a", "text": "Small left pleural effusion. No pneumothorax."},
    {"study_id": "b", "text": "FINDINGS: The lungs are clear of focal airspace disease,\npneumothorax, or effusion."},
]
# What the CheXpert labeler writes: Reports + 14 columns, 1.0 / 0.0 / -1.0 / blank, multi-line reports quoted.
CSV_HEADER = "Reports,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,Lung Lesion,Lung Opacity,Edema,Consolidation," \
             "Pneumonia,Atelectasis,Pneumothorax,Pleural Effusion,Pleural Other,Fracture,Support Devices\n"
CSV_ROWS = ('"Small left pleural effusion. No pneumothorax.",,,,,,,,,,0.0,1.0,,,\n'
            '"FINDINGS: The lungs are clear of focal airspace disease,\npneumothorax, or effusion.",1.0,,,,1.0,,,,,1.0,-1.0,,,\n')


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _reports(tmp_path: Path) -> Path:
    return _write(tmp_path, "reports.jsonl", "".join(json.dumps(r) + "\n" for r in REPORTS))


def test_chexpert_csv_matched_by_row_order(tmp_path: Path) -> None:
    other = read_other_labels(_write(tmp_path, "chexpert.csv", CSV_HEADER + CSV_ROWS))
    assert other.study_ids is None and other.labels[1]["Pleural Effusion"] == -1 and other.labels[0]["Edema"] is None
    result = run_label(LabelConfig(input=_reports(tmp_path), compare=tmp_path / "chexpert.csv", show=10))
    assert result.n == 2
    wrong = {(d.study_id, d.observation): (d.ours, d.theirs) for d in result.disagreements}
    assert wrong == {("b", "Lung Opacity"): (0, 1), ("b", "Pneumothorax"): (0, 1), ("b", "Pleural Effusion"): (0, -1)}
    d = next(d for d in result.disagreements if d.observation == "Pneumothorax")
    assert "clear of focal airspace disease" in d.sentences[0]
    assert result.agreement["Pneumothorax"] == 0.5 and result.agreement["Cardiomegaly"] == 1.0


def test_jsonl_matched_by_study_id_in_any_order(tmp_path: Path) -> None:
    rows = [{"study_id": "b", "labels": {"Pneumothorax": 0, "Pleural Effusion": 0, "Lung Opacity": 0, "No Finding": 1}},
            {"study_id": "a", "labels": {"Pleural Effusion": 1, "Pneumothorax": 0}}]
    other = _write(tmp_path, "other.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "labelled.jsonl"
    result = run_label(LabelConfig(input=_reports(tmp_path), compare=other, out=out))
    assert result.disagreements == [] and all(v == 1.0 for v in result.agreement.values())
    assert len(out.read_text().splitlines()) == 2


@pytest.mark.parametrize("name,text,message", [
    ("bad.jsonl", '{"study_id": "a", "labels": {}}\n{"study_id": "b", "labels": {"Pneumothorax": 2}}\n', "bad.jsonl:2"),
    ("bad.jsonl", '{"study_id": "a", "labels": {"Pneumo": 1}}\n', "bad.jsonl:1: unknown observation"),
    ("bad.jsonl", '{"study_id": "a", "labels": {}}\nnot json\n', "bad.jsonl:2: not valid JSON"),
    ("bad.jsonl", '{"labels": {}}\n', "bad.jsonl:1: each row needs a non-empty string 'study_id'"),
    ("bad.jsonl", '{"study_id": "a", "labels": {}}\n{"study_id": "a", "labels": {}}\n', "bad.jsonl:2: duplicate study_id"),
    ("bad.csv", "Reports,Edema\nx,1\n", "bad.csv:1: CSV header lacks"),
    ("bad.csv", CSV_HEADER + '"x",,,,,,yes,,,,,,,,\n', "bad.csv:2: 'Edema' must be 1, 0, -1 or empty"),
])
def test_malformed_input_names_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message.replace("(", r"\(")):
        read_other_labels(_write(tmp_path, name, text))


def test_mismatched_rows_and_missing_ids_are_errors(tmp_path: Path) -> None:
    one_row = _write(tmp_path, "one.csv", CSV_HEADER + '"x",,,,,,,,,,,,,,\n')
    with pytest.raises(DatasetError, match="1 rows but .* has 2 reports"):
        run_label(LabelConfig(input=_reports(tmp_path), compare=one_row))
    only_a = _write(tmp_path, "a.jsonl", json.dumps({"study_id": "a", "labels": {}}) + "\n")
    with pytest.raises(DatasetError, match="no row for study_id 'b'"):
        run_label(LabelConfig(input=_reports(tmp_path), compare=only_a))
    with pytest.raises(ConfigError, match="--out"):
        run_label(LabelConfig(input=_reports(tmp_path)))


def test_cohen_kappa_hand_computed() -> None:
    assert cohen_kappa([1, 1, 0, 0], [1, 1, 0, 0]) == pytest.approx(1.0)
    # po = 0.5, pe = 0.5*0.5 + 0.5*0.5 = 0.5 -> kappa 0
    assert cohen_kappa([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(0.0)
    assert cohen_kappa([None, None], [None, None]) is None
    result = compare_labels(["No edema."], [{"Edema": 0}], [{name: None for name in OBSERVATIONS}])
    assert [(d.observation, d.ours, d.theirs, d.sentences) for d in result.disagreements] == [("Edema", 0, None, ("No edema.",))]
