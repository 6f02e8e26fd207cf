"""What an uncertain label (-1) counts as: one setting for every stage that turns labels into
decisions — eval's clinical P/R/F1, drift's per-teacher assertions, the vote consensus, and
DEER's reward and DDSampling diversity (`rl.reward`, `rl.diversity`: those two default to
POSITIVE, as the DEER issue asks; see docs/deer.md).

* NEGATIVE (default): only 1 is positive; -1, 0 and None are "not positive". This is the
  convention of the published report-generation metrics this project reproduces (R2Gen /
  PromptMRG / DEER compute CE metrics on `label == 1`), so numbers stay comparable with theirs,
  and it is what `eval` and `drift` always did. A hedge ("possible pneumonia") earns nothing and
  costs nothing.
* POSITIVE: -1 counts as 1 (CheXpert's "U-Ones"): a hedge is a claim of presence. Use it when a
  missed finding costs more than a false alarm (screening).
* OWN: -1 is a class of its own: a prediction is right only when it is uncertain where the
  reference is uncertain; in P/R/F1 both 1 and -1 are "positive classes" (a pred/ref pair is a
  true positive when both are the same positive class).

MS-CXR-T balanced accuracy does not use this setting: uncertain studies are skipped there
(`metrics.accuracy`), as in the paper.
"""

from __future__ import annotations

from enum import Enum


class UncertainPolicy(str, Enum):
    NEGATIVE = "negative"
    POSITIVE = "positive"
    OWN = "own"

    def __str__(self) -> str:   # CLI help and logs show "negative", not "UncertainPolicy.NEGATIVE"
        return self.value


DEFAULT_UNCERTAIN = UncertainPolicy.NEGATIVE


def label_class(value: int | None, policy: UncertainPolicy | str = DEFAULT_UNCERTAIN) -> int:
    """A label value (1, 0, -1, None) as the class the policy scores: 1 or 0, or -1 under OWN."""
    policy = UncertainPolicy(policy)
    if value == 1:
        return 1
    if value == -1:
        return {UncertainPolicy.NEGATIVE: 0, UncertainPolicy.POSITIVE: 1, UncertainPolicy.OWN: -1}[policy]
    if value in (0, None):
        return 0
    raise ValueError(f"not a CheXpert label value: {value!r} (expected 1, 0, -1 or None)")


def is_positive(value: int | None, policy: UncertainPolicy | str = DEFAULT_UNCERTAIN) -> bool:
    """Binary "asserted present": 1, and -1 under POSITIVE. (Under OWN a -1 is not a presence
    claim; metrics that can score it as its own class use `label_class`.)"""
    return label_class(value, policy) == 1


def positive_classes(policy: UncertainPolicy | str = DEFAULT_UNCERTAIN) -> frozenset[int]:
    """The classes P/R/F1 count as findings: {1}, or {1, -1} under OWN."""
    return frozenset({1, -1}) if UncertainPolicy(policy) is UncertainPolicy.OWN else frozenset({1})
