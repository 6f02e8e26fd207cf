"""Agreement of two label sets over the same texts (the classifier vs the rule labeler, or vs hand labels).

Per observation, over the four values (1, 0, -1, not mentioned):
* `accuracy`    — share of texts where both give the same value;
* `kappa`       — Cohen's kappa over the four values (`labeling.compare.cohen_kappa`; None when undefined);
* `positive_f1` — F1 of "positive" (value 1) of `pred` against `ref` (None when neither has a positive);
macro = the unweighted mean over the 14 observations (kappa and F1 over those where defined);
`exact` = share of texts whose 14 values all agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from driftalign.constants import OBSERVATIONS
from driftalign.labeling.compare import cohen_kappa

Labels = dict[str, int | None]


def _positive_f1(pred: list[int | None], ref: list[int | None]) -> float | None:
    tp = sum(p == 1 and r == 1 for p, r in zip(pred, ref))
    fp = sum(p == 1 and r != 1 for p, r in zip(pred, ref))
    fn = sum(p != 1 and r == 1 for p, r in zip(pred, ref))
    return None if tp + fp + fn == 0 else tp / (tp + (fp + fn) / 2)


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def label_agreement(pred: Sequence[Labels], ref: Sequence[Labels]) -> dict:
    """{"n", "exact", "macro": {accuracy, kappa, positive_f1}, "per_observation": {name: {...}}} (module docstring).
    Observations missing from a label dict count as not mentioned (None)."""
    if len(pred) != len(ref):
        raise ValueError(f"{len(pred)} predicted and {len(ref)} reference label rows")
    per: dict[str, dict[str, float | None]] = {}
    for name in OBSERVATIONS:
        p = [row.get(name) for row in pred]
        r = [row.get(name) for row in ref]
        per[name] = {
            "accuracy": sum(a == b for a, b in zip(p, r)) / len(p) if p else None,
            "kappa": cohen_kappa(p, r),
            "positive_f1": _positive_f1(p, r),
        }
    exact = sum(all(a.get(n) == b.get(n) for n in OBSERVATIONS) for a, b in zip(pred, ref))
    return {
        "n": len(pred),
        "exact": exact / len(pred) if pred else None,
        "macro": {key: _mean([per[name][key] for name in OBSERVATIONS])
                  for key in ("accuracy", "kappa", "positive_f1")},
        "per_observation": per,
    }
