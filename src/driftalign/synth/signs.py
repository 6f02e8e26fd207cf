"""The radiographic sign of each finding, drawn into a `Canvas` (see anatomy.py / render.py).

One function per CheXpert observation, registered in `SIGN_DRAWERS`. Cardiomegaly and Enlarged
Cardiomediastinum change anatomy (heart / mediastinal width, in `anatomy_for`), so they have no
drawer here; Atelectasis has both (volume loss there, the plate-like band here).

A hedged finding (`uncertain=True`) is drawn with `HEDGED_CONSPICUITY` of its usual strength:
the reference report hedges because the sign is subtle.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from driftalign.synth.anatomy import LUNG_LATERAL, Canvas, dome_height, lung_sdf
from driftalign.synth.geometry import Grid, disc, gaussian, inside, polyline, rectangle, side_sign, sides, smooth_noise
from driftalign.synth.truth import Finding, StudyTruth

HEDGED_CONSPICUITY = 0.6
# Centre of each region in a lung's local frame: (distance from the midline, Y).
REGION_CENTRES: dict[str, tuple[float, float]] = {
    "upper lobe": (0.42, -0.45),
    "middle lobe": (0.32, 0.12),
    "lingula": (0.34, 0.1),
    "lower lobe": (0.5, 0.25),
    "base": (0.5, 0.3),
    "perihilar": (0.25, 0.0),
    "apical": (0.42, -0.62),
}
EFFUSION_HEIGHT = {"small": 0.22, "moderate": 0.34, "large": 0.5}     # fluid height at the CP angle
PNEUMOTHORAX_SCALE = {"small": 0.72, "moderate": 0.6, "large": 0.46}  # collapsed-lung size factor
PNEUMOTHORAX_AIR = 0.5       # extra lucency of the pleural air (no lung tissue) over aerated lung
CONSOLIDATION_EXTRA = 0.1    # a consolidation is denser than any other airspace sign (brighter than fluid)
PNEUMONIA_FOCI = 24          # patchy opacities of a pneumonia, scattered through the affected lung
EDEMA_STRENGTH = {"mild": 0.45, "moderate": 0.6, "severe": 0.75}

Drawer = Callable[[Canvas, Finding, float], None]


def _centre(c: Canvas, side: str, location: str | None, default: str) -> tuple[float, float]:
    u, y = REGION_CENTRES.get(location or default, REGION_CENTRES[default])
    return c.local(side, u, y)


def pleural_effusion(c: Canvas, f: Finding, strength: float) -> None:
    """Fluid fills the base up to a meniscus that climbs laterally, blunting the costophrenic angle."""
    g = c.grid
    for side in sides(f.side):
        u = side_sign(side) * g.X
        angle_y = dome_height(LUNG_LATERAL, side, c.anatomy)
        h = EFFUSION_HEIGHT.get(f.severity or "moderate", EFFUSION_HEIGHT["moderate"])
        level = angle_y - h - (0.06 + 0.25 * h) * ((u - 0.1) / 0.64) ** 2
        fluid = inside(level - g.Y, g.px) * c.lung[side]
        c.air *= 1.0 - 0.97 * strength * fluid
        c.extra += 0.05 * strength * fluid


def pneumothorax(c: Canvas, f: Finding, strength: float) -> None:
    """Apical/lateral air without lung markings (darker than aerated lung), bounded by a white visceral
    pleural line; the lung has collapsed towards the hilum and base."""
    g = c.grid
    k = PNEUMOTHORAX_SCALE.get(f.severity or "moderate", PNEUMOTHORAX_SCALE["moderate"])
    k = 1.0 - (1.0 - k) * strength
    for side in sides(f.side):
        s = side_sign(side)
        anchor_u, anchor_y = 0.12, 0.45          # the lung collapses towards the hilum and base
        shrunk = Grid(X=s * (anchor_u + (s * g.X - anchor_u) / k), Y=anchor_y + (g.Y - anchor_y) / k,
                      px=g.px / k, size=g.size)
        collapsed_sdf = lung_sdf(shrunk, side, c.anatomy) * k
        gap = c.lung[side] * (1.0 - inside(collapsed_sdf, g.px))
        c.air += PNEUMOTHORAX_AIR * gap
        c.markings *= 1.0 - gap
        line = inside(np.abs(collapsed_sdf) - 0.012, g.px) * inside(c.lung_sdf[side] + 2 * g.px, g.px)
        c.extra += 0.3 * strength * line


def consolidation(c: Canvas, f: Finding, strength: float) -> None:
    """Dense lobar airspace opacity: a large homogeneous patch of near soft-tissue density filling the
    lobe, sharply marginated, with air bronchograms (dark branching lines, visible at high resolution)."""
    g = c.grid
    irregular = smooth_noise(g, c.rng, cells=10)
    for side in sides(f.side):
        x0, y0 = _centre(c, side, f.location, "lower lobe")
        y0 = min(y0, 0.05)                       # a lower-lobe patch sits in the lower zone, above the base
        r = np.hypot((g.X - x0) / 0.3, (g.Y - y0) / 0.25)
        patch = inside((r - 1.0 - 0.15 * irregular) * 0.25, g.px) * c.lung[side]
        c.air *= 1.0 - 0.97 * strength * patch
        c.extra += CONSOLIDATION_EXTRA * strength * patch
        hx, hy = c.local(side, 0.17, -0.02)
        tips = [(x0 + side_sign(side) * 0.14, y0 + dy) for dy in (-0.1, 0.0, 0.11)]
        bronchi = sum(polyline(g, [(hx, hy), tip], 0.01) for tip in tips)
        c.air += 0.45 * strength * np.clip(bronchi, 0.0, 1.0) * patch


def pneumonia(c: Canvas, f: Finding, strength: float) -> None:
    """Patchy multifocal airspace opacities scattered through the whole affected lung (bronchopneumonia
    pattern): a spotty hemithorax, unlike a single dense consolidation, a focal haze (lung opacity)
    or a bilateral perihilar haze (edema)."""
    g = c.grid
    for side in sides(f.side):
        patches = np.zeros_like(g.X)
        for _ in range(PNEUMONIA_FOCI):
            u, y = c.rng.uniform(0.18, 0.72), c.rng.uniform(-0.62, 0.42)
            rad = c.rng.uniform(0.04, 0.065)
            patches = np.maximum(patches, gaussian(g, side_sign(side) * u, y, rad, rad))
        spots = np.clip(patches, 0.0, 1.0) * c.lung[side]
        c.air *= 1.0 - 0.8 * strength * spots
        c.extra += 0.05 * strength * spots


def lung_opacity(c: Canvas, f: Finding, strength: float) -> None:
    """A hazy, ill-defined opacity (less dense than a consolidation)."""
    g = c.grid
    mottle = 0.8 + 0.2 * smooth_noise(g, c.rng, cells=16)
    for side in sides(f.side):
        x0, y0 = _centre(c, side, f.location, "lower lobe")
        haze = gaussian(g, x0, y0, 0.18, 0.15) * mottle
        c.air *= 1.0 - 0.55 * strength * np.clip(haze, 0.0, 1.0) * c.lung[side]


def edema(c: Canvas, f: Finding, strength: float) -> None:
    """Bilateral perihilar ('bat-wing') haze with indistinct vessels."""
    g = c.grid
    level = EDEMA_STRENGTH.get(f.severity or "moderate", EDEMA_STRENGTH["moderate"]) * strength
    for side in ("right", "left"):
        x0, y0 = c.local(side, 0.24, 0.02)
        haze = gaussian(g, x0, y0, 0.24, 0.3) * c.lung[side]
        c.air *= 1.0 - level * haze
        c.markings *= 1.0 - 0.5 * haze


def atelectasis(c: Canvas, f: Finding, strength: float) -> None:
    """Plate-like linear density above the (raised) hemidiaphragm; basal opacity when adjacent to fluid."""
    g = c.grid
    for side in sides(f.side):
        dome = c.anatomy.dome_apex[side]
        band = polyline(g, [c.local(side, 0.26, dome - 0.16), c.local(side, 0.64, dome - 0.1)], 0.05)
        c.air *= 1.0 - 0.9 * strength * band * c.lung[side]
        if f.detail == "adjacent":
            x0, y0 = c.local(side, 0.4, dome + 0.02)
            c.air *= 1.0 - 0.3 * strength * gaussian(g, x0, y0, 0.16, 0.08) * c.lung[side]


def lung_lesion(c: Canvas, f: Finding, strength: float) -> None:
    """A well-defined round nodule (r ~ 0.06) or mass (r ~ 0.13)."""
    radius = 0.13 if f.detail == "mass" else 0.065
    for side in sides(f.side):
        x0, y0 = _centre(c, side, f.location, "upper lobe")
        blob = disc(c.grid, x0, y0, radius)
        c.air *= 1.0 - 0.95 * strength * blob
        c.extra += 0.05 * strength * blob


def fracture(c: Canvas, f: Finding, strength: float) -> None:
    """A lateral rib with a step-off (the rib pattern jumps half a rib) and a bright callus."""
    g, a = c.grid, c.anatomy
    for side in sides(f.side):
        u = side_sign(side) * g.X
        u0, y0 = 0.6, -0.12
        window = inside(np.maximum(np.abs(u - (u0 + 0.09)) - 0.09, np.abs(g.Y - y0) - 1.2 * a.rib_spacing), g.px)
        c.rib_shift += 0.5 * strength * window
        x0, _ = c.local(side, u0, y0)
        c.extra += 0.22 * strength * disc(g, x0, y0, 0.055)


def pleural_other(c: Canvas, f: Finding, strength: float) -> None:
    """Pleural thickening: a dense rim along the apical and upper lateral pleura."""
    g = c.grid
    for side in sides(f.side):
        near_pleura = 1.0 - inside(c.lung_sdf[side] + 0.055, g.px)
        rim = c.lung[side] * near_pleura * inside(g.Y - 0.1, g.px) * inside(0.2 - side_sign(side) * g.X, g.px)
        c.air *= 1.0 - 0.85 * strength * rim
        c.extra += 0.04 * strength * rim


def _metal(c: Canvas, mask: np.ndarray, level: float = 0.9) -> None:
    c.metal = np.maximum(c.metal, level * mask)


def support_device(c: Canvas, f: Finding, strength: float) -> None:
    """Lines and tubes (bright, thin) and the pacemaker generator box."""
    g = c.grid
    s = side_sign(f.side or "right")
    device = f.detail or "central venous catheter"
    if device == "endotracheal tube":
        _metal(c, polyline(g, [(0.0, -1.1), (0.0, -0.42)], 0.035), 0.85)
    elif device == "nasogastric tube":
        _metal(c, polyline(g, [(0.03, -1.1), (0.04, -0.3), (0.07, 0.35), (0.22, 0.56), (0.36, 0.6)], 0.025), 0.85)
    elif device == "pacemaker":
        _metal(c, rectangle(g, 0.42, -0.82, 0.62, -0.67), 1.0)
        leads = [(0.45, -0.74), (0.2, -0.62), (0.0, -0.45), (-0.04, -0.15), (0.02, 0.1), (0.14, 0.28)]
        _metal(c, polyline(g, leads, 0.018), 0.95)
    elif device == "chest tube":
        _metal(c, polyline(g, [(s * 0.95, 0.42), (s * 0.7, 0.22), (s * 0.55, -0.1), (s * 0.42, -0.55)], 0.035), 0.9)
    else:  # central venous catheter via the internal jugular vein to the cavoatrial junction
        path = [(s * 0.26, -1.1), (s * 0.18, -0.8), (s * 0.06, -0.58), (-0.05, -0.45), (-0.05, -0.2)]
        _metal(c, polyline(g, path, 0.02), 0.9)


SIGN_DRAWERS: dict[str, Drawer] = {
    "Pleural Effusion": pleural_effusion,
    "Pneumothorax": pneumothorax,
    "Consolidation": consolidation,
    "Pneumonia": pneumonia,
    "Lung Opacity": lung_opacity,
    "Edema": edema,
    "Atelectasis": atelectasis,
    "Lung Lesion": lung_lesion,
    "Fracture": fracture,
    "Pleural Other": pleural_other,
    "Support Devices": support_device,
}
# Drawn through anatomy (anatomy_for), not through a drawer.
ANATOMICAL_FINDINGS: frozenset[str] = frozenset({"Cardiomegaly", "Enlarged Cardiomediastinum", "Atelectasis"})


def draw_findings(c: Canvas, truth: StudyTruth) -> None:
    """Draw every finding's sign; hedged findings at reduced conspicuity."""
    for f in truth.findings:
        drawer = SIGN_DRAWERS.get(f.name)
        if drawer is not None:
            drawer(c, f, HEDGED_CONSPICUITY if f.uncertain else 1.0)
