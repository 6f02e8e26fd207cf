"""`driftalign classifier train`: fit the CheXbert-layout classifier to (rule-labelled) report texts.

    loss = sum over the 14 heads h of CE( logits_h, class_h ), averaged over the batch

— CheXbert's objective (`run_bert.py`: `CrossEntropyLoss(reduction="sum")` over the heads and the batch,
divided by the batch size), unweighted by default. `--class-weights balanced` weights each head's classes
by n / (C_h * count) over the training labels (a class absent from them gets weight 0), for corpora where
"uncertain" is rare.

Optimiser: AdamW (weight decay 0.01, CheXbert: Adam without decay), linear warm-up over `--warmup-ratio`
of the steps then linear decay to 0 (CheXbert: a constant 2e-5 for 8 epochs over the CheXpert reports — far more
than a CPU budget allows; a decaying schedule converges in the few hundred steps we can afford). Batches
are drawn in a seeded random order (each run of 32 batches cut from length-sorted rows, then shuffled) and
padded to their longest text.

Outputs in --out: final/ (the classifier directory with a model card), metrics.json (training summary and
the held-out agreement with the labels it was trained to reproduce), driftalign_config.yaml.
"""

from __future__ import annotations

import logging
import math
import time

import torch

from driftalign.classifier.agreement import label_agreement
from driftalign.classifier.card import classifier_card
from driftalign.classifier.checkpoint import FINAL_DIR, init_classifier, save_classifier
from driftalign.classifier.config import ClassifierTrainConfig
from driftalign.classifier.data import LabelledText, dataset_texts, jsonl_texts, subsample, unique
from driftalign.classifier.model import HEAD_CLASSES, Classifier, labels_to_classes
from driftalign.config import save_config
from driftalign.data.io import write_json
from driftalign.errors import ConfigError, DatasetError

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"


def training_texts(cfg: ClassifierTrainConfig) -> tuple[list[LabelledText], list[LabelledText], dict]:
    """(training texts, held-out texts, counts) for `cfg` (see `classifier.data`)."""
    sources = cfg.sources.split(",")
    evaluate = cfg.eval_split != "none"
    if cfg.data is not None:
        train_raw = dataset_texts(cfg.data, cfg.train_split, sources)
        eval_raw = dataset_texts(cfg.data, cfg.eval_split, sources) if evaluate and cfg.eval_texts is None else []
    else:
        assert cfg.texts is not None
        rows = jsonl_texts(cfg.texts, cfg.field)
        train_raw = [t for t in rows if cfg.train_split == "all" or t.split == cfg.train_split]
        if not train_raw:
            raise DatasetError(f"{cfg.texts}: no rows of split {cfg.train_split!r}")
        eval_raw = [t for t in rows if evaluate and cfg.eval_texts is None and t.split == cfg.eval_split]
    if cfg.eval_texts is not None:
        eval_raw = jsonl_texts(cfg.eval_texts, cfg.field)
    train = subsample(unique(train_raw), cfg.max_train_texts, cfg.seed)
    held_out = subsample(unique(eval_raw, exclude={t.text for t in train_raw}), cfg.max_eval_texts, cfg.seed)
    counts = {"train_texts": len(train), "train_texts_read": len(train_raw), "eval_texts": len(held_out),
              "eval_texts_read": len(eval_raw)}
    return train, held_out, counts


def _class_weights(targets_NH: torch.Tensor) -> list[torch.Tensor]:
    weights = []
    n = targets_NH.shape[0]
    for h, classes in enumerate(HEAD_CLASSES):
        counts = torch.bincount(targets_NH[:, h], minlength=classes).float()
        weights.append(torch.where(counts > 0, n / (classes * counts.clamp(min=1)), torch.zeros_like(counts)))
    return weights


def classifier_loss(logits: list[torch.Tensor], targets_BH: torch.Tensor,
                    weights: list[torch.Tensor] | None = None) -> torch.Tensor:
    """sum_h CE(logits_h, targets[:, h]) averaged over the batch (CheXbert's loss; module docstring)."""
    total = logits[0].new_zeros(())
    for h, head in enumerate(logits):
        w = weights[h].to(head.device) if weights is not None else None
        total = total + torch.nn.functional.cross_entropy(head, targets_BH[:, h], weight=w, reduction="sum")
    return total / targets_BH.shape[0]


def _batches(lengths: list[int], batch_size: int, steps: int, generator: torch.Generator, pool: int = 32):
    """`steps` batches of row indices: seeded random passes over the rows; each run of `pool` batches (at most
    one pass) is cut from rows sorted by length (less padding, the same rows) and served in a random order."""
    n = len(lengths)
    size = max(batch_size, min(batch_size * pool, n // batch_size * batch_size))   # never more than a pass
    order: list[int] = []
    served = 0
    while served < steps:
        while len(order) < size:
            order += torch.randperm(n, generator=generator).tolist()
        chunk, order = order[:size], order[size:]
        chunk.sort(key=lambda i: lengths[i])
        batches = [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
        for b in torch.randperm(len(batches), generator=generator).tolist():
            if served == steps:
                return
            served += 1
            yield batches[b]


def _pad(ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return input_ids, mask


def train_classifier(clf: Classifier, texts: list[LabelledText], cfg: ClassifierTrainConfig) -> dict:
    """Fit `clf` in place on `texts` (module docstring); returns the training summary."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if not texts:
        raise ConfigError("no training texts")
    encoded = clf.tokenizer([t.text for t in texts], truncation=True, max_length=clf.max_length)["input_ids"]
    targets = torch.tensor([labels_to_classes(t.labels) for t in texts], dtype=torch.long)        # [N, 14]
    weights = _class_weights(targets) if cfg.class_weights == "balanced" else None
    steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * len(texts) / cfg.batch_size))
    warmup = int(cfg.warmup_ratio * steps)
    model = clf.model
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))
    generator = torch.Generator().manual_seed(cfg.seed)
    pad_id = clf.tokenizer.pad_token_id or 0
    history: list[dict[str, float]] = []
    running, start = [], time.perf_counter()
    columns = (TextColumn("[bold]classifier train"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("train", total=steps, loss="-")
        for step, rows in enumerate(_batches([len(x) for x in encoded], cfg.batch_size, steps, generator), start=1):
            input_ids, mask = _pad([encoded[i] for i in rows], pad_id)
            loss = classifier_loss(model(input_ids=input_ids.to(clf.device), attention_mask=mask.to(clf.device)),
                                   targets[rows].to(clf.device), weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            running.append(loss.item())
            if step % 10 == 0 or step == steps:
                history.append({"step": step, "loss": sum(running) / len(running)})
                running = []
            bar.update(task, advance=1, loss=f"{history[-1]['loss']:.3f}" if history else f"{loss.item():.3f}")
    model.eval()
    seconds = time.perf_counter() - start
    return {"steps": steps, "batch_size": cfg.batch_size, "epochs": steps * cfg.batch_size / len(texts),
            "seconds": seconds, "seconds_per_step": seconds / steps, "final_loss": history[-1]["loss"],
            "loss_history": history}


def evaluate_classifier(clf: Classifier, texts: list[LabelledText]) -> dict:
    """Agreement of the classifier with the texts' labels, overall and per source."""
    if not texts:
        return {}
    pred = clf.label([t.text for t in texts])
    out = {"all": label_agreement(pred, [t.labels for t in texts])}
    for source in sorted({t.source for t in texts}):
        idx = [i for i, t in enumerate(texts) if t.source == source]
        out[source] = label_agreement([pred[i] for i in idx], [texts[i].labels for i in idx])
    return out


def run_classifier_train(cfg: ClassifierTrainConfig) -> dict:
    """Train, evaluate, save (module docstring). Returns the metrics written to OUT/metrics.json."""
    train, held_out, counts = training_texts(cfg)
    clf = init_classifier(cfg.base, max_length=cfg.max_length, head_dropout=cfg.head_dropout, seed=cfg.seed)
    log.info("classifier: %d training texts, %d held out", len(train), len(held_out))
    summary = train_classifier(clf, train, cfg)
    agreement = evaluate_classifier(clf, held_out)
    metrics = {"data": counts, "train": summary, "eval": agreement,
               "labels": "given" if any(t.given for t in train) else "rule labeler",
               "base": clf.meta.get("base"), "pretrained_encoder": clf.meta.get("pretrained_encoder")}
    cfg.out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, cfg.out)
    write_json(cfg.out / METRICS_FILE, metrics)
    save_classifier(clf, cfg.out / FINAL_DIR, readme=classifier_card(cfg, metrics))   # last: final/ means done
    return metrics
