"""The pipeline file: one YAML whose sections are the stages' own configs.

    out: runs/demo                      # every output of the run
    world: {studies: 2000, seed: 0}     # the SYNTHETIC world (or `data: DIR`, a user dataset)
    teachers: {simulated: true}         # collect: the simulated teachers on 127.0.0.1, or `file: teachers.yaml`
    drift: {split: test}                # DriftConfig (data/out are set by the pipeline)
    student: {preset: base}             # init-student
    oracle: {}                          # optional: SPD on the reference reports (the ceiling)
    spd: {max_steps: 1200, lr: 2e-3}    # SPDConfig (model/data/out set by the pipeline): APO's reference
    spd_runs: {spd-gpt5: {teachers: sim-gpt-5}}       # optional: more SPD students (evaluated, not APO's reference)
    consensus: {strategy: vote}         # ConsensusConfig, or several: {vote: {strategy: vote}, select: {...}}
    apo: {apo-uniform: {weights: uniform}}            # name -> APOConfig (+ `t_plus: NAME` picks the consensus)
    classifier: {epochs: 1}                          # optional: the CheXbert-style report classifier (DEER's C)
    ddsample: {from: spd, k: 10}                     # optional: DDSampleConfig
    grpo: {grpo-ditpo: {from: spd, switch_step: 50, subset: ddsample}}   # optional: name -> DiTPOConfig
                                                     #   (`subset: ddsample` = the ddsample stage's subset, else
                                                     #   every study; `classifier` = the classifier stage's)
    eval: {split: test, max_new_tokens: 160}          # generate + eval of every trained student
    report: true                                      # `driftalign report` at the end
    seeds: [0, 1, 2]                                  # optional: the whole pipeline once per seed, aggregated
    success: {run: apo-x, ci_upper_below: {drift_errors_per_100: 0}}   # optional: a pre-registered criterion,
                                                     #   checked on the run's verdict (`criterion`)

A section's keys are the flags of its stage command (`driftalign spd --help` lists them); the keys
the pipeline wires (model, data, out, consensus, subset) are refused there. Omit a section (or set
it to null) to leave its stage out. Relative paths are relative to the current directory, as for
every flag. `--set SECTION.KEY=VALUE` (`set_path`) changes only sections, runs and consensus runs the
file (or a section's default) defines; an error names the file and the section, on one line.
"""

from __future__ import annotations

import copy
import difflib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, ValidationError, field_validator, model_validator

from driftalign.config import StageConfig, read_yaml_mapping, validation_message
from driftalign.constants import Preset, Split
from driftalign.errors import ConfigError
from driftalign.pipeline.criterion import SuccessCriterion


class WorldSection(StageConfig):
    """The SYNTHETIC world (`driftalign synth --teachers none`; the teachers answer in `collect`)."""

    studies: int = Field(2000, ge=20, description="internal studies (+10% external split)")
    seed: int = Field(0, description="seed of the world and of the simulated teachers")
    image_size: int = Field(64, description="rendered image size in pixels")


class TeachersSection(StageConfig):
    """Where the teachers' trajectories come from (`driftalign collect`)."""

    simulated: bool = Field(True, description="serve the seven simulated teachers on 127.0.0.1 and collect over HTTP")
    file: Path | None = Field(None, description="a teachers.yaml of real endpoints (instead of the simulated ones)")
    limit: int | None = Field(None, ge=1, description="collect for the first N studies only")


class StudentSection(StageConfig):
    """`driftalign init-student`: the randomly initialised student (tokenizer trained on the data)."""

    preset: Preset = Field("base", description="student preset (tiny, base, small)")
    seed: int = Field(0, description="initialisation seed")
    pretrain_vision: bool | None = Field(None, description="pretrain the vision tower on renders (None: the preset's default)")
    vision_pretrain_images: int = Field(6000, ge=32, description="synthetic renders for the vision pretraining")
    vision_pretrain_steps: int = Field(2000, ge=1, description="vision pretraining steps (batch 32)")


class EvalSection(StageConfig):
    """`driftalign generate` + `driftalign eval` of every trained student, and the APO-vs-SPD verdict."""

    split: Split = Field("test", description="split to generate and evaluate")
    max_new_tokens: int = Field(160, ge=8, description="tokens per generated report")
    batch_size: int = Field(32, ge=1, description="studies per generation batch")
    nlg: bool = Field(True, description="BLEU/ROUGE-L/CIDEr against the reference reports")
    meteor: bool = Field(False, description="METEOR (needs Java, ~8 s JVM start)")
    bootstrap: int = Field(1000, ge=100, description="paired bootstrap resamples of the verdicts")


class PipelineConfig(StageConfig):
    """`driftalign run PIPELINE.yaml` (module docstring)."""

    out: Path = Field(description="directory for every output of the run")
    data: Path | None = Field(None, description="a user dataset directory (instead of the synthetic world)")
    world: WorldSection | None = Field(default_factory=WorldSection)
    teachers: TeachersSection | None = Field(default_factory=TeachersSection)
    drift: dict[str, Any] | None = Field(default_factory=dict)
    student: StudentSection | None = Field(default_factory=StudentSection)
    oracle: dict[str, Any] | None = None
    spd: dict[str, Any] | None = Field(default_factory=dict)
    spd_runs: dict[str, dict[str, Any]] | None = None
    consensus: dict[str, Any] | None = Field(default_factory=lambda: {"strategy": "vote"})
    apo: dict[str, dict[str, Any]] | None = Field(default_factory=lambda: {"apo-uniform": {"weights": "uniform"}})
    classifier: dict[str, Any] | None = None
    ddsample: dict[str, Any] | None = None
    grpo: dict[str, dict[str, Any]] | None = None
    eval: EvalSection | None = Field(default_factory=EvalSection)
    report: bool = True
    seeds: list[int] | None = Field(None, description="run the pipeline once per seed (OUT/seed-N, every `seed` "
                                    "key = N) and aggregate mean ± std and pooled paired bootstraps")
    success: SuccessCriterion | None = Field(None, description="a pre-registered criterion on one run's verdict "
                                             "(pipeline/criterion.py), checked and printed at the end")
    _source: str = PrivateAttr("pipeline")   # the file it was read from: errors of planning name it

    @property
    def source(self) -> str:
        return self._source

    def consensus_runs(self) -> dict[str, dict[str, Any]]:
        """name -> ConsensusConfig section: one section (named after its strategy) or a mapping of them."""
        if not self.consensus:
            return {}
        if all(isinstance(v, dict) for v in self.consensus.values()):
            return dict(self.consensus)
        return {str(self.consensus.get("strategy", "model")): dict(self.consensus)}

    @field_validator("apo", "grpo", "spd_runs")
    @classmethod
    def _run_names(cls, runs: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
        for name in runs or {}:
            if not name.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"run name {name!r}: use letters, digits, '-' and '_' (it names a directory)")
        return runs

    @model_validator(mode="after")
    def _success_names_a_run(self) -> "PipelineConfig":
        if self.success is None:
            return self
        runs = [*(self.apo or {}), *(self.grpo or {}), *(self.spd_runs or {})]
        if self.success.run not in runs:
            raise ValueError(f"success.run {self.success.run!r} is not a run of this pipeline "
                             f"({_suggest(self.success.run, runs)}runs: {', '.join(runs) or 'none'})")
        students = ["spd", *(["oracle"] if self.oracle is not None else []), *runs]
        if self.success.baseline not in students:
            raise ValueError(f"success.baseline {self.success.baseline!r} is not a student of this pipeline "
                             f"({_suggest(self.success.baseline, students)}students: {', '.join(students)})")
        return self


VALUES = {"out", "data", "report", "seeds"}   # top-level keys that are not sections
RUN_SECTIONS = {"apo": "APO run", "grpo": "GRPO run", "spd_runs": "SPD run"}   # sections of name -> run config


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def unknown_section(name: str) -> str:
    known = list(PipelineConfig.model_fields)
    return f"{name}: not a section ({_suggest(name, known)}sections: {', '.join(known)})"


def _section_values(values: dict[str, Any], section: str) -> Any:
    """The section's mapping as the file gives it, or its default when the file leaves it out (copied into
    `values`, so that a --set changes the default section: `apo.apo-uniform.lr` without an `apo:` key)."""
    if section not in values:
        default = PipelineConfig.model_fields[section].get_default(call_default_factory=True)
        values[section] = default.model_dump() if isinstance(default, BaseModel) else copy.deepcopy(default)
    return values[section]


def set_path(values: dict[str, Any], dotted: str, value: Any) -> None:
    """values["a"]["b"] = value for dotted = "a.b". A --set changes what the file (or a section's default)
    defines, and never adds a section, a run or a consensus the file does not have: a typo in a name
    (`apo.apo-unifrom.lr`) is an error naming the known ones, not a new run with default settings. It may
    add a key to an existing section or run; whether the key is a valid option is checked with the rest."""
    section, *keys = dotted.split(".")
    if section not in PipelineConfig.model_fields:
        raise ConfigError(f"--set {dotted}: {unknown_section(section)}")
    if not keys:                                # a whole section or top-level value: --set spd=null, seeds=[0]
        values[section] = value
        return
    if section in VALUES:
        raise ConfigError(f"--set {dotted}: {section!r} is a value, not a section (--set {section}=...)")
    *parents, leaf = keys
    node = _section_values(values, section)
    if node is None:
        raise ConfigError(f"--set {dotted}: the pipeline has no `{section}:` section (the stage is off); add it to "
                          f"the file (or --set {section}={{}} first)")
    if not isinstance(node, dict):
        raise ConfigError(f"--set {dotted}: {section!r} is not a section")
    named = section in RUN_SECTIONS or (section == "consensus" and node and all(isinstance(v, dict) for v in node.values()))
    if named:
        run = (parents or [leaf])[0]
        if run not in node:
            what = RUN_SECTIONS.get(section, "consensus")
            known = list(node)
            raise ConfigError(f"--set {dotted}: no {what} {run!r} in the pipeline ({_suggest(run, known)}"
                              f"{section}: {', '.join(known) or 'none'}); a --set changes runs the file defines")
    path = section
    for key in parents:
        path += f".{key}"
        if node.get(key) is None:
            node[key] = {}
        node = node[key]
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {path} is not a section")
    node[leaf] = value


def bundled_pipeline(name: str) -> Path:
    """Path of a pipeline file shipped with driftalign (resources/pipelines/NAME.yaml)."""
    path = Path(str(resources.files("driftalign") / "resources" / "pipelines" / f"{name}.yaml"))
    if not path.is_file():
        raise ConfigError(f"no bundled pipeline {name!r} ({path})")
    return path


def load_pipeline(path: str | Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Read a pipeline file; `overrides` maps dotted keys ("spd.max_steps") to values (flags win)."""
    path = Path(path)
    values = read_yaml_mapping(path, "pipeline file", "section -> options")
    for name in values:
        if name not in PipelineConfig.model_fields:
            raise ConfigError(f"{path}: {unknown_section(name)}")
    for key, value in (overrides or {}).items():
        try:
            set_path(values, key, value)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    return validate_pipeline(values, str(path))


def validate_pipeline(values: dict[str, Any], source: str = "pipeline") -> PipelineConfig:
    """`PipelineConfig` of `values`; a ConfigError `SOURCE: section.key: what` (one line) when invalid."""
    try:
        cfg = PipelineConfig.model_validate(values)
    except ValidationError as e:
        raise ConfigError(f"{source}: {validation_message(e)}") from None
    cfg._source = source
    return cfg
