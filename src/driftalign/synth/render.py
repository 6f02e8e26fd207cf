"""Render a synthetic frontal chest radiograph from a `StudyTruth` (numpy/scipy only, fast).

The image is a density map D in [0, 1] (white = dense) composed in continuous anatomical
coordinates (see `geometry.py`), so the same truth renders at 64 or 512 pixels:

    D = tissue  -  AIR_CONTRAST * air  +  vessel markings * air  +  bones  +  extra,  then metal on top

* `air` is the aerated lung (1 inside normal lung, 0 outside). Findings that fill air spaces
  (effusion, consolidation, edema, atelectasis, lesions) lower it; a pneumothorax raises it and
  wipes out the lung markings.
* Anatomy (heart width -> cardiothoracic ratio, mediastinal width, hemidiaphragm height) is set
  before drawing, from the patient's random variation and from Cardiomegaly, Enlarged
  Cardiomediastinum and atelectatic volume loss.
* Acquisition (`truth.acquisition`): rotation and body scale act on the coordinates; contrast,
  brightness, blur and noise act on D.

Radiological convention: the patient's right is on the image left.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from driftalign.synth.anatomy import Canvas, dome_height, new_canvas
from driftalign.synth.geometry import Array, inside, polyline, side_sign, smooth_noise
from driftalign.synth.signs import draw_findings
from driftalign.synth.truth import Acquisition, StudyTruth

MIN_SIZE, MAX_SIZE = 16, 1024
AIR_CONTRAST = 0.36          # how much darker aerated lung is than soft tissue


def _heart_and_mediastinum(c: Canvas) -> Array:
    """Soft mask of the heart (CTR-driven ellipse) and the upper mediastinum with the aortic knob."""
    a, g = c.anatomy, c.grid
    r = np.hypot((g.X - a.heart_cx) / a.heart_hw, (g.Y - a.heart_cy) / a.heart_hh)
    heart = inside((r - 1.0) * min(a.heart_hw, a.heart_hh), g.px)
    knob = 0.05 * np.exp(-0.5 * ((g.Y + 0.42) / 0.08) ** 2) * (g.X > 0)
    half_width = a.mediastinum_hw + knob
    mediastinum = inside(np.maximum(np.abs(g.X - 0.01) - half_width, g.Y - a.heart_cy), g.px)
    return np.maximum(heart, mediastinum)


def _vessel_markings(c: Canvas, texture: Array) -> Array:
    """Lung markings: vessels radiating from each hilum, tapering towards the periphery."""
    g = c.grid
    out = np.zeros_like(g.X)
    for side in ("right", "left"):
        hx, hy = c.local(side, 0.17, -0.02)
        r = np.hypot(g.X - hx, g.Y - hy)
        theta = np.arctan2(g.Y - hy, (g.X - hx) * side_sign(side))
        branches = (0.5 + 0.5 * np.cos(26.0 * theta + 1.6 * texture + 9.0 * r)) ** 4
        out += c.lung[side] * branches * np.exp(-r / 0.6)
    return out


def _bones(c: Canvas) -> Array:
    """Posterior ribs (descending laterally), clavicles and a spine hint."""
    g, a = c.grid, c.anatomy
    phase = (g.Y - 0.3 * g.X ** 2) / a.rib_spacing + a.rib_phase + c.rib_shift
    ribs = (0.5 + 0.5 * np.cos(2 * np.pi * phase)) ** 2
    thorax = inside(np.maximum(np.abs(g.X) - 0.8, np.abs(g.Y + 0.2) - 0.68), g.px)
    bones = 0.05 * ribs * thorax * (0.35 + 0.65 * c.lungs())
    for side in ("right", "left"):
        s = side_sign(side)
        bones += 0.16 * polyline(g, [(s * 0.07, -0.80), (s * 0.35, -0.87), (s * 0.68, -0.80)], 0.045)
    spine = inside(np.abs(g.X) - 0.05, g.px) * (0.75 + 0.25 * np.cos(2 * np.pi * g.Y / 0.13))
    return bones + 0.07 * spine


def _compose(c: Canvas, texture_rng: np.random.Generator) -> Array:
    g = c.grid
    body = inside((np.hypot(g.X / 0.97, (g.Y - 0.15) / 1.2) - 1.0) * 0.97, g.px)
    tissue = 0.03 + 0.45 * body
    below_domes = sum(inside(dome_height(side_sign(s) * g.X, s, c.anatomy) - g.Y, g.px) for s in ("right", "left"))
    tissue = tissue + 0.04 * np.clip(below_domes, 0.0, 1.0) * body
    central = _heart_and_mediastinum(c)
    air = c.air * (1.0 - central)
    texture = smooth_noise(g, texture_rng, cells=14)
    markings = _vessel_markings(c, texture) * c.markings * np.clip(air, 0.0, 1.0)
    density = tissue - AIR_CONTRAST * air * (1.0 + 0.04 * texture) + 0.08 * markings
    density = density + 0.13 * central + _bones(c) + c.extra
    metal = np.clip(c.metal, 0.0, 1.0)
    return density + (0.98 - density) * metal   # metal is (nearly) opaque


def _apply_acquisition(density: Array, acq: Acquisition, size: int, rng: np.random.Generator) -> Array:
    out = 0.5 + (density - 0.5) * acq.contrast + acq.brightness
    sigma = acq.blur * size / 64.0
    if sigma > 0.05:
        out = ndimage.gaussian_filter(out, sigma)
    out = out + rng.standard_normal(out.shape).astype(np.float32) * acq.noise
    return np.clip(out, 0.0, 1.0)


def render_density(truth: StudyTruth, size: int = 64, seed: int = 0) -> Array:
    """The image as float32 [size, size] in [0, 1] (white = dense), before 8-bit quantisation."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"image size must be in [{MIN_SIZE}, {MAX_SIZE}] pixels, got {size}")
    # Independent streams, so a finding never changes the patient, the texture or the noise.
    anatomy_rng, finding_rng, texture_rng, noise_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, 0xC0FFEE]).spawn(4))
    canvas = new_canvas(truth, size, anatomy_rng, finding_rng)
    draw_findings(canvas, truth)
    density = _compose(canvas, texture_rng)
    return _apply_acquisition(density, truth.acquisition, size, noise_rng).astype(np.float32)


def render(truth: StudyTruth, size: int = 64, seed: int = 0) -> Image.Image:
    """A grayscale ('L') frontal chest-radiograph-like image of the truth, size x size pixels."""
    density = render_density(truth, size, seed)
    return Image.fromarray(np.round(density * 255.0).astype(np.uint8), mode="L")
