"""DEER's clinical reward (eq. 1) and its two-phase schedule.

    r_i = F1( C(o_i), C(y) ) + gamma * BLEU-2(o_i, y)                                       (eq. 1)

* C is a 14-label report labeler; by default the project's rule labeler (`labeling.label_reports`).
  Any callable texts -> list of {observation: 1 | 0 | -1 | None} can replace it.
* F1 is eval's example-based F1 of one report pair (`metrics.clinical.report_f1`, reused, not
  re-implemented): tp/fp/fn over the 14 labels, F1 = tp / (tp + (fp + fn) / 2), 0/0 -> 0. So a
  blank completion against a blank (or all-"not mentioned") reference scores 0, exactly as eval
  scores that pair; "No Finding" is one of the 14 labels, so two normal reports score 1.
* Uncertain labels (-1) count as POSITIVE by default here (`labeling.uncertain.UncertainPolicy`):
  a hedge in the completion is a claim the reward can credit, and a hedge in the reference is a
  finding the policy is rewarded for mentioning. This differs from eval's default (NEGATIVE, for
  comparability with published CE numbers); pass `uncertain="negative"` to train on eval's
  definition, or "own" to score -1 as its own class.
* BLEU-2 is sentence-level, per completion: pycocoevalcap's `Bleu(2)` per-instance scores (the same
  scorer `metrics.nlg` uses for corpus BLEU) on the same R2Gen-cleaned text (`metrics.nlg.clean_report`,
  whitespace tokens, "." a token). pycocoevalcap does no smoothing beyond epsilons (1e-15 / 1e-9),
  so a completion with no matching bigram scores ~0, and its brevity penalty uses the reference
  length. A blank completion scores exactly 0 (the cleaner would turn it into the lone token ".").

Phase 1 trains on F1 alone (gamma 0), phase 2 adds BLEU-2 with gamma 0.25 (`RewardSchedule`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import Field

from driftalign.config import StageConfig
from driftalign.labeling import label_reports
from driftalign.labeling.uncertain import UncertainPolicy
from driftalign.metrics.clinical import Labels, report_f1
from driftalign.metrics.nlg import clean_report

Labeler = Callable[[list[str]], list[Labels]]

# DEER's reward default: an uncertain (-1) label counts as positive (see module docstring).
REWARD_UNCERTAIN = UncertainPolicy.POSITIVE


def bleu2(completions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Sentence-level BLEU-2 of each completion against its reference (see module docstring).

    Example: "Small right pleural effusion. No pneumothorax." vs "Small left pleural effusion. No
    pneumothorax.": 7 of 8 unigrams and 5 of 7 bigrams match, equal lengths -> sqrt(7/8 * 5/7) = 0.7906.
    """
    _check_lengths(completions, references)
    if not completions:
        return []
    from pycocoevalcap.bleu.bleu import Bleu

    gts = {i: [clean_report(r)] for i, r in enumerate(references)}
    res = {i: [clean_report(c)] for i, c in enumerate(completions)}
    _, per_instance = Bleu(2).compute_score(gts, res, verbose=0)   # per_instance[n - 1][i] = BLEU-n of i
    return [0.0 if not c.strip() else float(b) for c, b in zip(completions, per_instance[1], strict=True)]


@dataclass(frozen=True)
class RewardTerms:
    """The two terms of eq. 1 per completion, kept apart for logging: r = f1 + gamma * bleu2."""

    f1: list[float]
    bleu2: list[float]

    def combine(self, gamma: float) -> list[float]:
        return [f + gamma * b for f, b in zip(self.f1, self.bleu2, strict=True)]


def reward_terms(completions: Sequence[str], references: Sequence[str], *, with_bleu: bool = True,
                 labeler: Labeler = label_reports,
                 uncertain: UncertainPolicy | str = REWARD_UNCERTAIN) -> RewardTerms:
    """F1(C(o_i), C(y_i)) and BLEU-2(o_i, y_i) for each pair (BLEU all 0.0 when `with_bleu` is False,
    which skips the scorer in phase 1)."""
    _check_lengths(completions, references)
    pred_labels = labeler(list(completions))
    ref_labels = labeler(list(references))
    if len(pred_labels) != len(completions) or len(ref_labels) != len(references):
        raise ValueError("the labeler must return one label dict per text")
    f1 = [report_f1(p, r, uncertain=uncertain) for p, r in zip(pred_labels, ref_labels, strict=True)]
    bleu = bleu2(completions, references) if with_bleu else [0.0] * len(completions)
    return RewardTerms(f1=f1, bleu2=bleu)


def clinical_reward(completions: Sequence[str], references: Sequence[str], gamma: float, *,
                    labeler: Labeler = label_reports,
                    uncertain: UncertainPolicy | str = REWARD_UNCERTAIN) -> list[float]:
    """r_i = F1(C(o_i), C(y_i)) + gamma * BLEU-2(o_i, y_i) (DEER eq. 1), one float per completion.

    references[i] is the reference report y of completions[i]'s input (repeat it for a group of G).
    """
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    terms = reward_terms(completions, references, with_bleu=gamma != 0, labeler=labeler, uncertain=uncertain)
    return terms.combine(gamma)


def _check_lengths(completions: Sequence[str], references: Sequence[str]) -> None:
    if len(completions) != len(references):
        raise ValueError(f"{len(completions)} completions but {len(references)} references (one reference each)")


class RewardSchedule(StageConfig):
    """DEER's two reward phases: gamma = `gamma_phase1` for optimizer steps < `switch_step`, then
    `gamma_phase2` (paper: 0 then 0.25). The paper gives no switch step, so it has no default.
    Fields are flat (not nested) so `training.grpo.DiTPOConfig` inherits them as flags."""

    gamma_phase1: float = Field(0.0, ge=0, description="BLEU-2 weight gamma of phase 1 (paper: 0, label F1 only)")
    gamma_phase2: float = Field(0.25, ge=0, description="BLEU-2 weight gamma of phase 2 (paper: 0.25)")
    switch_step: int = Field(ge=0, description="first optimizer step of phase 2 (0 = phase 2 from the start)")

    def gamma_at(self, step: int) -> float:
        """gamma for the optimizer step `step` (0-based, the Trainer's global_step)."""
        return self.gamma_phase1 if step < self.switch_step else self.gamma_phase2
