"""The APO experiment: variant list, table layout, settings guard, and (slow) a tiny end-to-end run."""

from __future__ import annotations

import pytest

from driftalign.errors import ConfigError
from driftalign.training.apo_experiment import (
    ExperimentSettings,
    ExperimentTable,
    _check_settings,
    apo_variants,
    run_apo_experiment,
)


def test_variants_cover_each_strategy_and_the_vote_weightings():
    s = ExperimentSettings.full()
    assert apo_variants(s) == [("vote", "uniform", 0.0), ("vote", "drift", 0.0), ("vote", "uniform", 1.0),
                               ("model", "uniform", 0.0), ("hybrid", "uniform", 0.0)]
    assert apo_variants(ExperimentSettings.quick(sft_weight=0.0)) == [("vote", "uniform", 0.0), ("vote", "drift", 0.0)]


def test_markdown_has_the_paper_layout_and_says_synthetic():
    row = {"name": "SPD (all teachers)", "Con.": 0.5, "PE": 0.61, "Pna.": None, "Pnx.": 0.7, "Ede.": 0.5, "Avg.": 0.58}
    table = ExperimentTable(teachers=[row], students=[row], settings={"studies": 10},
                            consensus=[{"strategy": "vote", "f1": 0.9, "avg_accuracy": 0.95, "rows": 7}])
    md = table.markdown()
    assert "| model | Con. | PE | Pna. | Pnx. | Ede. | Avg. |" in md
    assert "| SPD (all teachers) | 0.50 | 0.61 | - | 0.70 | 0.50 | 0.58 |" in md
    assert md.count("## ") == 3 and all("synthetic" in line for line in md.splitlines() if line.startswith("## "))
    assert "| vote | 0.900 | 0.95 | 7 |" in md


def test_resuming_with_other_settings_is_refused(tmp_path):
    _check_settings(tmp_path, ExperimentSettings.quick())
    _check_settings(tmp_path, ExperimentSettings.quick())  # same settings: fine
    with pytest.raises(ConfigError, match="studies"):
        _check_settings(tmp_path, ExperimentSettings.quick(studies=999))


@pytest.mark.slow
def test_tiny_experiment_end_to_end(tmp_path):
    s = ExperimentSettings.quick(studies=30, spd_epochs=0.3, apo_epochs=0.2, max_new_tokens=8, sft_weight=0.0)
    table = run_apo_experiment(tmp_path, settings=s)
    assert [r["name"] for r in table.students][:2] == ["SPD (sim-gpt-5 only)", "SPD (all teachers)"]
    assert len(table.students) == 4 and len(table.teachers) == 7
    assert all("synthetic" in line for line in (tmp_path / "table.md").read_text().splitlines() if line.startswith("## "))
