"""The `driftalign grpo` run: TRL 1.16's `GRPOTrainer` with one override carrying DiTPO's token advantages.

Everything but the token weights is TRL's: the vision-language rollouts (transformers `generate` on
the image + prompt, rendered by the processor's own chat template: the same prompt `spd` trains and
`generate` samples with), the group advantages of eq. 2 (sample std + 1e-4, the definition
`rl.group_advantages` copies), the reference log-probs for the KL, the PPO-clipped loss with
`loss_type="grpo"` (= `rl.ditpo_loss`, tested), checkpoints, resume, accelerate/DeepSpeed.

The one override, `DiTPOTrainer._generate_and_score_completions` (TRL has no public advantage hook:
issue 4525, PR 7298): call TRL's, then replace its [B] advantages by [B, T] token advantages
A_i^t = A_i * w_i^t (`group_token_advantages`: `rl.tfidf_token_weights` per group, `rl.token_advantages`).
TRL's `_compute_loss` takes a [B, T] tensor as it is ("To support subclasses that provide advantages
with shape (B, T)"), and `_prepare_inputs` shuffles and splits it along dim 0 with the rest of the batch.
TF-IDF needs the whole group, and TRL may spread a group's G completions over processes, so the
completions are gathered, weighted per block of G consecutive rows (TRL's own grouping of the
gathered rewards) and this process's rows are sliced back with TRL's `process_slice`. On one process
this is the identity. `tests/test_grpo.py::test_trl_contract` fails if TRL changes the method's contract.
With `--token-weights gradient` the weights are DiTPO's gradient weights (`rl.gradient_weights`): w = 1 + beta
* s~, the saliency of a report classifier (`--classifier`) for the study's positive findings, moved onto the
policy's tokens by character span. They are per completion (no group statistic), so no gather is needed:
each process weights its own rows, whose study comes from the matching row of `inputs`.

Outputs in --out: checkpoint-*/ (Trainer), adapter/ (LoRA), final/ (+ model card README.md),
driftalign_config.yaml, grpo_data.json (training studies, skipped ones).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from driftalign.classifier.checkpoint import load_classifier
from driftalign.classifier.model import Classifier
from driftalign.config import save_config
from driftalign.data.dataset import Dataset, load_dataset
from driftalign.data.io import write_json
from driftalign.errors import ConfigError
from driftalign.labeling import label_reports
from driftalign.models.load import load_processor, model_dir
from driftalign.models.lora import lora_config, trainable_parameter_count
from driftalign.rl import tfidf_token_weights, token_advantages
from driftalign.rl.gradient_weights import completion_spans, gradient_token_weights
from driftalign.training.checkpoints import AtomicCheckpoints
from driftalign.training.common import (
    TrainingSummary,
    load_for_training,
    prepare_model,
    quiet_trainer,
    restore_checkpoint_weights,
    resume_checkpoint,
    training_argument_values,
)
from driftalign.training.grpo import ClinicalReward, DiTPOConfig, GRPOStudy, grpo_studies
from driftalign.training.preflight import check_lengths
from driftalign.training.spd_trainer import save_final

log = logging.getLogger(__name__)

DATA_FILE = "grpo_data.json"
# TRL's loss normalisation that equals `rl.ditpo_loss` (per-completion token mean, then mean over the batch).
LOSS_TYPE = "grpo"


def group_token_advantages(advantages_N: torch.Tensor, completion_ids_NT: torch.Tensor, mask_NT: torch.Tensor,
                           group_size: int, alpha: float) -> torch.Tensor:
    """[N] advantages -> [N, T] A_i^t = A_i * w_i^t, w = TF-IDF weights over each group (DiTPO rule weights).

    Rows come in blocks of `group_size` consecutive rows, one block per prompt (TRL's order).
    A completion's tokens are its ids where `mask` is 1 (a right-padded prefix, as TRL pads them);
    padding positions get advantage 0. With alpha = 0 every weight is 1 and each row is A_i repeated.
    """
    n, t = completion_ids_NT.shape
    if advantages_N.shape != (n,) or mask_NT.shape != (n, t):
        raise ValueError(f"advantages {tuple(advantages_N.shape)}, ids {(n, t)}, mask {tuple(mask_NT.shape)} "
                         "do not match")
    if n % group_size:
        raise ValueError(f"{n} completions are not whole groups of {group_size}")
    ids, keep, adv = completion_ids_NT.cpu(), mask_NT.bool().cpu(), advantages_N.detach().float().cpu()
    out_NT = torch.zeros(n, t, dtype=torch.float32)
    for start in range(0, n, group_size):
        rows = range(start, start + group_size)
        weights = tfidf_token_weights([ids[i][keep[i]].tolist() for i in rows], alpha=alpha)
        out_NT[start:start + group_size] = token_advantages(adv[start:start + group_size], weights, pad_to=t)
    return out_NT


def gathered_group_token_advantages(accelerator: Any, advantages_B: torch.Tensor, completion_ids_BT: torch.Tensor,
                                    mask_BT: torch.Tensor, group_size: int, alpha: float,
                                    pad_token_id: int) -> torch.Tensor:
    """This process's [B, T] TF-IDF token advantages when a group's G rows may sit on several processes.

    Pads every process's ids and mask to the longest completion (`pad_across_processes`), gathers ids,
    mask and [B] advantages in process order (rows N = B x processes, TRL's order: blocks of G
    consecutive rows are one prompt's group), weights every block (`group_token_advantages`) and keeps
    this process's rows, cut back to its own T (TRL's `process_slice`). On one process: the identity
    of `group_token_advantages`.
    """
    ids = accelerator.pad_across_processes(completion_ids_BT, dim=1, pad_index=pad_token_id)
    mask = accelerator.pad_across_processes(mask_BT, dim=1, pad_index=0)
    adv_NT = group_token_advantages(accelerator.gather(advantages_B), accelerator.gather(ids),
                                    accelerator.gather(mask), group_size, alpha)
    b, t = completion_ids_BT.shape
    rows = slice(accelerator.process_index * b, (accelerator.process_index + 1) * b)    # TRL's process_slice
    return adv_NT[rows, :t]


def gradient_advantages(advantages_B: torch.Tensor, completion_ids_BT: torch.Tensor, mask_BT: torch.Tensor,
                        positive_findings: list[list[str]], tokenizer: Any, classifier: Classifier,
                        beta: float) -> torch.Tensor:
    """[B] advantages -> [B, T] A_i^t = A_i * w_i^t, w = DiTPO's gradient weights (`rl.gradient_token_weights`).

    Completion i's text and token spans are decoded from its ids where `mask` is 1 (`rl.completion_spans`:
    the text TRL's reward reads); positive_findings[i] are the observations its study labels 1.
    """
    b, t = completion_ids_BT.shape
    if advantages_B.shape != (b,) or mask_BT.shape != (b, t) or len(positive_findings) != b:
        raise ValueError(f"advantages {tuple(advantages_B.shape)}, ids {(b, t)}, mask {tuple(mask_BT.shape)}, "
                         f"{len(positive_findings)} finding lists do not match")
    ids, keep = completion_ids_BT.cpu(), mask_BT.bool().cpu()
    decoded = [completion_spans(tokenizer, ids[i][keep[i]].tolist()) for i in range(b)]
    weights = gradient_token_weights(classifier, [text for text, _ in decoded], positive_findings,
                                     [spans for _, spans in decoded], beta=beta)
    return token_advantages(advantages_B.detach().float().cpu(), weights, pad_to=t)


class DiTPOTrainer(AtomicCheckpoints, GRPOTrainer):
    """TRL's GRPOTrainer whose advantages become DiTPO's token advantages (the one override; module docstring).

    token_weights "none" leaves TRL's [B] advantages untouched: plain GRPO. "gradient" needs `classifier`.
    """

    def __init__(self, *args: Any, token_weights: str = "tfidf", tfidf_alpha: float = 4.0,
                 classifier: Classifier | None = None, gradient_beta: float = 1.0, **kwargs: Any):
        if token_weights not in ("none", "tfidf", "gradient"):
            raise ConfigError(f"token_weights must be none, tfidf or gradient, got {token_weights!r}")
        if DiTPOConfig.options_need_classifier({"token_weights": token_weights}) and classifier is None:
            raise ConfigError("token_weights gradient needs a report classifier (--classifier DIR)")
        super().__init__(*args, **kwargs)
        self.token_weights, self.tfidf_alpha = token_weights, tfidf_alpha
        self.classifier, self.gradient_beta = classifier, gradient_beta
        if classifier is not None:
            classifier.model.to(self.accelerator.device).eval().requires_grad_(False)

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        output = super()._generate_and_score_completions(inputs)
        if self.token_weights == "none":
            return output
        if self.token_weights == "gradient":
            adv_BT = gradient_advantages(output["advantages"], output["completion_ids"], output["completion_mask"],
                                         [list(x["positive_findings"]) for x in inputs], self._tokenizer,
                                         self.classifier, self.gradient_beta)
            output["advantages"] = adv_BT.to(output["advantages"].device)
            return output
        group = self.num_generations if self.model.training else self.num_generations_eval
        adv_BT = gathered_group_token_advantages(self.accelerator, output["advantages"], output["completion_ids"],
                                                 output["completion_mask"], group, self.tfidf_alpha,
                                                 self._tokenizer.pad_token_id)
        output["advantages"] = adv_BT.to(output["advantages"].device)
        return output


# ---- the stage -----------------------------------------------------------------------------------


def grpo_arguments(cfg: DiTPOConfig) -> GRPOConfig:
    """TRL's GRPOConfig: our shared training arguments plus the GRPO fields (batch size counted in completions)."""
    values = training_argument_values(cfg)
    values.update(
        per_device_train_batch_size=cfg.batch_size * cfg.num_generations,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        top_k=cfg.top_k,
        repetition_penalty=cfg.repetition_penalty,
        beta=cfg.kl_beta,
        epsilon=cfg.clip_eps,
        loss_type=LOSS_TYPE,
        scale_rewards="group",
        log_completions=False,
        use_vllm=cfg.backend == "vllm",   # the GPU path: TRL generates with vLLM in the training process
        vllm_mode="colocate",
    )
    return GRPOConfig(**values)


def prompt_dataset(ds: Dataset, studies: list[GRPOStudy], prompt: str):
    """TRL's conversational vision dataset: prompt, images (read on access, RGB), study_id, reference."""
    from datasets import Dataset as HFDataset

    table = HFDataset.from_dict({
        "prompt": [[{"role": "user", "content": prompt}] for _ in studies],
        "study_id": [s.study_id for s in studies],
        "reference": [s.reference for s in studies],
        "positive_findings": [list(s.positive_findings) for s in studies],
    })

    def with_images(batch: dict[str, list]) -> dict[str, list]:
        batch["images"] = [ds.load_images(ds.study(sid)) for sid in batch["study_id"]]
        return batch

    return table.with_transform(with_images)


def build_trainer(cfg: DiTPOConfig, callbacks: list[TrainerCallback] | None = None,
                  reward: ClinicalReward | None = None) -> tuple[DiTPOTrainer, Any, dict[str, Any]]:
    """(trainer, processor, data summary) for `cfg`, nothing trained yet. `reward` replaces the clinical reward
    of `cfg` (tests)."""
    source = model_dir(cfg.model)
    ds = load_dataset(cfg.data, verify_images=False)
    studies, skipped = grpo_studies(ds, cfg.split, cfg.subset, cfg.random_fraction, cfg.seed)
    model, processor = load_for_training(cfg, source)
    check_lengths(ds, [(s.study_id, s.reference) for s in studies], processor, cfg.prompt, None, "grpo")
    processor.tokenizer.padding_side = "left"  # TRL pads the processor's multimodal fields like its left-padded prompts
    peft_config = None
    if cfg.lora:
        peft_config = lora_config(model, r=cfg.lora_r, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout)
    else:
        model = prepare_model(model, cfg)
    args = grpo_arguments(cfg)
    classifier = None
    if cfg.needs_classifier:
        if cfg.classifier is None:
            raise ConfigError("--token-weights gradient / --labeler classifier need --classifier DIR")
        classifier = load_classifier(cfg.classifier, cfg.classifier_tokenizer)
    if reward is None:
        labeler = classifier if cfg.labeler == "classifier" else label_reports
        reward = ClinicalReward(cfg, uncertain=cfg.uncertain, labeler=labeler)
    trainer = DiTPOTrainer(
        model=model, reward_funcs=reward, args=args,
        train_dataset=prompt_dataset(ds, studies, cfg.prompt), processing_class=processor, callbacks=callbacks,
        peft_config=peft_config, token_weights=cfg.token_weights, tfidf_alpha=cfg.tfidf_alpha,
        classifier=classifier, gradient_beta=cfg.gradient_beta,
    )
    trainable, total = trainable_parameter_count(trainer.model)
    data = {"model": str(source), "studies": len(studies), "skipped_without_reference": skipped,
            "subset": str(cfg.subset) if cfg.subset else None, "random_fraction": cfg.random_fraction,
            "trainable_parameters": trainable, "parameters": total,
            "processes": trainer.accelerator.num_processes, "classifier": str(classifier.source) if classifier is not None else None}
    return trainer, processor, data


def run_grpo(cfg: DiTPOConfig, callbacks: list[TrainerCallback] | None = None) -> TrainingSummary:
    """GRPO / DiTPO fine-tuning of `cfg.model` on the studies of `cfg.split` (or `--subset`); returns the summary."""
    trainer, _, data = build_trainer(cfg, callbacks)
    if data["skipped_without_reference"]:
        log.warning("grpo: %d studies without a reference report skipped", len(data["skipped_without_reference"]))
    log.info("grpo: %d studies x %d completions, %d/%d trainable parameters", data["studies"], cfg.num_generations,
             data["trainable_parameters"], data["parameters"])
    if trainer.args.process_index == 0:
        cfg.out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, cfg.out)
        write_json(cfg.out / DATA_FILE, data)
    checkpoint = resume_checkpoint(cfg)
    quiet_trainer(trainer, "grpo")
    restore_checkpoint_weights(trainer.model, checkpoint)
    result = trainer.train(resume_from_checkpoint=checkpoint)
    processor = load_processor(data["model"], min_pixels=cfg.min_pixels, max_pixels=cfg.max_pixels)  # not left-padding
    final_dir = save_final(trainer, processor, cfg)
    return TrainingSummary(
        out=cfg.out, final_dir=final_dir, global_step=trainer.state.global_step,
        train_loss=float(result.metrics.get("train_loss", float("nan"))),
        examples_per_second=float(result.metrics.get("train_samples_per_second", float("nan"))),
        n_examples=data["studies"],
    )

