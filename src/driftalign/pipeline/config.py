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

A section's keys are the flags of its stage command (`driftalign spd --help` lists them); the keys
the pipeline wires (model, data, out, consensus, subset) are refused there. Omit a section (or set
it to null) to leave its stage out. Relative paths are relative to the current directory, as for
every flag.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from driftalign.config import StageConfig, read_yaml_mapping
from driftalign.errors import ConfigError


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

    preset: str = Field("base", description="student preset (tiny, base, small)")
    seed: int = Field(0, description="initialisation seed")
    pretrain_vision: bool | None = Field(None, description="pretrain the vision tower on renders (None: the preset's default)")
    vision_pretrain_images: int = Field(6000, ge=32, description="synthetic renders for the vision pretraining")
    vision_pretrain_steps: int = Field(2000, ge=1, description="vision pretraining steps (batch 32)")


class EvalSection(StageConfig):
    """`driftalign generate` + `driftalign eval` of every trained student, and the APO-vs-SPD verdict."""

    split: str = Field("test", description="split to generate and evaluate")
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


def set_path(values: dict[str, Any], dotted: str, value: Any) -> None:
    """values["a"]["b"] = value for dotted = "a.b" (creating the sections on the way)."""
    *parents, leaf = dotted.split(".")
    node = values
    for key in parents:
        if node.get(key) is None:
            node[key] = {}
        node = node[key]
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {key!r} is not a section")
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
    for key, value in (overrides or {}).items():
        set_path(values, key, value)
    try:
        return PipelineConfig.model_validate(values)
    except Exception as e:  # pydantic's message names the section and key
        raise ConfigError(f"{path}: {e}") from None
