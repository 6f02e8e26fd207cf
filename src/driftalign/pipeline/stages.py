"""The stages of a pipeline file, in order: each one a stage config + the library call of its command.

`plan(cfg)` turns a `PipelineConfig` into `Stage`s. Every stage calls the same function with the
same config class as its CLI command (`driftalign spd` -> `run_spd(SPDConfig)`), so a pipeline run
and a run of the commands one by one give the same outputs. Where each stage writes, under OUT:

    world/                       world            (synthetic; a user dataset stays where it is)
    world/trajectories.jsonl     collect          (+ teachers.yaml, teacher_requests.jsonl)
    drift/                       drift
    student/                     init-student
    oracle/, spd/                SPD on the reference reports / on the teachers
    consensus/STRATEGY.jsonl     consensus
    NAME/                        one per APO run (apo: {NAME: ...}); apo-reference-cache/ is shared
    ddsample/                    DDSampling
    NAME/                        one per GRPO/DiTPO run
    preds/NAME.jsonl, eval/NAME.json   generate + eval of every trained student
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from driftalign.config import validation_message
from driftalign.errors import ConfigError, DriftalignError
from driftalign.pipeline.config import PipelineConfig

# keys a section may not set: the pipeline wires them from the other stages
WIRED = {"model", "data", "out", "consensus", "subset", "pred", "json", "classifier"}
UNHASHED = {"resume"}
SPD_RUNNER = "driftalign.training.spd_trainer"   # how a stage runs, not what it computes


@dataclass
class Stage:
    """One step of the run. `config` (JSON-able) is what its content hash covers, with the hashes of
    the stages it reads (`after`); `outputs` are removed before it runs afresh; an interrupted
    `resumable` stage continues in place when its hash is unchanged; `done` exists only once the stage
    is complete (an atomically published directory, or the last file the stage writes)."""

    name: str
    title: str
    config: dict[str, Any]
    run: Callable[[], Any]
    outputs: list[Path]
    done: Path
    after: list[str] = field(default_factory=list)
    resumable: bool = True
    kind: str = "stage"          # "student" for a trained model that eval and the summary report on


def _relative(value: Any, out: Path) -> Any:
    """Paths under OUT written as $OUT/...: a moved run directory keeps its hashes."""
    if isinstance(value, dict):
        return {k: _relative(v, out) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, out) for v in value]
    if isinstance(value, str):
        root = str(out)
        if value == root or value.startswith(root + "/"):
            return "$OUT" + value[len(root):]
    return value


def stage_hash(stage: Stage, upstream: dict[str, str], out: Path) -> str:
    """Content hash of a stage: its resolved config (paths relative to OUT), the hashes of the stages it
    reads, and the fingerprints of the user files it reads (every path outside OUT, `fingerprint`)."""
    from driftalign.pipeline.fingerprint import input_fingerprints

    config = {k: v for k, v in stage.config.items() if k not in UNHASHED}
    payload = {"stage": stage.name, "config": _relative(config, out), "after": {a: upstream[a] for a in stage.after}}
    inputs = input_fingerprints(config, out, own=[*stage.outputs, stage.done])
    if inputs:              # a run on the synthetic world (every path under OUT) keeps the hashes it had
        payload["inputs"] = inputs
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _build(config_cls: type[BaseModel], section: dict[str, Any] | None, where: str, **wired: Any) -> Any:
    """`config_cls` from a section + the wired keys; a wired key in the section is an error."""
    section = dict(section or {})
    clash = sorted(set(section) & WIRED & set(wired))
    if clash:
        raise ConfigError(f"{where}: {', '.join(clash)} is set by the pipeline; remove it")
    try:
        return config_cls.model_validate({**section, **wired})
    except ValidationError as e:
        raise ConfigError(validation_message(e, prefix=f"{where}.")) from None


def _dump(config: BaseModel) -> dict[str, Any]:
    """The config a stage's hash covers. A field marked `json_schema_extra={"hashed_when_set": True}` (an option
    added after runs existed) is left out while at its default, so adding it reruns nothing already done."""
    data = config.model_dump(mode="json")
    for name, field in type(config).model_fields.items():
        if (field.json_schema_extra or {}).get("hashed_when_set") and getattr(config, name) == field.default:
            data.pop(name, None)
    return data


def _file_digest(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except FileNotFoundError:
        raise ConfigError(f"teachers.file: {path} not found") from None


def plan(cfg: PipelineConfig) -> list[Stage]:
    """The stages of `cfg`, in run order (module docstring). Every stage config is built and validated
    here, before anything runs; an error is one line naming the pipeline file and the section."""
    try:
        return _plan(cfg)
    except ConfigError as e:
        raise ConfigError(f"{cfg.source}: {e}") from None
    except ValidationError as e:     # a config built here from sections that validated: a bug, still one line
        raise ConfigError(f"{cfg.source}: {validation_message(e)}") from None


def _plan(cfg: PipelineConfig) -> list[Stage]:
    out = cfg.out.resolve()
    stages: list[Stage] = []
    data_after: list[str] = []

    # ---- data: the synthetic world or the user's dataset, then the teachers' trajectories ----------
    if cfg.data is not None:
        data = cfg.data.resolve()
        if not (data / "studies.jsonl").is_file():
            raise ConfigError(f"data: {data} has no studies.jsonl (not a dataset directory: see \"The dataset "
                              "directory\" in the README; `driftalign validate DIR` checks one)")
    else:
        if cfg.world is None:
            raise ConfigError("give `data: DIR` (a dataset) or a `world:` section (the synthetic world)")
        data = out / "world"
        world = cfg.world
        stages.append(Stage("world", "world (synthetic)", {"world": _dump(world)}, lambda: _world(world, data),
                            outputs=[data], done=data / "studies.jsonl", resumable=False))
        data_after = ["world"]
    if cfg.teachers is not None:
        teachers = cfg.teachers
        if not teachers.simulated and teachers.file is None:
            raise ConfigError("teachers: set `simulated: true` or `file: teachers.yaml`")
        if teachers.simulated and cfg.data is not None:
            raise ConfigError("teachers: the simulated teachers answer for the synthetic world only; "
                              "give `file: teachers.yaml` for a user dataset")
        from driftalign.teachers.collect import default_store_path

        ours = cfg.data is None   # never delete trajectories from a user's dataset: collect resumes there
        outputs = [data / "trajectories.jsonl", default_store_path(data), out / "teacher_requests.jsonl",
                   out / "teachers.yaml"] if ours else []
        stages.append(Stage(
            "collect", "collect (simulated teachers over HTTP)" if teachers.simulated else "collect",
            {"teachers": _dump(teachers), "teachers_file": _file_digest(teachers.file)},
            lambda: _collect(teachers, data, out), outputs=outputs, done=data / "trajectories.jsonl",
            after=list(data_after)))
        data_after = [*data_after, "collect"]

    # ---- drift ----------------------------------------------------------------------------------------
    if cfg.drift is not None:
        from driftalign.drift.run import DriftConfig, run_drift

        drift = _build(DriftConfig, cfg.drift, "drift", data=data, out=out / "drift")
        stages.append(Stage("drift", f"drift ({drift.split} split)", _dump(drift), lambda: run_drift(drift, print_tables=False),
                            outputs=[out / "drift"], done=out / "drift" / "drift.json", after=list(data_after)))

    # ---- the student, SPD (and the oracle), consensus, APO ----------------------------------------------
    trained: dict[str, Path] = {}   # stage name -> its final model directory
    if cfg.student is not None:
        student = cfg.student
        reads = {"data": str(cfg.data)} if cfg.data is not None else {}   # a user dataset: its text trains the tokenizer
        stages.append(Stage("student", f"init-student ({student.preset})", {"student": _dump(student), **reads},
                            lambda: _student(student, data, out / "student"), outputs=[out / "student"],
                            done=out / "student" / "config.json", after=list(data_after), resumable=False))
    student_dir = out / "student"
    from driftalign.training.spd import SPDConfig

    for name, section, extra in (("spd", cfg.spd, {}), ("oracle", cfg.oracle, {"targets": "reference"})):
        if section is None or cfg.student is None:
            continue
        merged = {**(cfg.spd or {}), **section, **extra} if name == "oracle" else dict(section)
        spd_cfg = _build(SPDConfig, merged, name, model=student_dir, data=data, out=out / name)
        spd_cfg.resume = True
        if name == "oracle":
            title = "oracle (SPD on the reference reports)"
        else:
            title = "spd (reference reports)" if spd_cfg.targets == "reference" else f"spd ({spd_cfg.teachers} teachers)"
        stages.append(Stage(name, title, _dump(spd_cfg), _runner(SPD_RUNNER, "run_spd", spd_cfg), outputs=[out / name],
                            done=out / name / "final" / "config.json", after=[*data_after, "student"], kind="student"))
        trained[name] = out / name / "final"

    for name, section in (cfg.spd_runs or {}).items():
        if cfg.student is None:
            raise ConfigError(f"spd_runs.{name}: needs a `student:` section")
        run_cfg = _build(SPDConfig, {**(cfg.spd or {}), **section}, f"spd_runs.{name}", model=student_dir, data=data,
                         out=out / name)
        run_cfg.resume = True
        stages.append(Stage(name, f"spd {name}", _dump(run_cfg), _runner(SPD_RUNNER, "run_spd", run_cfg), outputs=[out / name],
                            done=out / name / "final" / "config.json", after=[*data_after, "student"], kind="student"))
        trained[name] = out / name / "final"

    consensus_files: dict[str, Path] = {}   # consensus name -> its t+ file
    consensus_stage: dict[str, str] = {}    # consensus name -> its stage's name
    for cname, csection in cfg.consensus_runs().items():
        from driftalign.consensus.run import MODEL_FREE_STRATEGIES, ConsensusConfig, run_consensus

        strategy = csection.get("strategy", "model")
        stage_name = "consensus" if cname == strategy and len(cfg.consensus_runs()) == 1 else f"consensus-{cname}"
        named = all(isinstance(v, dict) for v in (cfg.consensus or {}).values())
        where = f"consensus.{cname}" if named else "consensus"    # a named consensus run, or the one section
        path = out / "consensus" / f"{cname}.jsonl"
        wired: dict[str, Any] = {"data": data, "out": path}
        after = list(data_after)
        if strategy not in MODEL_FREE_STRATEGIES and "model" not in csection:   # model, hybrid, self-edit, self-select
            if "spd" not in trained:
                raise ConfigError(f"{where}: strategy {strategy!r} needs the SPD model (an `spd:` section)")
            wired["model"], after = trained["spd"], [*after, "spd"]
        ccfg = _build(ConsensusConfig, csection, where, **wired)
        title = f"consensus ({strategy})" if cname == strategy else f"consensus {cname} ({strategy})"
        stages.append(Stage(stage_name, title, _dump(ccfg),
                            lambda ccfg=ccfg: run_consensus(ccfg),
                            outputs=[path, path.with_name(path.stem + ".summary.json"), path.with_name(path.name + ".partial")],
                            done=path, after=after))
        consensus_files[cname], consensus_stage[cname] = path, stage_name

    for name, section in (cfg.apo or {}).items():
        section = dict(section)
        t_plus = section.pop("t_plus", next(iter(consensus_files), None))
        if "spd" not in trained or t_plus not in consensus_files:
            raise ConfigError(f"apo.{name}: APO needs an `spd:` section and a consensus "
                              f"({'t_plus ' + repr(t_plus) + ' is not one' if t_plus else 'a `consensus:` section'})")
        from driftalign.training.apo import APOConfig

        section = {"reference_cache": str(out / "apo-reference-cache"), **section}
        apo = _build(APOConfig, section, f"apo.{name}", model=trained["spd"], data=data, consensus=consensus_files[t_plus],
                     out=out / name)
        apo.resume = True
        stages.append(Stage(name, f"apo {name} ({t_plus} t+, {apo.weights} weights)", {**_dump(apo), "t_plus": t_plus},
                            _runner("driftalign.training.apo", "run_apo", apo), outputs=[out / name], done=out / name / "final" / "config.json",
                            after=[*data_after, "spd", consensus_stage[t_plus]], kind="student"))
        trained[name] = out / name / "final"

    # ---- DEER: the report classifier, DDSampling and GRPO/DiTPO -------------------------------------------
    classifier_dir: Path | None = None
    if cfg.classifier is not None:
        from driftalign.classifier.config import ClassifierTrainConfig

        clf = _build(ClassifierTrainConfig, cfg.classifier, "classifier", data=data, out=out / "classifier")

        def train_classifier(clf=clf) -> None:
            from driftalign.classifier.train import run_classifier_train

            run_classifier_train(clf)

        stages.append(Stage("classifier", "classifier (CheXbert layout, on the rule labeler's labels)", _dump(clf),
                            train_classifier, outputs=[out / "classifier"], done=out / "classifier" / "final",
                            after=list(data_after), resumable=False))
        classifier_dir = out / "classifier" / "final"
    subset: Path | None = None
    if cfg.ddsample is not None:
        from driftalign.rl.ddsample import SUBSET_FILE, DDSampleConfig, run_ddsample

        section = dict(cfg.ddsample)
        start = section.pop("from", "spd")
        if start not in trained:
            raise ConfigError(f"ddsample: from {start!r} is not a trained student of this pipeline")
        dds = _build(DDSampleConfig, section, "ddsample", model=trained[start], data=data, out=out / "ddsample")
        dds.resume = True
        stages.append(Stage("ddsample", f"ddsample (from {start})", {**_dump(dds), "from": start},
                            lambda: run_ddsample(dds), outputs=[out / "ddsample"],
                            done=out / "ddsample" / SUBSET_FILE, after=[*data_after, start]))
        subset = out / "ddsample" / SUBSET_FILE
    for name, section in (cfg.grpo or {}).items():
        from driftalign.training.grpo import DiTPOConfig

        section = dict(section)
        start = section.pop("from", "spd")
        if start not in trained:
            raise ConfigError(f"grpo.{name}: from {start!r} is not a trained student of this pipeline")
        wired: dict[str, Any] = {"model": trained[start], "data": data, "out": out / name}
        after = [*data_after, start]
        if section.get("subset") == "ddsample":  # the ddsample stage's subset; absent or null: every study
            if subset is None:
                raise ConfigError(f"grpo.{name}: `subset: ddsample` needs a `ddsample:` section")
            section.pop("subset")
            wired["subset"], after = subset, [*after, "ddsample"]
        elif "subset" in section and section["subset"] is None:        # explicit null: every study
            section.pop("subset")
        needs_classifier = section.get("token_weights") == "gradient" or section.get("labeler") == "classifier"
        if needs_classifier and "classifier" not in section:
            if classifier_dir is None:
                raise ConfigError(f"grpo.{name}: gradient token weights / the classifier labeler need a "
                                  "`classifier:` section (or `classifier: DIR` in the run)")
            wired["classifier"], after = classifier_dir, [*after, "classifier"]
        grpo = _build(DiTPOConfig, section, f"grpo.{name}", **wired)
        grpo.resume = True
        stages.append(Stage(name, f"grpo {name} ({grpo.token_weights} token weights, from {start})",
                            {**_dump(grpo), "from": start}, _runner("driftalign.training.grpo_trainer", "run_grpo", grpo), outputs=[out / name],
                            done=out / name / "final" / "config.json", after=after, kind="student"))
        trained[name] = out / name / "final"

    # ---- eval of every trained student ------------------------------------------------------------------
    if cfg.eval is not None:
        for name, model in trained.items():
            stages.append(_eval_stage(cfg, name, model, data, out, data_after))
    return stages


def _eval_stage(cfg: PipelineConfig, name: str, model: Path, data: Path, out: Path, data_after: list[str]) -> Stage:
    from driftalign.generation.generate import GenerateConfig
    from driftalign.metrics.run import EvalConfig

    e = cfg.eval
    assert e is not None
    pred, metrics = out / "preds" / f"{name}.jsonl", out / "eval" / f"{name}.json"
    gen = GenerateConfig(model=model, data=data, out=pred, split=e.split, batch_size=e.batch_size,
                         max_new_tokens=e.max_new_tokens)
    ev = EvalConfig(pred=pred, data=data, split=e.split, json=metrics, nlg=e.nlg, meteor=e.meteor)

    def go() -> None:
        from driftalign.generation.generate import run_generate
        from driftalign.metrics.run import run_eval

        run_generate(gen)
        run_eval(ev)

    return Stage(f"eval-{name}", f"eval {name}", {"generate": _dump(gen), "eval": _dump(ev)}, go,
                 outputs=[pred, metrics], done=metrics, after=[*data_after, name])


def _runner(module: str, function: str, config: Any) -> Callable[[], Any]:
    """`module.function(config)`, imported when the stage runs (planning imports no trainer)."""
    def go() -> Any:
        return getattr(importlib.import_module(module), function)(config)
    return go


# ---- the stages without a config class of their own -----------------------------------------------------


def _world(world: Any, out: Path) -> None:
    from driftalign.synth.world import build_world

    build_world(out, studies=world.studies, seed=world.seed, image_size=world.image_size, teachers="none")


def _collect(teachers: Any, data: Path, out: Path) -> None:
    """Collect into the dataset: the simulated teachers on 127.0.0.1 (real HTTP), or a teachers.yaml."""
    from driftalign.data.io import atomic_write
    from driftalign.teachers.collect import collect

    if not teachers.simulated:
        summary = collect(data, teachers.file, limit=teachers.limit, progress="transient")
    else:
        from driftalign.synth.teachers import TEACHER_NAMES
        from driftalign.teachers.server import start_server_in_thread

        with start_server_in_thread(data, port=0, log_path=out / "teacher_requests.jsonl") as server:
            specs = [{"name": name, "base_url": server.url, "model": name, "max_concurrency": 8,
                      "rpm": 100000, "tpm": 100000000, "params": {"temperature": 0.7, "max_tokens": 1024},
                      "price_per_1k": {"input": 0.0, "output": 0.0}, "prompt": "hinted", "timeout_s": 30}
                     for name in TEACHER_NAMES]
            teachers_yaml = out / "teachers.yaml"
            with atomic_write(teachers_yaml) as f:
                f.write("# The seven simulated teachers on a local server (SYNTHETIC).\n")
                yaml.safe_dump({"teachers": specs}, f, sort_keys=False)
            summary = collect(data, teachers_yaml, limit=teachers.limit, progress="transient")
    if summary.failed or summary.aborted:
        raise DriftalignError(f"collect: collection incomplete: {summary.failed} failed, aborted: {summary.aborted} "
                           "(rerun the pipeline to resume)")


def _student(student: Any, data: Path, out: Path) -> None:
    from driftalign.models import build_student
    from driftalign.models.vision_pretraining import VisionPretrainConfig

    build_student(student.preset, data, out, seed=student.seed, pretrain_vision=student.pretrain_vision,
                  vision_pretraining=VisionPretrainConfig(images=student.vision_pretrain_images,
                                                          steps=student.vision_pretrain_steps, seed=student.seed))
