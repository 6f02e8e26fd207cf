"""`run_drift(config)`: the `driftalign drift` stage — measure, write tables, plots and the summary."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import Field, field_validator

from driftalign.labeling.uncertain import DEFAULT_UNCERTAIN, UncertainPolicy
from driftalign.config import CONFIG_FILE, StageConfig, save_config
from driftalign.constants import MSCXRT_FINDINGS, SPLITS
from driftalign.data.dataset import load_dataset
from driftalign.drift.answers import FINDINGS
from driftalign.drift.measure import measure_drift
from driftalign.data.io import atomic_directory
from driftalign.drift.outputs import OUTPUT_FILES, print_summary, write_outputs
from driftalign.drift.report import DriftReport
from driftalign.errors import ConfigError

CACHE_DIR = ".cache"   # OUT/.cache/embeddings: the sentence-embedding cache (drift.embeddings)


class DriftConfig(StageConfig):
    data: Path = Field(description="dataset directory (studies.jsonl + trajectories.jsonl)",
                       json_schema_extra={"positional": True})
    out: Path = Field(description="output directory for drift.json, CSV tables and plots")
    split: str = Field("all", description=f"which studies: all or one of {', '.join(SPLITS)}")
    teachers: str = Field("all", description="teachers to compare: all, or a comma-separated list of names")
    findings: str = Field("all", description="findings in scope for assertions, P/R, kappa and step JS: all (the 13 "
                          "CheXpert findings), mscxrt (the five MS-CXR-T findings) or comma-separated CheXpert names")
    max_steps: int = Field(12, ge=1, description="absolute step indices shown on the step-drift curve")
    windows: int = Field(5, ge=1, le=50, description="relative-position windows of the step-drift curve")
    batch_size: int = Field(64, ge=1, description="sentence-embedding batch size")
    max_tokens: int = Field(128, ge=8, le=512, description="truncate each step to this many word pieces")
    plots: bool = Field(True, description="write the PNG figures")
    uncertain: UncertainPolicy = Field(DEFAULT_UNCERTAIN, description="whether an uncertain label is an assertion / "
                                       "a positive: negative (default), positive, or own")

    @field_validator("split")
    @classmethod
    def _split(cls, v: str) -> str:
        if v != "all" and v not in SPLITS:
            raise ValueError(f"split {v!r} is not 'all' or one of {list(SPLITS)}")
        return v

    @field_validator("teachers")
    @classmethod
    def _teachers(cls, v: str) -> str:
        names = [n.strip() for n in v.split(",")]
        if not v.strip() or any(not n for n in names):
            raise ValueError(f"expected 'all' or comma-separated teacher names, got {v!r}")
        return ",".join(names)

    @field_validator("findings")
    @classmethod
    def _findings(cls, v: str) -> str:
        if v in ("all", "mscxrt"):
            return v
        names = [n.strip() for n in v.split(",")]
        unknown = [n for n in names if n not in FINDINGS]
        if unknown:
            raise ValueError(f"unknown finding(s) {unknown}; use all, mscxrt or names from {list(FINDINGS)}")
        return ",".join(names)

    def teacher_list(self) -> list[str] | None:
        return None if self.teachers == "all" else self.teachers.split(",")

    def finding_list(self) -> tuple[str, ...]:
        if self.findings == "all":
            return FINDINGS
        if self.findings == "mscxrt":
            return tuple(MSCXRT_FINDINGS)
        return tuple(self.findings.split(","))


def run_drift(cfg: DriftConfig, *, print_tables: bool = True) -> DriftReport:
    """Load the dataset, measure drift, write every output into cfg.out, print the summary tables
    (unless `print_tables` is off: the pipeline's report shows them)."""
    from driftalign.drift.embeddings import SentenceEmbedder  # torch/transformers: import only when run
    from driftalign.drift.plots import write_plots

    start = time.perf_counter()
    dataset = load_dataset(cfg.data, verify_images=False)
    _check_out(cfg.out)
    cache = cfg.out / CACHE_DIR    # kept where it is while measuring: a killed run resumes without re-embedding
    with atomic_directory(cfg.out) as staged:   # the outputs appear together, complete, or not at all
        save_config(cfg, staged)
        embedder = SentenceEmbedder(batch_size=cfg.batch_size, max_tokens=cfg.max_tokens,
                                    cache_dir=cache / "embeddings")
        report = measure_drift(dataset, cfg.teacher_list(), cfg.split, embedder=embedder, findings=cfg.finding_list(),
                               max_steps=cfg.max_steps, windows=cfg.windows, uncertain=cfg.uncertain)
        report.timings["total"] = time.perf_counter() - start
        write_outputs(report, staged)
        if cfg.plots:
            write_plots(report, staged)
        if cache.is_dir():
            os.rename(cache, staged / CACHE_DIR)   # the cache moves with the outputs
    if print_tables:
        print_summary(report)
    return report


def _check_out(out: Path) -> None:
    """OUT is replaced as a whole when the new outputs are complete: refuse one holding files drift did not write."""
    from driftalign.drift.plots import PLOT_FILES

    if not out.is_dir():
        return
    ours = {CACHE_DIR, CONFIG_FILE, *OUTPUT_FILES, *PLOT_FILES}
    foreign = sorted(p.name for p in out.iterdir() if p.name not in ours)
    if foreign:
        raise ConfigError(f"{out}: holds {', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}, which drift "
                          "did not write (drift replaces its output directory); choose another --out")
