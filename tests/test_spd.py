"""SPD (SPEC §3 eq. 6): answer-only masks, collation, example selection, LoRA scope, resume, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from test_models_data import make_tiny_dataset
from transformers import TrainerCallback

from driftalign.cli.app import main as cli_main
from driftalign.data import load_dataset
from driftalign.errors import ConfigError, DatasetError
from driftalign.models import build_student, load_processor
from driftalign.models.chat import IGNORE_INDEX, encode_example, turn_end_text
from driftalign.models.collators import VisionChatCollator
from driftalign.training.spd import SPDConfig, spd_examples
from driftalign.training.spd_trainer import run_spd


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("spd") / "data")


@pytest.fixture(scope="module")
def student(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_student("tiny", world, tmp_path_factory.mktemp("spd") / "tiny", seed=0)


def _cfg(student: Path, world: Path, out: Path, **kw) -> SPDConfig:
    base = dict(model=student, data=world, out=out, max_steps=6, batch_size=4, save_steps=3, logging_steps=1,
                seed=0)
    return SPDConfig(**{**base, **kw})


# --- answer-only mask ------------------------------------------------------------------------------

def test_labels_are_the_answer_plus_end_of_turn_token_by_token(student: Path) -> None:
    processor = load_processor(student)
    answer = "There is a moderate right pleural effusion."
    ex = encode_example(processor, [Image.new("RGB", (64, 64))], "Describe the image.", answer)
    ids, labels = ex["input_ids"], ex["labels"]
    answer_ids = processor.tokenizer(answer + "<|im_end|>", add_special_tokens=False)["input_ids"]
    n_prompt = ids.numel() - len(answer_ids)
    assert turn_end_text(processor) == "<|im_end|>"
    for i in range(ids.numel()):  # token by token: prompt (incl. image pads) masked, answer kept
        if i < n_prompt:
            assert labels[i] == IGNORE_INDEX, i
        else:
            assert labels[i] == ids[i] == answer_ids[i - n_prompt], i
    assert processor.tokenizer.decode(labels[labels != IGNORE_INDEX]) == answer + "<|im_end|>"
    image_positions = (ids == processor.image_token_id).nonzero().flatten()
    assert image_positions.numel() == 4 and (labels[image_positions] == IGNORE_INDEX).all()
    assert ex["mm_token_type_ids"].sum() == 4 and ex["mm_token_type_ids"][image_positions].all()
    assert processor.tokenizer.decode(ids[:n_prompt]).endswith("Describe the image.<|im_end|>\n<|im_start|>assistant\n")


def test_max_length_truncates_the_answer_never_the_prompt(student: Path) -> None:
    processor = load_processor(student)
    image = [Image.new("RGB", (64, 64))]
    full = encode_example(processor, image, "Describe.", "The lungs are clear. " * 10)
    cut = encode_example(processor, image, "Describe.", "The lungs are clear. " * 10, max_length=40)
    assert cut["input_ids"].numel() == 40 and torch.equal(cut["input_ids"], full["input_ids"][:40])
    with pytest.raises(ValueError, match="more than max_length"):
        encode_example(processor, image, "Describe.", "x", max_length=10)


def test_collator_pads_right_and_left() -> None:
    a = {"input_ids": torch.tensor([11, 12, 13]), "attention_mask": torch.ones(3, dtype=torch.long),
         "labels": torch.tensor([-100, -100, 13]), "mm_token_type_ids": torch.tensor([0, 1, 0]),
         "pixel_values": torch.ones(16, 5), "image_grid_thw": torch.tensor([[1, 4, 4]])}
    b = {"input_ids": torch.tensor([21, 22, 23, 24, 25]), "attention_mask": torch.ones(5, dtype=torch.long),
         "labels": torch.tensor([-100, -100, -100, 24, 25]), "mm_token_type_ids": torch.tensor([0, 1, 0, 0, 0]),
         "pixel_values": torch.zeros(16, 5), "image_grid_thw": torch.tensor([[1, 4, 4]])}
    right = VisionChatCollator(pad_token_id=0)([a, b])
    assert right["input_ids"].tolist() == [[11, 12, 13, 0, 0], [21, 22, 23, 24, 25]]
    assert right["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert right["labels"].tolist() == [[-100, -100, 13, -100, -100], [-100, -100, -100, 24, 25]]
    assert right["mm_token_type_ids"].tolist() == [[0, 1, 0, 0, 0], [0, 1, 0, 0, 0]]
    assert right["pixel_values"].shape == (32, 5) and right["pixel_values"][:16].eq(1).all()
    assert right["image_grid_thw"].tolist() == [[1, 4, 4], [1, 4, 4]]
    left = VisionChatCollator(pad_token_id=0, padding_side="left")([a, b])
    assert left["input_ids"].tolist()[0] == [0, 0, 11, 12, 13]
    assert left["attention_mask"].tolist()[0] == [0, 0, 1, 1, 1]


# --- example selection ---------------------------------------------------------------------------

def test_one_example_per_trajectory_skipping_refusals(world: Path) -> None:
    ds = load_dataset(world)
    train = {s.study_id for s in ds.split("train")}
    examples = spd_examples(ds, "train", None, keep_refusals=False)
    refusals = [t for t in ds.trajectories if t.study_id in train and t.meta["refusal"]]
    assert len(examples) == 3 * len(train) - len(refusals) == 20
    assert all(e.study_id in train for e in examples)
    assert not any("cannot help" in e.answer for e in examples)
    assert len(spd_examples(ds, "train", None, keep_refusals=True)) == 24
    single = spd_examples(ds, "train", ["sim-a"], keep_refusals=False)
    assert len(single) == 8 and {e.teacher for e in single} == {"sim-a"}


def test_unknown_teacher_and_missing_trajectories_fail_clearly(world: Path, tmp_path: Path) -> None:
    ds = load_dataset(world)
    with pytest.raises(ConfigError, match=r"--teachers: \['sim-zzz'\] not in .*trajectories.jsonl"):
        spd_examples(ds, "train", ["sim-zzz"], keep_refusals=False)
    with pytest.raises(DatasetError, match="no studies in split 'val'"):
        spd_examples(ds, "val", None, keep_refusals=False)
    bare = load_dataset(make_tiny_dataset(tmp_path / "bare", with_trajectories=False))
    with pytest.raises(DatasetError, match=r"trajectories.jsonl: no trajectories"):
        spd_examples(bare, "train", None, keep_refusals=False)


def test_cli_spd_on_a_dataset_without_trajectories_exits_2(student: Path, tmp_path: Path, capsys) -> None:
    bare = make_tiny_dataset(tmp_path / "bare", with_trajectories=False)
    with pytest.raises(SystemExit) as exc:
        cli_main(["spd", "--model", str(student), "--data", str(bare), "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert "no trajectories" in capsys.readouterr().err


def test_config_rules() -> None:
    with pytest.raises(ConfigError, match="--no-freeze-vision needs --full"):
        SPDConfig.load(model="m", data="d", out="o", lora=True, freeze_vision=False)
    full = SPDConfig.load(model="m", data="d", out="o", lora=False)
    assert full.learning_rate == 1e-5 and SPDConfig.load(model="m", data="d", out="o").learning_rate == 1e-4
    assert SPDConfig.load(model="m", data="d", out="o", teachers="sim-a, sim-b").teacher_names() == ["sim-a", "sim-b"]


# --- training runs ---------------------------------------------------------------------------------

def test_lora_trains_only_the_language_model(student: Path, world: Path, tmp_path: Path) -> None:
    from peft import PeftModel

    from driftalign.models import load_model

    out = tmp_path / "lora"
    summary = run_spd(_cfg(student, world, out, max_steps=3, lr=1e-2))
    assert summary.global_step == 3
    adapter_cfg = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert "language_model" in adapter_cfg["target_modules"] and "visual" not in adapter_cfg["target_modules"]
    base = load_model(student).state_dict()  # in-memory names (the files use Qwen's legacy key layout)
    adapter = load_file(out / "adapter" / "adapter_model.safetensors")
    assert adapter and not any("visual" in k for k in adapter)
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in adapter.items())  # lora_B starts at zero
    trained = PeftModel.from_pretrained(load_model(student), out / "adapter")
    weights = {k.removeprefix("base_model.model.").replace(".base_layer", ""): v
               for k, v in trained.state_dict().items() if "lora_" not in k}
    assert set(weights) == set(base)
    assert all(torch.equal(weights[k], base[k]) for k in base)  # vision and every non-LoRA weight unchanged
    merged = load_model(out / "final").state_dict()
    assert all(torch.equal(merged[k], base[k]) for k in base if "visual" in k)
    assert any(not torch.equal(merged[k], base[k]) for k in base if "language_model" in k and "proj" in k)
    assert (out / "driftalign_config.yaml").is_file() and (out / "final" / "processor_config.json").is_file()


def test_full_finetuning_with_vision_unfrozen_changes_the_vision_tower(student: Path, world: Path,
                                                                       tmp_path: Path) -> None:
    from driftalign.models import load_model

    run_spd(_cfg(student, world, tmp_path / "full", max_steps=2, lora=False, freeze_vision=False, lr=1e-3))
    base = load_model(student).state_dict()
    final = load_model(tmp_path / "full" / "final").state_dict()
    assert not (tmp_path / "full" / "adapter").exists()
    assert any(not torch.equal(final[k], base[k]) for k in base if "visual" in k)


class StopAt(TrainerCallback):
    """Simulates an interruption right after optimiser step `step` (its checkpoint is written)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True
        return control


def _losses(out: Path) -> dict[int, float]:
    state = json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())
    return {row["step"]: row["loss"] for row in state["log_history"] if "loss" in row}


def test_interrupted_run_resumes_to_the_same_loss_curve(student: Path, world: Path, tmp_path: Path) -> None:
    straight = run_spd(_cfg(student, world, tmp_path / "straight", lr=1e-2))
    first = run_spd(_cfg(student, world, tmp_path / "resumed", lr=1e-2), callbacks=[StopAt(3)])
    assert first.global_step == 3 and (tmp_path / "resumed" / "checkpoint-3").is_dir()
    resumed = run_spd(_cfg(student, world, tmp_path / "resumed", lr=1e-2))
    assert straight.global_step == resumed.global_step == 6
    a, b = _losses(tmp_path / "straight"), _losses(tmp_path / "resumed")
    assert sorted(a) == sorted(b) == [1, 2, 3, 4, 5, 6]  # steps 4-6 continue the interrupted curve
    for step in a:
        assert b[step] == pytest.approx(a[step], abs=1e-5), step
    assert a[6] < a[1] - 0.1  # the curve really moves (lr 1e-2), so equality is not trivial


@pytest.mark.parametrize("freeze_vision", [True, False])
def test_interrupted_full_finetune_resumes_to_the_same_loss_curve(student: Path, world: Path, tmp_path: Path,
                                                                   freeze_vision: bool) -> None:
    """Full fine-tuning checkpoints hold the model in the checkpoint key format (`visual.*`): resume must
    load every weight back, not leave the missing ones at their initial values."""
    kw = dict(lr=1e-2, lora=False, freeze_vision=freeze_vision)
    run_spd(_cfg(student, world, tmp_path / "straight", **kw))
    run_spd(_cfg(student, world, tmp_path / "resumed", **kw), callbacks=[StopAt(3)])
    run_spd(_cfg(student, world, tmp_path / "resumed", **kw))
    a, b = _losses(tmp_path / "straight"), _losses(tmp_path / "resumed")
    for step in a:
        assert b[step] == pytest.approx(a[step], abs=1e-4), step
    final_a = load_file(tmp_path / "straight" / "final" / "model.safetensors")
    final_b = load_file(tmp_path / "resumed" / "final" / "model.safetensors")
    assert final_a.keys() == final_b.keys()
    assert all(torch.allclose(final_a[k], final_b[k], atol=1e-4) for k in final_a)


def test_cli_spd_single_teacher(student: Path, world: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "single"
    cli_main(["spd", "--model", str(student), "--data", str(world), "--out", str(out), "--teachers", "sim-a",
              "--full", "--max-steps", "2", "--batch-size", "4", "--lr", "1e-3"])
    printed = capsys.readouterr().out
    line = printed.strip().splitlines()[-1]
    assert line.startswith("done: 2 steps, train loss ") and "examples/s, 8 examples" in line
    assert "{'loss'" not in printed and "'train_runtime'" not in printed       # no Trainer dicts on the console
    logged = [json.loads(x) for x in (out / "trainer_log.jsonl").read_text().splitlines()]
    assert any("loss" in r for r in logged) and any("train_runtime" in r for r in logged)
    saved = (out / "driftalign_config.yaml").read_text()
    assert "teachers: sim-a" in saved and "lora: false" in saved and "max_steps: 2" in saved


# --- the oracle: --targets reference ---------------------------------------------------------------

def test_reference_targets_give_one_example_per_study_with_its_report(world: Path) -> None:
    from driftalign.training.spd import REFERENCE_TARGET, training_examples

    ds = load_dataset(world)
    cfg = SPDConfig(model="m", data=world, out="o", targets="reference")
    examples = training_examples(ds, cfg)
    train = ds.split("train")
    assert [e.study_id for e in examples] == [s.study_id for s in train]
    assert all(e.teacher == REFERENCE_TARGET for e in examples)
    assert [e.answer for e in examples] == [s.report for s in train]
    # with the default targets the same call gives the teachers' trajectories
    assert len(training_examples(ds, SPDConfig(model="m", data=world, out="o"))) == 20


def test_cli_oracle_run_needs_no_trajectories(student: Path, tmp_path: Path, capsys) -> None:
    bare = make_tiny_dataset(tmp_path / "bare", with_trajectories=False)
    out = tmp_path / "oracle"
    cli_main(["spd", "--model", str(student), "--data", str(bare), "--out", str(out), "--targets", "reference",
              "--full", "--max-steps", "2", "--batch-size", "4", "--lr", "1e-3"])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("done: 2 steps") and "8 examples" in line
    assert "targets: reference" in (out / "driftalign_config.yaml").read_text()
    assert (out / "final" / "config.json").is_file()


# --- the prompt cache ------------------------------------------------------------------------------

def test_prompt_cache_encodes_each_study_once_and_stays_bounded(student: Path, world: Path) -> None:
    from driftalign.models.chat import PromptCache, encode_prompt

    ds = load_dataset(world)
    processor = load_processor(student)
    prompt = "Describe the image."
    loads: list[str] = []

    def loader(study):
        return lambda: (loads.append(study.study_id), ds.load_images(study))[1]

    s1, s2 = ds.split("train")[:2]
    cache = PromptCache(processor, prompt)
    a = cache(s1.study_id, loader(s1))
    assert cache(s1.study_id, loader(s1)) is a and loads == [s1.study_id]
    fresh = encode_prompt(processor, ds.load_images(s1), prompt)
    assert all(torch.equal(a[k], fresh[k]) for k in fresh)
    # cached or not, the example is the same tensors
    cached = encode_example(processor, (), prompt, "No acute findings.", prompt_part=a)
    direct = encode_example(processor, ds.load_images(s1), prompt, "No acute findings.")
    assert all(torch.equal(cached[k], direct[k]) for k in direct)
    size = sum(t.numel() * t.element_size() for t in a.values())
    small = PromptCache(processor, prompt, max_bytes=size)     # room for one study
    small(s1.study_id, loader(s1))
    small(s2.study_id, loader(s2))
    small(s1.study_id, loader(s1))                               # evicted: loaded again
    assert loads[-3:] == [s1.study_id, s2.study_id, s1.study_id]


# --- the answer-only loss --------------------------------------------------------------------------

def test_spd_loss_without_full_logits_equals_the_models_own_loss(student: Path, world: Path, tmp_path: Path) -> None:
    from transformers import TrainingArguments

    from driftalign.training.spd_trainer import SPDDataset, SPDTrainer

    ds = load_dataset(world)
    model, processor = load_student_fp32(student)
    examples = spd_examples(ds, "train", None, keep_refusals=False)[:4]
    dataset = SPDDataset(ds, examples, processor, "Describe the image.", 512)
    batch = VisionChatCollator(pad_token_id=processor.tokenizer.pad_token_id)([dataset[i] for i in range(4)])
    trainer = SPDTrainer(model=model, args=TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True))
    n_items = int((batch["labels"][:, 1:] != -100).sum())
    grads = []
    for loss_of in (lambda: model(**batch).loss,
                    lambda: trainer.compute_loss(model, dict(batch), num_items_in_batch=torch.tensor(n_items)),
                    lambda: trainer.compute_loss(model, dict(batch))):
        model.zero_grad()
        loss = loss_of()
        loss.backward()
        grads.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    for loss, g in grads[1:]:
        assert torch.allclose(loss, grads[0][0], atol=1e-5)
        assert g.keys() == grads[0][1].keys()
        assert all(torch.allclose(g[n], grads[0][1][n], atol=1e-5, rtol=1e-4) for n in g)


def load_student_fp32(path: Path):
    from driftalign.models import load_student

    return load_student(path, dtype=torch.float32)


def test_final_model_has_a_model_card(student: Path, world: Path, tmp_path: Path) -> None:
    import yaml

    out = tmp_path / "carded"
    run_spd(_cfg(student, world, out, max_steps=1, lora=False))
    card = (out / "final" / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "image-text-to-text"
    assert "spd" in meta["tags"] and meta["datasets"] == [world.name]
    assert "## Training configuration" in card and "max_steps: 1" in card and "Supervised pre-distillation" in card


# --- a kill while a checkpoint is written, and the log after a resume (issue 21) -----------------------

def _step_losses(out: Path, step: int) -> dict[int, float]:
    state = json.loads((out / f"checkpoint-{step}" / "trainer_state.json").read_text())
    return {row["step"]: row["loss"] for row in state["log_history"] if "loss" in row}


def test_rerun_resumes_past_a_checkpoint_cut_to_its_config(student: Path, world: Path, tmp_path: Path,
                                                           capfd) -> None:
    """checkpoint-6 holding only config.json (killed while written, before atomic saves): the rerun moves it
    aside with one notice line, resumes from checkpoint-3 and ends on the same loss curve."""
    out = tmp_path / "full"
    cfg = _cfg(student, world, out, lr=1e-2, lora=False)
    run_spd(cfg)
    before = _step_losses(out, 6)
    for f in (out / "checkpoint-6").iterdir():
        if f.name != "config.json":
            f.unlink()
    capfd.readouterr()
    assert run_spd(cfg).global_step == 6
    notes = [line for line in capfd.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == [(f"note: {out / 'checkpoint-6'} is incomplete (no trainer_state.json), moved aside to "
                      ".incomplete-checkpoint-6; resuming from checkpoint-3")]
    assert sorted(p.name for p in (out / ".incomplete-checkpoint-6").iterdir()) == ["config.json"]
    after = _step_losses(out, 6)
    assert sorted(after) == [1, 2, 3, 4, 5, 6]
    assert all(after[s] == pytest.approx(before[s], abs=1e-4) for s in before)
    assert not (out / ".saving").exists()


def test_rerun_resumes_past_a_checkpoint_with_truncated_weights(student: Path, world: Path, tmp_path: Path,
                                                                capfd) -> None:
    out = tmp_path / "lora"
    cfg = _cfg(student, world, out, lr=1e-2)
    run_spd(cfg)
    before = _step_losses(out, 6)
    adapter = out / "checkpoint-6" / "adapter_model.safetensors"
    adapter.write_bytes(adapter.read_bytes()[:adapter.stat().st_size // 2])
    capfd.readouterr()
    assert run_spd(cfg).global_step == 6
    err = capfd.readouterr().err
    assert "checkpoint-6 is incomplete (adapter_model.safetensors unreadable: " in err
    assert "resuming from checkpoint-3" in err
    assert (out / ".incomplete-checkpoint-6" / "adapter_model.safetensors").is_file()
    after = _step_losses(out, 6)
    assert all(after[s] == pytest.approx(before[s], abs=1e-5) for s in before)


class Killed(BaseException):
    """Stands for a SIGKILL: nothing after it runs (not an Exception, so no handler catches it)."""


def test_a_kill_while_saving_leaves_no_checkpoint_directory(student: Path, world: Path, tmp_path: Path,
                                                            monkeypatch, capfd) -> None:
    """A checkpoint appears under its name only when complete: killed half-way through saving checkpoint-6,
    the run shows checkpoint-3 only; the rerun deletes the partial save (one notice line) and finishes."""
    from driftalign.training.spd_trainer import SPDTrainer

    out = tmp_path / "killed"
    cfg = _cfg(student, world, out, lr=1e-2)
    save_rng = SPDTrainer._save_rng_state

    def kill_at_six(self, output_dir):
        if self.state.global_step == 6:
            raise Killed
        save_rng(self, output_dir)

    monkeypatch.setattr(SPDTrainer, "_save_rng_state", kill_at_six)
    with pytest.raises(Killed):
        run_spd(cfg)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-3"]
    assert (out / ".saving" / "checkpoint-6" / "adapter_model.safetensors").is_file()   # the partial save
    monkeypatch.undo()
    capfd.readouterr()
    assert run_spd(cfg).global_step == 6
    err = capfd.readouterr().err
    assert f"note: {out / '.saving' / 'checkpoint-6'} was interrupted while saving, removed; resuming from " \
           "checkpoint-3" in err
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-6"]
    assert not (out / ".saving").exists() and not list(out.glob(".incomplete-*"))


def test_resumed_run_logs_each_step_once(student: Path, world: Path, tmp_path: Path) -> None:
    """Killed after step 5 (checkpoint-3 written, steps 4-5 logged), resumed: trainer_log.jsonl holds each step
    once, as an uninterrupted run's does, with the same losses."""
    def log(out: Path) -> list[dict]:
        return [json.loads(x) for x in (out / "trainer_log.jsonl").read_text().splitlines()]

    run_spd(_cfg(student, world, tmp_path / "straight", lr=1e-2))
    run_spd(_cfg(student, world, tmp_path / "resumed", lr=1e-2), callbacks=[StopAt(5)])
    assert max(r["step"] for r in log(tmp_path / "resumed")) == 5
    run_spd(_cfg(student, world, tmp_path / "resumed", lr=1e-2))
    straight, resumed = log(tmp_path / "straight"), log(tmp_path / "resumed")
    assert [r["step"] for r in resumed] == [r["step"] for r in straight] == [1, 2, 3, 4, 5, 6, 6]
    assert [r["step"] for r in resumed if "loss" in r] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(straight, resumed):
        if "loss" in a:
            assert b["loss"] == pytest.approx(a["loss"], abs=1e-5)


def test_truncate_log_keeps_the_steps_up_to_the_checkpoint_and_drops_a_torn_line(tmp_path: Path) -> None:
    from driftalign.training.common import truncate_log

    log = tmp_path / "trainer_log.jsonl"
    log.write_text("".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in range(1, 6)) + '{"step": 6, "lo')
    truncate_log(log, 3)
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [1, 2, 3]
    truncate_log(log, 0)   # started afresh: nothing of the old run stays
    assert log.read_text() == ""
    log.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in (1, 2, 3))
                   + json.dumps({"step": 3, "train_runtime": 1.0, "train_loss": 1.0}) + "\n")
    truncate_log(log, 3)   # resumed from the last step's checkpoint: the old end summary goes, a new one comes
    assert [sorted(json.loads(x)) for x in log.read_text().splitlines()] == [["loss", "step"]] * 3


# --- final/ and adapter/ appear only when complete (issue 21) -------------------------------------------------

@pytest.mark.parametrize("lora", [True, False])
def test_a_failure_while_writing_final_leaves_no_final_and_a_rerun_completes(student: Path, world: Path,
                                                                             tmp_path: Path, monkeypatch,
                                                                             lora: bool) -> None:
    """An error half-way through writing final/ (its weights written, not yet cast, no processor or card) leaves
    no final/ and no staging directory; with LoRA adapter/ (published before final/ is merged from it) is whole.
    The rerun resumes from the last checkpoint and writes a complete final/."""
    import driftalign.training.spd_trainer as spd_trainer
    from driftalign.models import load_student

    out = tmp_path / ("lora" if lora else "full")
    cfg = _cfg(student, world, out, max_steps=3, lora=lora)
    seen: list[str] = []

    def disk_failed(staged, dtype):
        seen.extend(sorted(p.name for p in Path(staged).iterdir()))
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(spd_trainer, "cast_saved_weights", disk_failed)
    with pytest.raises(OSError, match="Input/output error"):
        run_spd(cfg)
    assert "model.safetensors" in seen and "README.md" not in seen            # failed in the middle of final/
    assert not (out / "final").exists() and not list(out.glob(".*.tmp"))
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-3"]
    if lora:
        assert {"adapter_model.safetensors", "adapter_config.json"} <= {p.name for p in (out / "adapter").iterdir()}
    monkeypatch.undo()
    assert run_spd(cfg).global_step == 3   # resumed from checkpoint-3, the last step: no step past max_steps
    assert {"config.json", "model.safetensors", "README.md", "processor_config.json"} <= \
        {p.name for p in (out / "final").iterdir()}
    assert not list(out.glob(".*.tmp")) and load_student(out / "final") is not None
    straight = tmp_path / "straight"
    run_spd(_cfg(student, world, straight, max_steps=3, lora=lora))
    a, b = load_file(straight / "final" / "model.safetensors"), load_file(out / "final" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)   # the same model as uninterrupted
    logged = [json.loads(x) for x in (out / "trainer_log.jsonl").read_text().splitlines()]
    assert [(r["step"], "train_runtime" in r) for r in logged] == [(1, False), (2, False), (3, False), (3, True)]


KILL_IN_FINAL = """
import os, signal, sys
from pathlib import Path
import driftalign.training.spd_trainer as spd_trainer
from driftalign.training.spd import SPDConfig

def kill(staged, dtype):          # SIGKILL itself half-way through writing final/: no handler, no cleanup
    (Path(staged).parent / "killed-in").write_text(" ".join(sorted(p.name for p in Path(staged).iterdir())))
    os.kill(os.getpid(), signal.SIGKILL)

spd_trainer.cast_saved_weights = kill
student, world, out = sys.argv[1:]
spd_trainer.run_spd(SPDConfig(model=student, data=world, out=out, max_steps=3, batch_size=4, save_steps=3,
                              logging_steps=1, seed=0))
"""


def test_a_kill_while_writing_final_leaves_no_final_and_the_rerun_removes_the_staging_dir(
        student: Path, world: Path, tmp_path: Path) -> None:
    """A real SIGKILL in the middle of writing final/ (LoRA: adapter/ published, final/ merged and half written):
    no final/, only `.final.tmp`; the rerun resumes, publishes a complete final/ and leaves no temporary dir."""
    import os
    import signal
    import subprocess
    import sys

    from driftalign.models import load_student

    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    run = subprocess.run([sys.executable, "-c", KILL_IN_FINAL, str(student), str(world), str(out)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    assert "model.safetensors" in (out / "killed-in").read_text().split()
    assert not (out / "final").exists() and (out / ".final.tmp" / "model.safetensors").is_file()
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert run_spd(_cfg(student, world, out, max_steps=3)).global_step == 3
    assert (out / "final" / "README.md").is_file() and load_student(out / "final") is not None
    assert not list(out.glob(".*.tmp")) and not (out / ".saving").exists()
