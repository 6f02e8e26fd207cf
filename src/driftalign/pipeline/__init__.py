"""The one orchestrator: a pipeline file -> stages -> a run directory (`driftalign run`, `driftalign demo`).

* `config`  — `PipelineConfig`: one YAML whose sections are the stages' own configs
* `stages`  — `plan(cfg)`: the stages, each a stage config + the library call of its command
* `runner`  — `run_pipeline(cfg)`: content-hashed skip / resume / rerun of each stage, then the summary
* `summary` — the students' table and the paired-bootstrap verdicts printed at the end
* `demo`    — `driftalign demo`: the bundled demo pipeline with a few flags
"""

from driftalign.pipeline.config import PipelineConfig, load_pipeline
from driftalign.pipeline.runner import run_pipeline

__all__ = ["PipelineConfig", "load_pipeline", "run_pipeline"]
