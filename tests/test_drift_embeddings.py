"""The offline MiniLM sentence embedder: loads from site-packages, unit vectors, meaningful cosines,
content-addressed disk cache that makes a rerun skip the model entirely."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from driftalign.drift.embeddings import SentenceEmbedder, default_model_dir, text_key
from driftalign.errors import ConfigError

TEXTS = ["Small left pleural effusion.", "There is a small effusion on the left.",
         "The cardiac silhouette is enlarged.", "Small left pleural effusion."]


def test_embeddings_are_unit_and_meaningful(tmp_path: Path) -> None:
    embedder = SentenceEmbedder(cache_dir=tmp_path / "cache", show_progress=False)
    vecs = embedder.embed(TEXTS)
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    sims = vecs @ vecs.T
    assert sims[0, 3] == pytest.approx(1.0, abs=1e-6)      # same text, same vector
    assert sims[0, 1] > sims[0, 2] + 0.2                    # paraphrase closer than another finding
    assert len(embedder.cache.vectors) == 3                 # duplicates embedded once


def test_cache_resumes_without_loading_the_model(tmp_path: Path) -> None:
    first = SentenceEmbedder(cache_dir=tmp_path / "cache", show_progress=False)
    expected = first.embed(TEXTS)
    second = SentenceEmbedder(cache_dir=tmp_path / "cache", show_progress=False)
    assert np.array_equal(second.embed(TEXTS), expected)
    assert second._model is None  # every vector came from the cache
    assert text_key("a") != text_key("b") and len(text_key("a")) == 32


def test_model_is_the_bundled_one_and_bad_dir_fails(tmp_path: Path) -> None:
    assert (default_model_dir() / "model.safetensors").is_file()
    with pytest.raises(ConfigError, match="not a sentence-embedding model directory"):
        SentenceEmbedder(tmp_path)
    assert SentenceEmbedder(show_progress=False).embed([]).shape == (0, 384)
