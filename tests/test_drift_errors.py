"""Drift-error detectors (drift/errors.py): each kind on hand-written, real-style report text."""

from __future__ import annotations

import pytest

from driftalign.constants import OBSERVATIONS
from driftalign.data.schema import Study
from driftalign.drift.errors import ERROR_KINDS, drift_errors, error_rates, reference_for, text_errors


def _study(labels: dict[str, int], findings: str, impression: str = "", sid: str = "s1") -> Study:
    return Study(study_id=sid, images=["images/x.png"], labels={n: labels.get(n) for n in OBSERVATIONS},
                 findings=findings, impression=impression)


LEFT_EFFUSION = _study({"Pleural Effusion": 1, "Pneumothorax": 0},
                       "Small left pleural effusion. No pneumothorax.", "Small left pleural effusion.")
RLL_PNEUMONIA = _study({"Consolidation": 1, "Pneumonia": 1, "Pleural Effusion": 0},
                       "Focal consolidation in the right lower lobe, consistent with pneumonia. No pleural effusion.",
                       "Right lower lobe pneumonia.")


def counts(text: str, study: Study) -> dict[str, int]:
    return text_errors(text, reference_for(study)).counts


def test_correct_report_has_no_errors() -> None:
    assert sum(counts("There is a small left pleural effusion. No pneumothorax is seen.", LEFT_EFFUSION).values()) == 0
    assert sum(counts("Right lower lobe consolidation compatible with pneumonia.", RLL_PNEUMONIA).values()) == 0


def test_invented_finding_counts_once_per_finding_and_not_for_negations() -> None:
    text = "Small left pleural effusion. Right apical pneumothorax. The pneumothorax is small. No edema."
    c = counts(text, LEFT_EFFUSION)
    assert c["invented"] == 1          # pneumothorax (label 0), counted once although mentioned twice
    assert counts("Small left pleural effusion. No pulmonary edema.", LEFT_EFFUSION)["invented"] == 0


def test_invented_ignores_findings_the_reference_hedges() -> None:
    hedged = _study({"Pneumonia": -1}, "Patchy opacity, cannot exclude pneumonia.")
    assert counts("Right lower lobe pneumonia.", hedged)["invented"] == 0


def test_wrong_side() -> None:
    c = counts("There is a small right pleural effusion.", LEFT_EFFUSION)
    assert c["wrong_side"] == 1 and c["overgeneralisation"] == 0 and c["invented"] == 0


def test_bilateral_for_a_one_sided_finding_is_overgeneralisation() -> None:
    c = counts("Bilateral pleural effusions are present.", LEFT_EFFUSION)
    assert c["overgeneralisation"] == 1 and c["wrong_side"] == 0
    c = counts("The pneumonia is attributed to diffuse bilateral opacities throughout both lungs.", RLL_PNEUMONIA)
    assert c["overgeneralisation"] >= 1


def test_one_side_of_a_bilateral_finding_is_a_wrong_side_not_overgeneralisation() -> None:
    bilateral = _study({"Pleural Effusion": 1}, "Small bilateral pleural effusions.")
    c = counts("Small left pleural effusion.", bilateral)
    assert c["wrong_side"] == 1 and c["overgeneralisation"] == 0


def test_wrong_location_compares_zones() -> None:
    assert counts("Consolidation in the right upper lobe, consistent with pneumonia.", RLL_PNEUMONIA)["wrong_location"] >= 1
    # "right basilar" names the lower zone: the same place as "right lower lobe"
    assert counts("Right basilar consolidation compatible with pneumonia.", RLL_PNEUMONIA)["wrong_location"] == 0
    # no location named: nothing to compare
    assert counts("Consolidation on the right, consistent with pneumonia.", RLL_PNEUMONIA)["wrong_location"] == 0


def test_sign_inconsistency_both_directions() -> None:
    assert counts("An abnormally dark, hyperlucent area is consistent with consolidation in the right lower lobe.",
                  RLL_PNEUMONIA)["sign"] == 1
    ptx = _study({"Pneumothorax": 1}, "Small left apical pneumothorax.")
    assert counts("A brighter, whiter area with preserved lung markings is consistent with a left pneumothorax.",
                  ptx)["sign"] == 1
    assert counts("Small left apical pneumothorax with a visible pleural line.", ptx)["sign"] == 0
    # an opacity next to a lucent pneumothorax in one sentence is not a contradiction
    both = _study({"Pneumothorax": 1, "Lung Opacity": 1}, "Left pneumothorax. Left basilar opacity.")
    assert counts("Left apical lucency from a pneumothorax with a dense left basilar opacity.", both)["sign"] == 0


def test_rates_per_100_texts_and_total() -> None:
    texts = ["There is a small right pleural effusion.", "Small left pleural effusion.",
             "Small left pleural effusion. Large right pneumothorax.", "Small left pleural effusion."]
    errors = drift_errors(texts, [LEFT_EFFUSION] * 4)
    rates = error_rates(errors)
    assert set(rates) == {*ERROR_KINDS, "total"}
    assert rates["wrong_side"] == pytest.approx(25.0)
    assert rates["invented"] == pytest.approx(25.0)
    assert rates["total"] == pytest.approx(50.0)
    assert error_rates([]) == {}
    with pytest.raises(ValueError):
        drift_errors(["a"], [])


def test_offending_sentences_are_returned() -> None:
    e = text_errors("No edema. There is a small right pleural effusion.", reference_for(LEFT_EFFUSION))
    assert e.sentences["wrong_side"] == ("There is a small right pleural effusion.",)
    assert e.total == 1


def test_reference_reports_of_the_synthetic_world_have_no_errors(synth_world) -> None:
    """The synthetic reference report states the truth: checked against itself, nothing is flagged."""
    from driftalign.data.dataset import load_dataset

    ds = load_dataset(synth_world, verify_images=False)
    errors = drift_errors([s.report for s in ds.studies], ds.studies)
    assert error_rates(errors)["total"] == 0.0


def test_simulated_teachers_recorded_drift_is_detected(synth_world) -> None:
    """Each recorded laterality / over-generalisation / spurious event of the simulated teachers shows up
    as an error of some kind in that trajectory (the detectors see what the simulator did)."""
    from driftalign.data.dataset import load_dataset

    ds = load_dataset(synth_world, verify_images=False)
    hit = total = 0
    for t in ds.trajectories:
        kinds = {e["type"] for e in t.meta.get("drift_events", [])} & {"laterality", "overgeneralisation", "spurious"}
        if not kinds:
            continue
        total += 1
        hit += text_errors(t.response, reference_for(ds.study(t.study_id))).total > 0
    assert total > 20
    assert hit / total > 0.85
