"""`driftalign generate`: the student's report for every study of a split, as JSONL for `eval`.

Rows: {"study_id": ..., "text": ...}, plus "sample": k (0-based) when --num-return-sequences > 1.
The output is rewritten atomically after every batch, so a killed run leaves a complete file of
the studies done so far; `--resume` (default) skips the study ids already in it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from driftalign.config import StageConfig
from driftalign.constants import STUDENT_PROMPT, Split
from driftalign.data.dataset import Dataset, load_dataset
from driftalign.data.io import read_jsonl, write_jsonl
from driftalign.data.schema import Study
from driftalign.errors import DatasetError
from driftalign.generation import make_backend
from driftalign.generation.backend import GenerationBackend, GenerationRequest, SamplingConfig
from driftalign.generation.sampling import SamplingOptions
from driftalign.models.options import ModelOptions


class GenerateConfig(StageConfig, ModelOptions, SamplingOptions):
    """Options of `driftalign generate` (flags == YAML keys): these, the model's (`ModelOptions`: dtype, attention,
    image limits) and decoding's (`SamplingOptions`: greedy or sampled, temperature, top-p, top-k, repetition penalty)."""

    model: Path = Field(description="model directory (HF image-text-to-text checkpoint, e.g. SPD's OUT/final)")
    data: Path = Field(description="dataset directory")
    out: Path = Field(description="predictions JSONL to write (rows: study_id, text[, sample])")
    split: Split = Field("test", description="dataset split to generate for ('all' for every study)")
    prompt: str = Field(STUDENT_PROMPT, description="prompt given with each study's images")
    batch_size: int = Field(16, ge=1, description="studies per generation batch")
    max_new_tokens: int = Field(128, ge=1, description="maximum new tokens per output")
    num_return_sequences: int = Field(1, ge=1, description="outputs per study (needs --do-sample when > 1)")
    backend: Literal["transformers", "vllm"] = Field("transformers", description="generation backend")
    seed: int = Field(0, description="random seed for sampling")
    resume: bool = Field(True, description="keep rows already in --out and skip their studies")

    def sampling(self) -> SamplingConfig:
        return SamplingConfig(max_new_tokens=self.max_new_tokens, num_return_sequences=self.num_return_sequences,
                              **self.sampling_fields())


def prediction_rows(study_id: str, texts: Sequence[str]) -> list[dict[str, Any]]:
    """Rows for one study: a 'sample' index only when there are several outputs."""
    if len(texts) == 1:
        return [{"study_id": study_id, "text": texts[0]}]
    return [{"study_id": study_id, "sample": k, "text": t} for k, t in enumerate(texts)]


def read_done(path: Path) -> list[dict[str, Any]]:
    """Rows of an existing predictions file (empty if it does not exist)."""
    return [row for _, row in read_jsonl(path)] if path.is_file() else []


def _batches(items: list[Study], size: int) -> Iterator[list[Study]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _progress() -> Progress:
    return Progress(TextColumn("generate"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())


def generate_predictions(backend: GenerationBackend, sampling: SamplingConfig, ds: Dataset, studies: list[Study],
                         prompt: str, out: Path, rows: list[dict[str, Any]], batch_size: int,
                         seed_of: Callable[[str], int] | None = None) -> list[dict[str, Any]]:
    """Generate for `studies`, appending to `rows` and rewriting `out` atomically after each batch.

    `seed_of` (study id -> seed): each study's outputs come from a generator seeded by it alone
    (`GenerationBackend.generate_seeded`), so they do not depend on the batch or on where a run resumed."""
    with _progress() as progress:
        task = progress.add_task("generate", total=len(studies))
        for batch in _batches(studies, batch_size):
            requests = [GenerationRequest(images=ds.load_images(s), prompt=prompt) for s in batch]
            outputs = (backend.generate(requests, sampling) if seed_of is None else
                       backend.generate_seeded(requests, [seed_of(s.study_id) for s in batch], sampling))
            for study, texts in zip(batch, outputs, strict=True):
                rows.extend(prediction_rows(study.study_id, texts))
            write_jsonl(out, rows)
            progress.advance(task, len(batch))
    return rows


def run_generate(cfg: GenerateConfig, backend: GenerationBackend | None = None) -> int:
    """Write predictions for the split's studies; returns the number of rows in --out.

    `backend` (optional) reuses an already loaded backend; the config's sampling options apply to it.
    """
    sampling = cfg.sampling()
    ds = load_dataset(cfg.data, with_trajectories=False, verify_images=False)
    studies = ds.split(cfg.split)
    if not studies:
        raise DatasetError(f"{cfg.data}: no studies in split {cfg.split!r}")
    rows = read_done(cfg.out) if cfg.resume else []
    done = {r["study_id"] for r in rows}
    todo = [s for s in studies if s.study_id not in done]
    if todo:
        import torch

        torch.manual_seed(cfg.seed)
        backend = backend or make_backend(cfg.backend, str(cfg.model), sampling, cfg)
        rows = generate_predictions(backend, sampling, ds, todo, cfg.prompt, cfg.out, rows, cfg.batch_size)
    elif not cfg.out.is_file():
        write_jsonl(cfg.out, rows)
    return len(rows)
