"""Every stage on a checkpoint laid out exactly like the hub's Qwen/Qwen2.5-VL-7B-Instruct (tests/hub_checkpoint.py:
flat config, five bf16 shards, Qwen2Tokenizer with the real special-token ids and 152,064 rows, the hub's chat
template, preprocessor_config (min_pixels 3,136 / max_pixels 12,845,056) and generation_config), tiny widths.

What the hub's defaults used to do silently, and what is checked here instead:
* load: no torchvision -> the image-only processor with a one-line notice; any failure is one line naming the dir;
* sampling: the checkpoint's generation_config (repetition_penalty 1.05, temperature 1e-6; the first upload had
  top_k 1, top_p 0.001) never reaches a stage: greedy is plain argmax, samples differ;
* precision: bf16 weights train as float32 master weights (--full) and final/ is saved as bf16 again;
* image size: max_pixels capped at 448 x 448 by default, recorded in the saved processor; a prompt longer than
  --max-length stops before training, naming the study;
* outputs name the standard processor class.
The stages run on the 6-study mini dataset (SYNTHETIC, apo_helpers), a few steps each.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from driftalign.cli.app import main
from driftalign.data.dataset import load_dataset
from driftalign.errors import ConfigError
from driftalign.generation.backend import GenerationRequest
from driftalign.generation.sampling import SamplingConfig
from driftalign.generation.transformers_backend import TransformersBackend
from driftalign.models.chat import encode_prompt
from driftalign.models.collators import VisionChatCollator
from driftalign.models.load import checkpoint_dtype, load_model, load_processor, load_student
from driftalign.models.processor import image_limits
from driftalign.models.weights import saved_dtypes
from driftalign.training.preflight import prompt_lengths

# The hub's first upload (before 2025-03-21): the values that made every "sample" greedy.
FIRST_UPLOAD_GENERATION = {"bos_token_id": 151643, "pad_token_id": 151643, "do_sample": True,
                           "eos_token_id": [151645, 151643], "repetition_penalty": 1.05, "temperature": 0.1,
                           "top_p": 0.001, "top_k": 1, "transformers_version": "4.37.0"}


@pytest.fixture(scope="module")
def hub(hub_checkpoint: Path, mini_world: dict[str, Path], tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hubstages")
    first = root / "first-upload"
    shutil.copytree(hub_checkpoint, first)
    (first / "generation_config.json").write_text(json.dumps(FIRST_UPLOAD_GENERATION))
    return {"model": hub_checkpoint, "first_upload": first, "data": mini_world["data"],
            "consensus": mini_world["consensus"], "root": root}


def _requests(data: Path, n: int = 2) -> list[GenerationRequest]:
    ds = load_dataset(data, with_trajectories=False)
    return [GenerationRequest(images=ds.load_images(s), prompt="Describe the image.") for s in ds.studies[:n]]


# ---- loading -------------------------------------------------------------------------------------------------------


def test_hub_checkpoint_loads_without_torchvision_with_one_notice(hub, capsys) -> None:
    import driftalign.models.load as load

    load._NOTICES.clear()
    model, processor = load_student(hub["model"])
    load_processor(hub["model"])
    err = capsys.readouterr().err
    from transformers.utils import is_torchvision_available

    if not is_torchvision_available():
        assert err.count("note: torchvision is not installed") == 1 and len(err.strip().splitlines()) == 1
        assert type(processor).__name__ == "ImageOnlyQwen2_5_VLProcessor"
    assert "Loading weights" not in err
    assert next(model.parameters()).dtype == torch.bfloat16 == checkpoint_dtype(hub["model"])
    assert model.get_input_embeddings().weight.shape[0] == 152064
    assert processor.tokenizer.convert_tokens_to_ids("<|im_end|>") == 151645
    assert image_limits(processor) == (3136, 448 * 448)       # the hub's 12,845,056 capped at 448 x 448


def test_load_failures_are_one_line_naming_the_directory(hub, tmp_path, capsys) -> None:
    broken = tmp_path / "no-weights"
    shutil.copytree(hub["model"], broken, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(ConfigError, match=f"{broken}: cannot load the model"):
        load_model(broken)
    with pytest.raises(ConfigError, match="cannot load the model"):
        load_model(hub["model"], attn_implementation="flash_attention_2")   # flash-attn is not installed here
    out = tmp_path / "pred.jsonl"
    with pytest.raises(SystemExit) as e:
        main(["generate", "--model", str(broken), "--data", str(hub["data"]), "--split", "train", "--out", str(out)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: {broken}: cannot load the model") and "Traceback" not in "\n".join(err)


# ---- sampling ------------------------------------------------------------------------------------------------------


def _greedy_by_hand(model, processor, request: GenerationRequest, steps: int) -> list[int]:
    """Plain greedy: argmax of a full forward pass at every step, nothing else."""
    batch = VisionChatCollator(pad_token_id=processor.tokenizer.pad_token_id, padding_side="left")(
        [encode_prompt(processor, request.images, request.prompt)])
    out: list[int] = []
    with torch.no_grad():
        for _ in range(steps):
            token = int(model(**batch).logits[0, -1].float().argmax())
            out.append(token)
            if token in (151645, 151643):
                break
            for key, value in (("input_ids", token), ("attention_mask", 1), ("mm_token_type_ids", 0)):
                batch[key] = torch.cat([batch[key], torch.tensor([[value]], dtype=batch[key].dtype)], dim=1)
    return out


@pytest.mark.parametrize("variant", ["model", "first_upload"])
def test_greedy_is_plain_greedy_and_nothing_of_generation_config_is_inherited(hub, variant, monkeypatch) -> None:
    backend = TransformersBackend.from_pretrained(str(hub[variant]), SamplingConfig(max_new_tokens=10))
    seen = []
    prepare = backend.model._prepare_generation_config

    def spy(generation_config, **kwargs):
        config, model_kwargs = prepare(generation_config, **kwargs)
        seen.append(config)
        return config, model_kwargs

    monkeypatch.setattr(backend.model, "_prepare_generation_config", spy)
    request = _requests(hub["data"], 1)[0]
    text = backend.generate([request])[0][0]
    config = seen[-1]
    assert config.do_sample is False and config.repetition_penalty == 1.0 and config.num_beams == 1
    assert config.eos_token_id == [151645, 151643]
    assert backend.model.generation_config.repetition_penalty == 1.05      # the checkpoint's own is left as it was
    by_hand = _greedy_by_hand(backend.model, backend.processor, request, 10)
    assert text == backend.processor.decode(by_hand, skip_special_tokens=True).strip()


def test_samples_differ_where_the_first_upload_config_made_them_identical(hub) -> None:
    backend = TransformersBackend.from_pretrained(str(hub["first_upload"]))
    request = _requests(hub["data"], 1)
    torch.manual_seed(0)
    ours = backend.generate(request, SamplingConfig(max_new_tokens=8, do_sample=True, temperature=1.0, top_p=0.9,
                                                    num_return_sequences=6))[0]
    assert len(set(ours)) >= 5
    # the same request through generate() with the checkpoint's defaults filling in: top_k 1 -> one text
    batch = backend._batch(request)
    torch.manual_seed(0)
    inherited = backend.model.generate(**batch, max_new_tokens=8, do_sample=True, temperature=1.0, top_p=0.9,
                                       num_return_sequences=6)
    assert len({tuple(row.tolist()) for row in inherited}) == 1


def test_generate_greedy_and_sampled_then_eval_through_the_cli(hub, tmp_path, capsys) -> None:
    greedy, sampled = tmp_path / "greedy.jsonl", tmp_path / "sampled.jsonl"
    common = ["--model", str(hub["model"]), "--data", str(hub["data"]), "--split", "train", "--max-new-tokens", "8"]
    main(["generate", *common, "--out", str(greedy)])
    main(["generate", *common, "--out", str(sampled), "--do-sample", "--num-return-sequences", "3", "--top-p", "0.9",
          "--top-k", "50", "--seed", "1"])
    rows = [json.loads(line) for line in sampled.read_text().splitlines()]
    assert len(rows) == 18 and all(len({r["text"] for r in rows if r["study_id"] == s}) > 1 for s in {r["study_id"] for r in rows})
    main(["eval", "--pred", str(greedy), "--data", str(hub["data"]), "--split", "train", "--no-meteor",
          "--json", str(tmp_path / "metrics.json")])
    assert json.loads((tmp_path / "metrics.json").read_text())


def test_consensus_model_and_ddsample_on_the_hub_checkpoint(hub, tmp_path) -> None:
    from driftalign.consensus.row import read_consensus
    from driftalign.consensus.run import ConsensusConfig, run_consensus
    from driftalign.rl.ddsample import DDSampleConfig, run_ddsample

    cfg = ConsensusConfig(data=hub["data"], out=tmp_path / "model.jsonl", strategy="model", model=hub["model"],
                          max_new_tokens=8, batch_size=6)
    assert run_consensus(cfg).rows == len(read_consensus(cfg.out)) == 6
    dds = DDSampleConfig(model=hub["first_upload"], data=hub["data"], out=tmp_path / "dds", k=3, max_new_tokens=8,
                         size=2)
    assert run_ddsample(dds).subset == 2
    samples = [json.loads(line) for line in (tmp_path / "dds" / "samples.jsonl").read_text().splitlines()]
    assert all(len({r["text"] for r in samples if r["study_id"] == s}) == 3 for s in {r["study_id"] for r in samples})


# ---- image size ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_image_data(hub) -> Path:
    """The mini dataset with study s000's image replaced by a 1024 px one (~1,400 image tokens at the hub's limits)."""
    data = hub["root"] / "big"
    shutil.copytree(hub["data"], data)
    Image.new("RGB", (1024, 1024), (90, 90, 90)).save(data / "images" / "s000.png")
    return data


def test_preflight_counts_the_tokens_the_processor_makes(hub, big_image_data) -> None:
    ds = load_dataset(big_image_data, with_trajectories=False)
    for max_pixels, image_tokens in ((12845056, 37 * 37), (None, 16 * 16)):
        processor = load_processor(hub["model"], max_pixels=max_pixels)
        counted = prompt_lengths(ds, ["s000", "s001"], processor, "Describe the image.")
        for sid in ("s000", "s001"):
            encoded = encode_prompt(processor, ds.load_images(ds.study(sid)), "Describe the image.")
            assert counted[sid][0] == encoded["input_ids"].numel()
        assert counted["s000"][1] == image_tokens


def test_spd_stops_before_training_when_a_prompt_exceeds_max_length(hub, big_image_data, tmp_path, capsys) -> None:
    out = tmp_path / "spd"
    args = ["spd", "--model", str(hub["model"]), "--data", str(big_image_data), "--out", str(out), "--max-steps", "1",
            "--batch-size", "2"]
    with pytest.raises(SystemExit) as e:
        main([*args, "--max-pixels", "12845056", "--max-length", "1024"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: spd: study 's000': its prompt needs") and "1369 image tokens" in err
    assert not (out / "checkpoint-1").exists()
    main(args)                                                 # the default cap: 448 x 448 px = 256 tokens
    assert "up to 256 image tokens per study (max_pixels 200704)" in capsys.readouterr().err
    saved = json.loads((out / "final" / "processor_config.json").read_text())   # transformers 5: one file
    assert saved["processor_class"] == "Qwen2_5_VLProcessor"
    assert saved["image_processor"]["size"] == {"shortest_edge": 3136, "longest_edge": 200704}
    assert saved["image_processor"]["image_processor_type"] == "Qwen2VLImageProcessor"
    assert image_limits(load_processor(out, max_pixels=10**9)) == (3136, 10**9)     # a given value wins
    assert image_limits(load_processor(out)) == (3136, 200704)                       # what the run recorded


# ---- training and precision ----------------------------------------------------------------------------------------


def _down_proj(model_dir: Path) -> torch.Tensor:
    from safetensors import safe_open

    name = "model.layers.0.mlp.down_proj.weight"
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            if name in f.keys():
                return f.get_tensor(name).float()
    raise KeyError(name)


def test_spd_full_trains_fp32_master_weights_and_saves_bf16(hub, tmp_path, capsys) -> None:
    out = tmp_path / "spd-full"
    main(["spd", "--model", str(hub["model"]), "--data", str(hub["data"]), "--out", str(out), "--full",
          "--max-steps", "3", "--save-steps", "3", "--lr", "1e-5", "--batch-size", "2", "--warmup-ratio", "0",
          "--gradient-checkpointing"])
    assert "trained as float32 master weights" in capsys.readouterr().err
    before, trained = _down_proj(hub["model"]), _down_proj(out / "checkpoint-3")
    assert (trained != before).float().mean() > 0.9             # pure-bf16 AdamW changed ~13% of them
    final = out / "final"
    assert saved_dtypes(final) == {torch.bfloat16} and checkpoint_dtype(final) == torch.bfloat16
    size = lambda d: sum(p.stat().st_size for p in d.glob("*.safetensors"))  # noqa: E731
    assert size(final) < 0.6 * size(out / "checkpoint-3")
    for name in ("tokenizer_config.json", "processor_config.json"):
        assert json.loads((final / name).read_text()).get("processor_class") in (None, "Qwen2_5_VLProcessor")
    from transformers import AutoModelForImageTextToText

    assert AutoModelForImageTextToText.from_pretrained(final).dtype == torch.bfloat16


def test_spd_lora_keeps_the_bf16_base_and_fp32_adapters(hub, tmp_path) -> None:
    from driftalign.training.spd import SPDConfig
    from driftalign.training.spd_trainer import run_spd

    seen = {}

    from transformers import TrainerCallback

    class Dtypes(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            seen.update({n: p.dtype for n, p in model.named_parameters()})

    summary = run_spd(SPDConfig(model=hub["model"], data=hub["data"], out=tmp_path / "spd-lora", max_steps=2,
                                batch_size=2, save_steps=10), callbacks=[Dtypes()])
    assert {d for n, d in seen.items() if "lora_" in n} == {torch.float32}
    assert {d for n, d in seen.items() if "lora_" not in n} == {torch.bfloat16}
    assert saved_dtypes(summary.final_dir) == {torch.bfloat16}
    assert (tmp_path / "spd-lora" / "adapter" / "adapter_config.json").is_file()


def test_apo_and_grpo_full_save_the_source_dtype(hub, tmp_path) -> None:
    from driftalign.training.apo import APOConfig, run_apo
    from driftalign.training.grpo import DiTPOConfig
    from driftalign.training.grpo_trainer import run_grpo

    apo = run_apo(APOConfig(model=hub["model"], data=hub["data"], out=tmp_path / "apo", consensus=hub["consensus"],
                            lora=False, max_steps=2, batch_size=2, save_steps=10))
    assert saved_dtypes(apo.final_dir) == {torch.bfloat16}
    grpo = run_grpo(DiTPOConfig(model=hub["model"], data=hub["data"], out=tmp_path / "grpo", num_generations=2,
                                max_new_tokens=8, switch_step=1, lora=False, max_steps=1, batch_size=2))
    assert saved_dtypes(grpo.final_dir) == {torch.bfloat16}
    assert checkpoint_dtype(grpo.final_dir) == torch.bfloat16


def test_save_dtype_float32_is_honoured(hub, tmp_path) -> None:
    from driftalign.training.spd import SPDConfig
    from driftalign.training.spd_trainer import run_spd

    summary = run_spd(SPDConfig(model=hub["model"], data=hub["data"], out=tmp_path / "spd32", lora=False,
                                max_steps=1, batch_size=2, save_dtype="float32"))
    assert saved_dtypes(summary.final_dir) == {torch.float32} and checkpoint_dtype(summary.final_dir) == torch.float32


def test_apo_reference_cache_key_follows_image_limits_and_dtype(hub) -> None:
    """Cached reference log-probs are reused only for the same image limits and reference dtype."""
    from driftalign.consensus.row import read_consensus
    from driftalign.training.apo import APOConfig, _reference_key, apo_rows

    cfg = APOConfig(model=hub["model"], data=hub["data"], out=hub["root"] / "unused", consensus=hub["consensus"])
    ds = load_dataset(hub["data"])
    rows = apo_rows(read_consensus(cfg.consensus), ds, cfg.split, cfg.weights, cfg.keep_refusals, cfg.consensus,
                    cfg.negative_tokens)
    keys = {_reference_key(cfg, hub["model"], ds, load_processor(hub["model"], max_pixels=m), rows) for m in (None, 10**6)}
    assert len(keys) == 2
    model = load_model(hub["model"])
    assert _reference_key(cfg, hub["model"], ds, load_processor(hub["model"]), rows, model) not in keys
