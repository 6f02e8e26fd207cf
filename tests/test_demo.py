"""`driftalign demo` end to end at toy size: every stage runs and writes its outputs."""

from __future__ import annotations

import json

import pytest

from driftalign.cli.app import main
from driftalign.errors import ConfigError


APO_RUNS = ("apo-vote", "apo-self-select-dpop")


@pytest.mark.slow
def test_demo_runs_every_stage_and_resumes(tmp_path, capsys):
    out = tmp_path / "demo"
    main(["demo", "--out", str(out), "--studies", "30", "--spd-steps", "3", "--apo-steps", "2",
          "--max-new-tokens", "8", "--weights", "uniform", "--vision-pretrain-images", "48",
          "--vision-pretrain-steps", "2"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["synthetic"] is True
    assert set(summary["students"]) == {"spd", *APO_RUNS}
    assert set(summary["students"]["spd"]["drift_errors"]) >= {"invented", "wrong_side", "sign", "total"}
    assert [(v["run"], v["baseline"]) for v in summary["verdicts"]] == [(run, "spd") for run in APO_RUNS]
    for verdict in summary["verdicts"]:
        assert isinstance(verdict["beat_baseline"], bool)
        assert verdict["avg_accuracy"]["lo"] <= verdict["avg_accuracy"]["diff"] <= verdict["avg_accuracy"]["hi"]
    printed = capsys.readouterr().out
    assert all(f"{run} beat spd on this run: " in printed for run in APO_RUNS)
    assert printed.rstrip().endswith(f"report: {out.resolve() / 'report.html'}")
    assert "Trained on SYNTHETIC data" in (out / "spd" / "final" / "README.md").read_text()
    for path in ("world/trajectories.jsonl", "teacher_requests.jsonl", "drift/drift.json", "spd/final/config.json",
                 "consensus/vote.jsonl", "consensus/self-select.jsonl", "apo-vote/final/config.json",
                 "apo-self-select-dpop/final/config.json", "eval/spd.json", "preds/apo-self-select-dpop.jsonl"):
        assert (out / path).exists(), path
    # t+ was sampled only for the studies APO trained on (--max-studies = steps x batch, APO's seed)
    assert len((out / "consensus" / "self-select.jsonl").read_text().splitlines()) == 2 * 4
    monitor = [json.loads(line) for line in (out / "apo-vote" / "trainer_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in monitor if "monitor/words" in r] == [0, 2]    # the training monitor is on
    n_traj = len((out / "world" / "trajectories.jsonl").read_text().splitlines())
    n_studies = len((out / "world" / "studies.jsonl").read_text().splitlines())
    assert n_traj == 7 * n_studies
    # the same demo again: every stage is up to date; another APO lr reruns APO and its eval only
    capsys.readouterr()
    main(["demo", "--out", str(out), "--studies", "30", "--spd-steps", "3", "--apo-steps", "2",
          "--max-new-tokens", "8", "--weights", "uniform", "--vision-pretrain-images", "48",
          "--vision-pretrain-steps", "2"])
    assert capsys.readouterr().out.count("up to date") == 12
    main(["demo", "--out", str(out), "--studies", "30", "--spd-steps", "3", "--apo-steps", "2",
          "--max-new-tokens", "8", "--weights", "uniform", "--vision-pretrain-images", "48",
          "--vision-pretrain-steps", "2", "--apo-lr", "3e-5"])
    printed = capsys.readouterr().out
    assert printed.count("up to date") == 8 and printed.count("✓") == 4


def test_demo_refuses_to_delete_a_directory_it_did_not_make(tmp_path):
    from driftalign.pipeline.demo import DemoConfig, run_demo

    (tmp_path / "precious.txt").write_text("user data")
    with pytest.raises(ConfigError, match="was not made by the demo"):
        run_demo(DemoConfig(out=tmp_path, fresh=True))
    with pytest.raises(ConfigError, match="not a driftalign run directory"):
        run_demo(DemoConfig(out=tmp_path))
    assert (tmp_path / "precious.txt").exists()
