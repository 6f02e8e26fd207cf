"""The APO experiment: variant selection on val, table layout, settings guard, and (slow) a smoke run."""

from __future__ import annotations

import pytest

from driftalign.errors import ConfigError
from driftalign.training.apo_experiment import (
    DEFAULT_SWEEP,
    PAPER,
    APOVariant,
    ExperimentSettings,
    best_variant,
    markdown,
    run_apo_experiment,
)


def _row(avg, f1):
    return {"Avg.": avg, "clinical_f1": f1}


def test_the_default_sweep_starts_with_the_papers_apo_and_everything_else_is_opt_in():
    assert DEFAULT_SWEEP[0] == PAPER == APOVariant("paper-vote")
    assert (PAPER.consensus, PAPER.weights, PAPER.negative_tokens, PAPER.beta, PAPER.lr) == ("vote", "uniform", "all", 0.1, 2e-5)
    assert PAPER.label() == "SPD + APO (vote t+, uniform w)"
    assert APOVariant("x", negative_tokens="drifting", lr=1e-4).label() == \
        "SPD + APO (vote t+, uniform w, drifting tokens, lr 0.0001)"


def test_best_variant_is_chosen_on_val_average_then_f1_then_order():
    a, b, c = APOVariant("a"), APOVariant("b"), APOVariant("c")
    val = {"apo-a": _row(0.80, 0.5), "apo-b": _row(0.82, 0.4), "apo-c": _row(0.82, 0.6)}
    assert best_variant(val, (a, b, c)) == c
    val["apo-c"] = _row(0.82, 0.4)
    assert best_variant(val, (a, b, c)) == b          # full tie: the earlier one
    assert best_variant({"apo-a": _row(None, 0.0)}, (a, b)) == a


def _agg(name):
    cells = {k: (0.9, 0.01) for k in ("Con.", "PE", "Pna.", "Pnx.", "Ede.", "Avg.", "clinical_f1")}
    return {"name": name, "seeds": 3, **cells, "err/invented": (1.0, 0.5), "err/total": (2.0, 1.0)}


def test_markdown_has_the_paper_layout_the_gap_the_ci_and_says_synthetic():
    ci = {m: {"diff": 0.01, "lo": -0.02, "hi": 0.04} for m in ("avg_accuracy", "clinical_f1")}
    table = {"settings": {"seeds": [0, 1, 2]}, "students": [_agg("oracle"), _agg("SPD (all teachers)")],
             "teachers": [_agg("sim-gpt-5 (teacher, unhinted)")],
             "inherited_gap": {"Con.": 0.1, "PE": 0.0, "Pna.": -0.01, "Pnx.": None, "Ede.": 0.2, "Avg.": 0.05},
             "bootstrap": [{"name": "APO − SPD all (pooled)", "seeds": "0,1,2", **ci,
                            "drift_errors_per_100": {"diff": -3.0, "lo": -5.0, "hi": -1.0}}],
             "val": [], "consensus": []}
    md = markdown(table)
    assert "| model | Con. | PE | Pna. | Pnx. | Ede. | Avg. | clin. F1 | drift err/100 |" in md
    assert "| oracle | 0.900 ± 0.010 |" in md and "| 2.0 ± 1.0 |" in md
    assert "| gap | +0.100 | +0.000 | -0.010 | - | +0.200 | +0.050 |" in md
    assert "| APO − SPD all (pooled) | 0,1,2 | +0.010 [-0.020, +0.040] | +0.010 [-0.020, +0.040] | -3.0 [-5.0, -1.0] |" in md
    assert all("SYNTHETIC" in line for line in md.splitlines() if line.startswith("## "))


def test_resuming_with_other_settings_is_refused(tmp_path):
    (tmp_path / "settings.json").write_text('{"studies": 1}')
    with pytest.raises(ConfigError, match="other settings"):
        run_apo_experiment(tmp_path, ExperimentSettings.smoke())


@pytest.mark.slow
def test_smoke_experiment_end_to_end(tmp_path):
    table = run_apo_experiment(tmp_path, ExperimentSettings.smoke(seeds=(0, 1)))
    names = [r["name"] for r in table["students"]]
    assert names[:3] == ["oracle (SPD on the reference reports: the ceiling)", "SPD (sim-gpt-5 only)", "SPD (all teachers)"]
    assert len(table["teachers"]) == 7 and table["best_variant"] in {"paper-vote", "drifting"}
    assert any(b["seeds"] == "0,1" for b in table["bootstrap"])
    assert (tmp_path / "table.md").read_text().count("SYNTHETIC") >= 5
