"""A pre-registered success criterion: bounds on the paired-bootstrap CIs of one run against its baseline.

    success:                                    # a pipeline file's section (read by no stage)
      run: apo-self-select-dpop
      baseline: spd
      ci_upper_below: {drift_errors_per_100: 0}                  # drift errors fall, the CI excludes 0
      ci_lower_above: {avg_accuracy: -0.005, clinical_f1: -0.01} # accuracy and F1 kept, within a floor

Every bound is strict: `ci_upper_below: {m: x}` holds when the upper end of the 95% CI of Δm (run minus
baseline) is < x, `ci_lower_above: {m: x}` when its lower end is > x. The criterion holds when every bound
does. It is checked on the verdict the run already computes (pooled over the seeds in an experiment, the
evaluated split in a single run), printed after the verdict lines and written to experiment.json/md
(summary.json for a single run). The verdict line's own rule (`summary.beat_baseline`: an improvement
whose CI excludes 0 and nothing significantly worse) is fixed and weaker; an experiment that commits its
criterion to the file before it runs gets that criterion checked as written, with no reading by hand.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from driftalign.config import StageConfig
from driftalign.metrics.bootstrap import METRICS

RELATION = {"upper": "<", "lower": ">"}   # a bound on the CI's upper end holds below it, on its lower end above it


class SuccessCriterion(StageConfig):
    """`success:` of a pipeline file (module docstring)."""

    run: str = Field(description="the run the criterion judges (an apo, grpo or spd_runs name)")
    baseline: str = Field("spd", description="the student it is compared with (its verdict's baseline)")
    ci_upper_below: dict[str, float] = Field(default_factory=dict,
                                             description="metric -> x: the upper end of the CI of Δmetric must be < x")
    ci_lower_above: dict[str, float] = Field(default_factory=dict,
                                             description="metric -> x: the lower end of the CI of Δmetric must be > x")

    @field_validator("ci_upper_below", "ci_lower_above")
    @classmethod
    def _known_metrics(cls, bounds: dict[str, float]) -> dict[str, float]:
        for metric in bounds:
            if metric not in METRICS:
                raise ValueError(f"{metric!r} is not a verdict metric ({', '.join(METRICS)})")
        return bounds

    def bounds(self) -> list[tuple[str, str, float]]:
        """(metric, "upper"|"lower", x) for every bound, in the file's order."""
        return ([(m, "upper", x) for m, x in self.ci_upper_below.items()]
                + [(m, "lower", x) for m, x in self.ci_lower_above.items()])


def check(criterion: SuccessCriterion, verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    """The criterion on `verdicts` (each {run, baseline, metric: {diff, lo, hi}}): every bound with the CI end
    it reads and whether it holds; `met` is None when no verdict compares `run` with `baseline`; `line` =
    `describe`'s line."""
    found = [v for v in verdicts if v["run"] == criterion.run and v["baseline"] == criterion.baseline]
    result: dict[str, Any] = {"run": criterion.run, "baseline": criterion.baseline, "met": None, "bounds": []}
    if not found:
        return {**result, "line": describe(result)}
    verdict = found[0]
    for metric, side, x in criterion.bounds():
        ci = verdict[metric]
        end = ci["hi"] if side == "upper" else ci["lo"]
        holds = end < x if RELATION[side] == "<" else end > x
        result["bounds"].append({"metric": metric, "side": side, "bound": x, "ci_end": end, "diff": ci["diff"],
                                 "lo": ci["lo"], "hi": ci["hi"], "met": bool(holds)})
    result["met"] = all(b["met"] for b in result["bounds"])
    return {**result, "line": describe(result)}   # the line as printed: the report shows it as written


def status(result: dict[str, Any]) -> str:
    """'RUN vs BASELINE: met' / 'not met' / 'not judged' (no verdict compares them)."""
    word = "not judged" if result["met"] is None else "met" if result["met"] else "not met"
    return f"{result['run']} vs {result['baseline']}: {word}"


def describe(result: dict[str, Any]) -> str:
    """`status`, then each bound as 'Δmetric CI upper end +0.0012 < +0: yes'."""
    if result["met"] is None:
        return status(result) + " (no verdict compares them in this run)"
    parts = [f"Δ{b['metric']} CI {b['side']} end {b['ci_end']:+.4f} {RELATION[b['side']]} {b['bound']:+g}: "
             f"{'yes' if b['met'] else 'NO'}" for b in result["bounds"]]
    return status(result) + " (" + "; ".join(parts) + ")"


def markdown(result: dict[str, Any]) -> str:
    """experiment.md's section: `status`, then one row per bound."""
    lines = ["\n## Pre-registered success criterion (the pipeline file's `success:`)\n\n", f"{status(result)}.\n\n"]
    if result["bounds"]:
        lines += ["| bound | Δ (95% CI) | CI end | holds |\n", "|---|---|---|---|\n"]
        for b in result["bounds"]:
            lines.append(f"| {b['side']} end of Δ{b['metric']} {RELATION[b['side']]} {b['bound']:+g} | {b['diff']:+.4f} "
                         f"[{b['lo']:+.4f}, {b['hi']:+.4f}] | {b['ci_end']:+.4f} | {'yes' if b['met'] else 'no'} |\n")
    return "".join(lines)
