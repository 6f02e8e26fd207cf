"""`driftalign run`: planning, content-hashed skip / resume / rerun, and real stages end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from driftalign.cli.app import main
from driftalign.errors import ConfigError
from driftalign.pipeline import PipelineConfig, load_pipeline, run_pipeline
from driftalign.pipeline.runner import decide, read_state, run_stages
from driftalign.pipeline.stages import Stage, plan, stage_hash


def _quiet() -> Console:
    return Console(file=open("/dev/null", "w"))  # noqa: SIM115


# ---- the runner on stages that only write files --------------------------------------------------------------


def _chain(root: Path, values: dict[str, int], calls: list[str], fail: str | None = None) -> list[Stage]:
    """a -> b -> c, plus d reading only a; each writes its value to NAME.txt."""
    reads = {"a": [], "b": ["a"], "c": ["b"], "d": ["a"]}

    def make(name: str) -> Stage:
        def go() -> None:
            calls.append(name)
            if name == fail:
                raise KeyboardInterrupt
            (root / f"{name}.txt").write_text(str(values[name]))
        return Stage(name, name, {"value": values[name]}, go, outputs=[root / f"{name}.txt"],
                     done=root / f"{name}.txt", after=reads[name])

    return [make(n) for n in "abcd"]


def test_changing_one_value_reruns_that_stage_and_the_stages_that_read_it(tmp_path):
    values, calls = {"a": 1, "b": 1, "c": 1, "d": 1}, []
    run_stages(_chain(tmp_path, values, calls), tmp_path, _quiet())
    assert calls == ["a", "b", "c", "d"]
    calls.clear()
    run_stages(_chain(tmp_path, values, calls), tmp_path, _quiet())
    assert calls == []                                           # nothing changed: every stage up to date
    values["b"] = 2
    run_stages(_chain(tmp_path, values, calls), tmp_path, _quiet())
    assert calls == ["b", "c"]                                   # b and what reads it; not a, not d
    assert (tmp_path / "b.txt").read_text() == "2"
    calls.clear()
    values["a"] = 5
    run_stages(_chain(tmp_path, values, calls), tmp_path, _quiet())
    assert calls == ["a", "b", "c", "d"]


def test_an_interrupted_stage_resumes_in_place_and_a_changed_one_starts_afresh(tmp_path):
    values, calls = {"a": 1, "b": 1, "c": 1, "d": 1}, []
    with pytest.raises(KeyboardInterrupt):
        run_stages(_chain(tmp_path, values, calls, fail="b"), tmp_path, _quiet())
    assert read_state(tmp_path, "b")["status"] == "running"
    partial = tmp_path / "b.txt"
    stages = _chain(tmp_path, values, calls)
    hashes = {"a": stage_hash(stages[0], {}, tmp_path)}
    assert decide(stages[1], stage_hash(stages[1], hashes, tmp_path), read_state(tmp_path, "b")) == "resume"
    stages[1].resumable = False
    assert decide(stages[1], stage_hash(stages[1], hashes, tmp_path), read_state(tmp_path, "b")) == "fresh"
    partial.write_text("half")      # its `done` path: exists only once a stage is complete (killed before its state)
    assert decide(stages[1], stage_hash(stages[1], hashes, tmp_path), read_state(tmp_path, "b")) == "finished"
    values["b"] = 3                                              # changed while interrupted: outputs removed first
    seen = []
    stages = _chain(tmp_path, values, calls)
    original = stages[1].run
    stages[1].run = lambda: (seen.append(partial.exists()), original())
    run_stages(stages, tmp_path, _quiet())
    assert seen == [False] and partial.read_text() == "3"


def test_a_stage_killed_after_it_finished_is_not_rerun_and_leftovers_go(tmp_path):
    """A non-resumable stage whose `done` path exists (complete: outputs appear atomically) but whose state still
    says running (killed in between) is recorded as done, not rerun; what killed writers left is deleted first."""
    values, calls = {"a": 1, "b": 1, "c": 1, "d": 1}, []
    stages = _chain(tmp_path, values, calls)
    for stage in stages:
        stage.resumable = False
    run_stages(stages, tmp_path, _quiet())
    (tmp_path / ".driftalign" / "stages" / "c.json").write_text(
        (tmp_path / ".driftalign" / "stages" / "c.json").read_text().replace('"done"', '"running"'))
    leftovers = [tmp_path / ".c.txt.k2j3h4ab.tmp", tmp_path / ".world.tmp" / "images" / "x.png",
                 tmp_path / "spd" / ".final.tmp" / "model.safetensors", tmp_path / "spd" / ".final.old.tmp" / "x"]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    kept = [tmp_path / "spd" / "final.tmp", tmp_path / "spd" / ".partial", tmp_path / "b.txt"]
    kept[0].write_text("a user's"), kept[1].write_text("resume state")
    calls.clear()
    stages = _chain(tmp_path, values, calls)
    for stage in stages:
        stage.resumable = False
    record = run_stages(stages, tmp_path, _quiet())
    assert calls == [] and record["c"]["action"] == "finished" and read_state(tmp_path, "c")["status"] == "done"
    assert not any(p.exists() for p in leftovers) and not (tmp_path / ".world.tmp").exists()
    assert not (tmp_path / "spd" / ".final.tmp").exists() and all(p.exists() for p in kept)


def test_a_deleted_output_reruns_its_stage(tmp_path):
    values, calls = {"a": 1, "b": 1, "c": 1, "d": 1}, []
    run_stages(_chain(tmp_path, values, calls), tmp_path, _quiet())
    calls.clear()
    (tmp_path / "d.txt").unlink()
    run_stages(_chain(tmp_path, values, calls), tmp_path, _quiet())
    assert calls == ["d"]


def test_hashes_do_not_depend_on_where_the_run_directory_lives(tmp_path):
    def stage(root: Path) -> Stage:
        return Stage("x", "x", {"data": str(root / "world"), "lr": 0.1, "resume": True}, lambda: None, [], root / "x")

    assert stage_hash(stage(tmp_path / "a"), {}, tmp_path / "a") == stage_hash(stage(tmp_path / "b"), {}, tmp_path / "b")
    moved = stage(tmp_path / "a")
    moved.config["resume"] = False                               # how a stage runs is not what it computes
    assert stage_hash(moved, {}, tmp_path / "a") == stage_hash(stage(tmp_path / "a"), {}, tmp_path / "a")


# ---- planning ----------------------------------------------------------------------------------------------


def _deer(tmp_path: Path, **extra) -> PipelineConfig:
    return PipelineConfig.model_validate({
        "out": tmp_path / "run", "world": {"studies": 20}, "oracle": {}, "spd": {"max_steps": 3},
        "consensus": {"strategy": "vote"}, "apo": {"apo-a": {"weights": "uniform"}, "apo-b": {"weights": "drift"}},
        "ddsample": {"from": "spd", "k": 2, "size": 4},
        "grpo": {"grpo-t": {"from": "spd", "switch_step": 1, "subset": "ddsample"},
                 "grpo-g": {"switch_step": 1, "token_weights": "gradient"}},
        "classifier": {"max_steps": 2},
        **extra})


def test_plan_wires_every_stage_to_what_it_reads(tmp_path):
    stages = {s.name: s for s in plan(_deer(tmp_path))}
    assert list(stages) == ["world", "collect", "drift", "student", "spd", "oracle", "consensus", "apo-a", "apo-b",
                            "classifier", "ddsample", "grpo-t", "grpo-g", "eval-spd", "eval-oracle", "eval-apo-a",
                            "eval-apo-b", "eval-grpo-t", "eval-grpo-g"]
    out = (tmp_path / "run").resolve()
    assert stages["oracle"].config["targets"] == "reference" and stages["oracle"].config["max_steps"] == 3
    assert stages["apo-b"].config["model"] == str(out / "spd" / "final")
    assert stages["apo-b"].config["consensus"] == str(out / "consensus" / "vote.jsonl")
    assert stages["apo-a"].config["reference_cache"] == stages["apo-b"].config["reference_cache"]
    assert stages["grpo-t"].config["subset"] == str(out / "ddsample" / "subset.jsonl")
    assert stages["grpo-t"].after == ["world", "collect", "spd", "ddsample"]
    assert stages["eval-grpo-t"].after[-1] == "grpo-t"
    assert stages["grpo-g"].config["subset"] is None and stages["grpo-g"].after == ["world", "collect", "spd", "classifier"]
    assert stages["grpo-g"].config["classifier"] == str(out / "classifier" / "final")


@pytest.mark.parametrize(("change", "message"), [
    ({"spd": {"out": "elsewhere"}}, "out is set by the pipeline"),
    ({"spd": {"max_stepz": 3}}, "spd.max_stepz"),
    ({"spd": None}, "APO needs an `spd:`"),
    ({"grpo": {"g": {"from": "nope", "switch_step": 1}}}, "'nope' is not a trained student"),
    ({"world": None}, "give `data: DIR`"),
    ({"classifier": None}, "need a `classifier:` section"),
    ({"ddsample": None}, "`subset: ddsample` needs a `ddsample:` section"),
])
def test_a_bad_pipeline_fails_before_anything_runs(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        plan(_deer(tmp_path, **change))
    assert not (tmp_path / "run").exists()


def test_pipeline_file_overrides_and_errors(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("out: r\nworld: {studies: 30}\nspd: {max_steps: 5}\n")
    cfg = load_pipeline(path, {"spd.max_steps": 7, "drift.split": "val"})
    assert cfg.spd == {"max_steps": 7} and cfg.drift == {"split": "val"} and cfg.world.studies == 30
    path.write_text("out: r\nwrold: {}\n")
    with pytest.raises(ConfigError, match="wrold"):
        load_pipeline(path)
    with pytest.raises(ConfigError, match="pipeline file not found"):
        load_pipeline(tmp_path / "missing.yaml")


PLANNED = """out: {out}
data: {data}
teachers: null
drift: null
student: {{preset: tiny, pretrain_vision: false}}
spd: {{max_steps: 3}}
consensus: {{strategy: vote}}
apo: {{apo-uniform: {{weights: uniform}}}}
eval: {{split: test}}
report: false
"""


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("extra", "sets", "message"), [
    ("", ["apo.apo-unifrom.lr=3e-5"], ("--set apo.apo-unifrom.lr: no APO run 'apo-unifrom' in the pipeline "
                                       "(did you mean 'apo-uniform'? apo: apo-uniform)")),
    ("", ["apo.apo-unifrom={weights: drift}"], "no APO run 'apo-unifrom'"),
    ("", ["student.preset=huge"], "student.preset: Input should be 'tiny', 'base' or 'small' (got 'huge')"),
    ("", ["eval.split=tset"], "eval.split: Input should be 'all', 'train', 'val', 'test' or 'external' (got 'tset')"),
    ("", ["spd.split=tset"], "spd.split: Input should be"),
    ("", ["wrold.studies=30"], "--set wrold.studies: wrold: not a section (did you mean 'world'?"),
    ("wrold: {studies: 30}\n", [], "wrold: not a section (did you mean 'world'?"),
    ("", ["oracle.max_steps=3"], "--set oracle.max_steps: the pipeline has no `oracle:` section"),
    ("", ["report.html=true"], "'report' is a value, not a section"),
    ("", ["spd.max_stepz=3"], "spd.max_stepz: Extra inputs are not permitted"),
    ("", ["spd.teachers=' , '"], "spd.teachers: give 'all' or at least one teacher name"),
    ("", ["ddsample={k: 2}", "grpo={g: {switch_step: 1, subset: ddsample, random_fraction: 0.5}}"],
     "grpo.g: give --subset or --random-fraction, not both"),
    ("", ["spd.teachers=,"], "--set spd.teachers=,: not a YAML value"),
    ("classifier: {train_split: tarin}\n", [], "classifier: --train-split 'tarin' is not one of all, train, val"),
])
def test_a_bad_pipeline_or_set_is_one_line_and_leaves_out_untouched(tmp_path, capsys, extra, sets, message):
    """Planning validates every section, --set and value before anything is deleted or run: an existing run
    directory (here with a student that a bad --set used to delete) is left exactly as it was."""
    data, out = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    (data / "studies.jsonl").write_text("{}\n")
    for path, text in {".driftalign/pipeline.json": "{}", ".driftalign/stages/student.json": '{"hash": "x"}',
                       "student/config.json": "{}"}.items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text(text)
    before = _files(out)
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PLANNED.format(out=out, data=data) + extra)
    with pytest.raises(SystemExit) as e:
        main(["run", str(pipeline), *(arg for s in sets for arg in ("--set", s))])
    err = capsys.readouterr().err
    where = "--set " if message.startswith("--set spd.teachers=,") else f"{pipeline}: "   # an unparsable value: the flag
    assert e.value.code == 2 and err.count("\n") == 1 and err.startswith(f"error: {where}"), err
    assert message in err and "https://" not in err
    assert _files(out) == before


def test_a_set_may_add_a_valid_key_to_a_run_the_file_defines(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("out: r\nworld: {studies: 30}\nspd: {max_steps: 5}\n")
    cfg = load_pipeline(path, {"apo.apo-uniform.sft_weight": 0.5, "consensus.strategy": "select",
                               "world.seed": 3, "oracle": {}, "oracle.lr": 0.1})
    assert cfg.apo == {"apo-uniform": {"weights": "uniform", "sft_weight": 0.5}}   # the default run, one key added
    assert cfg.consensus == {"strategy": "select"} and cfg.world.seed == 3 and cfg.oracle == {"lr": 0.1}
    stages = {s.name: s for s in plan(cfg)}
    assert stages["apo-uniform"].config["sft_weight"] == 0.5
    path.write_text("out: r\nconsensus: {vote: {strategy: vote}, select: {strategy: select}}\n")
    assert load_pipeline(path, {"consensus.select.k": 4}).consensus["select"] == {"strategy": "select", "k": 4}
    with pytest.raises(ConfigError, match="no consensus 'selct' in the pipeline"):
        load_pipeline(path, {"consensus.selct.k": 4})
    with pytest.raises(ConfigError, match=r"apo\.apo-uniform\.lrr: Extra inputs are not permitted"):
        plan(load_pipeline(path, {"apo.apo-uniform.lrr": 1}))


def test_a_missing_dataset_points_to_documentation_that_exists(tmp_path):
    cfg = PipelineConfig.model_validate({"out": tmp_path / "run", "data": tmp_path / "nothing"})
    with pytest.raises(ConfigError) as e:
        plan(cfg)
    assert "docs/data.md" not in str(e.value) and "The dataset directory" in str(e.value)
    assert "## The dataset directory" in (Path(__file__).parents[1] / "README.md").read_text()


def test_student_presets_are_the_models_presets():
    from typing import get_args

    from driftalign.constants import Preset
    from driftalign.models.presets import PRESETS

    assert set(get_args(Preset)) == set(PRESETS)


def test_run_refuses_a_directory_it_did_not_make(tmp_path):
    (tmp_path / "precious.txt").write_text("user data")
    cfg = PipelineConfig.model_validate({"out": tmp_path, "world": {"studies": 20}, "teachers": None, "drift": None,
                                         "student": None, "spd": None, "consensus": None, "apo": None})
    with pytest.raises(ConfigError, match="not a driftalign run directory"):
        run_pipeline(cfg, _quiet())
    assert (tmp_path / "precious.txt").read_text() == "user data"


# ---- real stages -------------------------------------------------------------------------------------------


def test_real_stages_rerun_only_from_the_changed_section(tmp_path, capsys):
    """world -> collect (simulated teachers over HTTP) -> drift, through the CLI; then drift.split changes."""
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(f"out: {tmp_path / 'run'}\nworld: {{studies: 20, image_size: 32}}\n"
                        "teachers: {simulated: true}\ndrift: {split: test, plots: false}\n"
                        "student: null\nspd: null\nconsensus: null\napo: null\neval: null\nreport: false\n")
    main(["run", str(pipeline)])
    run = tmp_path / "run"
    first = capsys.readouterr().out
    assert first.count("✓") == 3 and "up to date" not in first
    trajectories = (run / "world" / "trajectories.jsonl").read_text()
    assert len(trajectories.splitlines()) == 7 * len((run / "world" / "studies.jsonl").read_text().splitlines())
    main(["run", str(pipeline), "--set", "drift.split=all"])
    second = capsys.readouterr().out
    assert second.count("up to date") == 2 and second.count("✓") == 1 and "drift (all split)" in second
    assert yaml.safe_load((run / "drift" / "driftalign_config.yaml").read_text())["split"] == "all"
    assert (run / "world" / "trajectories.jsonl").read_text() == trajectories   # collect was not redone
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stages"]["world"]["action"] == "skip" and summary["stages"]["drift"]["action"] == "fresh"


def test_named_consensus_runs_extra_spd_students_and_seeds(tmp_path):
    from driftalign.pipeline.experiment import aggregate, with_seed

    cfg = _deer(tmp_path, consensus={"vote": {"strategy": "vote"}, "select": {"strategy": "select"}},
                apo={"apo-v": {"weights": "uniform"}, "apo-s": {"t_plus": "select"}},
                spd_runs={"spd-gpt5": {"teachers": "sim-gpt-5"}}, ddsample=None, grpo=None, seeds=[3, 4])
    stages = {s.name: s for s in plan(cfg)}
    assert {"consensus-vote", "consensus-select", "spd-gpt5", "eval-spd-gpt5"} <= stages.keys()
    assert stages["apo-s"].config["consensus"].endswith("consensus/select.jsonl")
    assert stages["apo-s"].after[-1] == "consensus-select" and stages["apo-v"].after[-1] == "consensus-vote"
    assert stages["spd-gpt5"].config["teachers"] == "sim-gpt-5" and stages["spd-gpt5"].config["max_steps"] == 3
    seeded = with_seed(cfg, 4)
    assert seeded.out == cfg.out / "seed-4" and seeded.seeds is None and not seeded.report
    seeded_stages = {s.name: s for s in plan(seeded)}
    assert {seeded_stages[n].config["seed"] for n in ("spd", "oracle", "spd-gpt5", "apo-v", "apo-s")} == {4}
    assert seeded_stages["world"].config["world"]["seed"] == 4
    with pytest.raises(ConfigError, match="t_plus 'nope' is not one"):
        plan(_deer(tmp_path, apo={"a": {"t_plus": "nope"}}))

    def row(avg: float, errors: float) -> dict:
        acc = {name: avg for name in ("Consolidation", "Pleural Effusion", "Pneumonia", "Pneumothorax", "Edema")}
        return {"accuracy": {**acc, "average": avg}, "clinical_f1": 0.5, "drift_errors": {"total": errors}}

    table = aggregate({0: {"students": {"oracle": row(0.9, 1.0), "spd": row(0.8, 3.0)}},
                       1: {"students": {"oracle": row(1.0, 2.0), "spd": row(0.8, 5.0)}}})
    assert table["students"]["oracle"]["Avg."] == pytest.approx((0.95, 0.0707107), abs=1e-6)   # mean, std (ddof 1)
    assert table["students"]["spd"]["drift err/100"] == pytest.approx((4.0, 1.4142136), abs=1e-6)
    assert table["inherited_gap"]["Avg."] == pytest.approx(0.15)


def test_consensus_runs_that_draw_take_the_seed_and_a_later_option_hashes_only_when_set(tmp_path):
    """with_seed gives self-select and --max-studies consensus runs the run's seed (APO's, so both take one
    subset) and leaves the others' configs alone; `max_studies` (added after runs existed) is out of the
    stage config while unset, so adding the option reran nothing."""
    from driftalign.pipeline.experiment import with_seed

    cfg = _deer(tmp_path, consensus={"vote": {"strategy": "vote"}, "sub": {"strategy": "vote", "max_studies": 4},
                                     "ss": {"strategy": "self-select", "k": 2}},
                apo={"apo-v": {"t_plus": "vote"}}, ddsample=None, grpo=None, seeds=[3])
    stages = {s.name: s for s in plan(with_seed(cfg, 3))}
    assert stages["consensus-sub"].config["seed"] == stages["consensus-ss"].config["seed"] == 3
    assert stages["consensus-vote"].config["seed"] == 0 and "max_studies" not in stages["consensus-vote"].config
    assert stages["consensus-sub"].config["max_studies"] == 4


@pytest.mark.parametrize("name", ["demo", "apo_table5", "apo_drift_select", "apo_drift", "deer", "deer_cpu"])
def test_every_bundled_pipeline_plans(tmp_path, name):
    from driftalign.pipeline.config import bundled_pipeline
    from driftalign.pipeline.experiment import with_seed

    cfg = load_pipeline(bundled_pipeline(name), {"out": str(tmp_path / name)})
    for seed in cfg.seeds or [None]:
        stages = plan(cfg if seed is None else with_seed(cfg, seed))
        assert stages and all(s.kind != "student" or f"eval-{s.name}" in {t.name for t in stages} for s in stages)


DEER_TOY = ["--set", "seeds=[0]", "--set", "world.studies=20", "--set", "world.image_size=32",
            "--set", "student.preset=tiny", "--set", "student.pretrain_vision=false", "--set", "spd.max_steps=3",
            "--set", "ddsample.k=2", "--set", "ddsample.max_new_tokens=8",
            "--set", "eval.max_new_tokens=8", "--set", "eval.bootstrap=100", "--set", "report=false",
            "--set", "ddsample.fraction=0.5", "--set", "classifier.max_steps=2", "--set", "classifier.max_length=32"]
GRPO_RUNS = ("grpo-100", "grpo-20-random", "ditpo-tfidf-100", "ditpo-gradient-100", "deer")
for _run in GRPO_RUNS:
    DEER_TOY += ["--set", f"grpo.{_run}.max_steps=2", "--set", f"grpo.{_run}.switch_step=1",
                 "--set", f"grpo.{_run}.num_generations=2", "--set", f"grpo.{_run}.batch_size=2",
                 "--set", f"grpo.{_run}.max_new_tokens=8"]


@pytest.mark.slow
def test_the_bundled_deer_pipeline_runs_at_toy_size(tmp_path, capsys):
    from driftalign.pipeline.config import bundled_pipeline
    from driftalign.pipeline.deer_tables import comparisons

    main(["run", "deer", "--out", str(tmp_path / "deer"), *DEER_TOY])
    table = json.loads((tmp_path / "deer" / "experiment.json").read_text())
    assert set(table["students"]) == {"spd", *GRPO_RUNS}
    assert {(v["run"], v["baseline"]) for v in table["verdicts"]} == {(run, "spd") for run in GRPO_RUNS}
    printed = capsys.readouterr().out
    assert "deer beat spd (pooled over seeds [0])" in printed and "DEER Table 1 / Table 7" in printed
    deer = table["deer"]                                             # DEER's layouts, read from the run
    assert list(deer["table1"]) == ["spd", *GRPO_RUNS] and list(deer["table7"]) == list(GRPO_RUNS)
    assert all(row["CE F1"][0] is not None and row["BLEU-4"][0] is not None for row in deer["table1"].values())
    assert all(0 <= row["zero-std groups, phase 1"][0] <= 1 for row in deer["table7"].values())
    assert {(c["run"], c["baseline"]) for c in deer["comparisons"]} == set(comparisons(load_pipeline(bundled_pipeline("deer")).grpo))
    assert "deer beat grpo-20-random (pooled over seeds [0])" in printed
    text = (tmp_path / "deer" / "experiment.md").read_text()
    assert "## DEER Table 7 layout" in text and "## DEER's ablations" in text


def test_the_experiment_table_has_words_and_invented_findings_per_student(tmp_path):
    """docs/apo.md §9's columns: mean words per report (from the run's preds) and invented findings per 100."""
    from driftalign.pipeline.experiment import COLUMNS, aggregate, markdown
    from driftalign.pipeline.summary import mean_words

    preds = tmp_path / "spd.jsonl"
    preds.write_text('{"study_id": "a", "text": "No acute findings."}\n{"study_id": "b", "text": "Small left effusion. '
                     'No pneumothorax."}\n')
    assert mean_words(preds) == pytest.approx(4.0) and mean_words(tmp_path / "absent.jsonl") is None

    def row(words: float | None, invented: float) -> dict:
        acc = {name: 0.8 for name in ("Consolidation", "Pleural Effusion", "Pneumonia", "Pneumothorax", "Edema")}
        return {"accuracy": {**acc, "average": 0.8}, "clinical_f1": 0.5, "words": words,
                "drift_errors": {"invented": invented, "total": invented + 10}}

    table = aggregate({0: {"students": {"spd": row(50.0, 20.0)}}, 1: {"students": {"spd": row(60.0, 30.0)}}})
    assert table["students"]["spd"]["words"] == pytest.approx((55.0, 7.0710678), abs=1e-6)
    assert table["students"]["spd"]["invented/100"] == pytest.approx((25.0, 7.0710678), abs=1e-6)
    assert {"words", "invented/100", "drift err/100"} <= set(COLUMNS)
    table.update(seeds=[0, 1], synthetic=True, split="test", verdicts=[])
    assert "| spd | 0.800 ± 0.000 |" in markdown(table) and "| 55.0 ± 7.1 | 25.0 ± 7.1 | 35.0 ± 7.1 |" in markdown(table)
