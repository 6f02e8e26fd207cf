"""`driftalign ddsample` on the 6-study mini dataset (SYNTHETIC, apo_helpers) with the tiny student.

One real sampling run (K = 2, 8 new tokens), then hand-written samples with hand-computed D to check
the ranking, the draw, resume and label-freeness without sampling again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from driftalign.cli.app import main
from driftalign.data.io import read_jsonl, write_json, write_jsonl
from driftalign.errors import ConfigError
from driftalign.rl.ddsample import (
    DDSampleConfig,
    KEY_FILE,
    SAMPLES_FILE,
    run_ddsample,
    samples_key,
    study_diversity,
)
from driftalign.rl.rank_sampling import draw_by_rank


@pytest.fixture(scope="module")
def world(mini_world, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {**mini_world, "root": tmp_path_factory.mktemp("ddsample")}


def _rows(path: Path) -> list[dict]:
    return [row for _, row in read_jsonl(path)]


def _config(world, out: Path, **kw) -> DDSampleConfig:
    return DDSampleConfig(model=world["student"], data=world["data"], out=out, k=2, max_new_tokens=8, size=3, **kw)


def test_ddsample_samples_the_tiny_student_and_resumes(world):
    out = world["root"] / "run"
    summary = run_ddsample(_config(world, out))
    samples = _rows(out / SAMPLES_FILE)
    assert sorted((r["study_id"], r["sample"]) for r in samples) == [(f"s{i:03d}", k) for i in range(6) for k in (0, 1)]
    diversity = _rows(out / "diversity.jsonl")
    assert [r["rank"] for r in diversity] == [1, 2, 3, 4, 5, 6]
    assert [r["D"] for r in diversity] == sorted((r["D"] for r in diversity), reverse=True)
    texts = {sid: [r["text"] for r in sorted(samples, key=lambda r: r["sample"]) if r["study_id"] == sid]
             for sid in {r["study_id"] for r in samples}}
    for row in diversity:   # D is recomputable from the samples alone
        assert row["D"] == pytest.approx(study_diversity(texts[row["study_id"]], "positive")[0])
        assert row["D"] == pytest.approx(sum(row["sigma"].values()))
    subset = _rows(out / "subset.jsonl")
    assert len({r["study_id"] for r in subset}) == 3 and [r["draw"] for r in subset] == [0, 1, 2]
    by_id = {r["study_id"]: r for r in diversity}
    assert all((r["D"], r["rank"]) == (by_id[r["study_id"]]["D"], by_id[r["study_id"]]["rank"]) for r in subset)
    assert (summary.studies, summary.subset, summary.generated, summary.synthetic) == (6, 3, 6, False)
    assert json.loads((out / "summary.json").read_text())["k"] == 2
    assert (out / "driftalign_config.yaml").is_file()

    # rerun through the CLI: the samples are reused (file unchanged), the draw is the same
    before = (out / SAMPLES_FILE).read_bytes()
    main(["ddsample", "--model", str(world["student"]), "--data", str(world["data"]), "--out", str(out),
          "--k", "2", "--max-new-tokens", "8", "--size", "3"])
    assert (out / SAMPLES_FILE).read_bytes() == before
    assert _rows(out / "subset.jsonl") == subset
    assert json.loads((out / "summary.json").read_text())["generated"] == 0


# Hand-written samples (K = 2). D under the default POSITIVE policy, one 1:1 split = 0.5:
#   s000: PE 1 / PE 0 + Edema 1            -> PE, Edema split                    D = 1.0
#   s001: normal / normal                  -> nothing splits                     D = 0.0
#   s002: Pneumonia -1 / No Finding 1      -> Pna (-1 counts as 1), No Finding   D = 1.0 (0.5 under NEGATIVE)
#   s003: Pnx, PE, Cardiomegaly / normal   -> Pnx, PE, Cardiomegaly, No Finding  D = 2.0
#   s004: edema / edema                    -> nothing splits                     D = 0.0
#   s005: edema / edema + PE               -> PE                                 D = 0.5
# Ranking (ties keep dataset order): s003, s000, s002, s005, s001, s004.
HAND = {
    "s000": ["Small left pleural effusion.", "No pleural effusion. Mild pulmonary edema."],
    "s001": ["No acute cardiopulmonary process.", "No acute cardiopulmonary process."],
    "s002": ["Possible right lower lobe pneumonia.", "No acute cardiopulmonary process."],
    "s003": ["Large right pneumothorax. Left pleural effusion. Cardiomegaly.", "No acute cardiopulmonary process."],
    "s004": ["Mild pulmonary edema.", "Mild pulmonary edema."],
    "s005": ["Mild pulmonary edema.", "Moderate pulmonary edema. Small bilateral pleural effusions."],
}


def _hand_run(world, out: Path, data: Path | None = None, **kw) -> DDSampleConfig:
    cfg = _config(world, out, **kw)
    if data is not None:
        cfg = cfg.model_copy(update={"data": data})
    write_json(out / KEY_FILE, samples_key(cfg))
    write_jsonl(out / SAMPLES_FILE, ({"study_id": sid, "sample": k, "text": t}
                                     for sid, texts in HAND.items() for k, t in enumerate(texts)))
    return cfg


def test_ddsample_ranks_by_hand_computed_diversity_and_draws_by_log_rank(world):
    out = world["root"] / "hand"
    summary = run_ddsample(_hand_run(world, out))
    diversity = _rows(out / "diversity.jsonl")
    assert [(r["study_id"], r["D"], r["rank"]) for r in diversity] == [
        ("s003", 2.0, 1), ("s000", 1.0, 2), ("s002", 1.0, 3), ("s005", 0.5, 4), ("s001", 0.0, 5), ("s004", 0.0, 6)]
    assert {k for k, v in diversity[0]["sigma"].items() if v} == {"Pneumothorax", "Pleural Effusion", "Cardiomegaly",
                                                                  "No Finding"}
    ranking = ["s003", "s000", "s002", "s005", "s001", "s004"]
    expected = [ranking[r] for r in draw_by_rank(6, 3, np.random.default_rng(0))]
    assert [r["study_id"] for r in _rows(out / "subset.jsonl")] == expected
    assert summary.generated == 0 and summary.mean_d_all == pytest.approx(4.5 / 6)

    out_neg = world["root"] / "hand-negative"
    run_ddsample(_hand_run(world, out_neg, uncertain="negative"))
    assert {r["study_id"]: r["D"] for r in _rows(out_neg / "diversity.jsonl")}["s002"] == 0.5


def test_ddsample_never_reads_reference_labels_or_reports(world):
    """Same samples on a copy of the dataset whose labels and reports are all different: same outputs."""
    data = world["root"] / "relabelled"
    shutil.copytree(world["data"], data)
    rows = _rows(data / "studies.jsonl")
    for r in rows:
        r["labels"] = {"Pneumothorax": 1, "Edema": -1}
        r["findings"], r["impression"] = "Large right pneumothorax.", "Edema."
    write_jsonl(data / "studies.jsonl", rows)
    a, b = world["root"] / "label-free-a", world["root"] / "label-free-b"
    run_ddsample(_hand_run(world, a))
    run_ddsample(_hand_run(world, b, data=data))
    for name in ("diversity.jsonl", "subset.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_ddsample_refuses_samples_drawn_with_another_key(world):
    out = world["root"] / "stale"
    _hand_run(world, out)
    with pytest.raises(ConfigError, match=r"samples\.jsonl: samples were drawn with different k, top_p"):
        run_ddsample(_config(world, out, top_p=0.5).model_copy(update={"k": 3}))
    summary = run_ddsample(_config(world, out, top_p=0.5, resume=False))     # --no-resume: sample afresh
    assert summary.generated == 6
    assert json.loads((out / KEY_FILE).read_text())["top_p"] == 0.5
    assert not {r["text"] for r in _rows(out / SAMPLES_FILE)} & {t for texts in HAND.values() for t in texts}


def test_ddsample_config_subset_size():
    base = {"model": "m", "data": "d", "out": "o"}
    assert [DDSampleConfig(**base).subset_size(n) for n in (6, 12, 13, 100)] == [1, 2, 3, 20]   # 20%, half up
    assert DDSampleConfig(**base, fraction=0.5).subset_size(5) == 3                               # 2.5 -> 3
    assert DDSampleConfig(**base, size=10).subset_size(6) == 6
    with pytest.raises(ConfigError, match="not both"):
        DDSampleConfig.load(None, **base, size=2, fraction=0.5)
    with pytest.raises(ConfigError, match="--k"):
        DDSampleConfig.load(None, **base, k=1)


def test_study_seed_depends_on_seed_and_study_only():
    from driftalign.rl.ddsample import study_seed

    assert study_seed(0, "s000") == study_seed(0, "s000") < 2**63
    assert len({study_seed(0, "s000"), study_seed(1, "s000"), study_seed(0, "s001")}) == 3


def test_ddsample_resumed_after_a_kill_gives_the_uninterrupted_samples(world):
    """Each study's K samples come from a generator seeded by (seed, study id): a run killed after 2 studies, or
    after 4 studies and one sample of the 5th, resumes to exactly the samples of an uninterrupted run (and the
    same subset), whatever the batch size."""
    from driftalign.generation import make_backend

    straight_cfg = _config(world, world["root"] / "straight", batch_size=4)
    backend = make_backend("transformers", str(world["student"]), straight_cfg.sampling(), straight_cfg)
    run_ddsample(straight_cfg, backend=backend)
    straight = _rows(straight_cfg.out / SAMPLES_FILE)
    assert len(straight) == 12 and len({r["text"] for r in straight}) > 6   # really sampled, not one text
    for name, kept, batch_size in (("killed-2", 4, 4), ("killed-4.5", 9, 1)):
        out = world["root"] / name
        out.mkdir()
        shutil.copy(straight_cfg.out / KEY_FILE, out / KEY_FILE)
        write_jsonl(out / SAMPLES_FILE, straight[:kept])          # what the kill left
        summary = run_ddsample(_config(world, out, batch_size=batch_size), backend=backend)
        assert summary.generated == 6 - kept // 2
        assert _rows(out / SAMPLES_FILE) == straight, name
        assert _rows(out / "subset.jsonl") == _rows(straight_cfg.out / "subset.jsonl")
