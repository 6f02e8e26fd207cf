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

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from driftalign.config import validation_message
from driftalign.errors import ConfigError, DriftalignError
from driftalign.hashing import file_digest, json_hash
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
    return json_hash(payload, default=str)[:16]


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
    for name, info in type(config).model_fields.items():
        if (info.json_schema_extra or {}).get("hashed_when_set") and getattr(config, name) == info.default:
            data.pop(name, None)
    return data


def _file_digest(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return file_digest(path)[:16]
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


@dataclass
class _Planning:
    """What the stage planners share: each `_plan_*` reads what the stages before it planned and adds its own."""

    cfg: PipelineConfig
    out: Path                                                     # resolved OUT
    data: Path                                                    # the dataset directory every stage reads
    data_after: list[str] = field(default_factory=list)           # the stages that write it (world, collect)
    stages: list[Stage] = field(default_factory=list)
    trained: dict[str, Path] = field(default_factory=dict)        # stage name -> its final model directory
    consensus_files: dict[str, Path] = field(default_factory=dict)    # consensus name -> its t+ file
    consensus_stage: dict[str, str] = field(default_factory=dict)     # consensus name -> its stage's name
    classifier: Path | None = None                                # the classifier stage's model
    subset: Path | None = None                                    # the ddsample stage's subset

    def after(self, *names: str) -> list[str]:
        """A new stage's `after`: the data stages, then `names`."""
        return [*self.data_after, *names]

    def add(self, stage: Stage) -> None:
        self.stages.append(stage)

    def add_student(self, name: str, title: str, config: dict[str, Any], run: Callable[[], Any],
                    after: list[str]) -> None:
        """A stage training a student in OUT/NAME, complete once OUT/NAME/final is published."""
        final = self.out / name / "final"
        self.add(Stage(name, title, config, run, outputs=[self.out / name], done=final / "config.json", after=after,
                       kind="student"))
        self.trained[name] = final

    def start(self, section: dict[str, Any], where: str) -> str:
        """Pops a section's `from` (default spd): the trained student the stage starts from."""
        start = section.pop("from", "spd")
        if start not in self.trained:
            raise ConfigError(f"{where}: from {start!r} is not a trained student of this pipeline")
        return start


def _plan(cfg: PipelineConfig) -> list[Stage]:
    out = cfg.out.resolve()
    p = _Planning(cfg, out, _data_dir(cfg, out))
    for planner in (_plan_world, _plan_collect, _plan_drift, _plan_student, _plan_spd, _plan_spd_runs,
                    _plan_consensus, _plan_apo, _plan_classifier, _plan_ddsample, _plan_grpo, _plan_eval):
        planner(p)
    return p.stages


# ---- data: the synthetic world or the user's dataset, then the teachers' trajectories ----------------------


def _data_dir(cfg: PipelineConfig, out: Path) -> Path:
    if cfg.data is not None:
        data = cfg.data.resolve()
        if not (data / "studies.jsonl").is_file():
            raise ConfigError(f"data: {data} has no studies.jsonl (not a dataset directory: see \"The dataset "
                              "directory\" in the README; `driftalign validate DIR` checks one)")
        return data
    if cfg.world is None:
        raise ConfigError("give `data: DIR` (a dataset) or a `world:` section (the synthetic world)")
    return out / "world"


def _plan_world(p: _Planning) -> None:
    world, data = p.cfg.world, p.data
    if p.cfg.data is not None or world is None:   # a user dataset (_data_dir: no dataset means a world)
        return
    p.add(Stage("world", "world (synthetic)", {"world": _dump(world)}, lambda: _world(world, data),
                outputs=[data], done=data / "studies.jsonl", resumable=False))
    p.data_after = ["world"]


def _plan_collect(p: _Planning) -> None:
    teachers, data, out = p.cfg.teachers, p.data, p.out
    if teachers is None:
        return
    if not teachers.simulated and teachers.file is None:
        raise ConfigError("teachers: set `simulated: true` or `file: teachers.yaml`")
    if teachers.simulated and p.cfg.data is not None:
        raise ConfigError("teachers: the simulated teachers answer for the synthetic world only; "
                          "give `file: teachers.yaml` for a user dataset")
    from driftalign.teachers.collect import default_store_path

    ours = p.cfg.data is None   # never delete trajectories from a user's dataset: collect resumes there
    outputs = [data / "trajectories.jsonl", default_store_path(data), out / "teacher_requests.jsonl",
               out / "teachers.yaml"] if ours else []
    p.add(Stage("collect", "collect (simulated teachers over HTTP)" if teachers.simulated else "collect",
                {"teachers": _dump(teachers), "teachers_file": _file_digest(teachers.file)},
                lambda: _collect(teachers, data, out), outputs=outputs, done=data / "trajectories.jsonl",
                after=p.after()))
    p.data_after = p.after("collect")


def _plan_drift(p: _Planning) -> None:
    if p.cfg.drift is None:
        return
    from driftalign.drift.run import DriftConfig, run_drift

    drift = _build(DriftConfig, p.cfg.drift, "drift", data=p.data, out=p.out / "drift")
    p.add(Stage("drift", f"drift ({drift.split} split)", _dump(drift), lambda: run_drift(drift, print_tables=False),
                outputs=[p.out / "drift"], done=p.out / "drift" / "drift.json", after=p.after()))


# ---- the student, SPD (and the oracle), consensus, APO ------------------------------------------------------


def _plan_student(p: _Planning) -> None:
    student, data, out = p.cfg.student, p.data, p.out / "student"
    if student is None:
        return
    # a user dataset: its text trains the tokenizer
    reads = {"data": str(p.cfg.data)} if p.cfg.data is not None else {}
    p.add(Stage("student", f"init-student ({student.preset})", {"student": _dump(student), **reads},
                lambda: _student(student, data, out), outputs=[out], done=out / "config.json", after=p.after(),
                resumable=False))


def _spd_config(p: _Planning, section: dict[str, Any], where: str, name: str) -> Any:
    """An SPDConfig from the student, training into OUT/NAME (resumed in place when interrupted)."""
    from driftalign.training.spd import SPDConfig

    spd = _build(SPDConfig, section, where, model=p.out / "student", data=p.data, out=p.out / name)
    spd.resume = True
    return spd


def _plan_spd(p: _Planning) -> None:
    """spd, and the oracle: SPD on the reference reports (the `spd:` options, then its own)."""
    cfg = p.cfg
    if cfg.student is None:
        return
    for name, section, extra in (("spd", cfg.spd, {}), ("oracle", cfg.oracle, {"targets": "reference"})):
        if section is None:
            continue
        merged = {**(cfg.spd or {}), **section, **extra} if name == "oracle" else dict(section)
        spd = _spd_config(p, merged, name, name)
        if name == "oracle":
            title = "oracle (SPD on the reference reports)"
        else:
            title = "spd (reference reports)" if spd.targets == "reference" else f"spd ({spd.teachers} teachers)"
        p.add_student(name, title, _dump(spd), _runner(SPD_RUNNER, "run_spd", spd), after=p.after("student"))


def _plan_spd_runs(p: _Planning) -> None:
    for name, section in (p.cfg.spd_runs or {}).items():
        if p.cfg.student is None:
            raise ConfigError(f"spd_runs.{name}: needs a `student:` section")
        spd = _spd_config(p, {**(p.cfg.spd or {}), **section}, f"spd_runs.{name}", name)
        p.add_student(name, f"spd {name}", _dump(spd), _runner(SPD_RUNNER, "run_spd", spd), after=p.after("student"))


def _plan_consensus(p: _Planning) -> None:
    runs = p.cfg.consensus_runs()
    named = all(isinstance(v, dict) for v in (p.cfg.consensus or {}).values())
    for cname, csection in runs.items():   # a named consensus run, or the one section
        _plan_one_consensus(p, cname, csection, f"consensus.{cname}" if named else "consensus", single=len(runs) == 1)


def _plan_one_consensus(p: _Planning, cname: str, csection: dict[str, Any], where: str, single: bool) -> None:
    from driftalign.consensus.run import ConsensusConfig, run_consensus

    strategy = csection.get("strategy", ConsensusConfig.model_fields["strategy"].default)
    stage_name = "consensus" if cname == strategy and single else f"consensus-{cname}"
    path = p.out / "consensus" / f"{cname}.jsonl"
    wired: dict[str, Any] = {"data": p.data, "out": path}
    after = p.after()
    # the strategy alone decides whether it reads a model; asked before there is a model to validate with
    if "model" not in csection and ConsensusConfig.strategy_needs_model(strategy):
        if "spd" not in p.trained:
            raise ConfigError(f"{where}: strategy {strategy!r} needs the SPD model (an `spd:` section)")
        wired["model"], after = p.trained["spd"], p.after("spd")
    ccfg = _build(ConsensusConfig, csection, where, **wired)
    title = f"consensus ({strategy})" if cname == strategy else f"consensus {cname} ({strategy})"
    p.add(Stage(stage_name, title, _dump(ccfg), lambda: run_consensus(ccfg),
                outputs=[path, path.with_name(path.stem + ".summary.json"), path.with_name(path.name + ".partial")],
                done=path, after=after))
    p.consensus_files[cname], p.consensus_stage[cname] = path, stage_name


def _plan_apo(p: _Planning) -> None:
    for name, section in (p.cfg.apo or {}).items():
        section = dict(section)
        t_plus = section.pop("t_plus", next(iter(p.consensus_files), None))
        if "spd" not in p.trained or t_plus not in p.consensus_files:
            raise ConfigError(f"apo.{name}: APO needs an `spd:` section and a consensus "
                              f"({'t_plus ' + repr(t_plus) + ' is not one' if t_plus else 'a `consensus:` section'})")
        from driftalign.training.apo import APOConfig

        section = {"reference_cache": str(p.out / "apo-reference-cache"), **section}
        apo = _build(APOConfig, section, f"apo.{name}", model=p.trained["spd"], data=p.data,
                     consensus=p.consensus_files[t_plus], out=p.out / name)
        apo.resume = True
        p.add_student(name, f"apo {name} ({t_plus} t+, {apo.weights} weights)", {**_dump(apo), "t_plus": t_plus},
                      _runner("driftalign.training.apo", "run_apo", apo),
                      after=p.after("spd", p.consensus_stage[t_plus]))


# ---- DEER: the report classifier, DDSampling and GRPO/DiTPO ---------------------------------------------------


def _plan_classifier(p: _Planning) -> None:
    if p.cfg.classifier is None:
        return
    from driftalign.classifier.config import ClassifierTrainConfig

    out = p.out / "classifier"
    clf = _build(ClassifierTrainConfig, p.cfg.classifier, "classifier", data=p.data, out=out)
    p.add(Stage("classifier", "classifier (CheXbert layout, on the rule labeler's labels)", _dump(clf),
                _runner("driftalign.classifier.train", "run_classifier_train", clf), outputs=[out],
                done=out / "final", after=p.after(), resumable=False))
    p.classifier = out / "final"


def _plan_ddsample(p: _Planning) -> None:
    if p.cfg.ddsample is None:
        return
    from driftalign.rl.ddsample import SUBSET_FILE, DDSampleConfig, run_ddsample

    section = dict(p.cfg.ddsample)
    start = p.start(section, "ddsample")
    out = p.out / "ddsample"
    dds = _build(DDSampleConfig, section, "ddsample", model=p.trained[start], data=p.data, out=out)
    dds.resume = True
    p.add(Stage("ddsample", f"ddsample (from {start})", {**_dump(dds), "from": start}, lambda: run_ddsample(dds),
                outputs=[out], done=out / SUBSET_FILE, after=p.after(start)))
    p.subset = out / SUBSET_FILE


def _plan_grpo(p: _Planning) -> None:
    if not p.cfg.grpo:
        return
    from driftalign.training.grpo import DiTPOConfig

    for name, section in (p.cfg.grpo or {}).items():
        where, section = f"grpo.{name}", dict(section)
        start = p.start(section, where)
        wired: dict[str, Any] = {"model": p.trained[start], "data": p.data, "out": p.out / name}
        after = [*p.after(start), *_wire_subset(p, section, wired, where), *_wire_classifier(p, section, wired, where)]
        grpo = _build(DiTPOConfig, section, where, **wired)
        grpo.resume = True
        p.add_student(name, f"grpo {name} ({grpo.token_weights} token weights, from {start})",
                      {**_dump(grpo), "from": start}, _runner("driftalign.training.grpo_trainer", "run_grpo", grpo),
                      after=after)


def _wire_subset(p: _Planning, section: dict[str, Any], wired: dict[str, Any], where: str) -> list[str]:
    """`subset: ddsample` -> the ddsample stage's subset (the stage it then reads); absent or null: every study."""
    if section.get("subset") == "ddsample":
        if p.subset is None:
            raise ConfigError(f"{where}: `subset: ddsample` needs a `ddsample:` section")
        section.pop("subset")
        wired["subset"] = p.subset
        return ["ddsample"]
    if "subset" in section and section["subset"] is None:        # explicit null: every study
        section.pop("subset")
    return []


def _wire_classifier(p: _Planning, section: dict[str, Any], wired: dict[str, Any], where: str) -> list[str]:
    """A run that needs a report classifier and names none reads the classifier stage's (the stage it then reads)."""
    from driftalign.training.grpo import DiTPOConfig

    if "classifier" in section or not DiTPOConfig.options_need_classifier(section):
        return []
    if p.classifier is None:
        raise ConfigError(f"{where}: gradient token weights / the classifier labeler need a "
                          "`classifier:` section (or `classifier: DIR` in the run)")
    wired["classifier"] = p.classifier
    return ["classifier"]


# ---- eval of every trained student --------------------------------------------------------------------------


def _plan_eval(p: _Planning) -> None:
    if p.cfg.eval is None:
        return
    for name, model in p.trained.items():
        p.add(_eval_stage(p, name, model))


def _eval_stage(p: _Planning, name: str, model: Path) -> Stage:
    from driftalign.generation.generate import GenerateConfig
    from driftalign.metrics.run import EvalConfig

    e = p.cfg.eval
    assert e is not None
    pred, metrics = p.out / "preds" / f"{name}.jsonl", p.out / "eval" / f"{name}.json"
    gen = GenerateConfig(model=model, data=p.data, out=pred, split=e.split, batch_size=e.batch_size,
                         max_new_tokens=e.max_new_tokens)
    ev = EvalConfig(pred=pred, data=p.data, split=e.split, json=metrics, nlg=e.nlg, meteor=e.meteor)

    def go() -> None:
        from driftalign.generation.generate import run_generate
        from driftalign.metrics.run import run_eval

        run_generate(gen)
        run_eval(ev)

    return Stage(f"eval-{name}", f"eval {name}", {"generate": _dump(gen), "eval": _dump(ev)}, go,
                 outputs=[pred, metrics], done=metrics, after=p.after(name))


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
