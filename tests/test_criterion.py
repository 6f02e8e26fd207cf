"""A pipeline file's pre-registered `success:` criterion, checked on a run's paired-bootstrap verdicts."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from driftalign.errors import ConfigError
from driftalign.pipeline.config import bundled_pipeline, load_pipeline, validate_pipeline
from driftalign.pipeline.criterion import SuccessCriterion, check, describe, markdown

# apo_drift's criterion (docs/apo.md §9)
CRITERION = SuccessCriterion(run="apo-x", baseline="spd", ci_upper_below={"drift_errors_per_100": 0},
                             ci_lower_above={"avg_accuracy": -0.005, "clinical_f1": -0.01})


def _verdict(run: str, acc: tuple, f1: tuple, drift: tuple, baseline: str = "spd") -> dict:
    keys = ("diff", "lo", "hi")
    return {"run": run, "baseline": baseline, "beat_baseline": True, "avg_accuracy": dict(zip(keys, acc)),
            "clinical_f1": dict(zip(keys, f1)), "drift_errors_per_100": dict(zip(keys, drift))}


def test_every_bound_holds():
    result = check(CRITERION, [_verdict("apo-x", (0.002, -0.001, 0.005), (0.0, -0.004, 0.006), (-2.0, -3.4, -0.6))])
    assert result["met"] is True
    assert [(b["metric"], b["side"], b["ci_end"], b["met"]) for b in result["bounds"]] == [
        ("drift_errors_per_100", "upper", -0.6, True), ("avg_accuracy", "lower", -0.001, True),
        ("clinical_f1", "lower", -0.004, True)]


def test_a_near_miss_on_one_floor_is_not_met_and_says_which():
    """phase 2's numbers: the accuracy CI's lower end -0.0053 is below the -0.005 floor by 0.0003."""
    result = check(CRITERION, [_verdict("apo-x", (0.0004, -0.0053, 0.0059), (0.0006, -0.0041, 0.0055),
                                        (-2.04, -3.375, -0.625))])
    assert result["met"] is False
    assert [b["met"] for b in result["bounds"]] == [True, False, True]
    line = describe(result)
    assert result["line"] == line                                         # written beside the bounds, as printed
    assert line.startswith("apo-x vs spd: not met")
    assert "Δavg_accuracy CI lower end -0.0053 > -0.005: NO" in line
    assert "Δdrift_errors_per_100 CI upper end -0.6250 < +0: yes" in line
    table = markdown(result)
    assert "| lower end of Δavg_accuracy > -0.005 | +0.0004 [-0.0053, +0.0059] | -0.0053 | no |" in table


def test_bounds_are_strict():
    """'the CI excludes 0' is hi < 0: an upper end of exactly 0 does not exclude it."""
    result = check(CRITERION, [_verdict("apo-x", (0.0, -0.005, 0.01), (0.0, 0.0, 0.0), (-1.0, -2.0, 0.0))])
    assert [b["met"] for b in result["bounds"]] == [False, False, True]


def test_no_verdict_for_the_pair_is_not_judged():
    result = check(CRITERION, [_verdict("apo-y", (0.1, 0.05, 0.15), (0.0, 0.0, 0.0), (-5.0, -6.0, -4.0)),
                               _verdict("apo-x", (0.1, 0.05, 0.15), (0.0, 0.0, 0.0), (-5.0, -6.0, -4.0), "oracle")])
    assert result["met"] is None and result["bounds"] == []
    assert "not judged" in describe(result)
    assert "apo-x vs spd: not judged.\n" in markdown(result)          # the experiment.md line keeps the word


def _pipeline(tmp_path, success: dict) -> dict:
    return {"out": str(tmp_path / "run"), "apo": {"apo-x": {}}, "spd_runs": {"spd-gpt5": {"teachers": "sim-gpt-5"}},
            "success": success}


def test_the_pipeline_file_validates_the_criterion(tmp_path):
    cfg = validate_pipeline(_pipeline(tmp_path, {"run": "apo-x", "ci_upper_below": {"drift_errors_per_100": 0}}))
    assert cfg.success.baseline == "spd" and cfg.success.bounds() == [("drift_errors_per_100", "upper", 0.0)]
    assert validate_pipeline(_pipeline(tmp_path, {"run": "spd-gpt5"})).success.run == "spd-gpt5"
    with pytest.raises(ConfigError, match=r"success.run 'apo-z' is not a run of this pipeline \(did you mean 'apo-x'"):
        validate_pipeline(_pipeline(tmp_path, {"run": "apo-z"}))
    with pytest.raises(ConfigError, match="success.baseline 'oracle' is not a student"):
        validate_pipeline(_pipeline(tmp_path, {"run": "apo-x", "baseline": "oracle"}))
    with pytest.raises(ConfigError, match="'drift' is not a verdict metric"):
        validate_pipeline(_pipeline(tmp_path, {"run": "apo-x", "ci_upper_below": {"drift": 0}}))
    with pytest.raises(ConfigError, match="success.ci_lower_abov"):
        validate_pipeline(_pipeline(tmp_path, {"run": "apo-x", "ci_lower_abov": {"avg_accuracy": 0}}))


def test_the_bundled_apo_drift_carries_the_criterion_of_docs_apo_section_9():
    success = load_pipeline(bundled_pipeline("apo_drift")).success
    assert success is not None and (success.run, success.baseline) == ("apo-self-select-dpop", "spd")
    assert success.bounds() == [("drift_errors_per_100", "upper", 0.0), ("avg_accuracy", "lower", -0.005),
                                ("clinical_f1", "lower", -0.01)]


def test_the_experiment_and_the_single_run_print_and_write_it(tmp_path):
    from driftalign.pipeline.experiment import markdown as experiment_markdown
    from driftalign.pipeline.experiment import print_experiment
    from driftalign.pipeline.summary import print_summary, summarize

    verdict = {**_verdict("apo-x", (0.0004, -0.0053, 0.0059), (0.0, -0.004, 0.005), (-2.0, -3.4, -0.6)), "seeds": [0, 1]}
    result = check(CRITERION, [verdict])
    table = {"seeds": [0, 1], "split": "test", "synthetic": True, "students": {}, "inherited_gap": {},
             "verdicts": [verdict], "success": result}
    assert "## Pre-registered success criterion" in experiment_markdown(table)
    assert "apo-x vs spd: not met." in experiment_markdown(table)
    buffer = io.StringIO()
    print_experiment(table, Console(file=buffer, width=400))
    assert "pre-registered success criterion, pooled over seeds [0, 1]: apo-x vs spd: not met" in buffer.getvalue()

    cfg = validate_pipeline({**_pipeline(tmp_path, CRITERION.model_dump()), "eval": None})
    summary = summarize(cfg, [], tmp_path, {})
    assert summary["success"]["met"] is None             # no student evaluated: nothing judged, nothing claimed
    summary["students"] = {"spd": {"accuracy": {"average": 0.9}, "clinical_f1": 0.8, "drift_errors": {"total": 30.0}}}
    summary["verdicts"], summary["success"] = [verdict], result
    buffer = io.StringIO()
    print_summary(summary, Console(file=buffer, width=400))
    assert "pre-registered success criterion on this run: apo-x vs spd: not met" in buffer.getvalue()
