"""Watch APO train: greedy reports on a fixed subset every N optimiser steps (`driftalign apo --eval-every N`).

APO's failure modes on this project are visible only in generated text (docs/apo.md §8,
../shared/APO-EVIDENCE.md): reports shrink towards t+'s style (58 -> 36 words), invented findings
rise (23.6 -> 44.4 per 100) while the preference rewards look fine. `APOMonitor` is a transformers
`TrainerCallback` that, at step 0 (before the first update), every `every` optimiser steps and at
the end, decodes GREEDY reports for a fixed seeded subset of studies with the model being trained
and logs, as `monitor/*` entries of the Trainer's log (OUT/trainer_log.jsonl, TensorBoard):

    monitor/words                  mean words (whitespace tokens) per report
    monitor/invented_per_100       invented findings per 100 reports    (drift.errors, kind "invented")
    monitor/drift_errors_per_100   all drift errors per 100 reports     (drift.errors, every kind)
    monitor/avg_accuracy           mean balanced top-1 accuracy over the MS-CXR-T findings defined on the
                                   subset (metrics.accuracy.mscxrt_accuracy, as `driftalign eval`)
    monitor/accuracy/<finding>     that balanced accuracy per finding (only those defined on the subset)
    monitor/studies                reports generated;   monitor/seconds   wall time of this evaluation

The subset: `eval_studies` studies of the dataset's `val` split (else `test`, else `train`, with a
one-line notice), drawn with `random.Random(seed)` and kept for the whole run, so every point of
the curve is the same studies. The numbers are of a subset, on a model mid-training: a curve to
watch, not the table's evaluation (`driftalign generate` + `driftalign eval` on the test split).

Guarantees (tests/test_apo_monitor.py):
* the training RNG streams (torch CPU and the current CUDA device, Python's `random`, NumPy) are
  saved before generating and restored after, and train/eval mode is restored, so a run with the
  monitor ends with the same weights as one without;
* under DDP only the main process generates; every process then waits at a barrier (the others do
  not touch the model meanwhile). DeepSpeed ZeRO-3 / FSDP shard the weights and are not supported here.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from transformers import TrainerCallback

from driftalign.data.dataset import Dataset
from driftalign.data.schema import Study
from driftalign.errors import DatasetError

MONITOR_SPLITS: tuple[str, ...] = ("val", "test", "train")   # the first that has studies is watched
MONITOR_BATCH_SIZE = 16                                       # reports per generate() call
PREFIX = "monitor/"


def monitor_subset(ds: Dataset, n: int, seed: int) -> tuple[str, list[Study]]:
    """(split, studies): a seeded subset of `n` studies of the first split of MONITOR_SPLITS that has any,
    in dataset order."""
    for split in MONITOR_SPLITS:
        studies = ds.split(split)
        if studies:
            break
    else:
        raise DatasetError(f"{ds.root}: no studies in splits {', '.join(MONITOR_SPLITS)} to monitor APO on")
    pick = sorted(random.Random(seed).sample(range(len(studies)), min(n, len(studies))))
    return split, [studies[i] for i in pick]


def report_metrics(texts: Sequence[str], studies: Sequence[Study]) -> dict[str, float]:
    """Words per report, invented findings and all drift errors per 100 reports, balanced MS-CXR-T accuracy
    (average and per finding, only where defined on these studies) of one report per study."""
    from driftalign.drift.errors import drift_errors, error_rates
    from driftalign.labeling import label_reports
    from driftalign.metrics.accuracy import mscxrt_accuracy

    if len(texts) != len(studies) or not texts:
        raise ValueError(f"need one report per study, got {len(texts)} reports for {len(studies)} studies")
    rates = error_rates(drift_errors(list(texts), list(studies)))
    accuracy, _ = mscxrt_accuracy([s.study_id for s in studies], label_reports(list(texts)),
                                  [s.labels for s in studies])
    out = {
        "words": sum(len(t.split()) for t in texts) / len(texts),
        "invented_per_100": rates["invented"],
        "drift_errors_per_100": rates["total"],
    }
    if accuracy["average"] is not None:
        out["avg_accuracy"] = accuracy["average"]
    out.update({f"accuracy/{f}": v for f, v in accuracy.items() if f != "average" and v is not None})
    return out


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Run the body without changing any RNG stream training draws from (torch CPU + current CUDA device,
    Python `random`, NumPy): their states are saved and restored."""
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def generation_model(model: torch.nn.Module) -> torch.nn.Module:
    """The HF model to call `generate` on: DDP's `.module` unwrapped; a PEFT model's base model (its LoRA
    layers are injected in place, so the adapters being trained take part)."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        model = model.module
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model


def _wait_for_everyone() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


class APOMonitor(TrainerCallback):
    """Greedy reports on a fixed subset at step 0, every `every` optimiser steps and at the end (module docstring).

    `log`: where the entries go — the trainer's `log` (so RichProgress writes them to trainer_log.jsonl and
    report_to trackers get them); it must be the Trainer's, not a callback's, for TensorBoard to see them.
    """

    def __init__(self, log: Callable[[dict[str, float]], None], processor, ds: Dataset, prompt: str, every: int,
                 studies: int = 64, max_new_tokens: int = 160, seed: int = 0, batch_size: int = MONITOR_BATCH_SIZE,
                 is_main_process: bool = True):
        if every < 1:
            raise ValueError(f"APOMonitor needs every >= 1, got {every}")
        self.log, self.processor, self.ds, self.prompt = log, processor, ds, prompt
        self.every, self.max_new_tokens, self.batch_size = every, max_new_tokens, batch_size
        self.split, self.studies = monitor_subset(ds, studies, seed)
        if self.split != MONITOR_SPLITS[0] and is_main_process:
            print(f"note: apo monitor: no {MONITOR_SPLITS[0]!r} split in {ds.root}; watching {len(self.studies)} "
                  f"studies of {self.split!r}", file=sys.stderr, flush=True)
        self.last_step: int | None = None

    # ---- when --------------------------------------------------------------------------------------------

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0:          # a resumed run measured its step 0 the first time
            self._evaluate(args, state, control, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0 or state.global_step >= state.max_steps:
            self._evaluate(args, state, control, model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self._evaluate(args, state, control, model)  # stopped early (another callback): measure where it stopped

    # ---- what --------------------------------------------------------------------------------------------

    def _evaluate(self, args, state, control, model) -> None:
        if self.last_step == state.global_step:
            return
        self.last_step = state.global_step
        if state.is_world_process_zero:
            start = time.perf_counter()
            metrics = report_metrics(self.generate(model, args), self.studies)
            metrics.update(studies=float(len(self.studies)), seconds=time.perf_counter() - start)
            should_log = control.should_log   # Trainer.log's on_log clears it: the step's own loss log must stay
            self.log({PREFIX + k: v for k, v in metrics.items()})
            control.should_log = should_log
        _wait_for_everyone()

    def generate(self, model: torch.nn.Module, args=None) -> list[str]:
        """Greedy reports of `model` for the subset (eval mode, RNG and train mode restored afterwards)."""
        from driftalign.generation.backend import GenerationRequest, SamplingConfig
        from driftalign.generation.transformers_backend import TransformersBackend

        target = generation_model(model)
        backend = TransformersBackend(target, self.processor,
                                      SamplingConfig(max_new_tokens=self.max_new_tokens, do_sample=False))
        was_training = target.training
        texts: list[str] = []
        with preserved_rng(), _autocast(args, target):
            target.eval()
            try:
                for i in range(0, len(self.studies), self.batch_size):
                    batch = self.studies[i:i + self.batch_size]
                    requests = [GenerationRequest(images=self.ds.load_images(s), prompt=self.prompt) for s in batch]
                    texts += [out[0] for out in backend.generate(requests)]
            finally:
                target.train(was_training)
        return texts


def _autocast(args, model: torch.nn.Module):
    """The Trainer's mixed precision (bf16/fp16 autocast on CUDA) for generation, or nothing."""
    if args is None or model.device.type != "cuda" or not (args.bf16 or args.fp16):
        return nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if args.bf16 else torch.float16)
