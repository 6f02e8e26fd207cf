"""Write docs/images/contact_sheet.png: every finding of the synthetic world, rendered at 64 and 256 px.

    .venv/bin/python scripts/contact_sheet.py [--out docs/images/contact_sheet.png]

Top block: 64 px renders (what the tiny student sees; shown enlarged with nearest-neighbour
pixels). Bottom block: the same truths at 256 px. Images are SYNTHETIC.
Radiological convention: the patient's right is on the image left.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from driftalign.synth.render import render  # noqa: E402
from driftalign.synth.sampling import sample_truths  # noqa: E402
from driftalign.synth.truth import Acquisition, Finding, StudyTruth  # noqa: E402

ACQ = Acquisition(noise=0.015)
F = Finding


def _external_example() -> StudyTruth:
    """The first external-split study with at least one finding (different scanner and population)."""
    for truth, split in sample_truths(200, seed=0):
        if split == "external" and truth.findings:
            return truth
    raise RuntimeError("no external study with findings")


def cases() -> list[tuple[str, StudyTruth]]:
    """(label, truth) for each panel."""
    panels: list[tuple[str, tuple[Finding, ...]]] = [
        ("No Finding", ()),
        ("Pleural Effusion\nright, moderate", (F("Pleural Effusion", side="right", severity="moderate"),)),
        ("Pleural Effusion\nleft, small", (F("Pleural Effusion", side="left", severity="small"),)),
        ("Pneumothorax\nleft, moderate", (F("Pneumothorax", side="left", severity="moderate"),)),
        ("Consolidation\nright lower lobe", (F("Consolidation", side="right", location="lower lobe"),)),
        ("Pneumonia (+ consolidation)\nleft upper lobe", (F("Consolidation", side="left", location="upper lobe"),
                                                         F("Pneumonia", side="left", location="upper lobe"))),
        ("Edema\nmoderate", (F("Edema", side="bilateral", location="perihilar", severity="moderate"),)),
        ("Cardiomegaly\nmoderate (CTR 0.63)", (F("Cardiomegaly", severity="moderate"),)),
        ("Enlarged\nCardiomediastinum", (F("Enlarged Cardiomediastinum", location="mediastinum"),)),
        ("Atelectasis\nright base, plate-like", (F("Atelectasis", side="right", location="base", detail="plate-like"),)),
        ("Lung Lesion\nright upper lobe mass", (F("Lung Lesion", side="right", location="upper lobe", detail="mass"),)),
        ("Lung Opacity\nright lower lobe", (F("Lung Opacity", side="right", location="lower lobe"),)),
        ("Support Devices\nETT, R IJ line, NG tube", (F("Support Devices", detail="endotracheal tube"),
                                                     F("Support Devices", side="right", detail="central venous catheter"),
                                                     F("Support Devices", detail="nasogastric tube"))),
        ("Support Devices\npacemaker", (F("Support Devices", side="left", detail="pacemaker"),)),
        ("Fracture\nright lateral rib", (F("Fracture", side="right", location="lateral rib", detail="rib"),)),
        ("Pleural Other\nleft apical thickening", (F("Pleural Other", side="left", location="apical"),)),
        ("Heart failure: cardiomegaly,\nedema, bilateral effusions", (
            F("Cardiomegaly", severity="moderate"), F("Edema", side="bilateral", severity="moderate"),
            F("Pleural Effusion", side="bilateral", severity="small"))),
    ]
    out = [(label, StudyTruth(f"sheet-{i}", findings=fs, acquisition=ACQ)) for i, (label, fs) in enumerate(panels)]
    external = _external_example()
    names = textwrap.shorten(", ".join(sorted({f.name for f in external.findings})), 60)
    out.append(("external split\n" + "\n".join(textwrap.wrap(names, 32)), external))
    return out


def draw(out: Path, cols: int = 6) -> Path:
    panels = cases()
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(2 * rows, cols, figsize=(cols * 2.7, 2 * rows * 3.4), dpi=100)
    for block, size in enumerate((64, 256)):
        for i, (label, truth) in enumerate(panels):
            ax = axes[block * rows + i // cols, i % cols]
            ax.imshow(np.asarray(render(truth, size, seed=1)), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(f"{label}\n[{size} px]", fontsize=8)
        for i in range(len(panels), rows * cols):
            axes[block * rows + i // cols, i % cols].set_visible(False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("driftalign synthetic chest X-ray world (SYNTHETIC images; patient's right = image left)\n"
                 "top: 64 px (what the tiny student sees), bottom: the same studies at 256 px", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    with Image.open(out) as im:   # grayscale content: store it as 8-bit gray (a third of the bytes)
        gray = im.convert("L")
    gray.save(out, optimize=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs/images/contact_sheet.png")
    args = parser.parse_args()
    print(draw(args.out))


if __name__ == "__main__":
    main()
