"""Calibration of the simulated teachers against the APO paper's Table 2, and the method's premise."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from driftalign.cli.app import cli
from driftalign.constants import MSCXRT_FINDINGS
from driftalign.synth.calibration import (
    build_balanced_sets,
    calibrate,
    claim_errors,
    majority_keys,
    max_abs_deviation,
    premise_check,
    target,
    world_truths,
)
from driftalign.synth.teacher_text import parse_yes_no
from driftalign.synth.teacher_unhinted import decision_uniform
from driftalign.synth.teachers import TEACHER_NAMES
from driftalign.synth.truth import Finding, StudyTruth


def test_calibration_2000_studies_matches_table2() -> None:
    """The issue's acceptance check: every cell within 0.03 of Table 2 (designed to be within 0.015)."""
    cells = calibrate(2000, seed=0, show_progress=False)
    assert set(cells) == set(TEACHER_NAMES)
    assert max_abs_deviation(cells) <= 0.015
    assert all(c.unparsed == 0 for row in cells.values() for c in row.values())
    # Systematic drift: an accuracy below 0.5 comes from sens < 0.5 and spec < 0.5.
    sonnet_pnx = cells["sim-sonnet-4"]["Pneumothorax"]
    assert sonnet_pnx.sensitivity < 0.5 and sonnet_pnx.specificity < 0.5


def test_calibration_is_robust_to_the_seed_with_500_studies() -> None:
    for seed in (1, 7):
        assert max_abs_deviation(calibrate(500, seed=seed, show_progress=False)) <= 0.03


@pytest.mark.slow
def test_unstratified_ids_give_bernoulli_level_noise_only() -> None:
    """With the sampler's own ids, decisions on a class are a random subset: sd ~0.011 per cell."""
    assert max_abs_deviation(calibrate(2000, seed=0, stratified=False, show_progress=False)) <= 0.05


def test_balanced_sets_are_balanced_and_numbered() -> None:
    sets = build_balanced_sets(40, seed=3)
    assert list(sets) == list(MSCXRT_FINDINGS)
    for finding, bset in sets.items():
        assert len(bset.positives) == len(bset.negatives) == 20
        assert all(t.labels()[finding] == 1 for t in bset.positives)
        assert all(finding not in t.present() for t in bset.negatives)
        slug = finding.lower().replace(" ", "-")
        assert [t.study_id for t in bset.positives] == [f"calib-{slug}-pos-{k:05d}" for k in range(20)]
    with pytest.raises(ValueError, match="even number"):
        build_balanced_sets(41, seed=0)


def test_decision_uniforms_are_low_discrepancy() -> None:
    """Over studies numbered 0..999 the fraction with u < t is within 0.01 of t (i.i.d.: ~0.03)."""
    ids = [f"calib-x-pos-{k:05d}" for k in range(1000)]
    grid = np.linspace(0.05, 0.95, 19)
    for teacher in TEACHER_NAMES:
        for finding in MSCXRT_FINDINGS:
            u = np.array([decision_uniform(teacher, finding, 0, i) for i in ids])
            assert max(abs((u < t).mean() - t) for t in grid) < 0.01, (teacher, finding)


@pytest.mark.parametrize("text, expected", [
    ("1. **Consolidation**: No — no focal consolidation is seen.\n2. **Pleural Effusion**: Yes — blunting.",
     {"Consolidation": 0, "Pleural Effusion": 1}),
    ("### Assessment:\n- **Edema**: yes — haziness.", {"Edema": 1}),
    ("(3) Pneumothorax: No — there is no pneumothorax.\nPneumothorax: yes — again.", {"Pneumothorax": 0}),
    ("Based on the image:\nPneumonia: no — no pneumonia is seen.", {"Pneumonia": 0}),
    ("Impression: pneumonia.\nStep 1: There is no cardiomegaly.\nGout: yes", {}),
])
def test_parse_yes_no(text: str, expected: dict[str, int]) -> None:
    assert parse_yes_no(text) == expected


def test_claim_errors_by_hand() -> None:
    """Truth: right effusion, consolidation (no side). Claims and their errors:
    (PE, 1, right) 0; (PE, 1, left) 1 wrong side; (Pnx, 1, left) 1 spurious; (Con, 1, left) 0 (truth has no side);
    (Con, 0, None) 1 negated present finding; (Edema, 0, None) 0; (No Finding, 1, None) 1 (study abnormal): total 4."""
    truth = StudyTruth("s", (Finding("Pleural Effusion", side="right"), Finding("Consolidation")))
    keys = {("Pleural Effusion", 1, "right"), ("Pleural Effusion", 1, "left"), ("Pneumothorax", 1, "left"),
            ("Consolidation", 1, "left"), ("Consolidation", 0, None), ("Edema", 0, None), ("No Finding", 1, None)}
    assert claim_errors(keys, truth) == 4


def test_majority_needs_more_than_half() -> None:
    a, b, c = ("Edema", 1, "bilateral"), ("Pneumothorax", 1, "left"), ("Pneumothorax", 1, "right")
    assert majority_keys([{a, b}, {a, c}, {a}, {b}]) == {a}       # a: 3 of 4 > 2; b: 2 of 4 is not > 2
    assert majority_keys([{a, b}, {a, b}, {c}]) == {a, b}


def test_premise_majority_drifts_less_than_every_teacher() -> None:
    """Issue acceptance: over a world's test split (300 studies), the claim-level majority of the
    non-refusing teachers has fewer spurious-or-wrong claims per study than every single teacher."""
    truths = world_truths(1500, seed=0)
    assert len(truths) == 300
    result = premise_check(truths, seed=0)
    for teacher, errors in result.teacher_errors.items():
        assert result.majority_errors < errors, (teacher, errors, result.majority_errors)
    assert result.majority_errors < 0.5 * min(result.teacher_errors.values())


def test_cli_prints_table_and_final_line(tmp_path) -> None:
    out = tmp_path / "cal"
    res = CliRunner().invoke(cli, ["synth-calibration", "--studies", "200", "--seed", "1", "--premise-world", "200",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "sim-moonshot" in res.output and "Table 2" in res.output and "majority of teachers" in res.output
    last = res.output.strip().splitlines()[-1]
    assert re.fullmatch(r"max abs deviation: \d\.\d{3}", last)
    record = json.loads((out / "calibration.json").read_text())
    assert record["synthetic"] is True and record["studies_per_finding"] == 200
    cell = record["teachers"]["sim-gpt-5"]["Consolidation"]
    assert cell["target"] == target("sim-gpt-5", "Consolidation") == 0.75
    assert abs(record["max_abs_deviation"] - float(last.split(": ")[1])) <= 0.0005
    assert (out / "driftalign_config.yaml").is_file()


def test_cli_rejects_odd_study_counts() -> None:
    res = CliRunner().invoke(cli, ["synth-calibration", "--studies", "7"])
    assert res.exit_code != 0
    assert "--studies: must be an even number >= 2, got 7" in str(res.exception) + res.output
