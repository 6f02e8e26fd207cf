"""Supervised pre-distillation (SPD, SPEC §3 eq. 6): SFT of the student on all teachers' trajectories.

    q* = argmin_q sum_u KL( P(z | t^u_<m) || q(z | t_<m) )                                    (eq. 6)

With sampled trajectories this is next-token cross-entropy on the union of the teachers'
trajectories: one training example per (study, teacher) trajectory, loss on the answer tokens only
(prompt and image tokens carry label -100, see `models.chat`). The student's prompt is the
configurable `--prompt` (default: constants.STUDENT_PROMPT, no labels), not the teacher's prompt,
which may carry the diagnosis as a hint. Refusals (`meta.refusal` true) are skipped by default:
they teach the student to refuse, not to see; `--keep-refusals` keeps them.

`--targets reference` trains on the studies' reference reports instead (findings + impression, one
example per study): the *oracle* run, a student given perfect supervision with the same budget.
Its accuracy is the ceiling any teacher-side method can reach with this student and recipe; the
gap between it and SPD on the teachers is the loss the student inherits from its teachers.

`--targets reference --full --train-only vision` is DEER's SFT cold start: the vision encoder and its
projector learn from the reference reports while the whole language model stays frozen.

This module holds the config and the example selection; `training.spd_trainer.run_spd` runs
the training. The loop is transformers' `Trainer` with `VisionChatCollator`: checkpointing, `--resume`,
gradient accumulation with the loss normalised by the number of answer tokens across the whole
accumulated batch (Trainer's `num_items_in_batch`), logging and `accelerate launch` come from it.
(This module stays free of torch/transformers imports so the CLI starts fast.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from driftalign.data.dataset import TRAJECTORIES_FILE, Dataset
from driftalign.errors import ConfigError, DatasetError
from driftalign.training.common import TrainingStageConfig


class SPDConfig(TrainingStageConfig):
    """`driftalign spd`: the shared training flags plus which trajectories to distil from."""

    targets: Literal["teachers", "reference"] = Field(
        "teachers", description="what the student imitates: the teachers' trajectories (SPD) or the studies' "
                                "reference reports (the oracle ceiling)")
    teachers: str = Field("all", description="'all' or a comma-separated list of teacher names (e.g. sim-gpt-5)")
    keep_refusals: bool = Field(False, description="also train on trajectories flagged as refusals")
    train_only: Literal["vision"] | None = Field(
        None, description="train only this part of the model: 'vision' = the vision encoder and its projector, "
                          "language model frozen (DEER's SFT cold start; needs --full); unset: as --lora/--full say")

    @model_validator(mode="before")
    @classmethod
    def _vision_only_unfreezes_vision(cls, values: Any) -> Any:
        """--train-only vision implies --no-freeze-vision (so the resolved config says what is trained)."""
        if isinstance(values, dict) and values.get("train_only") == "vision":
            if values.get("lora", True):
                raise ValueError("--train-only vision needs --full: LoRA adapts the language model, which stays frozen")
            if values.get("freeze_vision"):
                raise ValueError("--train-only vision trains the vision tower: drop --freeze-vision")
            values = {**values, "freeze_vision": False}
        return values

    @field_validator("teachers")
    @classmethod
    def _some_teachers(cls, v: str) -> str:
        if v.strip() != "all" and not any(t.strip() for t in v.split(",")):
            raise ValueError("give 'all' or at least one teacher name")
        return v

    def teacher_names(self) -> list[str] | None:
        """None for all teachers, else the listed names."""
        if self.teachers.strip() == "all":
            return None
        names = [t.strip() for t in self.teachers.split(",") if t.strip()]
        if not names:
            raise ConfigError("--teachers: give 'all' or at least one teacher name")
        return names


@dataclass(frozen=True)
class SPDExample:
    """One (study, teacher) trajectory to distil."""

    study_id: str
    teacher: str             # REFERENCE_TARGET for a reference-report example
    answer: str


REFERENCE_TARGET = "reference"


def spd_examples(ds: Dataset, split: str, teachers: list[str] | None, keep_refusals: bool) -> list[SPDExample]:
    """One example per trajectory of a study in `split` (eq. 6's union over teachers u)."""
    traj_path = ds.root / TRAJECTORIES_FILE
    if not ds.trajectories:
        raise DatasetError(f"{traj_path}: no trajectories (run `driftalign synth --teachers ...` or `collect`)")
    if teachers is not None:
        unknown = sorted(set(teachers) - set(ds.teachers))
        if unknown:
            raise ConfigError(f"--teachers: {unknown} not in {traj_path} (teachers there: {ds.teachers})")
    in_split = {s.study_id for s in ds.split(split)}
    if not in_split:
        raise DatasetError(f"{ds.root}: no studies in split {split!r}")
    examples = [
        SPDExample(t.study_id, t.teacher, t.response)
        for study_id, rows in ds.trajectories_by_study(teachers).items() if study_id in in_split
        for t in rows
        if t.response.strip() and (keep_refusals or not t.meta.get("refusal"))
    ]
    if not examples:
        raise DatasetError(f"{traj_path}: no usable trajectories for split {split!r} and teachers {teachers or 'all'}")
    return examples


def reference_examples(ds: Dataset, split: str) -> list[SPDExample]:
    """One example per study of `split` whose answer is its reference report (findings + impression)."""
    studies = ds.split(split)
    if not studies:
        raise DatasetError(f"{ds.root}: no studies in split {split!r}")
    examples = [SPDExample(s.study_id, REFERENCE_TARGET, s.report) for s in studies if s.report.strip()]
    if not examples:
        raise DatasetError(f"{ds.root}/studies.jsonl: no study of split {split!r} has a reference report "
                           "(findings/impression) for --targets reference")
    return examples


def training_examples(ds: Dataset, cfg: SPDConfig) -> list[SPDExample]:
    """The examples `cfg` trains on: teachers' trajectories, or reference reports (`--targets`)."""
    if cfg.targets == "reference":
        return reference_examples(ds, cfg.split)
    return spd_examples(ds, cfg.split, cfg.teacher_names(), cfg.keep_refusals)
