"""measure_drift on a hand-built three-study dataset, with a keyword labeler and a one-hot embedder,
so every number below can be checked by hand (derivations in the docstrings)."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from driftalign.data.dataset import Dataset, load_dataset
from driftalign.data.io import write_jsonl
from driftalign.drift import measure_drift
from driftalign.drift.outputs import print_summary, write_outputs
from driftalign.drift.plots import PLOT_FILES, write_plots
from driftalign.errors import ConfigError, DatasetError

KEYWORDS = {"effusion": "Pleural Effusion", "pneumothorax": "Pneumothorax", "edema": "Edema",
            "consolidation": "Consolidation"}


def keyword_labeler(texts: Sequence[str]) -> list[dict[str, int | None]]:
    """1 when a sentence mentions the keyword, 0 when that sentence starts with 'No' (1 wins)."""
    out = []
    for text in texts:
        labels: dict[str, int | None] = {}
        for sentence in text.lower().replace("\n", ". ").split(". "):
            for word, finding in KEYWORDS.items():
                if word in sentence:
                    value = 0 if sentence.strip().startswith("no ") else 1
                    labels[finding] = max(labels.get(finding) or 0, value) if finding in labels else value
        out.append(labels)
    return out


class OneHotEmbedder:
    """Every distinct text gets its own axis: cos = 1 for equal texts, 0 otherwise."""

    def __init__(self) -> None:
        self.axes: dict[str, int] = {}

    def embed(self, texts: Sequence[str], description: str = "") -> np.ndarray:
        for t in texts:
            self.axes.setdefault(t, len(self.axes))
        vecs = np.zeros((len(texts), 64), dtype=np.float32)
        for i, t in enumerate(texts):
            vecs[i, self.axes[t]] = 1.0
        return vecs


STUDIES = [
    {"study_id": "s1", "labels": {"Pleural Effusion": 1, "Pneumothorax": 0},
     "findings": "Small left pleural effusion. No pneumothorax.", "meta": {"synthetic": True}},
    {"study_id": "s2", "labels": {"Edema": 1}, "findings": "Mild pulmonary edema.", "meta": {"synthetic": True}},
    {"study_id": "s3", "labels": {"No Finding": 1}, "findings": "", "meta": {"synthetic": True}},
]
SPURIOUS = "spurious"
TRAJECTORIES = [
    ("s1", "A", "Small left effusion. No pneumothorax.", {"drift_events": []}),
    ("s2", "A", "There is edema.", {"drift_events": []}),
    ("s3", "A", "No acute findings.", {"drift_events": []}),
    ("s1", "B", "Effusion on the left. There is a pneumothorax.",
     {"drift_events": [{"type": SPURIOUS, "finding": "Pneumothorax", "sentence": "There is a pneumothorax."}]}),
    ("s2", "B", "Edema. Consolidation in the right lung.",
     {"drift_events": [{"type": SPURIOUS, "finding": "Consolidation", "sentence": "Consolidation in the right lung."},
                       {"type": "omission", "finding": "Cardiomegaly", "sentence": None}]}),
    ("s3", "B", "I'm sorry, I cannot interpret this image.", {"drift_events": []}),
    ("s1", "C", "No effusion.", {"drift_events": []}),
    ("s2", "C", "Edema present.", {"drift_events": []}),
]


def build_dataset(root: Path, with_trajectories: bool = True) -> Path:
    (root / "images").mkdir(parents=True)
    rows = []
    for s in STUDIES:
        Image.new("L", (8, 8)).save(root / "images" / f"{s['study_id']}.png")
        rows.append({**s, "images": [f"images/{s['study_id']}.png"], "split": "test"})
    write_jsonl(root / "studies.jsonl", rows)
    if with_trajectories:
        write_jsonl(root / "trajectories.jsonl", [
            {"study_id": sid, "teacher": t, "prompt": "p", "response": text, "meta": meta}
            for sid, t, text, meta in TRAJECTORIES
        ])
    return root


@pytest.fixture()
def tiny_dataset(tmp_path: Path) -> Dataset:
    return load_dataset(build_dataset(tmp_path / "ds"))


@pytest.fixture()
def tiny_report(tiny_dataset: Dataset):
    return measure_drift(tiny_dataset, labeler=keyword_labeler, embedder=OneHotEmbedder(), max_steps=3, windows=2)


def test_precision_recall_per_teacher(tiny_report) -> None:
    """A asserts {PE}, {Edema}, {} -> TP 2 FP 0 FN 0. B asserts {PE, Pnx}, {Edema, Con}, {} ->
    TP 2 FP 2 FN 0: P 0.5, R 1. C asserts {}, {Edema} (no s3 answer) -> TP 1 FP 0 FN 1: P 1, R 0.5."""
    a, b, c = (tiny_report.teacher(t) for t in "ABC")
    assert (a.tp, a.fp, a.fn, a.precision, a.recall) == (2, 0, 0, 1.0, 1.0)
    assert (b.tp, b.fp, b.fn, b.precision, b.recall) == (2, 2, 0, 0.5, 1.0)
    assert (c.tp, c.fp, c.fn, c.precision, c.recall) == (1, 0, 1, 1.0, 0.5)
    assert b.f1 == pytest.approx(2 / 3)
    assert tiny_report.synthetic and tiny_report.n_studies == 3 and tiny_report.n_trajectories == 8


def test_accuracy_refusal_length_similarity(tiny_report) -> None:
    """B on Pneumothorax: s1 asserted but label 0 (wrong), s2/s3 not asserted (right) -> 2/3.
    B's s3 answer is a refusal by the phrase detector -> 1/3. A's words 5, 3, 3 -> 11/3.
    Similarity (one-hot steps): A s1 shares 'No pneumothorax.' with the reference -> cos 1/2;
    A s2 shares nothing -> 0; s3 has no reference -> skipped: mean 0.25 over 2 studies."""
    a, b = tiny_report.teacher("A"), tiny_report.teacher("B")
    assert b.finding_accuracy["Pneumothorax"] == pytest.approx(2 / 3)
    assert a.finding_accuracy["Pleural Effusion"] == 1.0
    assert tiny_report.teacher("C").finding_accuracy["Pleural Effusion"] == 0.5
    assert b.refusal_rate == pytest.approx(1 / 3) and a.refusal_rate == 0
    assert a.mean_words == pytest.approx(11 / 3) and b.mean_steps == pytest.approx(5 / 3)
    assert a.similarity == pytest.approx(0.25) and a.n_similarity == 2
    assert tiny_report.accuracy_gaps()["Pleural Effusion"] == pytest.approx(0.5)


def test_pairwise_and_fleiss_kappa(tiny_report) -> None:
    """A-B over 3 studies x 13 findings = 39 decisions: both yes 2, only B yes 2, both no 35.
    p_o = 37/39, p_e = (2*4 + 37*35)/39^2 = 1303/1521, kappa = (1443-1303)/(1521-1303) = 140/218.
    Fleiss for Pleural Effusion on the studies all three answered (s1, s2): counts [1 no, 2 yes] and
    [3, 0] -> P_bar = (1/3 + 1)/2 = 2/3, P_e = (2/3)^2 + (1/3)^2 = 5/9, kappa = (1/9)/(4/9) = 0.25."""
    ab = next(k for k in tiny_report.pairwise_kappa if (k.teacher_a, k.teacher_b) == ("A", "B"))
    assert ab.kappa == pytest.approx(140 / 218) and ab.n_decisions == 39
    ac = next(k for k in tiny_report.pairwise_kappa if (k.teacher_a, k.teacher_b) == ("A", "C"))
    assert ac.n_decisions == 26
    pe = next(k for k in tiny_report.fleiss_kappa if k.finding == "Pleural Effusion")
    assert pe.kappa == pytest.approx(0.25) and pe.n_studies == 2


def test_step_drift_curve(tiny_report) -> None:
    """Step index 0 (label '1'): all three studies have >= 2 teachers, all step-0 texts differ -> distance 1.
    Assertions at step 0: A {PE 1, Edema 1}, B {PE 1, Edema 1}, C {Edema 1}: JS(A,B) = 0,
    JS(A,C) = JS(B,C) = 0.311278 -> mean 0.207519. Step index 1: only s1 has two teachers there.
    Events: both located spurious events are in step 1 of B; steps at index 1 = A s1, B s1, B s2 -> 2/3."""
    index = {p.position: p for p in tiny_report.step_drift if p.axis == "index"}
    assert index[0].n_studies == 3 and index[0].embedding_distance == pytest.approx(1.0)
    assert index[0].assertion_js == pytest.approx(0.207519, abs=1e-6)
    assert index[0].n_steps == 8 and index[0].event_density == 0
    assert index[1].n_studies == 1 and index[1].event_density == pytest.approx(2 / 3)
    assert index[1].teacher_event_density["B"] == 1.0
    windows = [p for p in tiny_report.step_drift if p.axis == "window"]
    assert [p.label for p in windows] == ["0.0-0.5", "0.5-1.0"]
    assert tiny_report.recorded_events["B"]["spurious"] == 2 and tiny_report.recorded_events["B"]["omission"] == 1


def test_identical_teachers_do_not_drift(tmp_path: Path) -> None:
    root = build_dataset(tmp_path / "same", with_trajectories=False)
    write_jsonl(root / "trajectories.jsonl", [
        {"study_id": s, "teacher": t, "prompt": "p", "response": "Left effusion. No pneumothorax."}
        for s in ("s1", "s2") for t in ("X", "Y")
    ])
    report = measure_drift(load_dataset(root), labeler=keyword_labeler, embedder=OneHotEmbedder(), windows=2)
    assert all(p.embedding_distance == 0 for p in report.step_drift if p.n_studies)
    assert all(p.assertion_js == 0 for p in report.step_drift if math.isfinite(p.assertion_js))
    assert report.pairwise_kappa[0].kappa == pytest.approx(1.0)
    assert report.recorded_events == {}  # no meta drift_events: no event curve


def test_teacher_and_split_selection(tiny_dataset: Dataset) -> None:
    report = measure_drift(tiny_dataset, ["A", "C"], "test", labeler=keyword_labeler, embedder=OneHotEmbedder())
    assert report.teachers == ["A", "C"] and len(report.pairwise_kappa) == 1
    with pytest.raises(ConfigError, match=r"unknown teacher\(s\) \['Z'\]"):
        measure_drift(tiny_dataset, ["A", "Z"], labeler=keyword_labeler, embedder=OneHotEmbedder())
    with pytest.raises(DatasetError, match="no studies in split 'train'"):
        measure_drift(tiny_dataset, split="train", labeler=keyword_labeler, embedder=OneHotEmbedder())


def test_dataset_without_trajectories_fails_clearly(tmp_path: Path) -> None:
    dataset = load_dataset(build_dataset(tmp_path / "bare", with_trajectories=False))
    with pytest.raises(DatasetError, match=r"trajectories\.jsonl: no teacher trajectories"):
        measure_drift(dataset, labeler=keyword_labeler, embedder=OneHotEmbedder())


def test_outputs_and_plots_written(tiny_report, tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = write_outputs(tiny_report, out) + write_plots(tiny_report, out)
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    assert {p.name for p in written} >= set(PLOT_FILES)
    doc = json.loads((out / "drift.json").read_text())
    assert doc["synthetic"] is True and doc["per_teacher"]["B"]["precision"] == 0.5
    assert doc["fleiss_kappa"]["Pleural Effusion"]["kappa"] == 0.25
    assert set(doc["step_drift"]) == {"index", "window"}
    rows = list(csv.DictReader((out / "per_teacher.csv").open()))
    assert [r["teacher"] for r in rows] == ["A", "B", "C"] and float(rows[2]["recall"]) == 0.5
    assert all(r["synthetic"] == "True" for r in rows)
    print_summary(tiny_report)


def test_cli_on_dataset_without_trajectories_exits_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from driftalign.cli.app import main

    root = build_dataset(tmp_path / "bare", with_trajectories=False)
    with pytest.raises(SystemExit) as e:
        main(["drift", str(root), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "trajectories.jsonl: no teacher trajectories" in err


def test_single_teacher_without_reference_reports(tmp_path: Path) -> None:
    """One teacher, no reference text: no pairs to compare, similarity undefined — still every output."""
    root = tmp_path / "solo"
    build_dataset(root, with_trajectories=False)
    rows = [json.loads(line) for line in (root / "studies.jsonl").open()]
    write_jsonl(root / "studies.jsonl", [{**r, "findings": "", "impression": ""} for r in rows])
    write_jsonl(root / "trajectories.jsonl", [
        {"study_id": sid, "teacher": t, "prompt": "p", "response": text}
        for sid, t, text, _ in TRAJECTORIES if t == "A"
    ])
    report = measure_drift(load_dataset(root), labeler=keyword_labeler, embedder=OneHotEmbedder(), windows=2)
    a = report.teacher("A")
    assert math.isnan(a.similarity) and a.n_similarity == 0 and a.precision == 1.0
    assert report.pairwise_kappa == [] and report.fleiss_kappa == []
    assert all(math.isnan(p.embedding_distance) for p in report.step_drift)
    out = tmp_path / "out"
    written = write_outputs(report, out) + write_plots(report, out)
    assert all(p.is_file() for p in written)
    assert json.loads((out / "drift.json").read_text())["per_teacher"]["A"]["similarity"] is None
