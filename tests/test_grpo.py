"""`driftalign grpo` (GRPO / DiTPO on TRL 1.16's GRPOTrainer) on the 6-study mini dataset (SYNTHETIC,
apo_helpers) with a randomly initialised tiny student.

* the TRL contract our one override relies on (fails if TRL changes it);
* on a fixed hand-made batch: TRL's loss equals `rl.ditpo_loss`; all-ones token weights give the same
  loss and gradients as TRL's scalar advantages; TF-IDF weights reach the loss with the value computed
  by hand;
* the reward adapter, the choice of studies and its errors;
* end-to-end `driftalign grpo` runs (LoRA + KL; full fine-tuning + resume).
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

import pytest
import torch

from driftalign.cli.app import main
from driftalign.data.dataset import load_dataset
from driftalign.data.io import write_jsonl
from driftalign.errors import ConfigError, DatasetError
from driftalign.models.chat import encode_prompt
from driftalign.models.load import load_model
from driftalign.rl import ditpo_loss, group_advantages
from driftalign.training.grpo import ClinicalReward, DiTPOConfig, grpo_studies

G = 2


@pytest.fixture(scope="module")
def world(mini_world, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {**mini_world, "root": tmp_path_factory.mktemp("grpo")}


def _config(world, out: Path, **kw) -> DiTPOConfig:
    values = dict(model=world["student"], data=world["data"], out=out, num_generations=G, max_new_tokens=8,
                  switch_step=1, lora=False, max_steps=1)
    return DiTPOConfig(**{**values, **kw})


@pytest.fixture(scope="module")
def trainer(world):
    """A DiTPOTrainer (full fine-tuning, no KL) in eval mode: no dropout, no accumulation normaliser."""
    from driftalign.training.grpo_trainer import build_trainer

    tr, _, _ = build_trainer(_config(world, world["root"] / "unit"))
    tr.model.eval()
    return tr


# ---- the TRL contract ------------------------------------------------------------------------------


def test_trl_contract(trainer):
    """What `DiTPOTrainer` relies on in TRL 1.16 (docs/deer.md §4). A failure here means: re-read TRL's
    GRPOTrainer and move the override (or drop it for TRL's advantage hook, PR 7298)."""
    import trl
    from trl import GRPOTrainer

    assert trl.__version__.startswith("1.16."), trl.__version__
    assert list(inspect.signature(GRPOTrainer._generate_and_score_completions).parameters) == ["self", "inputs"]
    assert list(inspect.signature(GRPOTrainer._compute_loss).parameters) == ["self", "model", "inputs"]
    loss_source = inspect.getsource(GRPOTrainer._compute_loss)
    assert "if advantages.dim() == 1:" in loss_source and 'inputs["advantages"]' in loss_source
    prepare_source = inspect.getsource(GRPOTrainer._prepare_inputs)
    assert "self._generate_and_score_completions(generation_batch)" in prepare_source

    # one real rollout (tiny student, G = 2, 8 tokens): keys and shapes the override reads and writes
    ds = trainer.train_dataset
    trainer.token_weights = "none"
    out = trainer._generate_and_score_completions([ds[0]] * G)
    assert {"prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "advantages", "pixel_values",
            "image_grid_thw", "mm_token_type_ids", "num_images"} <= out.keys()
    b, t = out["completion_ids"].shape
    assert b == G and out["completion_mask"].shape == (b, t) and out["advantages"].shape == (b,)
    # the rollout's prompt is the one spd trains on and generate samples with (models.chat)
    ours = encode_prompt(trainer.processing_class, ds[0]["images"], ds[0]["prompt"][0]["content"])["input_ids"]
    assert out["prompt_ids"][0][out["prompt_mask"][0].bool()].tolist() == ours.tolist()
    trainer.token_weights = "tfidf"
    weighted = trainer._generate_and_score_completions([ds[0]] * G)
    assert weighted["advantages"].shape == weighted["completion_ids"].shape


# ---- the loss on a fixed, hand-made batch ---------------------------------------------------------

# Two completions of one group (token ids from rl.tfidf_token_weights' docstring example), right-padded.
O1, O2 = [5, 7, 5], [5, 9]
REWARDS = torch.tensor([1.0, 0.0])


def _fixed_batch(trainer) -> dict:
    """TRL's `_generate_and_score_completions` output for one study and the completions O1, O2."""
    ds = trainer.train_dataset
    example = ds[0]
    prompt = encode_prompt(trainer.processing_class, example["images"], example["prompt"][0]["content"])
    pad = trainer.processing_class.tokenizer.pad_token_id
    completion_ids = torch.tensor([O1, O2 + [pad]])
    completion_mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    p = prompt["input_ids"].numel()
    return {
        "prompt_ids": prompt["input_ids"].repeat(G, 1), "prompt_mask": torch.ones(G, p, dtype=torch.long),
        "completion_ids": completion_ids, "completion_mask": completion_mask,
        "advantages": group_advantages(REWARDS),                  # what TRL computes (eq. 2): +-0.7070
        "num_items_in_batch": completion_mask.sum(),
        "pixel_values": prompt["pixel_values"].repeat(G, 1), "image_grid_thw": prompt["image_grid_thw"].repeat(G, 1),
        "mm_token_type_ids": torch.cat([prompt["mm_token_type_ids"].repeat(G, 1),
                                        torch.zeros(G, 3, dtype=torch.long)], 1),
        "num_images": [1] * G,
    }


def _weighted(trainer, batch: dict, token_weights: str, alpha: float, monkeypatch) -> dict:
    """The override's output when TRL's part returns `batch`."""
    from trl import GRPOTrainer

    monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions", lambda self, inputs: dict(batch))
    trainer.token_weights, trainer.tfidf_alpha = token_weights, alpha
    try:
        return trainer._generate_and_score_completions([])
    finally:
        trainer.token_weights, trainer.tfidf_alpha = "tfidf", 4.0


def _policy_logps(trainer, batch: dict) -> torch.Tensor:
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], 1)
    mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], 1)
    logps, _, _ = trainer._get_per_token_logps_and_entropies(
        trainer.model, ids, mask, batch["completion_ids"].size(1), pixel_values=batch["pixel_values"],
        image_grid_thw=batch["image_grid_thw"], num_images=batch["num_images"],
        mm_token_type_ids=batch["mm_token_type_ids"])
    return logps


def _loss_and_grads(trainer, inputs: dict) -> tuple[torch.Tensor, list[torch.Tensor]]:
    trainer.model.zero_grad()
    loss = trainer._compute_loss(trainer.model, inputs)
    loss.backward()
    grads = [p.grad.clone() for p in trainer.model.parameters() if p.grad is not None]
    trainer.model.zero_grad()
    return loss.detach(), grads


def test_all_ones_weights_equal_the_scalar_advantage_path(trainer, monkeypatch):
    """alpha = 0 -> every w = 1: the override's [B, T] advantages give TRL's [B] loss and gradients exactly,
    off-policy (old log-probs perturbed so some ratios clip)."""
    batch = _fixed_batch(trainer)
    with torch.no_grad():
        offsets = torch.tensor([[0.3, -0.3, 0.05], [-0.3, 0.1, 0.0]])
        batch["old_per_token_logps"] = _policy_logps(trainer, batch) + offsets
    ones = _weighted(trainer, batch, "tfidf", 0.0, monkeypatch)
    assert ones["advantages"].shape == (G, 3)
    assert torch.equal(ones["advantages"][1, 2], torch.tensor(0.0))          # padding
    loss_scalar, grads_scalar = _loss_and_grads(trainer, batch)
    loss_tokens, grads_tokens = _loss_and_grads(trainer, ones)
    assert loss_scalar != 0
    torch.testing.assert_close(loss_tokens, loss_scalar, rtol=0, atol=1e-7)
    assert len(grads_scalar) == len(grads_tokens) > 0
    for a, b in zip(grads_scalar, grads_tokens):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)


def test_tfidf_weights_reach_the_loss_as_computed_by_hand(trainer, monkeypatch):
    """o_1 = [5, 7, 5], o_2 = [5, 9], r = (1, 0): A = +-0.5 / (0.70711 + 1e-4) = +-0.70700.
    TF-IDF (alpha 4, G = 2): token 5 is in both (w 1); 7: 1 + 4 * (1/3) ln 2 = 1.92420; 9: 1 + 4 * (1/2) ln 2 = 2.38629.
    On-policy (ratio 1) the grpo loss is -(1/G) sum_i mean_t A_i w_i^t:
      scalar advantages: -(1/2)(A - A) = 0;
      TF-IDF: -(1/2) A ((1 + 1.92420 + 1)/3 - (1 + 2.38629)/2) = 0.5 * 0.70700 * 0.38508 = 0.13613."""
    batch = _fixed_batch(trainer)
    a = 0.5 / (math.sqrt(0.5) + 1e-4)
    w7, w9 = 1 + 4 * math.log(2) / 3, 1 + 4 * math.log(2) / 2
    by_hand = -0.5 * a * ((1 + w7 + 1) / 3 - (1 + w9) / 2)
    assert by_hand == pytest.approx(0.13613, abs=1e-5)

    weighted = _weighted(trainer, batch, "tfidf", 4.0, monkeypatch)
    torch.testing.assert_close(weighted["advantages"], torch.tensor([[a, a * w7, a], [-a, -a * w9, 0.0]]))
    plain = _weighted(trainer, batch, "none", 4.0, monkeypatch)
    assert plain["advantages"].shape == (G,)
    with torch.no_grad():
        assert trainer._compute_loss(trainer.model, plain).item() == pytest.approx(0.0, abs=1e-7)
        assert trainer._compute_loss(trainer.model, weighted).item() == pytest.approx(by_hand, abs=1e-6)


def test_trl_loss_equals_ditpo_loss(trainer, monkeypatch):
    """TRL's `_compute_loss` (loss_type grpo, symmetric clip, token-level ratios) is `rl.ditpo_loss`, off-policy."""
    batch = _weighted(trainer, _fixed_batch(trainer), "tfidf", 4.0, monkeypatch)
    with torch.no_grad():
        logps = _policy_logps(trainer, batch)
        batch["old_per_token_logps"] = logps + torch.tensor([[0.4, -0.3, 0.1], [-0.25, 0.3, 0.0]])
        ours, metrics = ditpo_loss(logps, batch["old_per_token_logps"], batch["advantages"], batch["completion_mask"],
                                   clip_eps=trainer.args.epsilon)
        theirs = trainer._compute_loss(trainer.model, batch)
    assert metrics["clip_fraction"] > 0
    torch.testing.assert_close(theirs, ours, rtol=1e-6, atol=1e-7)


# ---- reward, studies, errors ----------------------------------------------------------------------


class _State:
    def __init__(self, step: int):
        self.global_step = step


def test_reward_follows_the_two_phase_schedule_and_logs_its_terms(world):
    reward = ClinicalReward(_config(world, Path("o"), switch_step=3))
    ref = "Small left pleural effusion. No pneumothorax."
    completion = [{"role": "assistant", "content": "Small right pleural effusion. No pneumothorax."}]
    logged: dict[str, float] = {}
    assert reward([completion], [ref], trainer_state=_State(2), log_metric=logged.__setitem__) == [1.0]
    assert logged == {"reward/f1": 1.0, "reward/bleu2": 0.0, "reward/gamma": 0.0}
    (r,) = reward([completion], [ref], trainer_state=_State(3), log_metric=logged.__setitem__)
    assert r == pytest.approx(1 + 0.25 * math.sqrt(5 / 8), abs=1e-4)            # docs/deer.md worked example
    assert logged["reward/gamma"] == 0.25


def test_subset_selects_studies_and_skips_those_without_reference(world, tmp_path):
    ds = load_dataset(world["data"], verify_images=False)
    subset = tmp_path / "subset.jsonl"
    write_jsonl(subset, [{"study_id": "s003", "draw": 1}, {"study_id": "s001", "draw": 2}, {"study_id": "s003"}])
    studies, skipped = grpo_studies(ds, "train", subset)
    assert [s.study_id for s in studies] == ["s003", "s001"] and not skipped
    assert studies[0].reference == ds.study("s003").report and "effusion" in studies[0].reference


def test_random_fraction_draws_a_seeded_uniform_share_of_the_split(world, tmp_path):
    """DEER's 'GRPO 20% random' baseline: round(fraction * n) studies, reproducible by seed, in dataset order."""
    from driftalign.errors import ConfigError

    ds = load_dataset(world["data"], verify_images=False)
    everything = [s.study_id for s in grpo_studies(ds, "train")[0]]
    half, _ = grpo_studies(ds, "train", random_fraction=0.5, seed=0)
    ids = [s.study_id for s in half]
    assert len(ids) == round(0.5 * len(everything)) and set(ids) <= set(everything)
    assert ids == sorted(ids, key=everything.index)                           # dataset order kept
    assert ids == [s.study_id for s in grpo_studies(ds, "train", random_fraction=0.5, seed=0)[0]]
    draws = {tuple(s.study_id for s in grpo_studies(ds, "train", random_fraction=0.5, seed=k)[0]) for k in range(8)}
    assert len(draws) > 1                                                      # the seed matters
    assert len(grpo_studies(ds, "train", random_fraction=0.01)[0]) == 1        # at least one study
    subset = tmp_path / "subset.jsonl"
    write_jsonl(subset, [{"study_id": everything[0]}])
    with pytest.raises(ConfigError, match="not both"):
        grpo_studies(ds, "train", subset, random_fraction=0.5)


def _dataset_variant(world, tmp_path: Path, edit) -> Path:
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    for img in (world["data"] / "images").iterdir():
        (root / "images" / img.name).write_bytes(img.read_bytes())
    rows = [json.loads(line) for line in (world["data"] / "studies.jsonl").read_text().splitlines() if line.strip()]
    write_jsonl(root / "studies.jsonl", [edit(i, r) for i, r in enumerate(rows)])
    (root / "trajectories.jsonl").write_text((world["data"] / "trajectories.jsonl").read_text())
    return root


def test_bad_input_fails_clearly(world, tmp_path, capsys):
    base = ["grpo", "--model", str(world["student"]), "--out", str(tmp_path / "out"), "--switch-step", "0"]
    blank = _dataset_variant(world, tmp_path / "blank", lambda i, r: {**r, "findings": "", "impression": ""})
    with pytest.raises(SystemExit) as e:
        main([*base, "--data", str(blank)])
    assert e.value.code == 2
    assert "no study of split 'train' has a reference report" in capsys.readouterr().err

    subset = tmp_path / "subset.jsonl"
    write_jsonl(subset, [{"study_id": "s001"}, {"study_id": "nope"}])
    with pytest.raises(SystemExit) as e:
        main([*base, "--data", str(world["data"]), "--subset", str(subset)])
    assert e.value.code == 2 and "study 'nope' is not in" in capsys.readouterr().err

    val = _dataset_variant(world, tmp_path / "val", lambda i, r: {**r, "split": "val" if i == 1 else r["split"]})
    with pytest.raises(DatasetError, match="'s001' is in split 'val', not --split 'train'"):
        grpo_studies(load_dataset(val, verify_images=False), "train", subset)
    with pytest.raises(ConfigError, match="--subset .*: file not found"):
        grpo_studies(load_dataset(val, verify_images=False), "train", tmp_path / "missing.jsonl")
    with pytest.raises(ConfigError, match="grpo has no --max-length"):
        DiTPOConfig.load(None, model="m", data="d", out="o", switch_step=0, max_length=512)
    with pytest.raises(ConfigError, match="--switch-step: Field required"):
        DiTPOConfig.load(None, model="m", data="d", out="o")

    # studies without a reference are skipped (and counted) when others have one
    one_blank = _dataset_variant(world, tmp_path / "one", lambda i, r: {**r, "findings": "", "impression": ""}
                                 if i == 0 else r)
    studies, skipped = grpo_studies(load_dataset(one_blank, verify_images=False), "train")
    assert skipped == ["s000"] and len(studies) == 5


# ---- end to end -------------------------------------------------------------------------------------


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_cli_grpo_lora_kl_two_steps_trains_and_writes_final(world, tmp_path):
    """2 optimizer steps (phase 1 then phase 2: --switch-step 1), LoRA, KL to the reference, TF-IDF weights.
    Weight decay 0: any change in the weights comes from the GRPO gradient, not from decay."""
    out = tmp_path / "run"
    main(["grpo", "--model", str(world["student"]), "--data", str(world["data"]), "--out", str(out),
          "--num-generations", "4", "--max-new-tokens", "16", "--max-steps", "2", "--switch-step", "1",
          "--kl-beta", "0.04", "--lr", "1e-2", "--warmup-ratio", "0", "--weight-decay", "0", "--logging-steps", "1"])
    final = out / "final"
    assert (final / "config.json").is_file() and (final / "model.safetensors").is_file()
    assert (out / "adapter" / "adapter_config.json").is_file()
    card = (final / "README.md").read_text()
    assert "driftalign grpo" in card and "DiTPO" in card and "token_weights: tfidf" in card
    before = load_model(world["student"], dtype=torch.float32).state_dict()
    after = load_model(final, dtype=torch.float32).state_dict()
    changed = _changed(before, after)
    assert changed and all("language_model" in k for k in changed), sorted(changed)[:5]
    data = json.loads((out / "grpo_data.json").read_text())
    assert data["studies"] == 6 and data["skipped_without_reference"] == [] and data["processes"] == 1
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    logs = [h for h in state["log_history"] if "reward/gamma" in h]
    assert [h["reward/gamma"] for h in logs] == [0.0, 0.25]                    # the two reward phases


def test_full_finetune_resumes_from_its_checkpoint(world, tmp_path):
    """--full, save every step: a second run with --max-steps 3 continues from checkpoint-2 with its weights."""
    from transformers import TrainerCallback

    from driftalign.training.grpo_trainer import run_grpo

    out = tmp_path / "run"
    first = run_grpo(_config(world, out, max_steps=2, save_steps=1, lr=1e-2, warmup_ratio=0, weight_decay=0))
    assert first.global_step == 2 and (out / "checkpoint-2").is_dir()
    after_two = load_model(out / "final", dtype=torch.float32).state_dict()
    assert _changed(load_model(world["student"], dtype=torch.float32).state_dict(), after_two)

    seen: dict[str, object] = {}

    class Probe(TrainerCallback):
        def on_step_begin(self, args, state, control, model=None, **kw):
            if "step" not in seen:
                seen["step"] = state.global_step
                seen["weights"] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    second = run_grpo(_config(world, out, max_steps=3, save_steps=1, lr=1e-2, warmup_ratio=0, weight_decay=0),
                      callbacks=[Probe()])
    assert seen["step"] == 2 and second.global_step == 3
    resumed = seen["weights"]
    for k, v in after_two.items():
        torch.testing.assert_close(resumed[k], v, rtol=0, atol=0, msg=k)


def test_the_vllm_backend_maps_to_trls_colocated_vllm_generation(world, tmp_path):
    """The documented GPU path: --backend vllm -> TRL's use_vllm (colocate); vLLM itself is not installed here."""
    from driftalign.training.grpo_trainer import grpo_arguments

    assert grpo_arguments(_config(world, tmp_path / "a")).use_vllm is False
    args = grpo_arguments(_config(world, tmp_path / "b", backend="vllm"))
    assert args.use_vllm is True and args.vllm_mode == "colocate"
