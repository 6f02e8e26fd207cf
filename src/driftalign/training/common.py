"""Shared training flags and their translation to `transformers.TrainingArguments`.

`TrainingStageConfig` holds every option a training stage has in common (data, schedule,
optimiser, checkpointing, logging, LoRA vs full fine-tuning); SPD, APO and DiTPO subclass it and
add only their method's fields, so `--lr`, `--max-steps`, `--resume` ... mean the same thing in
every stage. `training_arguments(cfg)` maps it onto the Trainer's arguments with the paper's
optimiser (AdamW, betas (0.9, 0.98), weight decay 0.05, cosine schedule with warm-up ratio 0.05
decaying to 1e-7, SPEC §3). `prepare_model(model, cfg)` applies LoRA or the vision freeze.

Checkpointing, resuming, gradient accumulation, logging and `accelerate launch` (DDP, DeepSpeed,
FSDP) all come from the Trainer: this module only decides the arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from driftalign.config import StageConfig
from driftalign.constants import STUDENT_PROMPT, Split
from driftalign.models.options import ModelOptions

if TYPE_CHECKING:  # torch/transformers are imported inside the functions: configs stay cheap to import,
    import torch  # so the CLI (which builds its flags from the configs) starts in well under a second
    from transformers import PreTrainedModel, TrainingArguments

# Learning-rate defaults when --lr is not given. LoRA: the paper's SPD lr (SPEC §3). Full
# fine-tuning: DEER's SFT lr, a safe value for a pretrained 7B; a randomly initialised tiny
# student needs far more (see docs/student_and_spd.md).
LORA_LR = 1e-4
FULL_LR = 1e-5
MIN_LR = 1e-7  # cosine schedule floor (SPEC §3: "cosine to 1e-7")


MixedPrecision = Literal["auto", "no", "bf16", "fp16"]
SaveDType = Literal["source", "float32", "bfloat16", "float16"]


class TrainingStageConfig(StageConfig, ModelOptions):
    """Options shared by every training stage (flags == YAML keys), with the model's (`ModelOptions`).

    Precision (docs/student_and_spd.md, "Your own checkpoint"): `--dtype auto` keeps float32 master weights for
    --full (a bf16 checkpoint is upcast: pure-bf16 AdamW loses most small updates) and the checkpoint's dtype
    for LoRA's frozen base (the adapters are float32); `--mixed-precision auto` is bf16 autocast on a GPU that
    has it, none on CPU; `--save-dtype source` writes final/ in the checkpoint's own dtype.
    """

    model: Path = Field(description="student model directory (HF image-text-to-text checkpoint)")
    data: Path = Field(description="dataset directory (studies.jsonl, trajectories.jsonl, images/)")
    out: Path = Field(description="output directory: checkpoints, final/ model, adapter/, config")
    split: Split = Field("train", description="dataset split to train on")
    prompt: str = Field(STUDENT_PROMPT, description="the student's prompt (no labels: the student must learn to see)")
    max_length: int = Field(1024, ge=16, description="max tokens per example; longer answers are truncated")
    lora: bool = Field(True, description="LoRA on the language model (--lora) or full fine-tuning (--full)",
                       json_schema_extra={"flags": "--lora/--full"})
    lora_r: int = Field(8, ge=1, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha")
    lora_dropout: float = Field(0.1, ge=0.0, lt=1.0, description="LoRA dropout")
    freeze_vision: bool = Field(True, description="keep the vision tower frozen (implied by --lora)")
    epochs: float = Field(1.0, gt=0, description="training epochs (ignored when --max-steps is given)")
    max_steps: int | None = Field(None, ge=1, description="optimiser steps; wins over --epochs")
    batch_size: int = Field(2, ge=1, description="examples per device per micro-batch")
    grad_accum: int = Field(1, ge=1, description="gradient accumulation steps")
    lr: float | None = Field(None, gt=0, description=f"peak learning rate [LoRA {LORA_LR}, full {FULL_LR}]")
    warmup_ratio: float = Field(0.05, ge=0.0, lt=1.0, description="linear warm-up, fraction of total steps")
    weight_decay: float = Field(0.05, ge=0.0, description="AdamW weight decay")
    adam_beta1: float = Field(0.9, gt=0.0, lt=1.0, description="AdamW beta1")
    adam_beta2: float = Field(0.98, gt=0.0, lt=1.0, description="AdamW beta2")
    seed: int = Field(0, description="random seed (data order, dropout, LoRA init)")
    resume: bool = Field(True, description="resume from the latest checkpoint-* in --out if there is one")
    report_to: Literal["none", "tensorboard", "wandb"] = Field("none", description="experiment tracker")
    save_steps: int = Field(500, ge=1, description="save a checkpoint every N optimiser steps")
    save_total_limit: int = Field(2, ge=1, description="keep at most N checkpoints")
    logging_steps: int = Field(10, ge=1, description="log loss/lr every N optimiser steps")
    mixed_precision: MixedPrecision = Field(
        "auto", description="autocast: bf16, fp16 or no (auto: bf16 on a GPU that supports it, no on CPU)")
    save_dtype: SaveDType = Field("source", description="dtype of the saved final/ model (source: the --model "
                                                        "checkpoint's own dtype)")
    gradient_checkpointing: bool = Field(False, description="recompute activations in the backward pass "
                                                            "(memory for time)")

    @model_validator(mode="after")
    def _lora_freezes_vision(self) -> TrainingStageConfig:
        if self.lora and not self.freeze_vision:
            raise ValueError("--no-freeze-vision needs --full: LoRA adapts only the language model")
        return self

    def default_lr(self) -> float:
        """The learning rate used when --lr is not given (stages may override)."""
        return LORA_LR if self.lora else FULL_LR

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else self.default_lr()


def training_argument_values(cfg: TrainingStageConfig) -> dict[str, Any]:
    """The keyword arguments `training_arguments` passes to `TrainingArguments` (paper optimiser; CPU when no
    GPU; no dataloader workers on CPU). GRPO passes the same values to TRL's `GRPOConfig` (a subclass)."""
    import torch

    on_cpu = not torch.cuda.is_available()
    precision = resolve_mixed_precision(cfg.mixed_precision)
    return dict(
        output_dir=str(cfg.out),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps is not None else -1,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr": MIN_LR},
        warmup_steps=cfg.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        weight_decay=cfg.weight_decay,
        adam_beta1=cfg.adam_beta1,
        adam_beta2=cfg.adam_beta2,
        optim="adamw_torch",
        seed=cfg.seed,
        data_seed=cfg.seed,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        report_to=cfg.report_to,
        use_cpu=on_cpu,
        dataloader_num_workers=0 if on_cpu else 2,
        dataloader_pin_memory=not on_cpu,
        remove_unused_columns=False,  # the collator's fields (pixel_values, image_grid_thw ...) are all inputs
        ddp_find_unused_parameters=False,
        disable_tqdm=False,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        gradient_checkpointing=cfg.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
    )


def resolve_mixed_precision(value: str) -> str:
    """'auto' -> 'bf16' on a CUDA GPU with bf16 support, else 'no'; other values as given."""
    if value != "auto":
        return value
    import torch

    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def training_dtype(cfg: TrainingStageConfig, source: torch.dtype) -> torch.dtype:
    """The dtype a training stage loads its model in: --dtype when given; 'auto' = float32 master weights for full
    fine-tuning, the checkpoint's `source` dtype for LoRA (frozen base; PEFT keeps the adapters in float32)."""
    import torch

    if cfg.dtype != "auto":
        return getattr(torch, cfg.dtype)
    return source if cfg.lora else torch.float32


def load_for_training(cfg: TrainingStageConfig, path: str | Path | None = None):
    """(model, processor) of `path` (default --model) in `training_dtype`, with the stage's attention kernel and
    image limits; one notice line when a lower-precision checkpoint is upcast for full fine-tuning."""
    import sys

    from driftalign.models.load import checkpoint_dtype, load_student

    source = path if path is not None else cfg.model
    src = checkpoint_dtype(source)
    dtype = training_dtype(cfg, src)
    if dtype != src and cfg.dtype == "auto":
        print(f"note: {source}: {str(src).removeprefix('torch.')} weights trained as float32 master weights "
              f"(--full); final/ is saved as {_save_dtype_name(cfg, src)}", file=sys.stderr, flush=True)
    return load_student(source, dtype=dtype, **cfg.load_kwargs())


def _save_dtype_name(cfg: TrainingStageConfig, source: torch.dtype) -> str:
    return str(source).removeprefix("torch.") if cfg.save_dtype == "source" else cfg.save_dtype


def save_dtype(cfg: TrainingStageConfig) -> torch.dtype:
    """The dtype final/ is written in: --save-dtype, 'source' = the --model checkpoint's dtype."""
    import torch

    from driftalign.models.load import checkpoint_dtype

    return checkpoint_dtype(cfg.model) if cfg.save_dtype == "source" else getattr(torch, cfg.save_dtype)


VERBOSE_ENV = "DRIFTALIGN_VERBOSE"   # set by `driftalign --verbose`: keep transformers' own bars and printed logs


def truncate_log(path: Path, step: int) -> None:
    """Keep only the entries of OUT/trainer_log.jsonl logged at or before optimiser step `step` (rewritten
    atomically; a half-written last line from a kill is dropped too, and the end-of-training summary of an
    earlier call, since this one logs its own). Called as training begins: a run resumed from checkpoint-K logs
    K+1 .. again, and a run started afresh (`step` 0) logs everything again."""
    import json

    from driftalign.data.io import write_jsonl

    if not path.is_file():
        return
    kept, changed = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict) and not (isinstance(entry.get("step"), int) and entry["step"] > step) \
                and "train_runtime" not in entry:   # an earlier train() call's end summary: this one logs its own
            kept.append(entry)
        else:
            changed = True
    if changed:
        write_jsonl(path, kept)


class RichProgress:
    """A transformers `TrainerCallback`: one rich progress line per training stage (steps, loss, ETA) in
    place of the Trainer's tqdm bar and printed log dicts; every log dict goes to OUT/trainer_log.jsonl,
    cut back to the steps the run starts from when it begins (`truncate_log`: a resume logs no step twice)."""

    def __init__(self, name: str, log_path: Path):
        self.name, self.log_path = name, log_path
        self.progress = None
        self.task = None

    def _callback(self):   # subclassed lazily so that importing this module does not import transformers
        from transformers import TrainerCallback

        outer = self

        class _Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                if not state.is_world_process_zero:
                    return
                truncate_log(outer.log_path, state.global_step)
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

                outer.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                          TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn())
                outer.task = outer.progress.add_task(outer.name, total=state.max_steps, completed=state.global_step,
                                                     loss="-")
                outer.progress.start()

            def on_step_end(self, args, state, control, **kwargs):
                if outer.progress is not None:
                    outer.progress.update(outer.task, completed=state.global_step)

            def on_log(self, args, state, control, logs=None, **kwargs):
                if not state.is_world_process_zero or not logs:
                    return
                import json

                outer.log_path.parent.mkdir(parents=True, exist_ok=True)
                with outer.log_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"step": state.global_step, **logs}) + "\n")
                if outer.progress is not None and "loss" in logs:
                    outer.progress.update(outer.task, loss=f"{float(logs['loss']):.4f}")

            def on_train_end(self, args, state, control, **kwargs):
                if outer.progress is not None:
                    outer.progress.stop()
                    outer.progress = None

        return _Callback()


def quiet_trainer(trainer, name: str) -> None:
    """Replace the Trainer's console output by a `RichProgress` line (unless `driftalign --verbose`)."""
    import os

    if os.environ.get(VERBOSE_ENV):
        return
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(RichProgress(name, Path(trainer.args.output_dir) / "trainer_log.jsonl")._callback())
def training_arguments(cfg: TrainingStageConfig) -> TrainingArguments:
    """TrainingArguments for `cfg` (`training_argument_values`)."""
    from transformers import TrainingArguments

    return TrainingArguments(**training_argument_values(cfg))


def prepare_model(model: PreTrainedModel, cfg: TrainingStageConfig) -> torch.nn.Module:
    """LoRA on the language model (vision frozen by PEFT), or full fine-tuning with optional vision freeze."""
    from driftalign.models.lora import apply_lora, freeze_vision_tower

    if cfg.lora:
        return apply_lora(model, r=cfg.lora_r, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout)
    if cfg.freeze_vision:
        freeze_vision_tower(model)
    return model


def resume_checkpoint(cfg: TrainingStageConfig) -> str | None:
    """The newest complete checkpoint-* directory in --out when --resume is on, else None.

    Newer checkpoints that a kill left incomplete are moved aside to OUT/.incomplete-checkpoint-N with one
    notice line each (`training.checkpoints.select_checkpoint`), so they never break a rerun."""
    from driftalign.training.checkpoints import select_checkpoint

    chosen = select_checkpoint(cfg.out, resume=cfg.resume)
    return str(chosen) if chosen is not None else None


class _DropReloadWarnings:
    """logging filter: the Trainer's missing/unexpected-key warnings of a checkpoint we reloaded ourselves."""

    def filter(self, record) -> bool:
        msg = record.getMessage()
        return not (msg.startswith("There were missing keys in the checkpoint")
                    or msg.startswith("There were unexpected keys in the checkpoint"))


def restore_checkpoint_weights(model, checkpoint: str | None) -> None:
    """Load a full-model checkpoint's weights into `model` (in place) before `Trainer.train(resume_from_checkpoint=...)`.

    Why: transformers 5.23's Trainer reloads `checkpoint-*/model.safetensors` with a plain
    `load_state_dict(strict=False)`, without the key conversion `from_pretrained` applies. A
    Qwen2.5-VL checkpoint is saved under its hub names (`visual.*`, `model.layers.*`), which differ
    from the module names (`model.visual.*`, `model.language_model.*`), so every weight silently
    stayed at its pre-training value on resume (tests/test_spd.py::test_interrupted_full_finetune_*).
    Here the checkpoint goes through `from_pretrained` (with its conversion) and is copied in strictly;
    the Trainer's own reload then matches nothing, and its key warnings are dropped. LoRA
    checkpoints (adapter files, no model.safetensors) are peft's business and untouched.
    """
    import logging

    if checkpoint is None:
        return
    ckpt = Path(checkpoint)
    if not ((ckpt / "model.safetensors").is_file() or (ckpt / "model.safetensors.index.json").is_file()):
        return
    target = model.get_base_model() if hasattr(model, "get_base_model") else model
    dtype = next(target.parameters()).dtype
    loaded = type(target).from_pretrained(ckpt, dtype=dtype)
    target.load_state_dict(loaded.state_dict(), strict=True)
    del loaded
    logging.getLogger("transformers.trainer").addFilter(_DropReloadWarnings())


@dataclass(frozen=True)
class TrainingSummary:
    """What a finished training stage reports (the CLI prints `line()`)."""

    out: Path
    final_dir: Path
    global_step: int
    train_loss: float
    examples_per_second: float
    n_examples: int

    def line(self) -> str:
        return (f"done: {self.global_step} steps, train loss {self.train_loss:.4f}, "
                f"{self.examples_per_second:.1f} examples/s, {self.n_examples} examples -> {self.final_dir}")
