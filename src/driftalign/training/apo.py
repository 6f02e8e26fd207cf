"""APO stage (SPEC §3 eq. 8-11): push t+ up and every drifting teacher trajectory down, vs the SPD model.

    r(v, l, t) = beta * log( pi_theta(t | v, l) / pi_ref(t | v, l) ),  pi_ref = SPD model     (eq. 8)
    L_APO      = logsumexp([r+, r_1 + log w_1, ..., r_N + log w_N]) - r+                       (eq. 11)

How it runs:
* one training example = one study: t+ and its N negatives (one per non-refusing teacher whose
  response differs from t+) all go through the model in the same step (`APOCollator`);
* log pi are SUMS over answer tokens (eq. 8, `training.sequence_logps`);
* reference log-probs for every candidate are computed once, before the first update, and cached
  on disk under a content hash (`training.reference_cache`); epochs and resumed runs reuse them.
  Under `accelerate launch` the main process fills the cache first and the other ranks read it.
  pi_ref is the SPD model itself: with LoRA the fresh adapters are disabled (`disable_adapter()`),
  with full fine-tuning the weights have not been updated yet — even on a resumed run, because the
  Trainer loads the checkpoint only inside `train()` — so no second copy is ever held in memory;
* rows with fewer negatives (refusals, failed teachers) are padded and masked (`apo_loss` mask);
* transformers' `Trainer` with one documented override, `compute_loss` (plus `log`, documented for
  "custom behaviour", to add the preference metrics): checkpoints, `--resume`, gradient
  accumulation, accelerate/DeepSpeed come from it. The loss is the mean over the micro-batch's
  studies; `loss_is_scaled_for_ga = False` makes the Trainer divide it by the accumulation steps.
* opt-in, not in the paper: `--anchor dpop` (losses.apo.dpop_penalty), `--sft-weight` (RPO's NLL on t+),
  and `--eval-every N` (training/apo_monitor.py: greedy reports on a fixed subset while it trains).

Paper defaults: lr 2e-5, no warm-up, vision tower frozen, AdamW (0.9, 0.98), wd 0.05, cosine, beta 0.1.
"""

from __future__ import annotations


import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from pydantic import Field
from transformers import Trainer, TrainerCallback, set_seed

from driftalign.config import save_config
from driftalign.consensus.claims import errors_against
from driftalign.consensus.row import ConsensusRow, read_consensus
from driftalign.consensus.spans import drifting_spans
from driftalign.consensus.weights import WeightScheme, teacher_weights
from driftalign.data.dataset import STUDIES_FILE, Dataset, load_dataset
from driftalign.data.io import write_json
from driftalign.data.subset import seeded_subset
from driftalign.errors import ConfigError, DatasetError
from driftalign.labeling.claims import extract_claims, stance
from driftalign.losses import DPOP_LAMBDA, Anchor, apo_loss, chosen_nll
from driftalign.models.chat import PromptCache
from driftalign.training.apo_collator import APOCollator, APOFeature, NegativeTokens, scatter_candidates
from driftalign.training.checkpoints import AtomicCheckpoints
from driftalign.training.common import (
    TrainingStageConfig,
    TrainingSummary,
    load_for_training,
    prepare_model,
    quiet_trainer,
    restore_checkpoint_weights,
    resume_checkpoint,
    training_arguments,
)
from driftalign.training.preflight import check_lengths
from driftalign.training.reference_cache import (
    attach_reference_logps,
    precompute_reference_logps,
    reference_cache_key,
)
from driftalign.training.sequence_logps import answer_token_counts, model_answer_logps
from driftalign.training.spd_trainer import save_final

log = logging.getLogger(__name__)

APO_LR = 2e-5  # the paper's APO learning rate (SPEC §3; the official script uses 5e-7)
REFERENCE_DIR = "reference_cache"
APO_STATE_FILE = "apo_reference.json"


class APOConfig(TrainingStageConfig):
    """`driftalign apo`: the shared training flags plus the preference objective's options."""

    consensus: Path = Field(description="CONSENSUS.jsonl from `driftalign consensus`")
    beta: float = Field(0.1, gt=0, description="reward scale beta of eq. 8")
    weights: Literal["uniform", "drift", "errors"] = Field(
        "uniform", description="teacher weights w_u: uniform (paper), drift (grows with disagreement from t+) "
                               "or errors (only trajectories t+ says are wrong)")
    keep_refusals: bool = Field(False, description="also push down trajectories flagged as refusals")
    max_studies: int | None = Field(None, ge=1, description="train on a seeded subset of this many studies "
                                    "(data.subset: by --seed and study id, the one `consensus --max-studies` "
                                    "writes; reference log-probs only for them); default: every study")
    negative_tokens: NegativeTokens = Field(
        "all", description="which of a negative's tokens enter its log-probability: all (paper), drifting (only "
                           "its sentences that drift from t+; negatives without one are dropped) or unshared (not "
                           "the runs of tokens it shares with t+)")
    lr: float | None = Field(None, gt=0, description=f"peak learning rate [paper APO: {APO_LR}]")
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0, description="linear warm-up fraction (paper: none)")
    sft_weight: float = Field(0.0, ge=0.0, description="weight of t+'s length-normalised NLL added to the loss "
                              "(RPO-style regulariser, not in the paper; 0 = pure APO)")
    shared_prefix: bool = Field(True, description="one vision + prefix pass per study, all answers in one batched forward "
                                "on the prefixes' KV cache, LM head only on answer tokens, in chunks (default); "
                                "--no-shared-prefix: the flat reference path (N+1 full sequences per study)")
    ref_batch_size: int = Field(4, ge=1, description="studies per reference forward when filling the cache")
    reference_cache: Path | None = Field(None, description=f"reference log-prob cache directory [--out/{REFERENCE_DIR}]")
    anchor: Anchor = Field("none", description="absolute-likelihood anchor on t+ (not in the paper): none (paper) or "
                           "dpop (Smaug's DPO-Positive: t+'s logit loses beta * lambda * max(0, log pi_ref(t+) - "
                           "log pi(t+)): a penalty on t+ falling below the SPD reference)")
    anchor_lambda: float = Field(DPOP_LAMBDA, gt=0, description="lambda of --anchor dpop (Smaug: 50)")
    eval_every: int = Field(0, ge=0, description="every N optimiser steps (and at step 0 and the end) generate greedy "
                            "reports for a fixed subset and log monitor/* (words, invented findings, drift errors, "
                            "MS-CXR-T accuracy); 0 = off")
    eval_studies: int = Field(64, ge=1, description="studies in the --eval-every subset (seeded; val split, else test, "
                              "else train)")
    eval_max_new_tokens: int = Field(160, ge=1, description="max new tokens per --eval-every report")

    def default_lr(self) -> float:
        return APO_LR

    def cache_dir(self) -> Path:
        return self.reference_cache or self.out / REFERENCE_DIR


def resolve_model_dir(path: Path) -> Path:
    """Accept an SPD/APO output directory (uses its final/ model) or a model directory (`models.load.model_dir`)."""
    from driftalign.models.load import model_dir

    return model_dir(path)


# ---- examples --------------------------------------------------------------------------------


@dataclass(frozen=True)
class APORow:
    """One study's candidates, before images and reference log-probs are attached."""

    study_id: str
    chosen: str
    rejected: tuple[str, ...]
    teachers: tuple[str, ...]
    weights: tuple[float, ...]
    spans: tuple[tuple[tuple[int, int], ...], ...] | None = None  # per negative, --negative-tokens drifting


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def apo_row(row: ConsensusRow, scheme: str, keep_refusals: bool, negative_tokens: str = "all") -> APORow:
    """Negatives of one consensus row: empty/duplicate-of-t+ responses and (by default) refusals dropped;
    with `negative_tokens="drifting"` also those with no sentence that drifts from t+ (consensus/spans.py)."""
    negs = [n for n in row.negatives
            if n.response.strip() and not _same_text(n.response, row.chosen) and (keep_refusals or not n.refusal)]
    spans = None
    if negative_tokens == "drifting":
        found = [tuple(drifting_spans(n.response, row.chosen)) for n in negs]
        negs, spans = [n for n, s in zip(negs, found) if s], tuple(s for s in found if s)
    errors = None
    if scheme == WeightScheme.ERRORS.value:
        consensus = stance(extract_claims(row.chosen))
        errors = [errors_against(stance(extract_claims(n.response)), consensus) for n in negs]
    weights = teacher_weights([n.drift for n in negs], scheme, errors)
    return APORow(row.study_id, row.chosen, tuple(n.response for n in negs), tuple(n.teacher for n in negs),
                  tuple(weights), spans)


def apo_rows(rows: list[ConsensusRow], ds: Dataset, split: str, scheme: str, keep_refusals: bool,
             consensus_path: Path, negative_tokens: str = "all") -> list[APORow]:
    """Rows of the split with a non-empty t+ and at least one negative."""
    in_split = {s.study_id for s in ds.split(split)}
    unknown = [r.study_id for r in rows if r.study_id not in {s.study_id for s in ds.studies}]
    if unknown:
        raise DatasetError(f"{consensus_path}: study {unknown[0]!r} is not in {ds.root / STUDIES_FILE}")
    out = [apo_row(r, scheme, keep_refusals, negative_tokens) for r in rows if r.study_id in in_split and r.chosen.strip()]
    out = [r for r in out if r.rejected]
    if not out:
        raise DatasetError(f"{consensus_path}: no row of split {split!r} has a consensus and at least one negative")
    return out


def studies_subset(rows: list[APORow], max_studies: int | None, seed: int) -> list[APORow]:
    """--max-studies: the rows of a seeded subset of studies (`data.subset`), the one `consensus --max-studies`
    with the same seed writes t+ for."""
    keep = set(seeded_subset([r.study_id for r in rows], max_studies, seed))
    return [r for r in rows if r.study_id in keep]


class APODataset(torch.utils.data.Dataset):
    """Item i -> `APOFeature` of row i, reference log-probs once attached.

    Without `prompts` the images are read on access and the collator encodes them; with a
    `PromptCache` the feature carries the encoded image + prompt (`prompt_part`), computed once per
    study and reused by the reference pass and every epoch (images then read only on a cache miss).
    """

    def __init__(self, ds: Dataset, rows: list[APORow], prompt: str, prompts: PromptCache | None = None):
        self.ds, self.rows, self.prompt, self.prompts = ds, rows, prompt, prompts
        self.study_ids = [r.study_id for r in rows]
        self._refs: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> APOFeature:
        r = self.rows[i]

        def load() -> list:
            return self.ds.load_images(self.ds.study(r.study_id))

        feature: APOFeature = {
            "study_id": r.study_id, "images": load() if self.prompts is None else [], "prompt": self.prompt,
            "chosen": r.chosen, "rejected": list(r.rejected), "teachers": list(r.teachers), "weights": list(r.weights),
        }
        if self.prompts is not None:
            feature["prompt_part"] = self.prompts(r.study_id, load)
        if r.spans is not None:
            feature["rejected_spans"] = [list(s) for s in r.spans]
        if self._refs:
            attach_reference_logps([feature], self._refs)
        return feature

    def set_reference(self, refs: dict[str, Any]) -> None:
        self._refs = refs


# ---- trainer -----------------------------------------------------------------------------------


class APOTrainer(AtomicCheckpoints, Trainer):
    """transformers' Trainer with the APO loss in `compute_loss` (the one documented override)."""

    loss_is_scaled_for_ga = False  # compute_loss returns a per-study mean: Trainer divides by grad-accum steps

    def __init__(self, *args: Any, beta: float, teachers: list[str], sft_weight: float = 0.0, anchor: str = "none",
                 anchor_lambda: float = DPOP_LAMBDA, **kwargs: Any):
        if anchor not in get_args(Anchor):
            raise ConfigError(f"unknown anchor {anchor!r}; choose from {', '.join(get_args(Anchor))}")
        super().__init__(*args, **kwargs)
        self.beta = beta
        self.sft_weight = sft_weight
        self.dpop_lambda = anchor_lambda if anchor == "dpop" else 0.0  # 0 = the paper's eq. 11, exactly
        self.teacher_names = teachers
        self._metric_values: dict[str, list[float]] = defaultdict(list)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        logps_S = model_answer_logps(model, inputs)  # [S] policy log pi over the batch's N+1 candidates per study
        B, N = inputs["rejected_mask"].shape
        chosen_B, rejected_BN = scatter_candidates(logps_S, inputs["candidate_row"], inputs["candidate_slot"], B, N)
        losses_B, metrics = apo_loss(chosen_B, rejected_BN, inputs["ref_chosen_logps"], inputs["ref_rejected_logps"],
                                     beta=self.beta, weights=inputs["weights"], mask=inputs["rejected_mask"],
                                     dpop_lambda=self.dpop_lambda)
        counts_S = answer_token_counts(inputs).to(chosen_B.dtype)   # the tokens each log pi sums over, [S]
        counts_B, counts_BN = scatter_candidates(counts_S, inputs["candidate_row"], inputs["candidate_slot"], B, N)
        self._record(metrics, inputs["teacher_ids"])
        self._record_token_logps(chosen_B.detach(), rejected_BN.detach(), inputs, counts_B, counts_BN, metrics["valid"])
        loss = losses_B.mean()
        if self.sft_weight > 0:
            loss = loss + self.sft_weight * self._chosen_nll(chosen_B, counts_B)
        return (loss, {"chosen_logps": chosen_B, "rejected_logps": rejected_BN}) if return_outputs else loss

    def _chosen_nll(self, chosen_B: torch.Tensor, counts_B: torch.Tensor) -> torch.Tensor:
        """Mean length-normalised NLL of t+ (the opt-in `--sft-weight` regulariser)."""
        nll = chosen_nll(chosen_B, counts_B).mean()
        self._metric_values["nll/chosen"].append(nll.item())
        return nll

    def _record_token_logps(self, chosen_B: torch.Tensor, rejected_BN: torch.Tensor, inputs: dict[str, torch.Tensor],
                            counts_B: torch.Tensor, counts_BN: torch.Tensor, valid_BN: torch.Tensor) -> None:
        """ABSOLUTE per-token log-probs (log pi / its token count) of t+ and of the valid negatives, policy and
        reference: `logps_per_token/*`. Rewards are ratios; these show whether t+ itself rises or falls."""
        values = per_token_logps(chosen_B, rejected_BN, inputs["ref_chosen_logps"], inputs["ref_rejected_logps"],
                                 counts_B, counts_BN, valid_BN, inputs["teacher_ids"], self.teacher_names)
        for key, value in values.items():
            self._metric_values[key].append(value)

    def _record(self, metrics: dict[str, torch.Tensor], teacher_ids_BN: torch.Tensor) -> None:
        if "dpop_penalty" in metrics:
            self._metric_values["anchor/dpop_penalty"].append(metrics["dpop_penalty"].mean().item())
            self._metric_values["anchor/dpop_active"].append((metrics["dpop_penalty"] > 0).float().mean().item())
        valid_BN = metrics["valid"]
        self._metric_values["rewards/chosen"].append(metrics["chosen_rewards"].mean().item())
        if valid_BN.any():
            self._metric_values["rewards/rejected"].append(metrics["rejected_rewards"][valid_BN].mean().item())
            self._metric_values["rewards/margins"].append(metrics["margins"][valid_BN].mean().item())
        self._metric_values["rewards/weighted_margin"].append(metrics["weighted_margin"].mean().item())
        self._metric_values["rewards/accuracy"].append(metrics["accuracy"].mean().item())
        for t, name in enumerate(self.teacher_names):
            sel_BN = valid_BN & (teacher_ids_BN == t)
            if sel_BN.any():
                self._metric_values[f"rewards/teacher/{name}"].append(metrics["rejected_rewards"][sel_BN].mean().item())

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the preference metrics averaged since the last log (Trainer.log's documented hook)."""
        if "loss" in logs:  # training logs only, not the final train summary
            logs.update({k: sum(v) / len(v) for k, v in self._metric_values.items() if v})
            self._metric_values.clear()
        super().log(logs, start_time)


def per_token_logps(chosen_B: torch.Tensor, rejected_BN: torch.Tensor, ref_chosen_B: torch.Tensor,
                    ref_rejected_BN: torch.Tensor, counts_B: torch.Tensor, counts_BN: torch.Tensor,
                    valid_BN: torch.Tensor, teacher_ids_BN: torch.Tensor, teachers: list[str]) -> dict[str, float]:
    """Batch means of per-token log-probs (sum of a candidate's answer-token log-probs / its token count):

      logps_per_token/chosen, /ref_chosen        t+ under pi_theta and pi_ref, mean over studies
      logps_per_token/rejected, /ref_rejected    mean over the valid negatives (mask and w > 0) of the batch
      logps_per_token/teacher/<name>             pi_theta, mean over that teacher's valid negatives

    Negative keys are left out when the batch has no valid negative (of that teacher). The token count is
    the tokens the sum runs over (with --negative-tokens, the selected ones), floored at 1.
    """
    chosen_tok_B = chosen_B / counts_B.clamp_min(1)
    rejected_tok_BN = rejected_BN / counts_BN.clamp_min(1)
    out = {"logps_per_token/chosen": chosen_tok_B.mean().item(),
           "logps_per_token/ref_chosen": (ref_chosen_B / counts_B.clamp_min(1)).mean().item()}
    if valid_BN.any():
        out["logps_per_token/rejected"] = rejected_tok_BN[valid_BN].mean().item()
        out["logps_per_token/ref_rejected"] = (ref_rejected_BN / counts_BN.clamp_min(1))[valid_BN].mean().item()
    for t, name in enumerate(teachers):
        sel_BN = valid_BN & (teacher_ids_BN == t)
        if sel_BN.any():
            out[f"logps_per_token/teacher/{name}"] = rejected_tok_BN[sel_BN].mean().item()
    return out


# ---- the stage -----------------------------------------------------------------------------------


def _reference_key(cfg: APOConfig, model_dir: Path, ds: Dataset, processor, rows: list[APORow],
                   model: torch.nn.Module | None = None) -> str:
    from driftalign.models.processor import image_limits

    images = sorted({p for r in rows for p in ds.image_paths(ds.study(r.study_id))})
    encoding = {"image_limits": list(image_limits(processor))}
    if model is not None:
        encoding["dtype"] = str(next(model.parameters()).dtype)
    return reference_cache_key(model_dir, cfg.consensus, [ds.root / STUDIES_FILE, *images],
                               chat_template=f"{processor.chat_template}\n{cfg.prompt}", max_length=cfg.max_length,
                               negative_tokens=cfg.negative_tokens, encoding=encoding)


def prepare_reference(cfg: APOConfig, model_dir: Path, model: torch.nn.Module, processor, dataset: APODataset,
                      collator: APOCollator) -> dict[str, Any]:
    """Fill the dataset's reference log-probs from the cache, computing only what is missing.

    Called before `Trainer.train`, so `model` still holds the SPD weights even on a resumed run
    (the Trainer loads the checkpoint inside `train`): it is pi_ref, no second copy needed.
    """
    key = _reference_key(cfg, model_dir, dataset.ds, processor, dataset.rows, model)
    refs, computed = precompute_reference_logps(model, collator, dataset, cfg.cache_dir(), key, cfg.ref_batch_size)
    dataset.set_reference(refs)
    return {"key": key, "computed_studies": computed, "cached_studies": len(dataset) - computed,
            "cache_dir": str(cfg.cache_dir())}


def run_apo(cfg: APOConfig, callbacks: list[TrainerCallback] | None = None) -> TrainingSummary:
    """Train the SPD student of `cfg.model` with APO on `cfg.consensus`; returns the run summary."""
    model_dir = resolve_model_dir(cfg.model)
    ds = load_dataset(cfg.data, verify_images=False)
    rows = apo_rows(read_consensus(cfg.consensus), ds, cfg.split, cfg.weights, cfg.keep_refusals, cfg.consensus,
                    cfg.negative_tokens)
    rows = studies_subset(rows, cfg.max_studies, cfg.seed)
    model, processor = load_for_training(cfg, model_dir)
    check_lengths(ds, [(r.study_id, a) for r in rows for a in (r.chosen, *r.rejected)], processor, cfg.prompt,
                  cfg.max_length, "apo")
    set_seed(cfg.seed)  # LoRA's initialisation draws from torch's RNG before the Trainer seeds it: --seed decides it
    model = prepare_model(model, cfg)
    teachers = sorted({t for r in rows for t in r.teachers})
    collator = APOCollator(processor, teachers=teachers, max_length=cfg.max_length, shared_prefix=cfg.shared_prefix,
                           negative_tokens=cfg.negative_tokens)
    dataset = APODataset(ds, rows, cfg.prompt, PromptCache(processor, cfg.prompt))
    args = training_arguments(cfg)
    if args.process_index == 0:
        cfg.out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, cfg.out)
    checkpoint = resume_checkpoint(cfg)
    with args.main_process_first(local=False, desc="APO reference log-probs"):  # rank 0 fills the cache, the others read it
        reference = prepare_reference(cfg, model_dir, model, processor, dataset, collator)
    log.info("apo: %d studies, reference log-probs: %d computed, %d from cache", len(dataset),
             reference["computed_studies"], reference["cached_studies"])
    if args.process_index == 0:
        write_json(cfg.out / APO_STATE_FILE, reference)
    trainer = APOTrainer(model=model, args=args, train_dataset=dataset, data_collator=collator, callbacks=callbacks,
                         beta=cfg.beta, teachers=teachers, sft_weight=cfg.sft_weight, anchor=cfg.anchor,
                         anchor_lambda=cfg.anchor_lambda)
    quiet_trainer(trainer, "apo")
    if cfg.eval_every > 0:
        from transformers.integrations import is_deepspeed_zero3_enabled

        from driftalign.training.apo_monitor import APOMonitor

        if getattr(trainer, "is_fsdp_enabled", False) or is_deepspeed_zero3_enabled():
            raise ConfigError("--eval-every generates on the main process alone and needs whole weights there: "
                              "not with FSDP or DeepSpeed ZeRO-3 (use ZeRO-2/DDP, or --eval-every 0)")
        trainer.add_callback(APOMonitor(trainer.log, processor, ds, cfg.prompt, cfg.eval_every,
                                        studies=cfg.eval_studies, max_new_tokens=cfg.eval_max_new_tokens, seed=cfg.seed,
                                        is_main_process=args.process_index == 0))
    restore_checkpoint_weights(model, checkpoint)
    result = trainer.train(resume_from_checkpoint=checkpoint)
    final_dir = save_final(trainer, processor, cfg)
    return TrainingSummary(
        out=cfg.out, final_dir=final_dir, global_step=trainer.state.global_step,
        train_loss=float(result.metrics.get("train_loss", float("nan"))),
        examples_per_second=float(result.metrics.get("train_samples_per_second", float("nan"))),
        n_examples=len(dataset),
    )


@torch.no_grad()
def preference_margins(model: torch.nn.Module, collator: APOCollator, dataset: APODataset, beta: float,
                       batch_size: int = 4) -> dict[str, float]:
    """Mean APO loss, weighted margin and ranking accuracy of `model` vs the cached reference on `dataset`."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = defaultdict(float)
    for i in range(0, len(dataset), batch_size):
        batch = collator([dataset[j] for j in range(i, min(i + batch_size, len(dataset)))])
        logps_S = model_answer_logps(model, batch)
        B, N = batch["rejected_mask"].shape
        chosen_B, rejected_BN = scatter_candidates(logps_S, batch["candidate_row"], batch["candidate_slot"], B, N)
        losses_B, m = apo_loss(chosen_B, rejected_BN, batch["ref_chosen_logps"], batch["ref_rejected_logps"], beta,
                               batch["weights"], batch["rejected_mask"])
        sums["loss"] += losses_B.sum().item()
        sums["weighted_margin"] += m["weighted_margin"].sum().item()
        sums["accuracy"] += m["accuracy"].sum().item()
    model.train(was_training)
    if not len(dataset):
        raise ConfigError("preference_margins: empty dataset")
    return {k: v / len(dataset) for k, v in sums.items()}
