"""Opt-in APO variants that choose which negative tokens count: drifting sentences, unshared tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from apo_helpers import ANSWERS

from driftalign.consensus.row import read_consensus
from driftalign.consensus.spans import drifting_sentences, drifting_spans
from driftalign.data.dataset import load_dataset
from driftalign.models import load_student
from driftalign.models.chat import IGNORE_INDEX
from driftalign.training.apo import APOConfig, APODataset, apo_rows, run_apo
from driftalign.training.apo_collator import APOCollator, negative_token_mask
from driftalign.training.sequence_logps import answer_logps, model_answer_logps

T_PLUS = "Right lower lobe consolidation. Small right pleural effusion. No pneumothorax."


def test_drifting_sentences_against_t_plus() -> None:
    negative = ("Dense consolidation in the right lower lobe. There is a small left pleural effusion. "
                "No pneumothorax is seen. Mild pulmonary edema. No pleural effusion. "
                "An abnormally dark, hyperlucent area is consistent with consolidation in the right lower lobe.")
    assert drifting_sentences(negative, T_PLUS) == [
        "There is a small left pleural effusion.",          # wrong side
        "Mild pulmonary edema.",                             # unsupported by t+
        "No pleural effusion.",                              # contradicts t+
        "An abnormally dark, hyperlucent area is consistent with consolidation in the right lower lobe.",  # sign
    ]
    spans = drifting_spans(negative, T_PLUS)
    assert [negative[a:b] for a, b in spans] == drifting_sentences(negative, T_PLUS)
    assert drifting_spans("Consolidation in the right lower lobe. No pneumothorax.", T_PLUS) == []


def test_negative_token_mask_by_hand() -> None:
    ids = [10, 11, 12, 13, 14, 15]
    offsets = [(0, 3), (3, 8), (8, 9), (10, 14), (14, 20), (20, 30)]
    assert negative_token_mask("all", ids, offsets, chosen_ids=[]).tolist() == [True] * 6
    # span [9, 20): tokens overlapping it are 3 and 4 (token 2 ends at 9: no overlap)
    assert negative_token_mask("drifting", ids, offsets, [], spans=[(9, 20)]).tolist() == [False, False, False, True, True, False]
    # t+ shares the run 11 12 13 (3 tokens: masked) and the single token 15 (shorter than 3: kept)
    chosen = [1, 11, 12, 13, 2, 15]
    assert negative_token_mask("unshared", ids, offsets, chosen).tolist() == [True, False, False, False, True, True]


@pytest.fixture(scope="module")
def mini(mini_world) -> dict[str, Path]:
    return mini_world


def _features(mini, mode: str):
    ds = load_dataset(mini["data"])
    rows = apo_rows(read_consensus(mini["consensus"]), ds, "train", "uniform", False, mini["consensus"], mode)
    model, processor = load_student(mini["student"], dtype=torch.float32)
    dataset = APODataset(ds, rows, "Describe the image.")
    return rows, [dataset[i] for i in range(3)], model, processor, sorted({t for r in rows for t in r.teachers})


def test_drifting_mode_keeps_only_negatives_that_drift(mini) -> None:
    rows, features, _, _, _ = _features(mini, "drifting")
    # t+ "There is a left pleural effusion. No pneumothorax.": sim-a agrees (dropped), sim-b adds edema,
    # sim-c asserts a right pneumothorax and denies the effusion
    assert rows[0].teachers == ("sim-b", "sim-c")
    spans_b = [ANSWERS["sim-b"][a:b] for a, b in rows[0].spans[0]]
    assert spans_b == ["There is a left pleural effusion with mild edema."]
    assert features[0]["rejected_spans"] == [list(s) for s in rows[0].spans]


@pytest.mark.parametrize("mode", ["drifting", "unshared"])
def test_masked_logps_flat_equal_shared_prefix_and_sum_only_counted_tokens(mini, mode) -> None:
    _, features, model, processor, teachers = _features(mini, mode)
    flat = APOCollator(processor, teachers, shared_prefix=False, negative_tokens=mode)(features)
    shared = APOCollator(processor, teachers, shared_prefix=True, negative_tokens=mode)(features)
    full = APOCollator(processor, teachers, shared_prefix=False)(features)
    assert torch.equal(flat["rejected_mask"], shared["rejected_mask"])
    model.eval()
    with torch.no_grad():
        lp_flat, lp_shared = model_answer_logps(model, flat), model_answer_logps(model, shared)
        logits = model(**{k: full[k] for k in ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values",
                                                "image_grid_thw")}).logits
    assert torch.allclose(lp_flat, lp_shared, atol=1e-3)
    # t+ (slot 0) counts whole; a negative's sum is over its counted tokens only, fewer than all of them
    chosen = full["candidate_slot"] == 0
    assert torch.allclose(lp_flat[chosen], answer_logps(logits, full["labels"])[chosen], atol=1e-4)
    counted = (flat["labels"] != IGNORE_INDEX).sum(1)
    every = (full["labels"] != IGNORE_INDEX).sum(1)
    assert torch.equal(counted[chosen], every[chosen])
    assert (counted[~chosen] <= every[~chosen]).all() and (counted[~chosen] < every[~chosen]).any()
    assert torch.allclose(lp_flat, answer_logps(logits, flat["labels"]), atol=1e-4)


def test_apo_runs_with_span_level_negatives_and_keys_its_own_reference_cache(mini, tmp_path) -> None:
    common = dict(model=mini["student"], data=mini["data"], consensus=mini["consensus"], prompt="Describe the image.",
                  lora=False, max_steps=1, batch_size=2, save_steps=100, logging_steps=1, resume=False,
                  reference_cache=tmp_path / "cache")
    run_apo(APOConfig(out=tmp_path / "all", **common))
    summary = run_apo(APOConfig(out=tmp_path / "drift", negative_tokens="drifting", **common))
    assert summary.global_step == 1
    assert len(list((tmp_path / "cache").glob("ref_logps-*.jsonl"))) == 2  # one cache per token selection
