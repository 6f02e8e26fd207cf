"""Figures the report draws itself (the drift figures come from `driftalign drift` as PNG files).

`training_curves`: one panel per training stage that logged to OUT/trainer_log.jsonl (SPD, APO, GRPO,
...): the training loss per logged step, and for GRPO the mean reward on a second axis. Returned as
PNG bytes, to be inlined as a data URI.

`apo_dynamics`: "What APO learns while it trains", one row of four panels per APO stage that logged
`training.apo`'s absolute per-token log-probs (`logps_per_token/*`) or `training.apo_monitor`'s greedy
evaluations (`monitor/*`, `--eval-every`): (a) log pi per token of t+ and of the negatives, policy
and reference; (b) words per report; (c) invented findings and all drift errors per 100 reports;
(d) average balanced accuracy. A series a log lacks is left out (a panel no shown stage logged, too);
None when no stage logged any.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from driftalign.report.records import TrainingLog

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
    return _png(fig, "Training curves", synthetic)


def _png(fig, title: str, synthetic: bool) -> bytes:
    """The figure titled (SYNTHETIC-marked when the run is), as PNG bytes; the figure is closed."""
    import matplotlib.pyplot as plt

    fig.suptitle(title + (" (SYNTHETIC world)" if synthetic else ""), fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


# ---- what APO learns while it trains --------------------------------------------------------------------

# (title, y label, [(key, label, colour, line style)]) of the four panels; in (a) policy solid, reference dashed
APO_PANELS = (
    ("(a) log-prob per token", "log \u03c0 / token",
     (("logps_per_token/chosen", "t+ (policy)", "#15803d", "-"),
      ("logps_per_token/ref_chosen", "t+ (reference)", "#15803d", "--"),
      ("logps_per_token/rejected", "negatives (policy)", "#b91c1c", "-"),
      ("logps_per_token/ref_rejected", "negatives (reference)", "#b91c1c", "--"))),
    ("(b) words per report", "words", (("monitor/words", "words", "#1c5d99", "-"),)),
    ("(c) drift per 100 reports", "per 100 reports", (("monitor/invented_per_100", "invented", "#c2410c", "-"),
                                                      ("monitor/drift_errors_per_100", "all drift errors", "#6b21a8",
                                                       "-"))),
    ("(d) average accuracy", "balanced accuracy", (("monitor/avg_accuracy", "avg. accuracy", "#0f766e", "-"),)),
)


def _panel_logged(log: TrainingLog, panel: tuple) -> bool:
    return any(_series(log.rows, key)[0] for key, *_ in panel[2])


def apo_dynamics(logs: Sequence[TrainingLog], synthetic: bool) -> bytes | None:
    """PNG of what up to MAX_PANELS APO stages learn while training, one row each (module docstring); a panel
    no shown stage logged is left out, and None when no stage logged `logps_per_token/*` or `monitor/*`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [log for log in logs if any(_panel_logged(log, p) for p in APO_PANELS)][:MAX_PANELS]
    if not stages:
        return None
    panels = [p for p in APO_PANELS if any(_panel_logged(log, p) for log in stages)]
    fig, axes = plt.subplots(len(stages), len(panels), figsize=(3.0 * len(panels), 2.5 * len(stages)),
                             squeeze=False)
    for row, log in zip(axes, stages):
        for i, (ax, (title, ylabel, series)) in enumerate(zip(row, panels)):
            ax.set_title(title, fontsize=9)
            ax.tick_params(labelsize=7)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            ax.set_ylabel(f"{log.name}\n{ylabel}" if i == 0 else ylabel, fontsize=8)
            drawn = 0
            for key, label, colour, ls in series:
                xs, ys = _series(log.rows, key)
                if xs:
                    sparse = len(xs) <= 12 or key.startswith("monitor/")
                    ax.plot(xs, ys, color=colour, ls=ls, lw=1.4, label=label, marker="o" if sparse else None, ms=2.5)
                    drawn += 1
            if not drawn:               # this stage did not log it (e.g. no --eval-every): said, not drawn
                ax.set_xticks([])
                ax.set_yticks([])
                ax.spines[["left", "bottom"]].set_visible(False)
                if i:
                    ax.set_ylabel("")
                ax.text(0.5, 0.5, "not logged", ha="center", va="center", fontsize=8, color="#6b7280",
                        transform=ax.transAxes)
                continue
            ax.set_xlabel("step", fontsize=8)
            ax.grid(alpha=0.25)
            if len(series) > 1:
                ax.legend(fontsize=6, frameon=False, loc="best")
    return _png(fig, "What APO learns while it trains", synthetic)
