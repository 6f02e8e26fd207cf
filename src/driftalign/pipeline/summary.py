"""The end of a pipeline run: one table of the trained students and a verdict per method.

Rows: every student the run evaluated (oracle, SPD, each APO and GRPO run) with balanced top-1
accuracy per MS-CXR-T finding, the example-based clinical F1 and the drift errors it inherited
(per 100 reports). Verdicts: each APO run against SPD, each GRPO run against the student it started
from, by a paired bootstrap on the evaluated split (`metrics.bootstrap`): "yes" when the 95% CI of
the average-accuracy difference is above 0 or that of the drift-error difference is below 0, and
neither is significantly worse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from driftalign.constants import MSCXRT_FINDINGS
from driftalign.data.io import read_jsonl
from driftalign.pipeline.config import PipelineConfig
from driftalign.pipeline.criterion import check, describe
from driftalign.pipeline.stages import Stage


def cell(ms: list[float | None], digits: int = 3) -> str:
    """'mean ± std' of a `metrics.aggregate.mean_std` pair, '-' when there is none."""
    mean, std = ms
    return "-" if mean is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def outcomes(out: Path, data: Path, split: str, name: str):
    """Per-study outcomes (`metrics.bootstrap.study_outcomes`) of student `name`'s predictions in run `out`."""
    from driftalign.data.dataset import load_dataset
    from driftalign.metrics import load_predictions
    from driftalign.metrics.bootstrap import study_outcomes

    studies = load_dataset(data, verify_images=False).split(split)
    texts = {p["study_id"]: p["text"] for p in load_predictions(out / "preds" / f"{name}.jsonl")}
    return study_outcomes([texts.get(st.study_id, "") for st in studies], studies)


def beat_baseline(ci: dict[str, dict[str, float]]) -> bool:
    """The verdict rule (module docstring): an improvement CI excludes 0 and nothing is significantly worse."""
    acc, err = ci["avg_accuracy"], ci["drift_errors_per_100"]
    better = acc["lo"] > 0 or err["hi"] < 0
    worse = acc["hi"] < 0 or err["lo"] > 0
    return bool(better and not worse)


def verdict(out: Path, data: Path, split: str, run: str, baseline: str, n_boot: int = 1000) -> dict[str, Any]:
    """Paired bootstrap of (run - baseline) on `split`: did `run` beat `baseline` on this run?"""
    from driftalign.metrics.bootstrap import paired_bootstrap

    ci = paired_bootstrap([(outcomes(out, data, split, run), outcomes(out, data, split, baseline))], n_boot=n_boot,
                          seed=0)
    return {"run": run, "baseline": baseline, "beat_baseline": beat_baseline(ci), **ci}


def mean_words(preds: Path) -> float | None:
    """Mean words per generated report of a PRED.jsonl (None when the file is absent or empty)."""
    if not preds.is_file():
        return None
    words = [len(str(obj.get("text", "")).split()) for _, obj in read_jsonl(preds)]
    return sum(words) / len(words) if words else None


def summarize(cfg: PipelineConfig, stages: list[Stage], out: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Students' metrics, verdicts and stage timings of a finished run (-> OUT/summary.json)."""
    rows: dict[str, Any] = {}
    synthetic = False
    for stage in stages:
        metrics_file = out / "eval" / f"{stage.name}.json"
        if stage.kind != "student" or not metrics_file.exists():
            continue
        metrics = json.loads(metrics_file.read_text())
        synthetic = synthetic or bool(metrics.get("synthetic"))
        rows[stage.name] = {"accuracy": metrics["accuracy"], "clinical_f1": metrics["clinical"]["example_based"]["f1"],
                            "drift_errors": metrics.get("drift_errors", {}), "BLEU-4": (metrics.get("nlg") or {}).get("BLEU-4"),
                            "words": mean_words(out / "preds" / f"{stage.name}.jsonl")}
    verdicts = []
    if cfg.eval is not None:
        data = cfg.data.resolve() if cfg.data is not None else out / "world"
        for stage in stages:
            if stage.name not in rows or stage.name in ("spd", "oracle"):
                continue
            baseline = stage.config.get("from", "spd")
            if baseline in rows:
                verdicts.append(verdict(out, data, cfg.eval.split, stage.name, baseline, cfg.eval.bootstrap))
    timings = {name: r["seconds"] for name, r in record.items() if "seconds" in r}
    result = {"synthetic": synthetic, "split": cfg.eval.split if cfg.eval else None, "students": rows,
              "verdicts": verdicts, "stages": record, "timings_s": timings}
    if cfg.success is not None:
        result["success"] = check(cfg.success, verdicts)
    return result


def print_summary(summary: dict[str, Any], console: Console) -> None:
    """The students' table, then one verdict line per method (the last lines of a run)."""
    rows = summary["students"]
    if not rows:
        console.print("no student was evaluated (no `eval:` section or no trained student)")
        return
    where = "SYNTHETIC world" if summary["synthetic"] else "user data"
    table = Table(title=f"driftalign — {where}, {summary['split']} split (balanced top-1 accuracy; "
                        "drift errors the student inherited, per 100 reports)")
    table.add_column("student", no_wrap=True)
    for short in [*MSCXRT_FINDINGS.values(), "Avg.", "clin. F1", "err/100"]:
        table.add_column(short, justify="right")
    for run, r in rows.items():
        acc = r["accuracy"]
        cells = [acc.get(name) for name in MSCXRT_FINDINGS] + [acc.get("average"), r["clinical_f1"]]
        errors = r["drift_errors"].get("total")
        table.add_row(run, *("-" if v is None else f"{v:.3f}" for v in cells), "-" if errors is None else f"{errors:.1f}")
    console.print(table)
    console.print("majority-class baseline: 0.500 on every finding (balanced sets)")
    for v in summary["verdicts"]:
        a, e = v["avg_accuracy"], v["drift_errors_per_100"]
        console.print(f"[bold]{v['run']} beat {v['baseline']} on this run: {'yes' if v['beat_baseline'] else 'no'}"
                      f"[/bold] (Δ avg. accuracy {a['diff']:+.3f} [95% CI {a['lo']:+.3f}, {a['hi']:+.3f}], "
                      f"Δ drift errors/100 {e['diff']:+.1f} [{e['lo']:+.1f}, {e['hi']:+.1f}]; paired bootstrap)")
    if summary.get("success"):
        console.print(f"[bold]pre-registered success criterion on this run:[/bold] {describe(summary['success'])}",
                      highlight=False)
