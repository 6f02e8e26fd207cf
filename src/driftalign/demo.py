"""`driftalign demo`: the whole pipeline on a fresh SYNTHETIC world, in one command.

    world      driftalign synth --teachers none                (images, labels, reference reports)
    collect    driftalign serve-teachers (in-process, 127.0.0.1) + driftalign collect over HTTP
    drift      driftalign drift                                 (tables + plots)
    student    driftalign init-student --preset base            (vision tower pretrained on renders)
    spd        driftalign spd  (all teachers, vision frozen)    -> the APO reference policy
    consensus  driftalign consensus --strategy vote
    apo        driftalign apo  (the paper's: uniform weights)
    eval       driftalign generate + driftalign eval for SPD and each APO student: accuracy, clinical
               F1 and the drift errors each student inherited; a paired bootstrap says whether APO
               beat SPD on this run

Each stage calls the same library function and config as its CLI command (a recipe, in torchtune's
sense), so the demo is the pipeline a user runs on their own data, only smaller. A stage whose
output already exists is skipped with --resume. Everything here is synthetic: the numbers show the
pipeline works, they are not clinical results.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field
from rich.console import Console
from rich.table import Table

from driftalign.config import StageConfig, save_config
from driftalign.constants import MSCXRT_FINDINGS
from driftalign.data.io import atomic_write, write_json
from driftalign.errors import ConfigError

MARKER = ".driftalign-demo"
console = Console()


class DemoConfig(StageConfig):
    """Options of `driftalign demo` (flags == YAML keys)."""

    out: Path = Field(Path("demo_out"), description="directory for every output of the demo")
    studies: int = Field(2000, ge=20, description="studies in the synthetic world (+10% external split)")
    preset: str = Field("base", description="student preset (base: the experiments' student, vision pretrained)")
    vision_pretrain_images: int = Field(3000, ge=32, description="synthetic renders for the student's vision pretraining")
    vision_pretrain_steps: int = Field(1000, ge=1, description="vision pretraining steps (batch 32)")
    seed: int = Field(0, description="seed of the world, the teachers and the training runs")
    image_size: int = Field(64, description="rendered image size in pixels")
    spd_steps: int = Field(1200, ge=1, description="SPD optimiser steps (full fine-tuning of the language model)")
    spd_lr: float = Field(2e-3, gt=0, description="SPD learning rate (a randomly initialised language model needs a large one)")
    batch_size: int = Field(8, ge=1, description="SPD examples per step")
    apo_steps: int = Field(150, ge=1, description="APO optimiser steps per variant")
    apo_lr: float = Field(2e-5, gt=0, description="APO learning rate (the paper's; 1e-4 collapses the tiny student)")
    apo_batch_size: int = Field(4, ge=1, description="studies (each with N+1 candidates) per APO step")
    beta: float = Field(0.1, gt=0, description="APO reward scale beta (eq. 8)")
    sft_weight: float = Field(0.0, ge=0, description="APO: weight of t+'s NLL (0 = the paper's pure APO; see docs/apo.md)")
    weights: str = Field("uniform", description="APO teacher-weight schemes to run, comma-separated (uniform = the paper's)")
    drift_split: str = Field("test", description="studies the drift stage measures (all | train | val | test | external)")
    max_new_tokens: int = Field(160, ge=8, description="tokens per generated report")
    resume: bool = Field(False, description="keep a previous demo run in --out and skip its finished stages")


def _prepare_out(cfg: DemoConfig) -> None:
    out = cfg.out
    if out.exists() and any(out.iterdir()) and not cfg.resume:
        if not (out / MARKER).exists():
            raise ConfigError(f"{out} exists and was not made by the demo; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).touch()
    save_config(cfg, out)


def _stage(name: str, done: Path, fn: Callable[[], Any], timings: dict[str, float]) -> None:
    if done.exists():
        console.print(f"[dim]- {name}: already done ({done})[/dim]")
        return
    console.rule(f"[bold]{name}")
    t0 = time.perf_counter()
    fn()
    timings[name] = round(time.perf_counter() - t0, 1)
    console.print(f"[green]✓ {name}[/green] in {timings[name]:.1f} s")


# ---- stages ------------------------------------------------------------------------------------


def _world(cfg: DemoConfig, world: Path) -> None:
    from driftalign.synth.world import build_world

    build_world(world, studies=cfg.studies, seed=cfg.seed, image_size=cfg.image_size, teachers="none")


def _collect(cfg: DemoConfig, world: Path, out: Path) -> None:
    """Serve the seven simulated teachers on 127.0.0.1 and collect their answers over real HTTP."""
    from driftalign.synth.teachers import TEACHER_NAMES
    from driftalign.teachers.collect import collect
    from driftalign.teachers.server import start_server_in_thread

    with start_server_in_thread(world, port=0, log_path=out / "teacher_requests.jsonl") as server:
        teachers = [{"name": name, "base_url": server.url, "model": name, "max_concurrency": 8,
                     "rpm": 100000, "tpm": 100000000, "params": {"temperature": 0.7, "max_tokens": 1024},
                     "price_per_1k": {"input": 0.0, "output": 0.0}, "prompt": "hinted", "timeout_s": 30}
                    for name in TEACHER_NAMES]
        teachers_yaml = out / "teachers.yaml"
        with atomic_write(teachers_yaml) as f:
            f.write("# The demo's teachers: the seven simulated teachers on a local server (synthetic).\n")
            yaml.safe_dump({"teachers": teachers}, f, sort_keys=False)
        summary = collect(world, teachers_yaml)
    if summary.failed or summary.aborted:
        raise RuntimeError(f"collection incomplete: {summary.failed} failed, aborted: {summary.aborted}")


def _drift(world: Path, out: Path, split: str) -> None:
    from driftalign.drift.run import DriftConfig, run_drift

    run_drift(DriftConfig(data=world, out=out, split=split))


def _student(cfg: DemoConfig, world: Path, out: Path) -> None:
    from driftalign.models import build_student
    from driftalign.models.vision_pretraining import VisionPretrainConfig

    build_student(cfg.preset, world, out, seed=cfg.seed, vision_pretraining=VisionPretrainConfig(
        images=cfg.vision_pretrain_images, steps=cfg.vision_pretrain_steps, seed=cfg.seed))


def _spd(cfg: DemoConfig, world: Path, student: Path, out: Path) -> None:
    from driftalign.training.spd import SPDConfig
    from driftalign.training.spd_trainer import run_spd

    run_spd(SPDConfig(model=student, data=world, out=out, lora=False, freeze_vision=True, lr=cfg.spd_lr,
                      batch_size=cfg.batch_size, max_steps=cfg.spd_steps, seed=cfg.seed,
                      save_steps=max(cfg.spd_steps // 2, 1), logging_steps=max(cfg.spd_steps // 10, 1)))


def _consensus(world: Path, out: Path) -> None:
    from driftalign.consensus.run import ConsensusConfig, run_consensus

    run_consensus(ConsensusConfig(data=world, out=out, strategy="vote"))


def _apo(cfg: DemoConfig, world: Path, spd: Path, consensus: Path, out: Path, weights: str) -> None:
    from driftalign.training.apo import APOConfig, run_apo

    run_apo(APOConfig(model=spd, data=world, consensus=consensus, out=out, weights=weights, beta=cfg.beta,
                      reference_cache=out.parent / "apo-reference-cache",  # shared: same SPD model, same t+
                      lora=False, freeze_vision=True, lr=cfg.apo_lr, batch_size=cfg.apo_batch_size,
                      max_steps=cfg.apo_steps, max_studies=cfg.apo_steps * cfg.apo_batch_size,
                      sft_weight=cfg.sft_weight, seed=cfg.seed,
                      save_steps=max(cfg.apo_steps // 2, 1), logging_steps=max(cfg.apo_steps // 10, 1)))


def _evaluate(cfg: DemoConfig, model: Path, world: Path, pred: Path, metrics: Path) -> None:
    from driftalign.cli.eval_commands import EvalConfig, run_eval
    from driftalign.generation.generate import GenerateConfig, run_generate

    run_generate(GenerateConfig(model=model, data=world, out=pred, split="test", batch_size=32,
                                max_new_tokens=cfg.max_new_tokens))
    run_eval(EvalConfig(pred=pred, data=world, split="test", json=metrics))


# ---- the recipe ----------------------------------------------------------------------------------


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    _prepare_out(cfg)
    out = cfg.out
    world, drift, student, spd = out / "world", out / "drift", out / "student", out / "spd"
    consensus = out / "consensus" / "vote.jsonl"
    timings: dict[str, float] = {}
    schemes = [w.strip() for w in cfg.weights.split(",") if w.strip()]

    _stage("world (synthetic)", world / "studies.jsonl", lambda: _world(cfg, world), timings)
    _stage("collect (simulated teachers over HTTP)", world / "trajectories.jsonl",
           lambda: _collect(cfg, world, out), timings)
    _stage(f"drift ({cfg.drift_split} split)", drift / "drift.json", lambda: _drift(world, drift, cfg.drift_split),
           timings)
    _stage(f"init-student ({cfg.preset})", student / "config.json", lambda: _student(cfg, world, student), timings)
    _stage("spd (all teachers)", spd / "final" / "config.json", lambda: _spd(cfg, world, student, spd), timings)
    _stage("eval spd", out / "eval" / "spd.json",
           lambda: _evaluate(cfg, spd / "final", world, out / "preds" / "spd.jsonl", out / "eval" / "spd.json"),
           timings)
    _stage("consensus (vote)", consensus, lambda: _consensus(world, consensus), timings)
    for scheme in schemes:
        apo = out / f"apo-{scheme}"
        _stage(f"apo ({scheme} weights)", apo / "final" / "config.json",
               lambda apo=apo, scheme=scheme: _apo(cfg, world, spd, consensus, apo, scheme), timings)
        _stage(f"eval apo-{scheme}", out / "eval" / f"apo-{scheme}.json",
               lambda apo=apo, scheme=scheme: _evaluate(cfg, apo / "final", world, out / "preds" / f"apo-{scheme}.jsonl",
                                                        out / "eval" / f"apo-{scheme}.json"), timings)

    summary = _summary(out, ["spd", *(f"apo-{s}" for s in schemes)], timings)
    write_json(out / "summary.json", summary)
    return summary


def apo_verdict(out: Path, run: str, n_boot: int = 1000) -> dict[str, Any]:
    """Paired bootstrap of (APO run - SPD) on the test split: did APO beat SPD on this run?

    "yes" when the 95% CI of the average-accuracy difference is above 0 or the CI of the
    drift-error difference is below 0 (and neither is significantly worse); "no" otherwise."""
    from driftalign.data.dataset import load_dataset
    from driftalign.metrics import load_predictions
    from driftalign.metrics.bootstrap import paired_bootstrap, study_outcomes

    studies = load_dataset(out / "world", verify_images=False).split("test")

    def outcomes(name: str):
        texts = {p["study_id"]: p["text"] for p in load_predictions(out / "preds" / f"{name}.jsonl")}
        return study_outcomes([texts.get(st.study_id, "") for st in studies], studies)

    ci = paired_bootstrap([(outcomes(run), outcomes("spd"))], n_boot=n_boot, seed=0)
    acc, err = ci["avg_accuracy"], ci["drift_errors_per_100"]
    better = acc["lo"] > 0 or err["hi"] < 0
    worse = acc["hi"] < 0 or err["lo"] > 0
    return {"run": run, "beat_spd": bool(better and not worse), **ci}


def _summary(out: Path, runs: list[str], timings: dict[str, float]) -> dict[str, Any]:
    import json

    rows = {}
    for run in runs:
        metrics = json.loads((out / "eval" / f"{run}.json").read_text())
        rows[run] = {"accuracy": metrics["accuracy"], "clinical_f1": metrics["clinical"]["example_based"]["f1"],
                     "drift_errors": metrics["drift_errors"], "BLEU-4": metrics["nlg"].get("BLEU-4")}
    table = Table(title="driftalign demo — SYNTHETIC world, test split (balanced top-1 accuracy; "
                        "drift errors the student inherited, per 100 reports)")
    table.add_column("student")
    for short in [*MSCXRT_FINDINGS.values(), "Avg.", "clin. F1", "drift err/100"]:
        table.add_column(short, justify="right")
    for run, r in rows.items():
        acc = r["accuracy"]
        cells = [acc.get(name) for name in MSCXRT_FINDINGS] + [acc.get("average"), r["clinical_f1"]]
        table.add_row(run, *("-" if v is None else f"{v:.3f}" for v in cells), f"{r['drift_errors']['total']:.1f}")
    verdicts = [apo_verdict(out, run) for run in runs if run != "spd"]
    console.print(table)
    console.print("majority-class baseline: 0.500 on every finding (balanced sets)")
    console.print(f"outputs: world {out / 'world'} | drift plots {out / 'drift'} | models {out}/spd, {out}/apo-* "
                  f"| predictions {out / 'preds'} | metrics {out / 'eval'} | summary {out / 'summary.json'}")
    for v in verdicts:
        a, e = v["avg_accuracy"], v["drift_errors_per_100"]
        console.print(f"[bold]{v['run']} beat SPD on this run: {'yes' if v['beat_spd'] else 'no'}[/bold] "
                      f"(Δ avg. accuracy {a['diff']:+.3f} [95% CI {a['lo']:+.3f}, {a['hi']:+.3f}], "
                      f"Δ drift errors/100 {e['diff']:+.1f} [{e['lo']:+.1f}, {e['hi']:+.1f}]; paired bootstrap)")
    return {"synthetic": True, "students": rows, "apo_vs_spd": verdicts, "timings_s": timings}
