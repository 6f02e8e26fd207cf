"""Reference log-probs log pi_ref(t | v, l) for t+ and all N negatives, computed once, cached on disk.

TRL refuses precomputed reference log-probs for vision data; APO needs them (N+1 reference
forwards per study per epoch otherwise). The cache is content-addressed (STYLE.md, open-instruct's
`compute_reference_cache_hash`): its key hashes

    cache version + reference model files (weights, config, tokenizer, chat template)
    + consensus file + dataset studies/images + chat template + max_length
    + which negative tokens count (`--negative-tokens`, when not "all")

so changing any of them misses instead of returning stale numbers. The file
`ref_logps-<key16>.jsonl` holds one row per study:

    {"study_id": ..., "chosen": float, "rejected": [float, ...], "teachers": [...], "key": ...}

It is filled incrementally through `<file>.partial` (one appended, flushed line per study), so an
interrupted precomputation resumes where it stopped; the finished file is renamed into place
atomically. Row order does not matter; values are float32 sums over answer tokens (eq. 8).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from rich.progress import Progress

from driftalign.data.io import open_appending, read_jsonl, write_jsonl
from driftalign.hashing import file_digest, files_digest, json_hash, model_digest, text_digest
from driftalign.training.apo_collator import APOCollator, APOFeature, scatter_candidates
from driftalign.training.sequence_logps import model_answer_logps

CACHE_VERSION = "apo-ref-v1"


def reference_cache_key(model_dir: str | Path, consensus_path: str | Path, data_files: Iterable[str | Path],
                        chat_template: str, max_length: int | None, negative_tokens: str = "all",
                        encoding: dict | None = None) -> str:
    """Content hash of everything that determines the reference log-probs (module docstring). `encoding`: how
    the model reads its inputs beyond the files (image limits, the dtype the reference runs in)."""
    parts = {
        "version": CACHE_VERSION,
        "model": model_digest(model_dir),
        "consensus": file_digest(consensus_path),
        "data": files_digest(data_files),
        "chat_template": text_digest(chat_template),
        "max_length": max_length,
    }
    if negative_tokens != "all":  # which negative tokens are summed (keys of the default stay as they were)
        parts["negative_tokens"] = negative_tokens
    if encoding:
        parts["encoding"] = encoding
    return json_hash(parts)


@dataclass(frozen=True)
class ReferenceLogps:
    chosen: float
    rejected: list[float]


def cache_path(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / f"ref_logps-{key[:16]}.jsonl"


def _read_rows(path: Path, key: str) -> dict[str, ReferenceLogps]:
    rows: dict[str, ReferenceLogps] = {}
    if not path.is_file():
        return rows
    for _, obj in read_jsonl(path):
        if obj.get("key") == key:
            rows[obj["study_id"]] = ReferenceLogps(float(obj["chosen"]), [float(x) for x in obj["rejected"]])
    return rows


def _read_partial(path: Path, key: str) -> dict[str, ReferenceLogps]:
    """Rows of an interrupted run; a torn last line (killed mid-write) is dropped, not an error."""
    rows: dict[str, ReferenceLogps] = {}
    if not path.is_file():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError):
            obj = json.loads(line)
            if obj["key"] == key:
                rows[obj["study_id"]] = ReferenceLogps(float(obj["chosen"]), [float(x) for x in obj["rejected"]])
    return rows


@torch.no_grad()
def _compute_batch(model: torch.nn.Module, collator: APOCollator, features: list[APOFeature]) -> list[ReferenceLogps]:
    batch = collator(features)
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    logps_S = model_answer_logps(model, batch)
    n_max = batch["rejected_mask"].shape[1]
    chosen_B, rejected_BN = scatter_candidates(logps_S, batch["candidate_row"], batch["candidate_slot"], len(features), n_max)
    return [ReferenceLogps(float(chosen_B[b]), [float(x) for x in rejected_BN[b, : len(f["rejected"])]])
            for b, f in enumerate(features)]


def _reference_context(model: torch.nn.Module):
    """pi_ref = the SPD model: with LoRA adapters attached, the base with adapters disabled (peft)."""
    disable = getattr(model, "disable_adapter", None)
    return disable() if callable(disable) and hasattr(model, "peft_config") else contextlib.nullcontext()


class CandidateSource(Protocol):
    """What the cache reads candidates from: `training.apo.APODataset` (images loaded per item)."""

    study_ids: list[str]

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> APOFeature: ...


def precompute_reference_logps(model: torch.nn.Module, collator: APOCollator, source: CandidateSource,
                               cache_dir: str | Path, key: str, batch_size: int = 4) -> tuple[dict[str, ReferenceLogps], int]:
    """Return ({study_id: ReferenceLogps}, number of studies whose reference forward ran now).

    Studies already in the finished cache file (or in an interrupted run's partial file) are not
    recomputed. Must run before any parameter update: the model must still be the reference.
    """
    final = cache_path(cache_dir, key)
    partial = final.with_name(final.name + ".partial")
    done = _read_rows(final, key) or _read_partial(partial, key)
    todo = [i for i, sid in enumerate(source.study_ids) if sid not in done]
    if todo:
        final.parent.mkdir(parents=True, exist_ok=True)
        was_training = model.training
        model.eval()
        with _reference_context(model), open_appending(partial) as out, Progress(transient=True) as bar:
            task = bar.add_task("reference log-probs", total=len(todo))
            for start in range(0, len(todo), batch_size):
                chunk = [source[i] for i in todo[start:start + batch_size]]
                for f, ref in zip(chunk, _compute_batch(model, collator, chunk), strict=True):
                    done[f["study_id"]] = ref
                    out.write(json.dumps({"study_id": f["study_id"], "chosen": ref.chosen, "rejected": ref.rejected,
                                          "key": key}) + "\n")
                out.flush()
                os.fsync(out.fileno())
                bar.advance(task, len(chunk))
        model.train(was_training)
    if todo or not final.is_file():
        wanted = set(source.study_ids)
        write_jsonl(final, ({"study_id": s, "chosen": r.chosen, "rejected": r.rejected, "key": key}
                            for s, r in sorted(done.items()) if s in wanted))
    with contextlib.suppress(FileNotFoundError):   # also one a run killed after writing the finished file left
        partial.unlink()
    return done, len(todo)


def attach_reference_logps(features: Sequence[APOFeature], refs: dict[str, ReferenceLogps]) -> None:
    """Add ref_chosen_logps / ref_rejected_logps to each feature (in place)."""
    for f in features:
        ref = refs[f["study_id"]]
        if len(ref.rejected) != len(f["rejected"]):
            raise ValueError(f"study {f['study_id']!r}: cached reference has {len(ref.rejected)} negatives, "
                             f"the consensus row {len(f['rejected'])}")
        f["ref_chosen_logps"] = ref.chosen
        f["ref_rejected_logps"] = ref.rejected
