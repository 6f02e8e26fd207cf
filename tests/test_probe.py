"""Pixel probe: it learns a visible sign, scores like eval, and runs as a CLI stage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftalign.data.dataset import load_dataset
from driftalign.probe.pixel import FINDINGS, ProbeConfig, load_pixels, probe_scores, run_probe, train_probe


def _squares(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Finding 0 = a bright square somewhere in the image; the other four labels are coin flips."""
    x = rng.normal(0.3, 0.05, size=(n, 24, 24)).astype(np.float32)
    y = rng.integers(0, 2, size=(n, len(FINDINGS))).astype(np.float32)
    for i in np.flatnonzero(y[:, 0] == 1):
        r, c = rng.integers(2, 16, size=2)
        x[i, r:r + 6, c:c + 6] = 0.9
    return x, y


def test_probe_learns_a_visible_sign_and_not_noise():
    rng = np.random.default_rng(0)
    x, y = _squares(320, rng)
    model = train_probe(x, y, ProbeConfig(data="unused", epochs=6, batch_size=32, lr=3e-3, seed=0))
    xt, yt = _squares(200, rng)
    p = probe_scores(model, xt)
    hit = (p[:, 0] > 0.5) == (yt[:, 0] == 1)
    assert hit.mean() > 0.95                                  # the square is found
    noise = (p[:, 1] > 0.5) == (yt[:, 1] == 1)
    assert 0.3 < noise.mean() < 0.7                           # a coin flip stays a coin flip


def test_run_probe_on_the_synthetic_world(synth_world, tmp_path):
    out = tmp_path / "probe.json"
    result = run_probe(ProbeConfig(data=synth_world, image_size=32, epochs=1, out=out))
    x, y, ids = load_pixels(load_dataset(synth_world, verify_images=False), "test", 32)
    assert x.shape == (len(ids), 32, 32) and 0.0 <= x.min() and x.max() <= 1.0
    assert set(np.unique(y)) <= {-1.0, 0.0, 1.0}
    assert result.n_eval == len(ids) and result.n_train > result.n_eval
    assert set(result.accuracy) == {*FINDINGS, "average"}
    assert all(v is None or 0.0 <= v <= 1.0 for v in result.accuracy.values())
    saved = json.loads(out.read_text())
    assert saved["synthetic"] is True and saved["accuracy"] == pytest.approx(result.accuracy)


def test_probe_cli_names_a_missing_dataset(tmp_path, capsys):
    from driftalign.cli.app import main

    with pytest.raises(SystemExit) as e:
        main(["probe", str(tmp_path / "nowhere")])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nowhere'}: dataset directory not found"
