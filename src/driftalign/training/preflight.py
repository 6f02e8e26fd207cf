"""Pre-flight length check of a training stage: every prompt fits `--max-length`, before any step runs.

A hub Qwen2.5-VL processor turns a 1024 px study into ~1,400 image tokens; with `max_length` 1024 the
first such study used to stop SPD mid-run. `check_lengths` counts, for every training example, the
tokens the model will see, without decoding a pixel:

    prompt tokens  = tokens of the rendered chat prompt (one <|image_pad|> per image)
                     - images + sum over images of (resized h / 28) * (resized w / 28)
                     (resized by the processor's own rule, `smart_resize`, from the image file's header)
    example tokens = prompt tokens + answer tokens + the end-of-turn marker

It fails with a one-line error naming the study when a prompt leaves no room for an answer (the
trainers cut answers, never prompts), and prints one line: the longest prompt (and its study), the
longest example and how many answers will be cut to fit.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from driftalign.data.dataset import Dataset
from driftalign.errors import ConfigError
from driftalign.models.chat import prompt_text, turn_end_text
from driftalign.models.processor import image_limits, image_token_count

ANSWER_BATCH = 4096   # answers tokenised per call


@dataclass(frozen=True)
class LengthReport:
    """What `check_lengths` measured."""

    studies: int
    examples: int
    longest_prompt: int
    longest_prompt_study: str
    most_image_tokens: int
    longest_example: int
    cut: int                 # examples whose answer is cut to fit max_length
    max_length: int
    max_pixels: int

    def line(self, stage: str) -> str:
        return (f"{stage} preflight: {self.studies} studies, up to {self.most_image_tokens} image tokens per study "
                f"(max_pixels {self.max_pixels}); longest prompt {self.longest_prompt} tokens "
                f"(study {self.longest_prompt_study}), longest example {self.longest_example} "
                + (f"of max_length {self.max_length}; {self.cut} of {self.examples} answers cut to fit"
                   if self.max_length else "(no max_length)"))


def prompt_lengths(ds: Dataset, study_ids: Sequence[str], processor, prompt: str) -> dict[str, tuple[int, int]]:
    """study_id -> (prompt tokens, image tokens) as the processor will encode it (module docstring)."""
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    base: dict[int, tuple[int, int]] = {}       # n images -> (tokens of the rendered prompt, <|image_pad|> in it)
    out: dict[str, tuple[int, int]] = {}
    for sid in dict.fromkeys(study_ids):
        sizes = ds.image_sizes(ds.study(sid))
        n = len(sizes)
        if n not in base:
            ids = processor.tokenizer(prompt_text(processor, n, prompt), add_special_tokens=False)["input_ids"]
            base[n] = (len(ids), sum(1 for i in ids if i == image_id))
        tokens, pads = base[n]
        image_tokens = sum(image_token_count(processor, h, w) for h, w in sizes)
        out[sid] = (tokens - pads + image_tokens, image_tokens)
    return out


def check_lengths(ds: Dataset, examples: Sequence[tuple[str, str]], processor, prompt: str, max_length: int | None,
                  stage: str) -> LengthReport:
    """Measure every (study_id, answer) example; ConfigError naming the first study whose prompt does not fit."""
    prompts = prompt_lengths(ds, [sid for sid, _ in examples], processor, prompt)
    limit = max_length if max_length is not None else sys.maxsize
    worst = max(prompts, key=lambda sid: prompts[sid][0])
    for sid, (tokens, image_tokens) in prompts.items():
        if tokens >= limit:
            sizes = ", ".join(f"{w}x{h}" for h, w in ds.image_sizes(ds.study(sid)))
            raise ConfigError(
                f"{stage}: study {sid!r}: its prompt needs {tokens} tokens ({image_tokens} image tokens for {sizes} px "
                f"at max_pixels {image_limits(processor)[1]}), no room for an answer within --max-length {max_length}; "
                "lower --max-pixels or raise --max-length")
    end = turn_end_text(processor)
    longest, cut = 0, 0
    for start in range(0, len(examples), ANSWER_BATCH):
        chunk = examples[start:start + ANSWER_BATCH]
        answers = processor.tokenizer([a + end for _, a in chunk], add_special_tokens=False)["input_ids"]
        for (sid, _), ids in zip(chunk, answers, strict=True):
            total = prompts[sid][0] + len(ids)
            longest = max(longest, total)
            cut += total > limit
    report = LengthReport(studies=len(prompts), examples=len(examples), longest_prompt=prompts[worst][0],
                          longest_prompt_study=worst, most_image_tokens=max(v[1] for v in prompts.values()),
                          longest_example=longest, cut=cut, max_length=max_length or 0,
                          max_pixels=image_limits(processor)[1])
    if os.environ.get("RANK", "0") == "0":
        print(report.line(stage), file=sys.stderr, flush=True)
    return report
