"""Figures the report draws itself (the drift figures come from `driftalign drift` as PNG files).

`training_curves`: one panel per training stage that logged to OUT/trainer_log.jsonl (SPD, APO, GRPO,
...): the training loss per logged step, and for GRPO the mean reward on a second axis. Returned as
PNG bytes, to be inlined as a data URI.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from driftalign.report.collect import TrainingLog

MAX_PANELS = 6
PANELS_PER_ROW = 3
DPI = 170            # shown at html.FIGURE_SCALE of its pixels: ~105 px per inch on the page


def _series(rows: Sequence[dict], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in rows:
        v = r.get(key)
        if "train_runtime" in r or not isinstance(v, (int, float)) or not math.isfinite(v):
            continue
        xs.append(float(r.get("step", len(xs) + 1)))
        ys.append(float(v))
    return xs, ys


def training_curves(logs: Sequence[TrainingLog], synthetic: bool) -> bytes | None:
    """PNG of the loss (and reward) curves of up to MAX_PANELS stages; None when none has a loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [log for log in logs if len(_series(log.rows, "loss")[0]) >= 2][:MAX_PANELS]
    if not panels:
        return None
    cols = min(PANELS_PER_ROW, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, log in zip(axes.flat, panels):
        xs, ys = _series(log.rows, "loss")
        ax.plot(xs, ys, color="#1c5d99", lw=1.6, label="loss")
        ax.set_title(log.name, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("training loss", fontsize=8, color="#1c5d99")
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.25)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        rx, ry = _series(log.rows, "reward")
        if len(rx) >= 2:
            twin = ax.twinx()
            twin.plot(rx, ry, color="#c2410c", lw=1.4, ls="--")
            twin.set_ylabel("mean reward", fontsize=8, color="#c2410c")
            twin.tick_params(labelsize=7)
            twin.spines["top"].set_visible(False)
    title = "Training curves" + (" (SYNTHETIC world)" if synthetic else "")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()
