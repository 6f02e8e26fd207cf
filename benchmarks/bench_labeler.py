"""Labeler throughput on typical ~60-word chest X-ray reports (prints reports/s).

    .venv/bin/python benchmarks/bench_labeler.py [--reports 2000]

The reports are assembled from real-style MIMIC-CXR sentences with a per-report serial number,
so every text is distinct and the labeler's per-text cache never hits (worst case).
"""

from __future__ import annotations

import argparse
import random
import time

from driftalign.labeling import label_reports
from driftalign.labeling.labeler import _label_tuple

SENTENCES = (
    "PA and lateral views of the chest were obtained.",
    "The lungs are clear without focal consolidation, pleural effusion or pneumothorax.",
    "Heart size is normal.",
    "Mediastinal and hilar contours are unremarkable.",
    "Moderate cardiomegaly is stable.",
    "Small left pleural effusion with adjacent atelectasis.",
    "Right basilar opacity may reflect atelectasis, though pneumonia cannot be excluded.",
    "Mild pulmonary vascular congestion without frank edema.",
    "Endotracheal tube terminates 4 cm above the carina.",
    "A nasogastric tube courses below the diaphragm with the tip in the stomach.",
    "No acute osseous abnormality is seen.",
    "There is a 1.5 cm nodule in the right upper lobe, which could represent a granuloma.",
    "Status post median sternotomy with intact sternotomy wires.",
    "No acute cardiopulmonary process.",
    "Interval removal of the right internal jugular central venous catheter.",
    "XXXX XXXX are noted in the right lower lobe.",
)


def make_reports(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    reports = []
    for i in range(n):
        words: list[str] = [f"Study {i}."]
        while sum(len(s.split()) for s in words) < 60:
            words.append(rng.choice(SENTENCES))
        reports.append(" ".join(words))
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=2000)
    args = parser.parse_args()
    reports = make_reports(args.reports)
    mean_words = sum(len(r.split()) for r in reports) / len(reports)
    _label_tuple.cache_clear()
    label_reports(reports[:20])  # import/compile warm-up
    _label_tuple.cache_clear()
    t0, c0 = time.perf_counter(), time.process_time()
    label_reports(reports)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    # CPU time is the fairer number on a shared machine: wall time also counts the time other
    # processes hold the core.
    print(f"{len(reports)} reports ({mean_words:.0f} words on average) in {elapsed:.2f} s: "
          f"{len(reports) / elapsed:.0f} reports/s wall, {len(reports) / cpu:.0f} reports/s of CPU time "
          f"(single process, uncached)")


if __name__ == "__main__":
    main()
