"""The renderer: sizes, determinism, speed, and that each finding changes pixels where it should."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import ndimage

from driftalign.constants import OBSERVATIONS
from driftalign.synth.anatomy import Canvas, new_canvas
from driftalign.synth.render import render, render_density
from driftalign.synth.sampling import sample_truths
from driftalign.synth.signs import ANATOMICAL_FINDINGS, SIGN_DRAWERS, draw_findings
from driftalign.synth.truth import Acquisition, Finding, StudyTruth

CLEAN = Acquisition(noise=0.0, blur=0.0)   # no noise, no rotation: regions are where the geometry puts them
SIZE = 64


def _density(*findings: Finding, size: int = SIZE, acquisition: Acquisition = CLEAN) -> np.ndarray:
    return render_density(StudyTruth("s", findings=findings, acquisition=acquisition), size, seed=3)


def _region(img: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    """Pixels whose centres lie in [x0, x1] x [y0, y1] (image coordinates in [-1, 1])."""
    n = img.shape[0]
    c = (np.arange(n) + 0.5) * 2.0 / n - 1.0
    cols = (c >= x0) & (c <= x1)
    rows = (c >= y0) & (c <= y1)
    return img[np.ix_(rows, cols)]


# Patient's right is the image's left: right-lung regions have negative x.
RIGHT_BASE = (-0.74, -0.45, 0.2, 0.45)
LEFT_BASE = (0.45, 0.74, 0.25, 0.5)
RIGHT_UPPER_LATERAL = (-0.7, -0.5, -0.6, -0.2)
LEFT_UPPER_LATERAL = (0.5, 0.7, -0.6, -0.2)


@pytest.mark.parametrize("size", [64, 512])
def test_image_size_and_mode(size: int) -> None:
    truth, _ = sample_truths(5, seed=0)[0]
    img = render(truth, size=size, seed=1)
    assert img.size == (size, size) and img.mode == "L"
    arr = np.asarray(img)
    assert arr.min() < 40 and arr.max() > 120, "needs dark lungs and bright mediastinum"


def test_bad_size_fails_clearly() -> None:
    with pytest.raises(ValueError, match="image size"):
        render(StudyTruth("s"), size=4)


def test_deterministic_given_seed() -> None:
    truth, _ = sample_truths(5, seed=0)[1]
    a, b, c = (np.asarray(render(truth, 64, seed=s)) for s in (7, 7, 8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_every_observation_has_a_visible_sign() -> None:
    drawable = set(SIGN_DRAWERS) | ANATOMICAL_FINDINGS
    assert drawable == set(OBSERVATIONS) - {"No Finding"}
    normal = _density()
    for name in sorted(drawable):
        changed = np.abs(_density(Finding(name, side="left", location="upper lobe", severity="moderate")) - normal)
        assert changed.max() > 0.1, name


def test_effusion_whitens_its_base_only() -> None:
    normal = _density()
    right = _density(Finding("Pleural Effusion", side="right", severity="moderate"))
    assert _region(right, *RIGHT_BASE).mean() - _region(normal, *RIGHT_BASE).mean() > 0.1
    assert abs(_region(right, *LEFT_BASE).mean() - _region(normal, *LEFT_BASE).mean()) < 0.01
    small = _density(Finding("Pleural Effusion", side="left", severity="small"))
    large = _density(Finding("Pleural Effusion", side="left", severity="large"))
    assert _region(normal, *LEFT_BASE).mean() < _region(small, *LEFT_BASE).mean() < _region(large, *LEFT_BASE).mean()


def _texture(img: np.ndarray) -> float:
    return float(np.std(img - ndimage.gaussian_filter(img, 1.5)))


def _canvas_with(*findings: Finding, size: int = 128) -> Canvas:
    truth = StudyTruth("s", findings=findings, acquisition=CLEAN)
    canvas = new_canvas(truth, size, np.random.default_rng(0), np.random.default_rng(1))
    draw_findings(canvas, truth)
    return canvas


def test_pneumothorax_darkens_its_side_and_removes_lung_markings() -> None:
    normal = _density(size=128)
    ptx = _density(Finding("Pneumothorax", side="left", severity="large"), size=128)
    outer = (0.5, 0.64, -0.5, -0.15)   # peripheral left lung, inside the pneumothorax gap
    assert _region(ptx, *outer).mean() < _region(normal, *outer).mean() - 0.04
    assert np.allclose(_region(ptx, *RIGHT_UPPER_LATERAL), _region(normal, *RIGHT_UPPER_LATERAL), atol=1e-3)
    canvas = _canvas_with(Finding("Pneumothorax", side="left", severity="large"))
    assert _region(canvas.markings, *outer).max() < 0.05          # no vessel markings in the gap
    assert _region(canvas.markings, *RIGHT_UPPER_LATERAL).min() == 1.0
    # Texture (vessel markings) over the whole gap: lower than the same place without pneumothorax.
    gap = ndimage.binary_erosion((1.0 - canvas.markings) > 0.9, iterations=4)   # away from its edges
    assert gap.sum() > 200
    high_pass = lambda img: img - ndimage.gaussian_filter(img, 1.0)  # noqa: E731
    assert np.std(high_pass(ptx)[gap]) < np.std(high_pass(normal)[gap])


def test_pneumothorax_draws_a_visceral_pleural_line() -> None:
    canvas = _canvas_with(Finding("Pneumothorax", side="right", severity="moderate"))
    assert canvas.extra.max() > 0.15        # the thin white line
    line_pixels = (canvas.extra > 0.1).sum()
    assert 20 < line_pixels < 400, "a line, not an area"


def test_consolidation_in_its_lobe() -> None:
    normal = _density()
    rll = _density(Finding("Consolidation", side="right", location="lower lobe"))
    lul = _density(Finding("Consolidation", side="left", location="upper lobe"))
    right_lower = (-0.6, -0.4, 0.15, 0.3)
    left_upper = (0.35, 0.5, -0.5, -0.4)
    assert _region(rll, *right_lower).mean() - _region(normal, *right_lower).mean() > 0.15
    assert _region(lul, *left_upper).mean() - _region(normal, *left_upper).mean() > 0.15
    assert np.allclose(_region(rll, *left_upper), _region(normal, *left_upper), atol=1e-3)


def test_cardiomegaly_widens_the_heart() -> None:
    normal = _density()
    big = _density(Finding("Cardiomegaly", severity="moderate"))
    left_heart_border = (0.42, 0.55, 0.05, 0.3)
    assert _region(big, *left_heart_border).mean() - _region(normal, *left_heart_border).mean() > 0.15


def test_edema_is_bilateral_perihilar() -> None:
    normal = _density()
    edema = _density(Finding("Edema", side="bilateral", location="perihilar", severity="moderate"))
    for x0, x1 in ((-0.4, -0.2), (0.3, 0.45)):
        region = (x0, x1, -0.2, 0.05)
        assert _region(edema, *region).mean() - _region(normal, *region).mean() > 0.08


def test_devices_are_bright_lines() -> None:
    normal = _density(size=128)
    ett = _density(Finding("Support Devices", detail="endotracheal tube"), size=128)
    trachea = (-0.01, 0.01, -0.9, -0.5)
    assert _region(ett, *trachea).min() > 0.85 > _region(normal, *trachea).max()


def test_acquisition_noise_brightness_and_rotation() -> None:
    clean = _density()
    noisy = _density(acquisition=Acquisition(noise=0.05))
    assert abs(float(np.std(noisy - clean)) - 0.05) < 0.01   # a little less: clipping at 0
    brighter = _density(acquisition=Acquisition(noise=0.0, brightness=0.1))
    lungs = RIGHT_UPPER_LATERAL
    assert _region(brighter, *lungs).mean() - _region(clean, *lungs).mean() == pytest.approx(0.1, abs=0.005)
    rotated = _density(acquisition=Acquisition(noise=0.0, rotation_deg=8.0))
    assert np.abs(rotated - clean).mean() > 0.02


def test_render_is_fast() -> None:
    truths = [t for t, _ in sample_truths(200, seed=1)]
    start = time.perf_counter()
    for i, t in enumerate(truths):
        render(t, 64, seed=i)
    per_image = (time.perf_counter() - start) / len(truths)
    assert per_image < 0.015, f"{per_image * 1000:.1f} ms per 64 px image"
