"""`driftalign generate`: one row per test study, sampling K outputs, resume, backend interface."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from test_models_data import make_tiny_dataset

from driftalign.cli.app import main as cli_main
from driftalign.data import load_dataset
from driftalign.errors import ConfigError
from driftalign.generation import GenerationRequest, SamplingConfig
from driftalign.generation.generate import GenerateConfig, run_generate
from driftalign.generation.transformers_backend import TransformersBackend
from driftalign.models import build_student


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("gen") / "data")


@pytest.fixture(scope="module")
def student(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_student("tiny", world, tmp_path_factory.mktemp("gen") / "tiny", seed=0)


@pytest.fixture(scope="module")
def backend(student: Path) -> TransformersBackend:
    return TransformersBackend.from_pretrained(str(student), SamplingConfig(max_new_tokens=6))


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cli_generate_writes_one_row_per_test_study(student: Path, world: Path, tmp_path: Path) -> None:
    out = tmp_path / "pred.jsonl"
    cli_main(["generate", "--model", str(student), "--data", str(world), "--out", str(out),
              "--max-new-tokens", "6", "--batch-size", "3"])
    rows = _rows(out)
    test_ids = [s.study_id for s in load_dataset(world).split("test")]
    assert [r["study_id"] for r in rows] == test_ids and len(rows) == 4
    assert all(set(r) == {"study_id", "text"} and isinstance(r["text"], str) for r in rows)


def test_greedy_batched_equals_one_by_one(backend: TransformersBackend, world: Path) -> None:
    ds = load_dataset(world)
    requests = [GenerationRequest(ds.load_images(s), "Describe the image.") for s in ds.studies[:3]]
    requests.append(GenerationRequest(ds.load_images(ds.studies[3]), "A much longer prompt, to force left padding."))
    batched = backend.generate(requests)
    single = [backend.generate([r])[0] for r in requests]
    assert batched == single and all(len(outs) == 1 for outs in batched)


def test_sampling_k_outputs_per_request_and_rows(student: Path, world: Path, tmp_path: Path,
                                                 backend: TransformersBackend) -> None:
    sampling = SamplingConfig(max_new_tokens=5, do_sample=True, temperature=1.5, num_return_sequences=3)
    outs = backend.generate([GenerationRequest([Image.new("RGB", (64, 64))], "p")] * 2, sampling)
    assert [len(o) for o in outs] == [3, 3]
    out = tmp_path / "k.jsonl"
    n = run_generate(GenerateConfig(model=student, data=world, out=out, do_sample=True, num_return_sequences=2,
                                    max_new_tokens=4), backend=backend)
    rows = _rows(out)
    assert n == len(rows) == 8
    assert [(r["study_id"], r["sample"]) for r in rows[:2]] == [(rows[0]["study_id"], 0), (rows[0]["study_id"], 1)]


def test_resume_skips_studies_already_written(student: Path, world: Path, tmp_path: Path,
                                              backend: TransformersBackend) -> None:
    out = tmp_path / "pred.jsonl"
    test_ids = [s.study_id for s in load_dataset(world).split("test")]
    out.write_text(json.dumps({"study_id": test_ids[0], "text": "KEEP ME"}) + "\n")
    n = run_generate(GenerateConfig(model=student, data=world, out=out, max_new_tokens=4), backend=backend)
    rows = _rows(out)
    assert n == 4 and [r["study_id"] for r in rows] == test_ids and rows[0]["text"] == "KEEP ME"
    run_generate(GenerateConfig(model=student, data=world, out=out, max_new_tokens=4, resume=False), backend=backend)
    assert _rows(out)[0]["text"] != "KEEP ME" and len(_rows(out)) == 4


def test_bad_options_fail_clearly(student: Path, world: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(ConfigError, match="needs --do-sample"):
        SamplingConfig(num_return_sequences=2)
    with pytest.raises(SystemExit) as exc:
        cli_main(["generate", "--model", str(student), "--data", str(world), "--out", str(tmp_path / "x.jsonl"),
                  "--split", "val"])
    assert exc.value.code == 2 and "no studies in split 'val'" in capsys.readouterr().err


def test_vllm_backend_missing_is_a_clear_error(student: Path) -> None:
    try:
        import vllm  # noqa: F401
    except ImportError:
        from driftalign.generation import make_backend

        with pytest.raises(ConfigError, match="needs the vllm package"):
            make_backend("vllm", str(student), SamplingConfig())
    else:  # pragma: no cover - vllm is not installed on the CPU machines
        pytest.skip("vllm installed")


def test_shared_tiny_student_generates_on_the_synthetic_world(tiny_student: Path, synth_world: Path,
                                                              tmp_path: Path) -> None:
    """The conftest fixtures (80-study synthetic world, tiny student) work end to end."""
    ds = load_dataset(synth_world)
    test_ids = [s.study_id for s in ds.split("test")]
    out = tmp_path / "pred.jsonl"
    n = run_generate(GenerateConfig(model=tiny_student, data=synth_world, out=out, max_new_tokens=4, batch_size=8))
    assert n == len(test_ids) > 0 and [r["study_id"] for r in _rows(out)] == test_ids
