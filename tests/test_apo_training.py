"""APO on a tiny student: collator + mask, reference cache, resume, end-to-end training effect."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from apo_helpers import write_consensus
from transformers import TrainerCallback

from driftalign.consensus.row import read_consensus
from driftalign.data.dataset import load_dataset
from driftalign.errors import DatasetError
from driftalign.models import load_student
from driftalign.models.chat import encode_example
from driftalign.training.apo import (
    APO_STATE_FILE,
    APOConfig,
    APODataset,
    apo_rows,
    preference_margins,
    run_apo,
)
from driftalign.training.apo_collator import APOCollator
from driftalign.training.reference_cache import cache_path, precompute_reference_logps
from driftalign.training.sequence_logps import model_answer_logps


@pytest.fixture(scope="module")
def world(mini_world, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {**mini_world, "root": tmp_path_factory.mktemp("apo")}


def _dataset(world, scheme="uniform") -> tuple[APODataset, APOCollator, object, object]:
    ds = load_dataset(world["data"])
    rows = apo_rows(read_consensus(world["consensus"]), ds, "train", scheme, False, world["consensus"])
    model, processor = load_student(world["student"], dtype=torch.float32)
    teachers = sorted({t for r in rows for t in r.teachers})
    return APODataset(ds, rows, "Describe the image."), APOCollator(processor, teachers, shared_prefix=False), model, processor


def test_collator_masks_rows_with_missing_teachers(world):
    dataset, collator, _, _ = _dataset(world)
    batch = collator([dataset[0], dataset[1], dataset[2]])
    # rows: 3 negatives; 2 (sim-c missing); 1 (only sim-c)
    assert batch["rejected_mask"].tolist() == [[True, True, True], [True, True, False], [True, False, False]]
    assert batch["teacher_ids"].tolist() == [[0, 1, 2], [0, 1, -1], [2, -1, -1]]
    assert batch["candidate_row"].tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2]
    assert batch["candidate_slot"].tolist() == [0, 1, 2, 3, 0, 1, 2, 0, 1]
    assert batch["input_ids"].shape[0] == 9 and batch["image_grid_thw"].shape[0] == 9
    assert batch["weights"][1].tolist() == [1.0, 1.0, 0.0]


def test_drift_weights_reach_the_batch(world):
    dataset, collator, _, _ = _dataset(world, scheme="drift")
    batch = collator([dataset[0]])
    # drifts (0, 0.33, 1.0): mean 0.4433 -> (0, 0.744, 2.256)
    mean = (0.0 + 0.33 + 1.0) / 3
    assert torch.allclose(batch["weights"][0], torch.tensor([0.0, 0.33 / mean, 1.0 / mean]), atol=1e-5)


def test_cached_reference_logps_equal_fresh_unbatched_ones(world, tmp_path):
    dataset, collator, model, processor = _dataset(world)
    refs, computed = precompute_reference_logps(model, collator, dataset, tmp_path, key="k" * 64, batch_size=4)
    assert computed == len(dataset)
    model.eval()
    for i in (0, 1, 2):
        f = dataset[i]
        fresh = []
        for answer in [f["chosen"], *f["rejected"]]:
            ex = encode_example(processor, f["images"], f["prompt"], answer)
            batch = {k: (v.unsqueeze(0) if k not in ("pixel_values", "image_grid_thw") else v) for k, v in ex.items()}
            with torch.no_grad():
                fresh.append(model_answer_logps(model, batch).item())
        cached = refs[f["study_id"]]
        assert cached.chosen == pytest.approx(fresh[0], abs=1e-3)
        assert cached.rejected == pytest.approx(fresh[1:], abs=1e-3)
        assert cached.chosen < 0
    # a second call reads the file: no forward at all
    calls = []
    handle = model.register_forward_hook(lambda *a: calls.append(1))
    again, computed = precompute_reference_logps(model, collator, dataset, tmp_path, key="k" * 64)
    handle.remove()
    assert computed == 0 and calls == [] and again == refs
    rows = [json.loads(line) for line in cache_path(tmp_path, "k" * 64).read_text().splitlines()]
    assert len(rows) == len(dataset)


def test_interrupted_precomputation_resumes_from_partial_file(world, tmp_path):
    dataset, collator, model, _ = _dataset(world)
    key = "p" * 64
    first, _ = precompute_reference_logps(model, collator, dataset, tmp_path, key=key)
    final = cache_path(tmp_path, key)
    lines = final.read_text().splitlines()
    final.unlink()
    partial = final.with_name(final.name + ".partial")
    partial.write_text("\n".join(lines[:4]) + "\n" + lines[4][:10])  # 4 complete rows + a torn one
    again, computed = precompute_reference_logps(model, collator, dataset, tmp_path, key=key)
    assert computed == len(dataset) - 4
    assert not partial.exists() and final.is_file()
    assert {k: v.chosen for k, v in again.items()} == pytest.approx({k: v.chosen for k, v in first.items()}, abs=1e-4)


def _cfg(world, out: Path, **kw) -> APOConfig:
    base = dict(model=world["student"], data=world["data"], out=out, consensus=world["consensus"], prompt="Describe the image.",
                max_steps=6, batch_size=2, lr=2e-3, logging_steps=1, save_steps=3, seed=0)
    base.update(kw)
    return APOConfig(**base)


def test_apo_end_to_end_changes_policy_and_increases_margin(world, tmp_path):
    summary = run_apo(_cfg(world, tmp_path / "run", max_steps=4, save_steps=10))
    assert summary.global_step == 4
    dataset, collator, spd_model, _ = _dataset(world)
    dataset.set_reference(precompute_reference_logps(spd_model, collator, dataset, tmp_path / "run" / "reference_cache",
                                                     key=json.loads((tmp_path / "run" / APO_STATE_FILE).read_text())["key"])[0])
    before = preference_margins(spd_model, collator, dataset, beta=0.1)
    trained, _ = load_student(summary.final_dir, dtype=torch.float32)
    after = preference_margins(trained, collator, dataset, beta=0.1)
    assert before["weighted_margin"] == pytest.approx(0.0, abs=1e-4)   # policy == reference before training
    assert after["weighted_margin"] > before["weighted_margin"] + 0.01
    assert after["loss"] < before["loss"]
    changed = [n for (n, p), (_, q) in zip(spd_model.named_parameters(), trained.named_parameters(), strict=True)
               if not torch.equal(p, q)]
    assert changed and all("visual" not in n for n in changed)  # LoRA: language model only, vision frozen


def test_resumed_run_reuses_reference_cache(world, tmp_path):
    out = tmp_path / "resume"
    run_apo(_cfg(world, out, max_steps=3))
    first = json.loads((out / APO_STATE_FILE).read_text())
    assert first["computed_studies"] == 6
    summary = run_apo(_cfg(world, out, max_steps=6))
    second = json.loads((out / APO_STATE_FILE).read_text())
    assert second == {**first, "computed_studies": 0, "cached_studies": 6}
    assert summary.global_step == 6


def test_consensus_for_unknown_study_fails_clearly(world, tmp_path):
    bad = write_consensus(tmp_path / "bad.jsonl", ["s000", "nope"])
    with pytest.raises(DatasetError, match="'nope' is not in"):
        run_apo(_cfg(world, tmp_path / "bad", consensus=bad))
    (tmp_path / "torn.jsonl").write_text('{"study_id": "s000", "prompt": "p"}\n')
    with pytest.raises(DatasetError, match=r"torn.jsonl:1: chosen"):
        read_consensus(tmp_path / "torn.jsonl")


def test_model_and_hybrid_consensus_with_the_real_tiny_student(world, tmp_path):
    """eq. 7 through the transformers backend: the (untrained) student writes t+; hybrid repairs it from the vote."""
    from driftalign.consensus.run import ConsensusConfig, run_consensus

    for strategy in ("model", "hybrid"):
        cfg = ConsensusConfig(data=world["data"], out=tmp_path / f"{strategy}.jsonl", strategy=strategy,
                              model=world["student"], max_new_tokens=8, batch_size=6)
        summary = run_consensus(cfg)
        rows = read_consensus(cfg.out)
        assert summary.rows == len(rows) == 6
        assert all(len(r.negatives) == 3 for r in rows)
    hybrid_rows = read_consensus(tmp_path / "hybrid.jsonl")
    # a random student states no majority claim, so the vote fills t+ in
    assert all("pleural effusion" in r.chosen.lower() for r in hybrid_rows)
    assert all(r.details["sources"].get("Pleural Effusion") == "vote" for r in hybrid_rows)


def test_apo_cli_reports_bad_input_in_one_line(world, tmp_path, capsys):
    from driftalign.cli.app import main

    with pytest.raises(SystemExit) as exc:
        main(["apo", "--model", str(world["student"]), "--data", str(world["data"]), "--out", str(tmp_path / "o"),
              "--consensus", str(tmp_path / "missing.jsonl")])
    assert exc.value.code == 2
    assert "missing.jsonl: file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["apo", "--model", str(world["student"]), "--data", str(world["data"]), "--out", str(tmp_path / "o"),
              "--consensus", str(world["consensus"]), "--beta", "0"])
    assert exc.value.code == 2


class LogRecorder(TrainerCallback):
    def __init__(self):
        self.logs = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.logs.append(dict(logs))


def test_gradient_accumulation_matches_a_full_batch(world, tmp_path):
    """batch 2 x accumulation 1 and batch 1 x accumulation 2 see the same two studies in step 1 and must log
    the same loss: the Trainer divides our per-study mean by the accumulation steps. Before the first update
    policy == reference, so that loss is the mean over the two studies of log(1 + number of negatives)."""
    recorded = []
    for bs, ga in ((2, 1), (1, 2)):
        recorder = LogRecorder()
        run_apo(_cfg(world, tmp_path / f"b{bs}g{ga}", max_steps=1, batch_size=bs, grad_accum=ga, lora=False, lr=1e-3),
                callbacks=[recorder])
        recorded.append(recorder.logs[0])
    assert recorded[0]["loss"] == pytest.approx(recorded[1]["loss"], rel=1e-4)
    possible = {math.log(1 + n) for n in (3, 2, 1)}
    assert any(abs(recorded[0]["loss"] - (x + y) / 2) < 1e-3 for x in possible for y in possible)
    assert recorded[0]["rewards/chosen"] == 0.0


def test_sft_weight_adds_the_chosen_nll_and_keeps_t_plus_likely(world, tmp_path):
    """With --sft-weight the logged loss gains the t+ NLL term and t+'s log-prob does not fall below the reference."""
    recorder = LogRecorder()
    summary = run_apo(_cfg(world, tmp_path / "sft", max_steps=6, sft_weight=1.0, lr=2e-3), callbacks=[recorder])
    assert all("nll/chosen" in log for log in recorder.logs)
    first = recorder.logs[0]
    # step 1: APO term = mean log(1 + n) (policy == reference), so the rest of the logged loss is the NLL
    assert first["loss"] > first["nll/chosen"] > 0
    dataset, collator, spd_model, _ = _dataset(world)
    dataset.set_reference(precompute_reference_logps(spd_model, collator, dataset, tmp_path / "sft" / "reference_cache",
                                                     key=json.loads((tmp_path / "sft" / APO_STATE_FILE).read_text())["key"])[0])
    trained, _ = load_student(summary.final_dir, dtype=torch.float32)
    batch = collator([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        logps = model_answer_logps(trained, batch)
    chosen_after = logps[batch["candidate_slot"] == 0]
    assert (chosen_after > batch["ref_chosen_logps"]).all()


def test_resumed_full_finetune_with_deleted_cache_recomputes_the_same_reference(world, tmp_path):
    """The checkpoint is loaded inside Trainer.train, so a refill still sees the SPD weights (pi_ref)."""
    out = tmp_path / "full"
    run_apo(_cfg(world, out, max_steps=3, lora=False, lr=1e-3))
    key = json.loads((out / APO_STATE_FILE).read_text())["key"]
    cache = cache_path(out / "reference_cache", key)
    before = {r["study_id"]: r for r in map(json.loads, cache.read_text().splitlines())}
    cache.unlink()
    run_apo(_cfg(world, out, max_steps=4, lora=False, lr=1e-3))
    assert json.loads((out / APO_STATE_FILE).read_text())["computed_studies"] == 6
    after = {r["study_id"]: r for r in map(json.loads, cache.read_text().splitlines())}
    for sid, row in before.items():
        assert after[sid]["chosen"] == pytest.approx(row["chosen"], abs=1e-4)
        assert after[sid]["rejected"] == pytest.approx(row["rejected"], abs=1e-4)


def test_shared_prefix_forward_gives_the_same_logps_and_gradients(world):
    """Prefix once + answers on its KV cache == the flat N+1-sequence forward (values and gradients)."""
    dataset, collator, model, processor = _dataset(world)
    features = [dataset[0], dataset[1], dataset[2]]  # 3, 2 and 1 negatives
    flat = collator(features)
    shared = APOCollator(processor, collator.teachers, shared_prefix=True)(features)
    assert shared["prefix_input_ids"].shape[0] == 3 and shared["answer_ids"].shape[0] == 9
    assert shared["image_grid_thw"].shape[0] == 3  # one image per study, not per candidate
    assert torch.equal(shared["rejected_mask"], flat["rejected_mask"])
    model.eval()
    logps_flat = model_answer_logps(model, flat)
    logps_shared = model_answer_logps(model, shared)
    assert torch.allclose(logps_flat, logps_shared, atol=1e-4)
    grads = []
    for batch in (flat, shared):
        model.zero_grad()
        model_answer_logps(model, batch).sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and any("visual" in n for n in grads[0])
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-4, rtol=1e-3), name


def test_apo_run_with_shared_prefix(world, tmp_path):
    summary = run_apo(_cfg(world, tmp_path / "shared", max_steps=2, shared_prefix=True, sft_weight=0.5))
    assert summary.global_step == 2
    assert json.loads((tmp_path / "shared" / APO_STATE_FILE).read_text())["computed_studies"] == 6


def test_chunked_token_logps_equal_full_logits_in_value_and_gradient():
    from driftalign.training.shared_prefix import chunked_token_logps

    torch.manual_seed(0)
    head = torch.nn.Linear(16, 50, bias=False)
    hidden = torch.randn(11, 16, requires_grad=True)
    targets = torch.randint(0, 50, (11,))
    full = torch.log_softmax(head(hidden), -1).gather(-1, targets[:, None]).squeeze(-1)
    g_full = torch.autograd.grad(full.sum(), [hidden, head.weight])
    chunked = chunked_token_logps(hidden, targets, head, chunk=3)       # 4 chunks, checkpointed
    g_chunked = torch.autograd.grad(chunked.sum(), [hidden, head.weight])
    assert torch.allclose(full, chunked, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_full, g_chunked))
    with torch.no_grad():
        assert torch.allclose(chunked_token_logps(hidden, targets, head, chunk=5), full, atol=1e-6)
    one = chunked_token_logps(hidden, targets, head)                    # default chunk: 50-word vocabulary -> one chunk
    assert torch.allclose(one, full, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_full, torch.autograd.grad(one.sum(), [hidden, head.weight])))


def test_lm_head_chunks_hold_a_fixed_number_of_logits_and_one_chunk_is_not_recomputed():
    from driftalign.training.shared_prefix import CHUNK_ELEMENTS, chunk_tokens, chunked_token_logps

    assert chunk_tokens(152_064) == 512                                 # Qwen2.5-VL: 512 answer tokens per chunk
    assert chunk_tokens(4096) == CHUNK_ELEMENTS // 4096 and chunk_tokens(10**9) == 1
    head = torch.nn.Linear(8, 20, bias=False)
    calls = []
    head.register_forward_hook(lambda *_: calls.append(1))
    hidden = torch.randn(6, 8, requires_grad=True)
    targets = torch.randint(0, 20, (6,))
    chunked_token_logps(hidden, targets, head, chunk=6).sum().backward()
    assert len(calls) == 1                                              # one chunk: logits kept, no second pass
    calls.clear()
    chunked_token_logps(hidden, targets, head, chunk=2).sum().backward()
    assert len(calls) == 6                                              # 3 chunks, each recomputed in backward


def test_default_path_runs_the_vision_tower_once_per_study_and_one_answer_forward(world):
    dataset, collator, model, processor = _dataset(world)
    features = [dataset[0], dataset[1], dataset[2]]
    flat = collator(features)
    shared = APOCollator(processor, collator.teachers)(features)      # the default format
    assert "prefix_attention_mask" in shared and shared["image_grid_thw"].shape[0] == 3
    images_seen, decoder_calls = [], []
    h1 = model.model.visual.register_forward_hook(lambda m, args, kw, out: images_seen.append(kw["grid_thw"].shape[0]),
                                                  with_kwargs=True)
    h2 = model.model.language_model.register_forward_hook(lambda *a: decoder_calls.append(1))
    model.eval()
    with torch.no_grad():
        model_answer_logps(model, shared)
        assert images_seen == [3] and len(decoder_calls) == 2           # prefixes once, all 9 answers once
        images_seen.clear()
        model_answer_logps(model, flat)
        assert images_seen == [9]                                       # the flat path: once per candidate
    h1.remove(), h2.remove()


def test_interrupted_full_finetune_resumes_to_the_same_weights(world, tmp_path):
    """A full fine-tune stopped at a checkpoint and resumed ends with the weights of an uninterrupted run."""
    from safetensors.torch import load_file

    kw = dict(lora=False, lr=1e-3, save_steps=2, max_steps=4)
    run_apo(_cfg(world, tmp_path / "straight", **kw))

    class StopAt2(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            control.should_training_stop = state.global_step == 2

    run_apo(_cfg(world, tmp_path / "resumed", **kw), callbacks=[StopAt2()])
    assert (tmp_path / "resumed" / "checkpoint-2").is_dir()
    run_apo(_cfg(world, tmp_path / "resumed", **kw))
    a = load_file(tmp_path / "straight" / "final" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "final" / "model.safetensors")
    changed = load_file(world["student"] / "model.safetensors")
    assert any(not torch.allclose(a[k], changed[k]) for k in a)          # training moved the weights
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_max_studies_trains_and_fills_the_reference_for_a_seeded_subset(world, tmp_path):
    summary = run_apo(_cfg(world, tmp_path / "sub", max_steps=1, max_studies=2))
    state = json.loads((tmp_path / "sub" / APO_STATE_FILE).read_text())
    assert summary.n_examples == 2 and state["computed_studies"] == 2


def test_cached_prompt_encoding_gives_the_same_batches_and_reads_each_image_once(world, monkeypatch):
    """APODataset with a PromptCache (what run_apo uses) = the uncached dataset, batch for batch, on both
    paths; images are read once per study across the reference pass and the epochs."""
    from driftalign.models.chat import PromptCache

    plain, _, _, processor = _dataset(world)
    cached = APODataset(plain.ds, plain.rows, plain.prompt, PromptCache(processor, plain.prompt))
    reads: list[str] = []
    original = plain.ds.load_images
    monkeypatch.setattr(plain.ds, "load_images", lambda study: reads.append(study.study_id) or original(study))
    for shared in (True, False):
        collator = APOCollator(processor, sorted({t for r in plain.rows for t in r.teachers}), shared_prefix=shared)
        for _epoch in range(2):
            want = collator([plain[i] for i in range(3)])
            got = collator([cached[i] for i in range(3)])
            assert want.keys() == got.keys()
            for key in want:
                assert torch.equal(want[key], got[key]), key
    cached_reads = len(reads) - 4 * 3   # the uncached dataset reads every image on every access
    assert cached_reads == 3
