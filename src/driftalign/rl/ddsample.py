"""`driftalign ddsample`: DEER's diagnostic-diversity sampling of the RL training subset (eq. 3-5).

For every study of a split:
1. K nucleus samples from the (SFT) model through the generation backend (`generation`), drawn from a
   random generator seeded by (seed, study id) alone (`study_seed`);
2. the rule labeler labels each sample; labels are binarised with the uncertain policy
   (default POSITIVE, the reward's); sigma_c = population std over the K samples, D = sum_c sigma_c;
3. studies are ranked by D descending (ties keep dataset order), and `size` studies are drawn
   without replacement with P(rank r) proportional to 1 / log(r + 1) (numpy Generator, `seed`).

Label-free: the study's reference labels and report are never read, only its images.

Outputs in the directory `--out` (each written atomically):
* `samples.jsonl`      {study_id, sample, text}, K rows per study, rewritten after every batch;
* `samples.key.json`   what the samples were drawn with (model fingerprint, K, top-p, temperature,
                       max-new-tokens, prompt, seed); a rerun reuses the samples only under the same key;
* `diversity.jsonl`    every study, by rank: {study_id, D, rank, sigma: {observation: std}};
* `subset.jsonl`       the drawn subset in draw order: {study_id, D, rank, draw};
* `summary.json`, `driftalign_config.yaml`.

Resume: with `--resume` (default) the samples of studies that already have K of them are reused
and only the rest are generated; the ranking and the draw are recomputed (cheap, deterministic).
Because each study's samples depend only on (seed, study id), a run resumed after a kill at any
point writes the same samples.jsonl as an uninterrupted run (tested on the same machine and
backend). The price on the transformers backend: a study's K samples are one `generate` batch,
studies are no longer batched together (`--batch-size` is then how many studies go between two
rewrites of samples.jsonl); vLLM seeds each request and keeps its batches. Samples drawn before
this scheme (key version ddsample-v1) are refused by the key check.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from driftalign.config import StageConfig, save_config
from driftalign.constants import OBSERVATIONS, STUDENT_PROMPT, Split
from driftalign.data.dataset import load_dataset
from driftalign.data.io import read_jsonl, write_json, write_jsonl
from driftalign.errors import ConfigError, DatasetError
from driftalign.generation.sampling import SamplingConfig
from driftalign.hashing import model_digest
from driftalign.models.options import ModelOptions
from driftalign.labeling import label_reports
from driftalign.rl.diversity import binary_labels
from driftalign.rl.rank_sampling import draw_by_rank, rank_by_diversity

SAMPLES_FILE, KEY_FILE = "samples.jsonl", "samples.key.json"
DIVERSITY_FILE, SUBSET_FILE, SUMMARY_FILE = "diversity.jsonl", "subset.jsonl", "summary.json"
DEFAULT_FRACTION = 0.2   # DEER's headline: 20% of the RL data
SAMPLES_KEY_VERSION = "ddsample-v2"   # v2: per-study seeds (v1: one torch seed for the run)


class DDSampleConfig(StageConfig, ModelOptions):
    """Options of `driftalign ddsample` (flags == YAML keys), with the model's (`ModelOptions`). Decoding is
    always sampled (DEER's K nucleus samples); every decoding parameter is a flag, none comes from the
    checkpoint's generation_config (`generation.sampling`)."""

    model: Path = Field(description="model to sample from (HF image-text-to-text dir, e.g. SPD's OUT/final)")
    data: Path = Field(description="dataset directory")
    out: Path = Field(description="output directory (samples, diversity, subset, summary)")
    split: Split = Field("train", description="split to select the RL subset from ('all' for every study)")
    k: int = Field(10, ge=2, description="samples per study (DEER: 10)")
    top_p: float = Field(0.9, gt=0, le=1, description="nucleus sampling mass")
    temperature: float = Field(1.0, gt=0, description="sampling temperature")
    top_k: int = Field(0, ge=0, description="keep the k most likely tokens (0: no top-k filter)")
    repetition_penalty: float = Field(1.0, gt=0, description="repetition penalty (1.0: none)")
    max_new_tokens: int = Field(128, ge=1, description="maximum new tokens per sample")
    size: int | None = Field(None, ge=1, description="studies in the subset (give --size or --fraction)")
    fraction: float | None = Field(None, gt=0, le=1, description="share of the split's studies in the subset, "
                                   f"rounded half up [{DEFAULT_FRACTION} when neither --size nor --fraction]")
    seed: int = Field(0, description="seed of the samples (each study's from seed and study id) and of the subset draw")
    uncertain: Literal["positive", "negative"] = Field(
        "positive", description="what an uncertain label counts as in D (positive: as the DEER reward)")
    prompt: str = Field(STUDENT_PROMPT, description="prompt given with each study's images")
    batch_size: int = Field(8, ge=1, description="studies per generation batch (transformers backend: studies "
                                                  "between rewrites of samples.jsonl; each study is sampled alone)")
    backend: Literal["transformers", "vllm"] = Field("transformers", description="generation backend")
    resume: bool = Field(True, description="reuse the samples already in OUT/samples.jsonl (same key only)")

    @model_validator(mode="after")
    def _one_subset_size(self) -> DDSampleConfig:
        if self.size is not None and self.fraction is not None:
            raise ValueError("give --size or --fraction, not both")
        return self

    def subset_size(self, n: int) -> int:
        """Studies to draw out of n: `size` (at most n), or round-half-up(fraction * n), at least 1."""
        if self.size is not None:
            return min(self.size, n)
        fraction = DEFAULT_FRACTION if self.fraction is None else self.fraction
        return max(1, min(n, math.floor(fraction * n + 0.5)))

    def sampling(self) -> SamplingConfig:
        return SamplingConfig(max_new_tokens=self.max_new_tokens, do_sample=True, temperature=self.temperature,
                              top_p=self.top_p, top_k=self.top_k, repetition_penalty=self.repetition_penalty,
                              num_return_sequences=self.k)


@dataclass(frozen=True)
class DDSampleSummary:
    studies: int
    subset: int
    generated: int          # studies sampled by this run (the rest were reused)
    mean_d_all: float
    mean_d_subset: float
    synthetic: bool
    out: Path

    def line(self) -> str:
        tag = " (SYNTHETIC data)" if self.synthetic else ""
        return (f"ddsample{tag}: {self.subset} of {self.studies} studies; mean D {self.mean_d_subset:.3f} in the "
                f"subset vs {self.mean_d_all:.3f} overall; sampled {self.generated}, reused "
                f"{self.studies - self.generated} -> {self.out}")


def samples_key(cfg: DDSampleConfig) -> dict[str, Any]:
    """What determines the samples (the images are identified by study id and path, not hashed)."""
    key = {"version": SAMPLES_KEY_VERSION, "model": model_digest(cfg.model), "k": cfg.k,
           "top_p": cfg.top_p, "temperature": cfg.temperature, "max_new_tokens": cfg.max_new_tokens,
           "prompt": cfg.prompt, "seed": cfg.seed}
    # added later: in the key only when not the neutral default, so samples drawn before keep their key
    extra = {"top_k": (cfg.top_k, 0), "repetition_penalty": (cfg.repetition_penalty, 1.0),
             "min_pixels": (cfg.min_pixels, None), "max_pixels": (cfg.max_pixels, None), "dtype": (cfg.dtype, "auto")}
    key.update({name: value for name, (value, default) in extra.items() if value != default})
    return key


def _check_key(out: Path, key: dict[str, Any]) -> None:
    path = out / KEY_FILE
    if not path.is_file():
        raise ConfigError(f"{out / SAMPLES_FILE}: exists without {KEY_FILE}; delete it or choose another --out")
    old = json.loads(path.read_text(encoding="utf-8"))
    differ = sorted(k for k in set(old) | set(key) if old.get(k) != key.get(k))
    if differ:
        raise ConfigError(f"{out / SAMPLES_FILE}: samples were drawn with different {', '.join(differ)}; "
                          "delete the file, pass --no-resume, or choose another --out")


def read_samples(path: Path, k: int) -> dict[str, list[str]]:
    """study_id -> its K sample texts (in sample order), for studies with exactly K distinct samples."""
    by_study: dict[str, dict[int, str]] = defaultdict(dict)
    for lineno, row in read_jsonl(path):
        try:
            by_study[str(row["study_id"])][int(row["sample"])] = str(row["text"])
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{path}:{lineno}: expected {{study_id, sample, text}}") from None
    return {sid: [s[i] for i in range(k)] for sid, s in by_study.items() if sorted(s) == list(range(k))}


def study_diversity(texts: list[str], uncertain: str) -> tuple[float, list[float]]:
    """(D, sigma [14]) of one study's K sample texts (eq. 3-4), labels from the rule labeler."""
    labels_KC = binary_labels(label_reports(texts), uncertain)                  # [K, 14]
    sigma = labels_KC.astype(np.float64).std(axis=0, ddof=0)                   # [14]
    return float(sigma.sum()), sigma.tolist()


def study_seed(seed: int, study_id: str) -> int:
    """The seed of one study's K samples: 63 bits of sha256("<seed>|<study_id>") (stable across runs and machines)."""
    digest = hashlib.sha256(f"{seed}|{study_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _sample(cfg: DDSampleConfig, ds, todo, rows: list[dict[str, Any]], backend) -> None:
    from driftalign.generation import make_backend
    from driftalign.generation.generate import generate_predictions

    sampling = cfg.sampling()
    backend = backend or make_backend(cfg.backend, str(cfg.model), sampling, cfg)
    generate_predictions(backend, sampling, ds, todo, cfg.prompt, cfg.out / SAMPLES_FILE, rows, cfg.batch_size,
                         seed_of=lambda study_id: study_seed(cfg.seed, study_id))


def run_ddsample(cfg: DDSampleConfig, backend=None) -> DDSampleSummary:
    """Sample, score, rank and draw (module docstring). `backend` optionally reuses a loaded one."""
    ds = load_dataset(cfg.data, with_trajectories=False, verify_images=False)
    studies = ds.split(cfg.split)
    if not studies:
        raise DatasetError(f"{cfg.data}: no studies in split {cfg.split!r}")
    out, key = cfg.out, samples_key(cfg)
    samples_path = out / SAMPLES_FILE
    done: dict[str, list[str]] = {}
    if cfg.resume and samples_path.is_file():
        _check_key(out, key)
        done = read_samples(samples_path, cfg.k)
    else:   # old samples go before the new key is written: no moment where a stale file has a fresh key
        samples_path.unlink(missing_ok=True)
    write_json(out / KEY_FILE, key)
    rows = [{"study_id": sid, "sample": i, "text": t} for sid, texts in done.items() for i, t in enumerate(texts)]
    todo = [s for s in studies if s.study_id not in done]
    if todo:
        _sample(cfg, ds, todo, rows, backend)
    else:
        write_jsonl(samples_path, rows)
    samples = read_samples(samples_path, cfg.k)

    scored = [study_diversity(samples[s.study_id], cfg.uncertain) for s in studies]
    d = np.array([x[0] for x in scored])                                       # [n]
    order = rank_by_diversity(d)                                               # rank j (0-based) -> study index
    rank_of = np.empty(len(studies), dtype=np.int64)
    rank_of[order] = np.arange(1, len(studies) + 1)
    drawn = draw_by_rank(len(studies), cfg.subset_size(len(studies)), np.random.default_rng(cfg.seed))
    chosen = order[drawn]                                                      # study indices in draw order

    write_jsonl(out / DIVERSITY_FILE, (
        {"study_id": studies[i].study_id, "D": float(d[i]), "rank": int(rank_of[i]),
         "sigma": dict(zip(OBSERVATIONS, scored[i][1]))} for i in order))
    summary = DDSampleSummary(studies=len(studies), subset=len(chosen), generated=len(todo),
                              mean_d_all=float(d.mean()), mean_d_subset=float(d[chosen].mean()),
                              synthetic=any(bool(s.meta.get("synthetic")) for s in studies), out=out)
    write_json(out / SUMMARY_FILE, {**{k: v for k, v in asdict(summary).items() if k != "out"},
                                    "k": cfg.k, "seed": cfg.seed, "uncertain": cfg.uncertain, "split": cfg.split})
    save_config(cfg, out)
    write_jsonl(out / SUBSET_FILE, (   # last: the subset exists only once everything else is written
        {"study_id": studies[i].study_id, "D": float(d[i]), "rank": int(rank_of[i]), "draw": j}
        for j, i in enumerate(chosen)))
    return summary
