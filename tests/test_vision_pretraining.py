"""Vision pretraining of a test-bed student: its targets, its data stream, and what it trains."""

from __future__ import annotations

import json

import torch

from driftalign.models import build_student
from driftalign.models.build import BUILD_INFO_FILE
from driftalign.models.vision_pretraining import VisionPretrainConfig, render_pretraining_set
from driftalign.synth.truth import Finding, StudyTruth
from driftalign.synth.vision_targets import TARGET_NAMES, vision_targets

TINY = VisionPretrainConfig(images=48, steps=3, batch_size=8, workers=1, seed=0)


def _on(y) -> set[str]:
    return {TARGET_NAMES[i] for i in range(len(y)) if y[i] == 1}


def test_targets_say_what_is_drawn_and_where():
    truth = StudyTruth("s1", findings=(
        Finding("Pleural Effusion", side="left", severity="small"),
        Finding("Consolidation", side="right", location="lower lobe"),
        Finding("Support Devices", detail="pacemaker"),
        Finding("Edema", side="bilateral", location="perihilar"),
    ))
    assert _on(vision_targets(truth)) == {
        "Pleural Effusion", "Pleural Effusion (left)",
        "Consolidation", "Consolidation (right)", "airspace zone: lower",
        "Support Devices", "device: pacemaker",
        "Edema", "Edema (left)", "Edema (right)",
    }
    assert _on(vision_targets(StudyTruth("s2"))) == set()


def test_pretraining_set_is_seeded_and_its_own_stream():
    a = render_pretraining_set(TINY, 56)
    b = render_pretraining_set(TINY, 56)
    c = render_pretraining_set(VisionPretrainConfig(images=48, workers=1, seed=1), 56)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    pixels, grids, targets = a
    assert grids.shape == (48, 3) and targets.shape == (48, len(TARGET_NAMES))
    assert pixels.shape[0] == int(grids.prod(1).sum())


def test_build_student_pretrains_only_the_vision_tower(synth_world, tmp_path):
    from driftalign.models.load import load_student

    plain = build_student("tiny", synth_world, tmp_path / "plain", seed=0)
    seen = build_student("tiny", synth_world, tmp_path / "seen", seed=0, pretrain_vision=True,
                         vision_pretraining=TINY)
    a, _ = load_student(plain)
    b, _ = load_student(seen)
    sa, sb = a.state_dict(), b.state_dict()
    changed = {k for k in sa if not torch.equal(sa[k], sb[k])}
    assert changed and all(".visual." in f".{k}" for k in changed)
    assert any("merger" in k for k in changed)
    info = json.loads((seen / BUILD_INFO_FILE).read_text())
    report = info["vision_pretraining"]
    assert report["images"] == 48 and report["steps"] == 3 and report["seed"] == 0
    assert all(0.0 <= v <= 1.0 for v in report["held_out_balanced_accuracy"].values())
    assert json.loads((plain / BUILD_INFO_FILE).read_text())["vision_pretraining"] is None


def test_cli_init_student_base_pretrains_by_default(synth_world, tmp_path, capsys):
    from driftalign.cli.app import main

    out = tmp_path / "base"
    main(["init-student", "--preset", "base", "--data", str(synth_world), "--out", str(out),
          "--vision-pretrain-images", "48", "--vision-pretrain-steps", "2"])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("base student (vision pretrained on 48 synthetic renders")
    info = json.loads((out / BUILD_INFO_FILE).read_text())
    assert info["preset"] == "base" and info["vision_pretraining"]["steps"] == 2
    main(["init-student", "--preset", "base", "--data", str(synth_world), "--out", str(tmp_path / "raw"),
          "--no-pretrain-vision"])
    assert "(random init;" in capsys.readouterr().out
