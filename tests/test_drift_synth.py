"""`driftalign drift` on the shared synthetic world, and a check of the measurement against what the
simulated teachers recorded about their own drift.

The check is not a tautology: precision, false positives and their step are measured from the
trajectory *text* (rule labeler + step splitter) against the study *labels*; the simulator's
`meta["drift_events"]` are never read by the measurement of precision. The measurement also sees
false positives the simulator did not intend (e.g. phrasing the labeler reads as an extra finding),
so measured FP >= recorded spurious events, not equal.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest
from scipy.stats import spearmanr

from driftalign.cli.app import main
from driftalign.data.dataset import load_dataset
from driftalign.drift.answers import prepare_answers
from driftalign.drift.events import locate_event, recorded_events
from driftalign.drift.plots import PLOT_FILES
from driftalign.drift.teacher_metrics import confusion
from driftalign.labeling import label_reports

OUTPUT_FILES = ("drift.json", "per_teacher.csv", "pairwise_kappa.csv", "fleiss_kappa.csv", "step_drift.csv",
                "driftalign_config.yaml", *PLOT_FILES)


@pytest.fixture(scope="module")
def drift_out(synth_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("drift") / "out"
    main(["drift", str(synth_world), "--out", str(out)])
    return out


def test_cli_writes_every_output(drift_out: Path) -> None:
    for name in OUTPUT_FILES:
        assert (drift_out / name).is_file() and (drift_out / name).stat().st_size > 0, name
    doc = json.loads((drift_out / "drift.json").read_text())
    assert doc["synthetic"] is True and len(doc["teachers"]) == 7
    for m in doc["per_teacher"].values():
        assert 0 < m["precision"] <= 1 and 0 < m["recall"] <= 1 and 0 < m["similarity"] <= 1
        assert set(m["finding_accuracy"]) == set(doc["accuracy_findings"])
    assert len(doc["pairwise_kappa"]) == 21  # 7 choose 2
    assert len(list(csv.DictReader((drift_out / "step_drift.csv").open()))) == len(doc["step_drift"]["index"]) + 5
    windows = doc["step_drift"]["window"]
    assert all(w["embedding_distance"] > 0 and w["event_density"] is not None for w in windows)


def test_rerun_uses_the_embedding_cache(drift_out: Path, synth_world: Path) -> None:
    """A second run over the same output directory embeds nothing new (resumable, same numbers)."""
    before = json.loads((drift_out / "drift.json").read_text())
    main(["drift", str(synth_world), "--out", str(drift_out), "--no-plots"])
    after = json.loads((drift_out / "drift.json").read_text())
    assert after["per_teacher"] == before["per_teacher"] and after["step_drift"] == before["step_drift"]
    assert after["timings_s"]["embed"] < before["timings_s"]["embed"]


def test_teacher_and_split_flags(synth_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "two"
    main(["drift", str(synth_world), "--out", str(out), "--teachers", "sim-gpt-5,sim-moonshot",
          "--split", "test", "--findings", "mscxrt", "--no-plots"])
    doc = json.loads((out / "drift.json").read_text())
    assert doc["teachers"] == ["sim-gpt-5", "sim-moonshot"] and doc["split"] == "test"
    studies = [json.loads(line) for line in (synth_world / "studies.jsonl").open()]
    assert doc["n_studies"] == sum(s["split"] == "test" for s in studies)
    assert doc["findings"] == ["Consolidation", "Pleural Effusion", "Pneumonia", "Pneumothorax", "Edema"]
    assert set(doc["fleiss_kappa"]) == set(doc["findings"])


def test_bad_flags_fail_with_one_line(synth_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        main(["drift", str(synth_world), "--out", str(tmp_path / "x"), "--teachers", "sim-gpt-6"])
    assert e.value.code == 2 and "unknown teacher(s) ['sim-gpt-6']" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["drift", str(synth_world), "--out", str(tmp_path / "x"), "--split", "holdout"])
    assert e.value.code == 2 and "--split" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["drift", str(synth_world), "--out", str(tmp_path / "x"), "--findings", "Edema,Pneumonitis"])
    assert e.value.code == 2 and "unknown finding(s) ['Pneumonitis']" in capsys.readouterr().err


def test_measured_drift_agrees_with_recorded_drift(synth_world: Path, drift_out: Path) -> None:
    """On the synthetic world the simulator records every spurious finding it puts in a trajectory.

    1. every recorded spurious event (finding not labelled 1) is measured as a false positive, and
       in the step the simulator put it (>= 95%);
    2. per teacher, measured FP >= recorded spurious events on non-positive findings (a lower bound);
    3. across the 7 teachers, the rank correlation between the recorded spurious-event rate and the
       measured 1 - precision is high (Spearman >= 0.7; 0.88 measured on this world), and the
       teacher with the most spurious events per answer is among the two least precise;
    4. the same for recorded laterality events per answer and the measured laterality error rate
       against the reference report's sides (Spearman >= 0.7; 0.96 measured on this world).
    """
    ds = load_dataset(synth_world, verify_images=False)
    studies = {s.study_id: s for s in ds.studies}
    by_teacher = defaultdict(list)
    for a in prepare_answers(ds.trajectories, label_reports):
        by_teacher[a.teacher].append(a)
    doc = json.loads((drift_out / "drift.json").read_text())

    found = located = total = 0
    spurious_rate, one_minus_precision, laterality_rate, side_errors = {}, {}, {}, {}
    for teacher, answers in by_teacher.items():
        spurious = [(a, e) for a in answers for e in recorded_events(a)
                    if e["type"] == "spurious" and studies[a.study_id].labels.get(e["finding"]) != 1]
        total += len(spurious)
        found += sum(e["finding"] in a.asserted for a, e in spurious)
        for a, e in spurious:
            j = locate_event(a, e)
            located += j is not None and e["finding"] in a.step_asserted[j]
        tp, fp, fn = confusion(answers, studies)
        assert fp >= len(spurious), teacher
        assert doc["per_teacher"][teacher]["fp"] == fp
        spurious_rate[teacher] = doc["recorded_events"][teacher]["spurious"] / len(answers)
        one_minus_precision[teacher] = 1 - doc["per_teacher"][teacher]["precision"]
        laterality_rate[teacher] = doc["recorded_events"][teacher]["laterality"] / len(answers)
        side_errors[teacher] = doc["per_teacher"][teacher]["laterality_error_rate"]
    assert total > 100
    assert found / total >= 0.95 and located / total >= 0.95
    teachers = sorted(spurious_rate)
    rho = spearmanr([spurious_rate[t] for t in teachers], [one_minus_precision[t] for t in teachers]).statistic
    assert rho >= 0.7, rho
    most_spurious = max(teachers, key=spurious_rate.get)
    assert most_spurious in sorted(teachers, key=one_minus_precision.get)[-2:]
    rho_side = spearmanr([laterality_rate[t] for t in teachers], [side_errors[t] for t in teachers]).statistic
    assert rho_side >= 0.7, rho_side


def test_outputs_appear_together_and_a_foreign_out_is_refused(synth_world: Path, drift_out: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    """drift writes OUT under a temporary name and renames it when complete (the embedding cache moves with it);
    it never replaces a directory holding files it did not write."""
    assert (drift_out / ".cache" / "embeddings").is_dir() and not list(drift_out.parent.glob(".*.tmp"))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(SystemExit) as e:
        main(["drift", str(synth_world), "--out", str(mine)])
    assert e.value.code == 2 and "notes.txt, which drift did not write" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
