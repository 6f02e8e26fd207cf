"""Patient anatomy and the drawing canvas of the synthetic radiograph.

`Anatomy` holds the shape parameters (cardiothoracic ratio, mediastinal width, hemidiaphragm
heights, rib spacing); `anatomy_for` draws a normal patient and then applies the findings that
change anatomy rather than add a density (Cardiomegaly, Enlarged Cardiomediastinum, atelectatic
volume loss). `Canvas` holds the layers that `signs.py` draws findings into and `render.py`
composes into the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from driftalign.synth.geometry import Array, Grid, inside, make_grid, side_sign, sides
from driftalign.synth.truth import StudyTruth

LUNG_LATERAL = 0.74          # lateral lung edge (half the thoracic width) at the bases
THORACIC_WIDTH = 2 * LUNG_LATERAL
# Cardiothoracic ratio by Cardiomegaly severity (normal adults: 0.40-0.48).
CTR_BY_SEVERITY: dict[str | None, float] = {None: 0.60, "mild": 0.58, "moderate": 0.63, "severe": 0.69}


@dataclass(frozen=True)
class Anatomy:
    """Patient anatomy in anatomical units (see geometry.py)."""

    ctr: float = 0.44                      # cardiothoracic ratio
    heart_cy: float = 0.18
    heart_hh: float = 0.26                 # heart half-height
    mediastinum_hw: float = 0.1            # upper mediastinum half-width
    dome_apex: dict[str, float] = field(default_factory=lambda: {"right": 0.28, "left": 0.34})
    rib_spacing: float = 0.15
    rib_phase: float = 0.0

    @property
    def heart_hw(self) -> float:
        return self.ctr * THORACIC_WIDTH / 2.0

    @property
    def heart_cx(self) -> float:
        """The heart grows mostly to the patient's left (image right)."""
        return 0.06 + 0.45 * (self.heart_hw - 0.3)


def anatomy_for(truth: StudyTruth, rng: np.random.Generator) -> Anatomy:
    """Random normal anatomy, then the findings that change anatomy rather than add a density."""
    anatomy = Anatomy(
        ctr=float(rng.uniform(0.40, 0.47)),
        heart_cy=float(rng.uniform(0.15, 0.21)),
        mediastinum_hw=float(rng.uniform(0.085, 0.11)),
        dome_apex={"right": float(rng.uniform(0.25, 0.31)), "left": float(rng.uniform(0.31, 0.37))},
        rib_spacing=float(rng.uniform(0.14, 0.16)),
        rib_phase=float(rng.uniform(0.0, 1.0)),
    )
    cardiomegaly = truth.finding("Cardiomegaly")
    if cardiomegaly is not None:
        ctr = CTR_BY_SEVERITY.get(cardiomegaly.severity, CTR_BY_SEVERITY[None])
        anatomy = replace(anatomy, ctr=ctr, heart_hh=0.26 + 0.3 * (ctr - 0.44))
    if truth.finding("Enlarged Cardiomediastinum") is not None:
        anatomy = replace(anatomy, mediastinum_hw=0.21)
    atelectasis = truth.finding("Atelectasis")
    if atelectasis is not None:  # volume loss: the hemidiaphragm rises
        domes = dict(anatomy.dome_apex)
        for side in sides(atelectasis.side):
            domes[side] -= 0.07
        anatomy = replace(anatomy, dome_apex=domes)
    return anatomy


def lung_sdf(grid: Grid, side: str, anatomy: Anatomy) -> Array:
    """Approximate signed distance to one lung (negative inside), in that lung's local frame.

    u = distance from the midline towards that side. The lung is bounded medially, laterally,
    by the apex and by the hemidiaphragm dome; the lateral edge meets the dome at a sharp
    costophrenic angle (the place a small effusion blunts).
    """
    u = side_sign(side) * grid.X
    lateral = LUNG_LATERAL - 0.38 * np.maximum(0.0, -grid.Y - 0.15) ** 2
    apex = -0.80 + 1.3 * (u - 0.40) ** 2
    dome = dome_height(u, side, anatomy)
    return np.maximum.reduce([0.10 - u, u - lateral, apex - grid.Y, grid.Y - dome])


def dome_height(u: Array | float, side: str, anatomy: Anatomy) -> Array | float:
    """Y of the hemidiaphragm at lateral position u (the dome peaks at u = 0.33)."""
    return anatomy.dome_apex[side] + 1.2 * (u - 0.33) ** 2


@dataclass
class Canvas:
    """The layers that findings draw into (all [H, W] float32)."""

    grid: Grid
    anatomy: Anatomy
    rng: np.random.Generator   # for findings only (irregular shapes, patch positions)
    lung_sdf: dict[str, Array]
    lung: dict[str, Array]
    air: Array
    markings: Array          # multiplier of the vessel markings (0 = none, as in a pneumothorax)
    extra: Array             # additive density
    metal: Array             # devices: opaque overlay
    rib_shift: Array         # local phase shift of the rib pattern (a fracture's step-off)

    def local(self, side: str, u: float, y: float) -> tuple[float, float]:
        """Anatomical (X, Y) of a point given as (distance from midline towards `side`, Y)."""
        return side_sign(side) * u, y

    def lungs(self) -> Array:
        return np.clip(self.lung["right"] + self.lung["left"], 0.0, 1.0)


def new_canvas(truth: StudyTruth, size: int, anatomy_rng: np.random.Generator,
               finding_rng: np.random.Generator) -> Canvas:
    """A canvas with the patient's anatomy drawn (lungs aerated), ready for the findings."""
    grid = make_grid(size, truth.acquisition)
    anatomy = anatomy_for(truth, anatomy_rng)
    sdf = {s: lung_sdf(grid, s, anatomy) for s in ("right", "left")}
    lung = {s: inside(g, grid.px) for s, g in sdf.items()}
    air = np.clip(lung["right"] + lung["left"], 0.0, 1.0)
    zeros = np.zeros_like(air)
    return Canvas(grid, anatomy, finding_rng, sdf, lung, air, np.ones_like(air), zeros.copy(), zeros.copy(), zeros.copy())
