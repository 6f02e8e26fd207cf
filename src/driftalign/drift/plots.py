"""The drift figures: per-teacher bars (APO Fig. 1a), kappa heatmap, per-finding accuracy heatmap,
step-drift curve. Titles say "synthetic world" when the dataset is synthetic."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from driftalign.constants import MSCXRT_FINDINGS  # noqa: E402
from driftalign.data.io import atomic_write  # noqa: E402
from driftalign.drift.report import DriftReport  # noqa: E402

PLOT_FILES = ("drift_per_teacher.png", "drift_kappa.png", "drift_finding_accuracy.png", "drift_steps.png")


def _title(report: DriftReport, what: str) -> str:
    where = "synthetic world" if report.synthetic else Path(report.dataset).name
    return f"{what}\n({where}, {report.n_studies} studies, split {report.split})"


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=130)
    plt.close(fig)
    return path


def plot_per_teacher(report: DriftReport, path: Path) -> Path:
    """Grouped bars: precision, recall, semantic similarity per teacher (like the paper's Fig. 1a)."""
    teachers = [m.teacher for m in report.per_teacher]
    series = {
        "precision": [m.precision for m in report.per_teacher],
        "recall": [m.recall for m in report.per_teacher],
        "semantic similarity": [m.similarity for m in report.per_teacher],
    }
    x = np.arange(len(teachers))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(7.5, 1.25 * len(teachers) + 3.5), 4.6))
    for i, (name, values) in enumerate(series.items()):
        vals = np.array([v if math.isfinite(v) else 0.0 for v in values])
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, vals, width, label=name)
        labels = [f"{v:.2f}" if math.isfinite(v) else "n/a" for v in values]  # n/a: e.g. no reference reports
        ax.bar_label(bars, labels=labels, fontsize=7, padding=1, rotation=90)
    ax.set_xticks(x, teachers, rotation=25, ha="right")
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("score")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    ax.set_title(_title(report, "Teacher drift vs reference: precision, recall, semantic similarity"), fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _heatmap(ax: plt.Axes, matrix: np.ndarray, rows: list[str], cols: list[str], vmin: float, vmax: float,
             cmap: str) -> matplotlib.image.AxesImage:
    masked = np.ma.masked_invalid(matrix)
    im = ax.imshow(masked, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    colormap, norm = plt.get_cmap(cmap), matplotlib.colors.Normalize(vmin, vmax)
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            v = matrix[i, j]
            text = "-" if not math.isfinite(v) else f"{v:.2f}"
            r, g, b, _ = colormap(norm(v)) if math.isfinite(v) else (1, 1, 1, 1)
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5   # perceived luminance of the cell
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
    return im


def plot_kappa(report: DriftReport, path: Path) -> Path:
    """Teacher x teacher Cohen's kappa over asserted/not-asserted (study, finding) decisions."""
    teachers = report.teachers
    idx = {t: i for i, t in enumerate(teachers)}
    matrix = np.full((len(teachers), len(teachers)), np.nan)
    np.fill_diagonal(matrix, 1.0)
    for k in report.pairwise_kappa:
        matrix[idx[k.teacher_a], idx[k.teacher_b]] = matrix[idx[k.teacher_b], idx[k.teacher_a]] = k.kappa
    size = max(5.5, 0.75 * len(teachers) + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    finite = matrix[np.isfinite(matrix)]
    vmin = min(-0.2, float(np.floor(finite.min() * 10) / 10)) if finite.size else -0.2
    im = _heatmap(ax, matrix, teachers, teachers, vmin, 1.0, "viridis")
    fig.colorbar(im, ax=ax, label="Cohen's kappa")
    scope = f"{len(report.findings)} findings" if report.findings else "all findings"
    ax.set_title(_title(report, f"Pairwise agreement (Cohen's kappa) on asserted findings ({scope})"), fontsize=10)
    return _save(fig, path)


def plot_finding_accuracy(report: DriftReport, path: Path) -> Path:
    """Teacher x MS-CXR-T finding accuracy, with the best-minus-worst gap in the column labels."""
    findings = report.accuracy_findings
    matrix = np.array([[m.finding_accuracy[f] for f in findings] for m in report.per_teacher], dtype=float)
    gaps = report.accuracy_gaps()
    cols = [f"{MSCXRT_FINDINGS.get(f, f)}\n(gap {gaps[f]:.2f})" if math.isfinite(gaps[f]) else f for f in findings]
    fig, ax = plt.subplots(figsize=(7.5, max(3.5, 0.5 * len(report.per_teacher) + 2)))
    im = _heatmap(ax, matrix, [m.teacher for m in report.per_teacher], cols, 0.0, 1.0, "RdYlGn")
    ax.set_xticks(range(len(cols)), cols, rotation=0, ha="center")
    fig.colorbar(im, ax=ax, label="accuracy (asserted vs label)")
    ax.set_title(_title(report, "Per-finding accuracy of each teacher (MS-CXR-T findings)"), fontsize=10)
    return _save(fig, path)


def _low_support(points: list, share: float = 0.1) -> np.ndarray:
    """Positions measured on fewer than `share` of the best-supported position's steps (drawn hollow)."""
    steps = np.array([p.n_steps for p in points], dtype=float)
    return steps < share * steps.max() if len(steps) else np.zeros(0, dtype=bool)


def plot_steps(report: DriftReport, path: Path) -> Path:
    """Step-drift curves: embedding distance, assertion JS and event density vs step index / position.

    Positions with few steps (< 10% of the best-supported one) are drawn as hollow markers."""
    measures = [("embedding_distance", "mean pairwise\ncosine distance"),
                ("assertion_js", "mean pairwise JS\nof asserted findings (bits)"),
                ("event_density", "recorded drift\nevents per step")]
    has_events = any(math.isfinite(p.event_density) for p in report.step_drift)
    measures = measures if has_events else measures[:2]
    fig, axes = plt.subplots(len(measures), 2, figsize=(10, 2.6 * len(measures) + 0.8), sharex="col", squeeze=False)
    for col, (axis, xlabel) in enumerate([("index", "step index j"), ("window", "relative position in trajectory")]):
        points = [p for p in report.step_drift if p.axis == axis]
        x = np.arange(len(points))
        sparse = _low_support(points)
        for row, (key, ylabel) in enumerate(measures):
            ax = axes[row, col]
            y = np.array([getattr(p, key) for p in points], dtype=float)
            ax.plot(x, y, color=f"C{row}")
            ax.plot(x[~sparse], y[~sparse], "o", color=f"C{row}")
            ax.plot(x[sparse], y[sparse], "o", color=f"C{row}", markerfacecolor="white")
            top = np.nanmax(y) if np.isfinite(y).any() else 1.0
            ax.set_ylim(0, max(top * 1.15, 1e-3))
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel(ylabel, fontsize=9)
            if row == len(measures) - 1:
                ax.set_xticks(x, [p.label for p in points], rotation=0 if axis == "index" else 20)
                ax.set_xlabel(xlabel)
        axes[0, col].set_title("by absolute step" if axis == "index" else "by relative position", fontsize=10)
    fig.suptitle(_title(report, "Step-wise multi-stream drift across teachers (APO Def. 2.2)"), fontsize=10)
    fig.text(0.01, 0.005, "hollow markers: positions with < 10% of the steps of the best-supported position",
             fontsize=7, color="grey")
    return _save(fig, path)


def write_plots(report: DriftReport, out: Path) -> list[Path]:
    """All four figures into `out` (file names in PLOT_FILES)."""
    makers = (plot_per_teacher, plot_kappa, plot_finding_accuracy, plot_steps)
    return [make(report, out / name) for make, name in zip(makers, PLOT_FILES, strict=True)]
