"""Resolution-independent drawing primitives for the synthetic radiograph renderer.

Everything is drawn in continuous *anatomical* coordinates: X in [-1, 1] from the image's left to
its right, Y in [-1, 1] from top to bottom, so one description renders at 64 or 512 pixels.
`px` is the size of one pixel in those coordinates; edges are anti-aliased over about one pixel
and thin structures (lines, tubes) are never thinner than one pixel, so they survive at 64 px.

Radiological convention: the patient's RIGHT is on the image LEFT (`side_sign("right") == -1`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from driftalign.synth.truth import Acquisition

Array = np.ndarray


@dataclass(frozen=True)
class Grid:
    """Anatomical coordinates of every pixel centre (after patient rotation and scale)."""

    X: Array   # [H, W]
    Y: Array   # [H, W]
    px: float  # one pixel, in anatomical units
    size: int


def make_grid(size: int, acquisition: Acquisition) -> Grid:
    """Pixel centres -> anatomical coordinates: undo the patient's in-plane rotation and size."""
    c = (np.arange(size, dtype=np.float32) + 0.5) * (2.0 / size) - 1.0
    xi, yi = np.meshgrid(c, c)
    theta = np.deg2rad(acquisition.rotation_deg)
    cos, sin = np.cos(theta), np.sin(theta)
    scale = 1.0 / acquisition.body_scale
    X = (cos * xi + sin * yi) * scale
    Y = (-sin * xi + cos * yi) * scale
    return Grid(X=X.astype(np.float32), Y=Y.astype(np.float32), px=2.0 * scale / size, size=size)


def side_sign(side: str) -> float:
    """Image-x direction of a patient side: right -> -1 (image left), left -> +1."""
    return -1.0 if side == "right" else 1.0


def sides(side: str | None) -> tuple[str, ...]:
    """'bilateral' -> both sides; None -> right (unlateralised findings default to one side)."""
    if side == "bilateral":
        return ("right", "left")
    return (side or "right",)


def inside(g: Array, px: float) -> Array:
    """Soft indicator of g < 0 (g ~ signed distance), anti-aliased over one pixel. Values in [0, 1]."""
    return np.clip(0.5 - g / px, 0.0, 1.0)


def disc(grid: Grid, cx: float, cy: float, r: float) -> Array:
    """Filled circle of radius r (never smaller than one pixel)."""
    d = np.hypot(grid.X - cx, grid.Y - cy) - max(r, grid.px)
    return inside(d, grid.px)


def gaussian(grid: Grid, cx: float, cy: float, sx: float, sy: float) -> Array:
    """Unnormalised 2-D Gaussian bump, peak 1."""
    return np.exp(-0.5 * (((grid.X - cx) / sx) ** 2 + ((grid.Y - cy) / sy) ** 2))


def polyline(grid: Grid, points: list[tuple[float, float]], width: float) -> Array:
    """Soft mask of a polyline of the given full width (>= 1.5 pixels, so it stays continuous)."""
    half = max(width, 1.5 * grid.px) / 2.0
    dist = np.full(grid.X.shape, np.inf, dtype=np.float32)
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((grid.X - x0) * dx + (grid.Y - y0) * dy) / max(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
        dist = np.minimum(dist, np.hypot(grid.X - (x0 + t * dx), grid.Y - (y0 + t * dy)))
    return inside(dist - half, grid.px)


def rectangle(grid: Grid, x0: float, y0: float, x1: float, y1: float) -> Array:
    g = np.maximum.reduce([x0 - grid.X, grid.X - x1, y0 - grid.Y, grid.Y - y1])
    return inside(g, grid.px)


def smooth_noise(grid: Grid, rng: np.random.Generator, cells: int = 12) -> Array:
    """A smooth random field (std ~1) sampled at the grid's coordinates: the same field at any size."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    rows = (grid.Y + 1.0) * 0.5 * (cells - 1)
    cols = (grid.X + 1.0) * 0.5 * (cells - 1)
    return ndimage.map_coordinates(coarse, [rows, cols], order=3, mode="nearest").astype(np.float32)
