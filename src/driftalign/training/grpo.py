"""`driftalign grpo`: DEER's RL stage — GRPO with the clinical reward, optionally token-weighted (DiTPO).

For each study of the training set the policy samples G completions o_1..o_G (vision-language
rollouts: image + the student's prompt, transformers generation), each is scored against the study's
reference report y (findings + impression) and the policy takes a PPO-clipped step:

    r_i   = F1(C(o_i), C(y)) + gamma * BLEU-2(o_i, y)        gamma = 0, then 0.25       (DEER eq. 1)
    A_i   = (r_i - mean r) / (std r + 1e-4)                  over the G completions     (eq. 2)
    A_i^t = A_i * w_i^t,  w = 1 + alpha * TF-IDF over the group  (--token-weights tfidf, DiTPO)
                          or w = 1 + beta * s~, a report classifier's saliency  (--token-weights gradient)
    L     = PPO-clipped surrogate with A_i^t (+ kl_beta * k3 KL to the reference)        (`rl.ditpo_loss`)

This module holds what needs neither torch nor TRL (so the CLI starts fast): the config, the choice
of training studies (`--subset` from `driftalign ddsample`) and the reward function TRL calls.
`training.grpo_trainer` holds the trainer (TRL's GRPOTrainer with one override) and `run_grpo`.
See docs/deer.md for the design and the choices made where the paper is silent.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from driftalign.data.dataset import STUDIES_FILE, Dataset
from driftalign.data.io import read_jsonl
from driftalign.errors import ConfigError, DatasetError
from driftalign.labeling import label_reports
from driftalign.labeling.uncertain import UncertainPolicy
from driftalign.rl.reward import REWARD_UNCERTAIN, RewardSchedule, reward_terms
from driftalign.training.common import TrainingStageConfig

GRPO_LR = 1e-6  # DEER's RL learning rate (SPEC §3)
TokenWeights = Literal["none", "tfidf", "gradient"]
Labeler = Literal["rules", "classifier"]
# option -> its value that reads a report classifier (--classifier): the one place this rule is written
CLASSIFIER_OPTIONS: dict[str, str] = {"token_weights": "gradient", "labeler": "classifier"}


def classifier_flags(options: Mapping[str, Any]) -> list[str]:
    """The options among `options` (YAML keys -> values: a pipeline section, a validator's data) that read a
    report classifier, as CLI flags in CLASSIFIER_OPTIONS' order (`["--token-weights gradient"]`); [] if none."""
    return [f"--{key.replace('_', '-')} {value}" for key, value in CLASSIFIER_OPTIONS.items()
            if options.get(key) == value]


class DiTPOConfig(RewardSchedule, TrainingStageConfig):
    """`driftalign grpo`: the shared training flags, the reward schedule (`--gamma-phase1/2`, `--switch-step`)
    and the GRPO / DiTPO options."""

    num_generations: int = Field(8, ge=2, description="G: completions sampled per study (paper: 8 rollouts)")
    batch_size: int = Field(1, ge=1, description="studies per device per micro-batch; each brings its G completions")
    token_weights: TokenWeights = Field(
        "tfidf", description="per-token advantage weights: tfidf (DiTPO's rule weights, 1 + alpha * TF-IDF over the "
                             "group), gradient (DiTPO's gradient weights, 1 + beta * the saliency of --classifier) "
                             "or none (plain GRPO, one advantage per completion)")
    tfidf_alpha: float = Field(4.0, ge=0, description="alpha of the TF-IDF weights (paper: 4)")
    gradient_beta: float = Field(1.0, ge=0, description="beta of the gradient weights (paper: 1)")
    labeler: Labeler = Field("rules", description="the reward's report labeler C: rules (driftalign's rule labeler) "
                                                  "or classifier (--classifier)")
    classifier: Path | None = Field(
        None, validate_default=True,
        description="report classifier for --token-weights gradient / --labeler classifier: a `driftalign "
                    "classifier train` output directory, or a CheXbert chexbert.pth (with --classifier-tokenizer)")
    classifier_tokenizer: Path | None = Field(None, description="local bert-base-uncased tokenizer directory of a "
                                                                "chexbert.pth --classifier")
    kl_beta: float = Field(0.0, ge=0, description="weight of the k3 KL to the reference (the starting model); "
                                                   "0 = no reference model is held")
    clip_eps: float = Field(0.2, gt=0, lt=1, description="PPO clip range epsilon")
    max_new_tokens: int = Field(128, ge=1, description="maximum tokens per sampled completion")
    temperature: float = Field(1.0, gt=0, description="sampling temperature of the rollouts")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus mass of the rollouts (< 1 samples off-policy)")
    top_k: int = Field(0, ge=0, description="top-k filter of the rollouts (0: none)")
    repetition_penalty: float = Field(1.0, gt=0, description="repetition penalty of the rollouts (1.0: none)")
    uncertain: Literal["positive", "negative", "own"] = Field(
        REWARD_UNCERTAIN.value, description="what the reward's F1 counts an uncertain label as (positive: DEER's "
                                            "reward; eval's default is negative)")
    subset: Path | None = Field(None, description="SUBSET.jsonl from `driftalign ddsample`: train on these studies "
                                                  "only [all studies of --split]")
    random_fraction: float | None = Field(None, gt=0, le=1, description="train on a uniform random share of "
                                          "--split's studies, drawn with --seed (DEER's 'GRPO 20% random' "
                                          "baseline; not with --subset)")
    backend: Literal["transformers", "vllm"] = Field(
        "transformers", description="rollout generation: transformers `generate` (CPU and GPU) or vLLM on GPU (TRL's "
                                    "use_vllm, colocated with training; needs `pip install vllm`)")
    lr: float | None = Field(None, gt=0, description=f"peak learning rate [paper RL: {GRPO_LR}]")
    max_length: int | None = Field(None, description="not used by grpo (prompts are never cut; completions end at "
                                                     "--max-new-tokens): giving it is an error")

    @field_validator("classifier")
    @classmethod
    def _classifier_needed(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        flags = classifier_flags(info.data)
        if v is None and flags:
            raise ValueError(f"{flags[0]} needs a report classifier: --classifier DIR "
                             "(train one with `driftalign classifier train`)")
        return v

    @field_validator("max_length")
    @classmethod
    def _no_max_length(cls, v: int | None) -> int | None:
        if v is not None:
            raise ValueError("grpo has no --max-length: completions are bounded by --max-new-tokens")
        return v

    @model_validator(mode="after")
    def _one_study_choice(self) -> DiTPOConfig:
        if self.subset is not None and self.random_fraction is not None:
            raise ValueError("give --subset or --random-fraction, not both")
        return self

    def default_lr(self) -> float:
        return GRPO_LR

    @classmethod
    def options_need_classifier(cls, options: Mapping[str, Any]) -> bool:
        """Whether these options (set ones only; a section before it is validated) read a report classifier."""
        return bool(classifier_flags(options))

    @property
    def needs_classifier(self) -> bool:
        """--token-weights gradient or --labeler classifier: the run reads a report classifier (--classifier)."""
        return self.options_need_classifier({key: getattr(self, key) for key in CLASSIFIER_OPTIONS})


# ---- training studies ------------------------------------------------------------------------


@dataclass(frozen=True)
class GRPOStudy:
    """One training prompt: a study and the reference report its completions are scored against."""

    study_id: str
    reference: str
    positive_findings: tuple[str, ...] = ()   # observations the study labels 1 (gradient token weights)


def read_subset(path: Path) -> list[str]:
    """Study ids of a `driftalign ddsample` SUBSET.jsonl, in draw order, without repeats."""
    if not path.is_file():
        raise ConfigError(f"--subset {path}: file not found (run `driftalign ddsample`, it writes subset.jsonl)")
    ids: list[str] = []
    for line_no, row in read_jsonl(path):
        sid = row.get("study_id") if isinstance(row, dict) else None
        if not isinstance(sid, str) or not sid:
            raise DatasetError(f"{path}:{line_no}: row without a study_id")
        if sid not in ids:
            ids.append(sid)
    if not ids:
        raise DatasetError(f"{path}: no studies")
    return ids


def grpo_studies(ds: Dataset, split: str, subset: Path | None = None, random_fraction: float | None = None,
                 seed: int = 0) -> tuple[list[GRPOStudy], list[str]]:
    """(training studies, ids skipped for lack of a reference report).

    All studies of `split`, or the `--subset` studies (each must be a study of `split`: anything else is an
    error naming it), or a uniform random `random_fraction` of the split's studies (round(fraction * n),
    at least 1, drawn without replacement by `random.Random(seed)`, in dataset order). A study with an empty reference report (findings + impression) has nothing to score
    against (every completion would get F1 0, so its group teaches nothing): it is skipped and counted, as
    `spd --targets reference` does; no study left is an error.
    """
    in_split = {s.study_id: s for s in ds.split(split)}
    if not in_split:
        raise DatasetError(f"{ds.root}: no studies in split {split!r}")
    if subset is not None and random_fraction is not None:
        raise ConfigError("give --subset or --random-fraction, not both")
    if subset is None:
        chosen = list(in_split.values())
        if random_fraction is not None:
            keep = set(random.Random(seed).sample(range(len(chosen)), max(1, round(random_fraction * len(chosen)))))
            chosen = [s for i, s in enumerate(chosen) if i in keep]
    else:
        known = {s.study_id: s for s in ds.studies}
        chosen = []
        for sid in read_subset(subset):
            if sid not in known:
                raise DatasetError(f"--subset {subset}: study {sid!r} is not in {ds.root / STUDIES_FILE}")
            if sid not in in_split:
                raise DatasetError(f"--subset {subset}: study {sid!r} is in split {known[sid].split!r}, "
                                   f"not --split {split!r}")
            chosen.append(in_split[sid])
    studies = [GRPOStudy(s.study_id, s.report, tuple(s.positive_findings())) for s in chosen if s.report.strip()]
    skipped = [s.study_id for s in chosen if not s.report.strip()]
    if not studies:
        where = f"--subset {subset}" if subset is not None else f"split {split!r}"
        raise DatasetError(f"{ds.root / STUDIES_FILE}: no study of {where} has a reference report "
                           "(findings/impression) to score completions against")
    return studies, skipped


# ---- the reward TRL calls ----------------------------------------------------------------------


def completion_text(completion: Any) -> str:
    """TRL passes a conversational completion as [{"role": "assistant", "content": text}], a plain one as text."""
    if isinstance(completion, str):
        return completion
    return "".join(m["content"] if isinstance(m["content"], str) else
                   "".join(part.get("text", "") for part in m["content"]) for m in completion)


class ClinicalReward:
    """DEER eq. 1 as a TRL reward function: one float per completion, gamma from the reward schedule.

    TRL calls it with the prompts, the completions, the dataset's columns (here `reference`, one per
    completion) and `trainer_state`; gamma = schedule.gamma_at(trainer_state.global_step), i.e. the
    optimizer step the rollouts are for. Both terms are logged (`reward/f1`, `reward/bleu2`, `reward/gamma`).
    """

    __name__ = "clinical"  # TRL names the reward's metrics after it: rewards/clinical/mean

    def __init__(self, schedule: RewardSchedule, uncertain: UncertainPolicy | str = REWARD_UNCERTAIN,
                 labeler: Callable[[list[str]], list[Any]] = label_reports):
        self.schedule, self.uncertain, self.labeler = schedule, uncertain, labeler

    def __call__(self, completions: Sequence[Any], reference: Sequence[str], trainer_state: Any = None,
                 log_metric: Callable[[str, float], None] | None = None, **_: Any) -> list[float]:
        gamma = self.schedule.gamma_at(trainer_state.global_step if trainer_state is not None else 0)
        texts = [completion_text(c) for c in completions]
        terms = reward_terms(texts, list(reference), with_bleu=gamma != 0, labeler=self.labeler,
                             uncertain=self.uncertain)
        if log_metric is not None and texts:
            log_metric("reward/f1", sum(terms.f1) / len(texts))
            log_metric("reward/bleu2", sum(terms.bleu2) / len(texts))
            log_metric("reward/gamma", gamma)
        return terms.combine(gamma)
