"""The one orchestrator: a pipeline file -> stages -> a run directory (`driftalign run`, `driftalign demo`).

* `config`     — `PipelineConfig`: one YAML whose sections are the stages' own configs
* `stages`     — `plan(cfg)`: the stages, each a stage config + the library call of its command
* `runner`     — `run_single(cfg)`: one run: content-hashed skip / resume / rerun of each stage, then the summary
* `experiment` — `run_experiment(cfg)`: with `seeds`, `run_single` once per seed, then the table over seeds
* `summary`    — the students' table and the paired-bootstrap verdicts printed at the end
* `demo`       — `driftalign demo`: the bundled demo pipeline with a few flags

`run_pipeline` below picks one run or the experiment; neither module imports the other's caller.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from driftalign.pipeline.config import PipelineConfig, load_pipeline
from driftalign.pipeline.runner import run_single


def run_pipeline(cfg: PipelineConfig, console: Console | None = None) -> dict[str, Any]:
    """Plan, run what has to run, summarise; returns the summary (also OUT/summary.json). With `seeds`, once
    per seed and aggregated (`experiment.run_experiment`: OUT/experiment.json), else one run (`runner.run_single`)."""
    if cfg.seeds:
        from driftalign.pipeline.experiment import run_experiment   # imports torch (deer_tables): only when needed

        return run_experiment(cfg, console)
    return run_single(cfg, console)


__all__ = ["PipelineConfig", "load_pipeline", "run_pipeline"]
