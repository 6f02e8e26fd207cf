"""The SPD training run: `Trainer` + `VisionChatCollator` over the examples of `training.spd`.

Outputs in --out: checkpoint-*/ (Trainer), adapter/ (LoRA only), final/ (full model, merged when
LoRA, safetensors + processor: loads with transformers and vLLM), driftalign_config.yaml.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback, set_seed

from driftalign.config import save_config
from driftalign.data.dataset import Dataset, load_dataset
from driftalign.data.io import atomic_directory
from driftalign.models.chat import PromptCache, encode_example
from driftalign.models.collators import VisionChatCollator
from driftalign.models.lora import merge_adapter, train_only_vision, trainable_parameter_count
from driftalign.models.processor import save_processor
from driftalign.models.weights import cast_saved_weights
from driftalign.training.checkpoints import AtomicCheckpoints
from driftalign.training.common import (
    TrainingStageConfig,
    TrainingSummary,
    load_for_training,
    prepare_model,
    quiet_trainer,
    restore_checkpoint_weights,
    resume_checkpoint,
    save_dtype,
    training_arguments,
)
from driftalign.training.preflight import check_lengths
from driftalign.training.spd import SPDConfig, SPDExample, training_examples

log = logging.getLogger(__name__)

FINAL_DIR = "final"
ADAPTER_DIR = "adapter"


class SPDDataset(torch.utils.data.Dataset):
    """Encodes examples lazily: item i -> `encode_example(...)` tensors; a study's image + prompt encoding
    is computed once and reused (`PromptCache`)."""

    def __init__(self, ds: Dataset, examples: list[SPDExample], processor, prompt: str, max_length: int):
        self.ds, self.examples, self.processor = ds, examples, processor
        self.prompt, self.max_length = prompt, max_length
        self.prompts = PromptCache(processor, prompt)  # one image + prompt encoding per study, shared by its teachers

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ex = self.examples[i]
        prompt_part = self.prompts(ex.study_id, lambda: self.ds.load_images(self.ds.study(ex.study_id)))
        return encode_example(self.processor, (), self.prompt, ex.answer, self.max_length, prompt_part=prompt_part)


# Forward kwargs of an SPD step: no [B, T, V] logits (only the last position's), the final hidden states instead.
ANSWER_ONLY_FORWARD = {"logits_to_keep": 1, "output_hidden_states": True}


class SPDTrainer(AtomicCheckpoints, Trainer):
    """transformers' `Trainer` whose loss runs the LM head on the answer tokens only, in chunks.

    The model's own loss materialises [B, T, V] float32 logits (a 152k vocabulary makes that the
    largest tensor of a step). One documented extension point each: `compute_loss` adds
    `ANSWER_ONLY_FORWARD` to the forward's kwargs (the forward still goes through the wrapped
    model, so DDP/DeepSpeed/FSDP see it), and `compute_loss_func` (`answer_nll`) computes the
    NLL from the final hidden states with `shared_prefix.chunked_token_logps`. Normalisation is
    the model's own (sum / `num_items_in_batch`, or the mean without it), so gradient
    accumulation and multi-process averaging behave as with the built-in loss (tested: equal loss
    and gradients)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, compute_loss_func=self.answer_nll, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        return super().compute_loss(model, {**inputs, **ANSWER_ONLY_FORWARD}, return_outputs, num_items_in_batch)

    def answer_nll(self, outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
        from driftalign.models.chat import IGNORE_INDEX
        from driftalign.training.shared_prefix import chunked_token_logps, unwrap

        head = unwrap(self.accelerator.unwrap_model(self.model)).lm_head
        hidden_BTH, target_BT = outputs.hidden_states[-1][:, :-1], labels[:, 1:]   # position t predicts t + 1
        rows, cols = (target_BT != IGNORE_INDEX).nonzero(as_tuple=True)
        total = -chunked_token_logps(hidden_BTH[rows, cols], target_BT[rows, cols], head).sum()
        return total / (num_items_in_batch if num_items_in_batch is not None else max(rows.numel(), 1))


def save_final(trainer: Trainer, processor, cfg: TrainingStageConfig) -> Path:
    """Save OUT/final (a plain model + processor + model card) and, with LoRA, OUT/adapter. Call on every rank.

    `trainer.save_model` gathers sharded weights (DeepSpeed ZeRO-3, FSDP) and writes from the main
    process; with LoRA the merge is done from the saved files (`merge_adapter`), so it does not
    depend on how the training model was sharded. The saved weights are then cast to `save_dtype(cfg)`
    (float32 master weights of a bf16 checkpoint are written as bf16 again), and the processor names
    the standard class with the image limits in force.

    Each directory appears only when complete (`data.io.atomic_directory`: written as `.final.tmp`,
    fsynced, renamed; only the main process renames, after every rank has written): adapter/ first,
    then final/ merged from it, so a final/ implies its adapter/. A kill (or an error) while saving
    leaves the previous final/ (or none) and a staging directory the next save removes.
    """
    main, wait = trainer.is_world_process_zero(), trainer.accelerator.wait_for_everyone
    final_dir = cfg.out / FINAL_DIR
    if cfg.lora:
        adapter_dir = cfg.out / ADAPTER_DIR
        with atomic_directory(adapter_dir, main_process=main, wait=wait) as staged:
            trainer.save_model(str(staged))
            if main:
                save_processor(processor, staged)
    with atomic_directory(final_dir, main_process=main, wait=wait) as staged:
        if not cfg.lora:
            trainer.save_model(str(staged))
        if main:
            from driftalign.models.model_card import write_model_card

            if cfg.lora:
                merge_adapter(cfg.model, adapter_dir, staged)
            cast_saved_weights(staged, save_dtype(cfg))   # the checkpoint's dtype unless --save-dtype says otherwise
            save_processor(processor, staged)
            write_model_card(cfg, staged)
    return final_dir


def _log_rank(n_examples: int) -> None:
    import torch.distributed as dist

    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    print(f"spd: rank {rank}/{world}: {n_examples} examples", file=sys.stderr, flush=True)


def run_spd(cfg: SPDConfig, callbacks: list[TrainerCallback] | None = None) -> TrainingSummary:
    """Train the student of `cfg.model` on the dataset's trajectories; returns the run summary.

    `callbacks` are passed to the Trainer (e.g. to stop early in tests or add custom logging).
    """
    ds = load_dataset(cfg.data, verify_images=False)
    examples = training_examples(ds, cfg)
    model, processor = load_for_training(cfg)
    check_lengths(ds, [(ex.study_id, ex.answer) for ex in examples], processor, cfg.prompt, cfg.max_length, "spd")
    set_seed(cfg.seed)  # LoRA's init draws from the global RNG: seed it, or the run depends on what ran before
    model = prepare_model(model, cfg)
    if cfg.train_only == "vision":
        train_only_vision(model)
    trainable, total = trainable_parameter_count(model)
    log.info("spd: %d examples, %d/%d trainable parameters", len(examples), trainable, total)
    args = training_arguments(cfg)
    if args.process_index == 0:
        cfg.out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, cfg.out)
    trainer = SPDTrainer(
        model=model,
        args=args,
        train_dataset=SPDDataset(ds, examples, processor, cfg.prompt, cfg.max_length),
        data_collator=VisionChatCollator(pad_token_id=processor.tokenizer.pad_token_id),
        callbacks=callbacks,
    )
    _log_rank(len(examples))
    quiet_trainer(trainer, "spd")
    checkpoint = resume_checkpoint(cfg)
    restore_checkpoint_weights(model, checkpoint)
    result = trainer.train(resume_from_checkpoint=checkpoint)
    final_dir = save_final(trainer, processor, cfg)
    return TrainingSummary(
        out=cfg.out,
        final_dir=final_dir,
        global_step=trainer.state.global_step,
        train_loss=float(result.metrics.get("train_loss", float("nan"))),
        examples_per_second=float(result.metrics.get("train_samples_per_second", float("nan"))),
        n_examples=len(examples),
    )
