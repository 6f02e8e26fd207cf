"""Pixel probe: how much of each MS-CXR-T label the pixels carry at a given resolution.

A student that never sees a finding cannot report it, whatever it is taught; before judging a
text-side method (APO, DiTPO) we need to know whether the *images* separate the labels at the
resolution the student sees. The probe answers that with no language model in the way: a small
CNN trained directly on the images of `--train-split` to the five MS-CXR-T labels, scored on
`--split` with exactly `driftalign eval`'s balanced top-1 accuracy (`metrics.mscxrt_accuracy`).

* Input: each study's first image, grey, resized to `image_size` x `image_size` (bicubic, as the
  student's processor does), scaled to [0, 1].
* Target per finding f: 1 if the label is 1, 0 if 0 or null; -1 (uncertain) studies are left out
  of f's loss and of f's accuracy (as in eval).
* CNN: `PROBE_CHANNELS` conv-BN-ReLU-maxpool blocks, global average pooling, one linear layer to
  the five logits; BCE with pos_weight = #neg/#pos per finding, so the logit threshold 0 is the
  balanced one; AdamW, cosine schedule, light augmentation (±2 px shifts).
* Output: balanced accuracy per finding (and the average), AUC per finding, the model's size.

A high probe score with a low student score puts the loss in the student's recipe; a low probe
score puts it in the pixels (the world, or the resolution).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from driftalign.config import StageConfig
from driftalign.constants import MSCXRT_FINDINGS, Split
from driftalign.data.dataset import Dataset, load_dataset
from driftalign.errors import DatasetError

PROBE_CHANNELS = (16, 32, 64, 64)
FINDINGS = tuple(MSCXRT_FINDINGS)


class ProbeConfig(StageConfig):
    """Options of `driftalign probe` (flags == YAML keys)."""

    data: Path = Field(description="dataset directory", json_schema_extra={"positional": True})
    image_size: int = Field(56, ge=16, le=512, description="resize every image to this many pixels (the student's size)")
    train_split: Split = Field("train", description="split the CNN is trained on")
    split: Split = Field("test", description="split it is scored on")
    epochs: int = Field(20, ge=1, description="training epochs")
    batch_size: int = Field(32, ge=1, description="images per step")
    lr: float = Field(3e-3, gt=0, description="peak learning rate (AdamW, cosine)")
    seed: int = Field(0, description="seed of the initialisation, data order and augmentation")
    out: Path | None = Field(None, description="write the result here as JSON")


@dataclass(frozen=True)
class ProbeResult:
    accuracy: dict[str, float | None]     # finding -> balanced accuracy, plus "average"
    auc: dict[str, float | None]
    n_train: int
    n_eval: int
    image_size: int
    seconds: float
    parameters: int

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "auc": self.auc, "n_train": self.n_train, "n_eval": self.n_eval,
                "image_size": self.image_size, "seconds": self.seconds, "parameters": self.parameters}


def load_pixels(ds: Dataset, split: str, size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """([n, size, size] float32 in [0, 1], [n, 5] targets with -1 for uncertain, study ids)."""
    from PIL import Image

    studies = ds.split(split)
    if not studies:
        raise DatasetError(f"{ds.root}: no studies in split {split!r}")
    images = np.zeros((len(studies), size, size), dtype=np.float32)
    targets = np.zeros((len(studies), len(FINDINGS)), dtype=np.float32)
    for i, study in enumerate(studies):
        image = ds.load_images(study)[0].convert("L").resize((size, size), Image.BICUBIC)
        images[i] = np.asarray(image, dtype=np.float32) / 255.0
        for j, f in enumerate(FINDINGS):
            label = study.labels.get(f)
            targets[i, j] = -1.0 if label == -1 else float(label == 1)
    return images, targets, [s.study_id for s in studies]


def probe_cnn(n_out: int = len(FINDINGS)):
    import torch.nn as nn

    layers: list[nn.Module] = []
    c_in = 1
    for c in PROBE_CHANNELS:
        layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
        c_in = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, n_out))


def _shift(x, rng: np.random.Generator):
    """Random ±2 px translation (zero padding), the same for the whole batch (cheap and enough)."""
    import torch

    dy, dx = (int(v) for v in rng.integers(-2, 3, size=2))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def train_probe(images: np.ndarray, targets: np.ndarray, cfg: ProbeConfig):
    """Train the CNN on ([n, H, W], [n, 5]) and return it (eval mode)."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = probe_cnn()
    x_all = torch.from_numpy(images).unsqueeze(1)
    y_all = torch.from_numpy(targets)
    known = (y_all >= 0).float()
    pos = (y_all == 1).float().sum(0)
    neg = ((y_all == 0).float()).sum(0)
    pos_weight = (neg / pos.clamp(min=1.0)).clamp(max=20.0)
    steps_per_epoch = max(1, (len(images) + cfg.batch_size - 1) // cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
    model.train()
    for _ in range(cfg.epochs):
        order = rng.permutation(len(images))
        for k in range(steps_per_epoch):
            idx = torch.from_numpy(order[k * cfg.batch_size:(k + 1) * cfg.batch_size])
            x, y, m = _shift(x_all[idx], rng), y_all[idx].clamp(min=0.0), known[idx]
            loss = (F.binary_cross_entropy_with_logits(model(x), y, pos_weight=pos_weight, reduction="none") * m).sum()
            loss = loss / m.sum().clamp(min=1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def probe_scores(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """[n, 5] probabilities."""
    import torch

    out = []
    with torch.no_grad():
        for k in range(0, len(images), batch_size):
            out.append(torch.sigmoid(model(torch.from_numpy(images[k:k + batch_size]).unsqueeze(1))).numpy())
    return np.concatenate(out)


def run_probe(cfg: ProbeConfig, dataset: Dataset | None = None) -> ProbeResult:
    """Train on `cfg.train_split`, score `cfg.split`: eval's balanced accuracy per finding + AUC."""
    from sklearn.metrics import roc_auc_score

    from driftalign.data.io import write_json
    from driftalign.metrics.accuracy import mscxrt_accuracy

    t0 = time.perf_counter()
    ds = dataset or load_dataset(cfg.data, verify_images=False)
    x_train, y_train, _ = load_pixels(ds, cfg.train_split, cfg.image_size)
    x_eval, y_eval, ids = load_pixels(ds, cfg.split, cfg.image_size)
    model = train_probe(x_train, y_train, cfg)
    p = probe_scores(model, x_eval)
    pred = [{f: int(p[i, j] > 0.5) for j, f in enumerate(FINDINGS)} for i in range(len(ids))]
    ref = [{f: (None if y_eval[i, j] == 0 else int(y_eval[i, j])) for j, f in enumerate(FINDINGS)}
           for i in range(len(ids))]
    accuracy, _ = mscxrt_accuracy(ids, pred, ref)
    auc: dict[str, float | None] = {}
    for j, f in enumerate(FINDINGS):
        keep = y_eval[:, j] >= 0
        y = y_eval[keep, j]
        auc[f] = float(roc_auc_score(y, p[keep, j])) if 0 < y.sum() < len(y) else None
    result = ProbeResult(accuracy=accuracy, auc=auc, n_train=len(x_train), n_eval=len(ids),
                         image_size=cfg.image_size, seconds=round(time.perf_counter() - t0, 1),
                         parameters=sum(q.numel() for q in model.parameters()))
    if cfg.out is not None:
        write_json(cfg.out, {**result.to_dict(), "data": str(cfg.data), "split": cfg.split,
                                  "synthetic": any(s.meta.get("synthetic") for s in ds.studies)})
    return result
