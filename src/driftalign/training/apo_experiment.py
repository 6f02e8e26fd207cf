"""The APO experiment on one synthetic world: teachers, SPD (one / all teachers), SPD + APO variants.

    run_apo_experiment(out_dir, studies=300) -> ExperimentTable

Stages (each skipped when its output already exists, so an interrupted run resumes):
  world       build_world(studies, seed, image_size, all seven simulated teachers)
  student     a randomly initialised tiny Qwen2.5-VL student
  spd-gpt5    SPD on sim-gpt-5's trajectories only (the single-teacher baseline)
  spd-all     SPD on all seven teachers (the APO reference policy)
  consensus   vote / model / hybrid t+ on the train split, from spd-all
  apo-*       APO from spd-all: vote consensus with uniform and drift weights, model and hybrid
              consensus with uniform weights
  eval        greedy reports on the test split, labelled, balanced top-1 accuracy per MS-CXR-T
              finding (`driftalign.metrics.mscxrt_accuracy`); the teachers' trajectories on the
              same studies are scored the same way (Table 2 layout)

Every number is on SYNTHETIC data and is labelled so. Students are randomly initialised, so the
SPD stage uses full fine-tuning (vision tower included) with a large learning rate; APO keeps the
vision tower frozen as in the paper (see docs/apo.md for why and for the measured numbers).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from driftalign.constants import MSCXRT_FINDINGS
from driftalign.data.io import atomic_write, write_json

log = logging.getLogger(__name__)

SINGLE_TEACHER = "sim-gpt-5"


@dataclass(frozen=True)
class ExperimentSettings:
    """Sizes and hyper-parameters. `quick()`: 200 studies, SPD 1 epoch, vote consensus only — a
    ~12 min smoke test of the pipeline (the students stay at chance); `medium()`: 400 studies, SPD
    3 epochs (~25 min, the numbers in docs/apo.md); `full()`: 1000 studies, all three strategies."""

    studies: int = 200
    seed: int = 0
    image_size: int = 56
    preset: str = "tiny"
    spd_epochs: float = 1.0
    spd_lr: float = 1e-3
    spd_batch_size: int = 8
    spd_train_vision: bool = True
    apo_epochs: float = 1.0
    apo_lr: float = 2e-5         # the paper's; 1e-4 collapsed the tiny student to empty reports (docs/apo.md)
    apo_batch_size: int = 2
    beta: float = 0.1
    sft_weight: float = 1.0      # the extra "+NLL" variant (vote t+, uniform w); 0 = no such variant
    apo_full: bool = True
    max_new_tokens: int = 128
    strategies: tuple[str, ...] = ("vote", "model", "hybrid")

    @classmethod
    def quick(cls, **overrides: Any) -> ExperimentSettings:
        return cls(**{"studies": 200, "spd_epochs": 1.0, "strategies": ("vote",), **overrides})

    @classmethod
    def medium(cls, **overrides: Any) -> ExperimentSettings:
        """The documented run (~25 min on a loaded 2-core machine): the smallest that learns to see."""
        return cls(**{"studies": 400, "spd_epochs": 3.0, "strategies": ("vote",), **overrides})

    @classmethod
    def full(cls, **overrides: Any) -> ExperimentSettings:
        return cls(**{"studies": 1000, "spd_epochs": 3.0, "apo_epochs": 2.0, **overrides})


@dataclass
class ExperimentTable:
    """Rows of the Table 5 layout (students) and the Table 2 layout (teachers), plus consensus quality."""

    teachers: list[dict[str, Any]] = field(default_factory=list)
    students: list[dict[str, Any]] = field(default_factory=list)
    consensus: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def markdown(self) -> str:
        cols = [*MSCXRT_FINDINGS.values(), "Avg."]
        head = "| model | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols) + "\n"

        def table(rows: list[dict[str, Any]]) -> str:
            return head + "".join(
                f"| {r['name']} | " + " | ".join(_fmt(r.get(c)) for c in cols) + " |\n" for r in rows)

        cons = "| strategy | t+ label F1 | t+ Avg. acc | rows |\n|---|---|---|---|\n" + "".join(
            f"| {c['strategy']} | {c['f1']:.3f} | {_fmt(c['avg_accuracy'])} | {c['rows']} |\n" for c in self.consensus)
        n = self.settings.get("studies")
        return (f"## Teachers (synthetic, Table 2 layout; test split of a {n}-study synthetic world)\n\n"
                f"{table(self.teachers)}\n"
                f"## Students (synthetic, Table 5 layout; balanced top-1 accuracy)\n\n{table(self.students)}\n"
                f"## Consensus quality on the train split (synthetic)\n\n{cons}")


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _accuracy_row(name: str, accuracy: dict[str, float | None]) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name}
    for finding, short in MSCXRT_FINDINGS.items():
        row[short] = accuracy.get(finding)
    row["Avg."] = accuracy.get("average")
    return row


# ---- stages ----------------------------------------------------------------------------------------


def _world(out: Path, s: ExperimentSettings) -> Path:
    from driftalign.synth.world import build_world

    path = out / "world"
    if not (path / "studies.jsonl").is_file():
        build_world(path, studies=s.studies, seed=s.seed, image_size=s.image_size, teachers="all")
    return path


def _student(out: Path, world: Path, s: ExperimentSettings) -> Path:
    from driftalign.models import build_student

    path = out / "student"
    if not (path / "config.json").is_file():
        build_student(s.preset, world, path, seed=s.seed)
    return path


def _spd(out: Path, name: str, student: Path, world: Path, teachers: str, s: ExperimentSettings) -> Path:
    from driftalign.training.spd import SPDConfig
    from driftalign.training.spd_trainer import run_spd

    run_dir = out / name
    if not (run_dir / "final" / "config.json").is_file():
        run_spd(SPDConfig(model=student, data=world, out=run_dir, teachers=teachers, lora=False,
                          freeze_vision=not s.spd_train_vision,
                          lr=s.spd_lr, epochs=s.spd_epochs, batch_size=s.spd_batch_size, seed=s.seed,
                          save_steps=10_000, logging_steps=20))
    return run_dir / "final"


def _consensus(out: Path, strategy: str, spd: Path, world: Path, s: ExperimentSettings) -> tuple[Path, dict[str, Any]]:
    from driftalign.consensus.run import ConsensusConfig, run_consensus

    path = out / "consensus" / f"{strategy}.jsonl"
    summary = run_consensus(ConsensusConfig(data=world, out=path, strategy=strategy, model=spd, split="train",
                                            max_new_tokens=s.max_new_tokens))
    q = summary.quality
    return path, {"strategy": strategy, "rows": summary.rows, "f1": q["consensus"]["f1"],
                  "avg_accuracy": q["consensus"]["accuracy"].get("average")}


def _apo(out: Path, name: str, spd: Path, world: Path, consensus: Path, weights: str, sft_weight: float,
         s: ExperimentSettings) -> Path:
    from driftalign.training.apo import APOConfig, run_apo

    run_dir = out / name
    if not (run_dir / "final" / "config.json").is_file():
        run_apo(APOConfig(model=spd, data=world, out=run_dir, consensus=consensus, weights=weights, beta=s.beta,
                          sft_weight=sft_weight,
                          lora=not s.apo_full, freeze_vision=True, lr=s.apo_lr, epochs=s.apo_epochs,
                          batch_size=s.apo_batch_size, seed=s.seed, save_steps=10_000, logging_steps=20))
    return run_dir / "final"


def _evaluate_model(out: Path, name: str, model: Path, world: Path, s: ExperimentSettings) -> dict[str, Any]:
    from driftalign.data.dataset import load_dataset
    from driftalign.generation.generate import GenerateConfig, run_generate
    from driftalign.metrics import evaluate_predictions, load_predictions

    pred = out / "predictions" / f"{name}.jsonl"
    run_generate(GenerateConfig(model=model, data=world, out=pred, split="test", max_new_tokens=s.max_new_tokens,
                                batch_size=16))
    result = evaluate_predictions(load_predictions(pred), load_dataset(world, verify_images=False), "test", nlg=False)
    return result["accuracy"]


def _teacher_rows(world: Path, seed: int) -> list[dict[str, Any]]:
    """Table 2: each simulated teacher answers the UNHINTED prompt on the test studies (the hinted
    trajectories the students learn from are told the diagnoses, so they are near-perfect)."""
    from driftalign.data.dataset import load_dataset
    from driftalign.metrics import evaluate_predictions
    from driftalign.synth.teachers import simulate_trajectories

    ds = load_dataset(world, verify_images=False)
    answers = simulate_trajectories(ds.split("test"), ds.teachers, seed=seed, mode="unhinted")
    rows = []
    for teacher in ds.teachers:
        preds = [{"study_id": t.study_id, "text": t.response} for t in answers if t.teacher == teacher]
        rows.append(_accuracy_row(f"{teacher} (teacher, unhinted)",
                                  evaluate_predictions(preds, ds, "test", nlg=False)["accuracy"]))
    return rows


# ---- the experiment --------------------------------------------------------------------------------


def apo_variants(s: ExperimentSettings) -> list[tuple[str, str, float]]:
    """(consensus strategy, weight scheme, sft weight) of each APO run: every strategy with uniform
    weights; for the vote also drift weights and (if s.sft_weight) uniform weights + the t+ NLL."""
    variants = []
    for strategy in s.strategies:
        variants.append((strategy, "uniform", 0.0))
        if strategy == "vote":
            variants.append((strategy, "drift", 0.0))
            if s.sft_weight:
                variants.append((strategy, "uniform", s.sft_weight))
    return variants


def _check_settings(out: Path, s: ExperimentSettings) -> None:
    """Resume only with the same settings: finished stages are reused, so they must match."""
    from driftalign.errors import ConfigError

    path = out / "settings.json"
    wanted = json.loads(json.dumps(asdict(s)))
    if path.is_file():
        found = json.loads(path.read_text(encoding="utf-8"))
        if found != wanted:
            diff = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
            raise ConfigError(f"{out}: an experiment with other settings ({diff}) is there; use a new --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json(path, wanted)


def run_apo_experiment(out_dir: str | Path, studies: int | None = None, settings: ExperimentSettings | None = None,
                       **overrides: Any) -> ExperimentTable:
    """Run (or resume) the whole experiment in `out_dir`; write table.md / table.json; return the table."""
    s = settings or ExperimentSettings.quick(**({"studies": studies} if studies else {}), **overrides)
    out = Path(out_dir)
    _check_settings(out, s)
    world = _world(out, s)
    student = _student(out, world, s)
    table = ExperimentTable(settings=asdict(s), teachers=_teacher_rows(world, s.seed))
    spd_one = _spd(out, "spd-gpt5", student, world, SINGLE_TEACHER, s)
    spd_all = _spd(out, "spd-all", student, world, "all", s)
    table.students.append(_accuracy_row(f"SPD ({SINGLE_TEACHER} only)", _evaluate_model(out, "spd-gpt5", spd_one, world, s)))
    table.students.append(_accuracy_row("SPD (all teachers)", _evaluate_model(out, "spd-all", spd_all, world, s)))
    consensus_files: dict[str, Path] = {}
    for strategy in s.strategies:
        consensus_files[strategy], quality = _consensus(out, strategy, spd_all, world, s)
        table.consensus.append(quality)
    for strategy, weights, sft_weight in apo_variants(s):
        name = f"apo-{strategy}-{weights}" + (f"-nll{sft_weight:g}" if sft_weight else "")
        model = _apo(out, name, spd_all, world, consensus_files[strategy], weights, sft_weight, s)
        label = f"SPD + APO ({strategy} t+, {weights} w{f', +{sft_weight:g} NLL' if sft_weight else ''})"
        table.students.append(_accuracy_row(label, _evaluate_model(out, name, model, world, s)))
    write_json(out / "table.json", {**asdict(table), "synthetic": True})
    with atomic_write(out / "table.md") as f:
        f.write(table.markdown())
    return table


def table_json(table: ExperimentTable) -> str:
    return json.dumps(asdict(table), indent=2)
