"""`driftalign demo`: `driftalign run` on the bundled demo pipeline (resources/pipelines/demo.yaml).

    world      the SYNTHETIC world (images, labels, reference reports)
    collect    the seven simulated teachers served on 127.0.0.1, collected over HTTP
    drift      drift tables and plots
    student    init-student --preset base (vision tower pretrained on renders)
    spd        SPD on all teachers (vision frozen)  -> the APO reference policy
    consensus  vote, and self-select (the best of K samples of the SPD student, judged by the vote)
    apo        apo-vote (the vote t+, the paper's loss) and apo-self-select-dpop (the setting the
               pre-registered apo_drift rule selected, docs/apo.md §9), each with the training monitor
    eval       generate + eval for SPD and each APO run; a paired bootstrap says whether each beat SPD
    report     OUT/report.html

The flags below override the bundled file's values (None = as in the file); everything else is the
pipeline runner's (`pipeline/runner.py`): a stage whose config did not change is not rerun.
Everything here is synthetic: the numbers show the pipeline works, they are not clinical results.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pydantic import Field

from driftalign.config import StageConfig
from driftalign.constants import Preset, Split
from driftalign.errors import ConfigError
from driftalign.pipeline.config import PipelineConfig, bundled_pipeline, load_pipeline, validate_pipeline
from driftalign.pipeline.runner import LEGACY_MARKER, MARKER, run_single


class DemoConfig(StageConfig):
    """Options of `driftalign demo` (flags == YAML keys); None keeps the bundled pipeline's value."""

    out: Path | None = Field(None, description="directory for every output of the demo (bundled: demo_out)")
    studies: int | None = Field(None, ge=20, description="studies in the synthetic world (+10% external split)")
    preset: Preset | None = Field(None, description="student preset (base: the experiments' student, vision pretrained)")
    vision_pretrain_images: int | None = Field(None, ge=32, description="synthetic renders for the vision pretraining")
    vision_pretrain_steps: int | None = Field(None, ge=1, description="vision pretraining steps (batch 32)")
    seed: int | None = Field(None, description="seed of the world, the teachers and the training runs")
    image_size: int | None = Field(None, description="rendered image size in pixels")
    spd_steps: int | None = Field(None, ge=1, description="SPD optimiser steps (full fine-tuning of the language model)")
    spd_lr: float | None = Field(None, gt=0, description="SPD learning rate")
    batch_size: int | None = Field(None, ge=1, description="SPD examples per step")
    apo_steps: int | None = Field(None, ge=1, description="APO optimiser steps per run")
    apo_lr: float | None = Field(None, gt=0, description="APO learning rate (the paper's 2e-5)")
    apo_batch_size: int | None = Field(None, ge=1, description="studies (each with N+1 candidates) per APO step")
    beta: float | None = Field(None, gt=0, description="APO reward scale beta (eq. 8)")
    sft_weight: float | None = Field(None, ge=0, description="APO: weight of t+'s NLL (0 = the paper's pure APO)")
    weights: str | None = Field(None, description="APO teacher-weight scheme of every APO run (bundled: uniform, "
                                "the paper's)")
    drift_split: Split | None = Field(None, description="studies the drift stage measures (all | train | val | test | external)")
    max_new_tokens: int | None = Field(None, ge=8, description="tokens per generated report (eval and APO's monitor)")
    fresh: bool = Field(False, description="delete a previous demo run in --out first (default: keep it and rerun "
                        "only the stages whose config changed)")


def demo_pipeline(cfg: DemoConfig) -> PipelineConfig:
    """The bundled demo pipeline with `cfg`'s flags applied."""
    base = load_pipeline(bundled_pipeline("demo"))
    values: dict[str, Any] = base.model_dump()
    world, student, spd, drift, ev = (values[k] for k in ("world", "student", "spd", "drift", "eval"))
    apo_runs = list(values["apo"].values())

    def put(section: dict[str, Any], key: str, value: Any) -> None:
        if value is not None:
            section[key] = value

    put(values, "out", cfg.out)
    put(world, "studies", cfg.studies)
    put(world, "image_size", cfg.image_size)
    put(student, "preset", cfg.preset)
    put(student, "vision_pretrain_images", cfg.vision_pretrain_images)
    put(student, "vision_pretrain_steps", cfg.vision_pretrain_steps)
    put(drift, "split", cfg.drift_split)
    put(ev, "max_new_tokens", cfg.max_new_tokens)
    put(spd, "lr", cfg.spd_lr)
    put(spd, "batch_size", cfg.batch_size)
    if cfg.spd_steps is not None:
        spd.update(max_steps=cfg.spd_steps, save_steps=max(cfg.spd_steps // 2, 1), logging_steps=max(cfg.spd_steps // 10, 1))
    for apo in apo_runs:
        _apply_apo_flags(apo, cfg)
    if cfg.seed is not None:
        world["seed"] = student["seed"] = spd["seed"] = cfg.seed
    for section in values["consensus"].values():   # t+ only for the studies APO trains on: its count and seed
        if section.get("max_studies") is not None:
            section["max_studies"], section["seed"] = apo_runs[0]["max_studies"], apo_runs[0]["seed"]
    return validate_pipeline(values, "driftalign demo")


def _apply_apo_flags(apo: dict[str, Any], cfg: DemoConfig) -> None:
    """The APO flags, applied to one APO run of the bundled file (every run gets the same)."""
    for key, value in (("lr", cfg.apo_lr), ("batch_size", cfg.apo_batch_size), ("beta", cfg.beta),
                       ("sft_weight", cfg.sft_weight), ("weights", cfg.weights), ("seed", cfg.seed),
                       ("eval_max_new_tokens", cfg.max_new_tokens)):
        if value is not None:
            apo[key] = value
    if cfg.apo_steps is not None:
        apo.update(max_steps=cfg.apo_steps, save_steps=max(cfg.apo_steps // 2, 1),
                   logging_steps=max(cfg.apo_steps // 10, 1), eval_every=min(apo.get("eval_every", 0), cfg.apo_steps))
    if cfg.apo_steps is not None or cfg.apo_batch_size is not None:
        apo["max_studies"] = apo["max_steps"] * apo["batch_size"]


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    pipeline = demo_pipeline(cfg)
    out = pipeline.out
    if cfg.fresh and out.exists():
        if not ((out / MARKER).exists() or (out / LEGACY_MARKER).exists()):
            raise ConfigError(f"{out} exists and was not made by the demo; choose another --out")
        shutil.rmtree(out)
    return run_single(pipeline)   # the demo pipeline has no seeds
