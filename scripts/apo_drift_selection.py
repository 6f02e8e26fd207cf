"""docs/apo.md §9's pre-registered selection rule, applied to phase 1 of `apo_drift` (seed 0, val split).

    python scripts/apo_drift_selection.py runs/apo_drift/seed-0

Reads eval/NAME.json and preds/NAME.jsonl of the run directory, prints the phase-1 table (Table 5 columns,
clinical F1, words per report, invented findings and all drift errors per 100, deltas vs SPD all) and, once
all eleven APO rows are evaluated, the eligible rows and the selected setting. SYNTHETIC numbers.
"""
import json
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/apo_drift/seed-0")
APO = ["apo-paper", "apo-vote", "apo-self-edit", "apo-self-edit-pair", "apo-self-select", "apo-self-select-worst",
       "apo-vote-rpo", "apo-vote-dpop", "apo-self-edit-rpo", "apo-self-edit-dpop", "apo-self-select-dpop"]
rows = {}
for name in ["oracle", "spd", "spd-gpt5", *APO]:
    ev = root / "eval" / f"{name}.json"
    if not ev.is_file():
        continue
    m = json.loads(ev.read_text())
    preds = [json.loads(line) for line in (root / "preds" / f"{name}.jsonl").read_text().splitlines() if line.strip()]
    words = sum(len(p["text"].split()) for p in preds) / len(preds)
    rows[name] = {"avg": m["accuracy"]["average"], "f1": m["clinical"]["example_based"]["f1"],
                  "err": m["drift_errors"]["total"], "inv": m["drift_errors"]["invented"], "words": words,
                  "acc": m["accuracy"], "split": m["split"], "n": m["n"]}
spd = rows["spd"]
print(f"split {spd['split']}, n {spd['n']}")
print("| row | Con. | PE | Pna. | Pnx. | Ede. | Avg. | clin. F1 | words | invented/100 | drift err/100 | Δavg | ΔF1 | eligible |")
print("|---|" + "---|" * 13)
for name, r in rows.items():
    a = r["acc"]
    d_avg, d_f1 = r["avg"] - spd["avg"], r["f1"] - spd["f1"]
    elig = name in APO and d_avg >= -0.005 and d_f1 >= -0.01
    cells = [a.get(k) for k in ("Consolidation", "Pleural Effusion", "Pneumonia", "Pneumothorax", "Edema")]
    print(f"| {name} | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells)
          + f" | {r['avg']:.3f} | {r['f1']:.3f} | {r['words']:.1f} | {r['inv']:.1f} | {r['err']:.1f} | {d_avg:+.3f} | {d_f1:+.3f} | "
          + ("yes" if elig else "no" if name in APO else "") + " |")
done = [n for n in APO if n in rows]
print(f"APO rows evaluated: {len(done)} of {len(APO)}")
if len(done) == len(APO):
    eligible = [n for n in APO if rows[n]["avg"] - spd["avg"] >= -0.005 and rows[n]["f1"] - spd["f1"] >= -0.01]
    pool = eligible or APO
    best = min(rows[n]["err"] for n in pool)
    tied = [n for n in pool if rows[n]["err"] <= best + 0.5]
    chosen = max(tied, key=lambda n: rows[n]["avg"])
    print(f"eligible: {eligible}\nfewest errors {best:.1f}; within 0.5: {tied}\nSELECTED: {chosen}"
          + ("" if eligible else "  (no row eligible: fewest errors overall)"))
