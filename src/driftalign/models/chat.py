"""Model inputs for one (images, prompt[, answer]) chat turn, with the answer-token mask.

Every trainer (SPD, APO, DiTPO) and the generation backend build their inputs here, so the
prompt an image-text model sees is rendered one way only: the processor's own chat template
(a user turn holding one image block per image and then the prompt text; an assistant turn
holding the answer).

    prompt part  = apply_chat_template([user: images + prompt], add_generation_prompt=True)
                 -> "<|im_start|>system\\n...<|im_end|>\\n<|im_start|>user\\n<|vision_start|>"
                    "<|image_pad|>x4<|vision_end|>{prompt}<|im_end|>\\n<|im_start|>assistant\\n"
    answer part  = answer + end-of-turn marker ("<|im_end|>" for Qwen), tokenised separately

`encode_example` returns 1-D tensors for one example (the collator pads and batches them):

    input_ids          [T]        prompt ids (images expanded to their <|image_pad|> tokens) + answer ids
    attention_mask     [T]        all ones
    mm_token_type_ids  [T]        1 on image tokens, 0 elsewhere (Qwen2.5-VL's M-RoPE needs it)
    labels             [T]        -100 on prompt and image tokens; the answer ids (incl. end marker) on the rest
    pixel_values       [P, D]     flattened image patches of all the example's images
    image_grid_thw     [I, 3]     (t, h, w) patch grid of each image

so sum over `labels != -100` of the token log-probs is log pi(t | v, l) of SPEC §3.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import torch
from PIL import Image

IGNORE_INDEX = -100  # label value ignored by the cross-entropy (prompt, image and padding tokens)


def chat_messages(n_images: int, prompt: str, answer: str | None = None) -> list[dict[str, Any]]:
    """The conversation: one user turn (n_images image blocks, then the prompt), optional answer turn."""
    content: list[dict[str, Any]] = [{"type": "image"} for _ in range(n_images)]
    content.append({"type": "text", "text": prompt})
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return messages


def prompt_text(processor, n_images: int, prompt: str) -> str:
    """The rendered prompt, ending where the assistant's answer starts."""
    return processor.apply_chat_template(chat_messages(n_images, prompt), tokenize=False, add_generation_prompt=True)


def turn_end_text(processor) -> str:
    """What the chat template writes after an assistant answer, without trailing whitespace.

    Derived from the template itself ("<|im_end|>" for Qwen), so other model families work too.
    """
    return _turn_end_text(processor.chat_template)


@lru_cache(maxsize=8)
def _turn_end_text(template: str) -> str:
    from transformers.utils.chat_template_utils import render_jinja_template

    marker = "\x00ANSWER\x00"
    rendered, _ = render_jinja_template(
        conversations=[chat_messages(0, "p", marker)], chat_template=template, add_generation_prompt=False
    )
    return rendered[0].split(marker, 1)[1].rstrip()


def encode_prompt(processor, images: Sequence[Image.Image], prompt: str) -> dict[str, torch.Tensor]:
    """Processor outputs for the prompt part only (what generation starts from); 1-D text tensors."""
    text = prompt_text(processor, len(images), prompt)
    enc = processor(text=[text], images=list(images) if images else None, return_tensors="pt")
    out = {k: v[0] for k, v in enc.items() if k in ("input_ids", "attention_mask", "mm_token_type_ids")}
    if "mm_token_type_ids" not in out:
        out["mm_token_type_ids"] = torch.zeros_like(out["input_ids"])
    for key in ("pixel_values", "image_grid_thw"):
        if key in enc:
            out[key] = enc[key]
    return out


def encode_answer(processor, answer: str) -> list[int]:
    """Token ids of the answer followed by the end-of-turn marker (no BOS or other additions)."""
    return processor.tokenizer(answer + turn_end_text(processor), add_special_tokens=False)["input_ids"]


class PromptCache:
    """`encode_prompt` outputs per key (a study id), least recently used first out, bounded in bytes.

    Every teacher trajectory of a study and every epoch share one image + prompt encoding; reading
    the image and running the image processor again for each of them was a third of an SPD step on
    the tiny student (profiled). The tensors are shared between the examples: callers must not
    modify them in place (`encode_example` and the collators build new tensors).
    """

    def __init__(self, processor, prompt: str, max_bytes: int = 512 * 2**20):
        self.processor, self.prompt, self.max_bytes = processor, prompt, max_bytes
        self._items: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()
        self._bytes = 0

    def __call__(self, key: str, load_images: Callable[[], Sequence[Image.Image]]) -> dict[str, torch.Tensor]:
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        part = encode_prompt(self.processor, load_images(), self.prompt)
        size = sum(t.numel() * t.element_size() for t in part.values())
        if size <= self.max_bytes:
            self._items[key] = part
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= sum(t.numel() * t.element_size() for t in old.values())
        return part


def encode_example(
    processor, images: Sequence[Image.Image], prompt: str, answer: str, max_length: int | None = None,
    prompt_part: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Prompt + answer ids with labels on the answer tokens only (see module docstring).

    If max_length is given, the answer is truncated so the example fits (image and prompt tokens are
    never cut: an example whose prompt alone is longer raises ValueError). `prompt_part` is an
    already computed `encode_prompt(processor, images, prompt)` (e.g. from a `PromptCache`).
    """
    if prompt_part is None:
        prompt_part = encode_prompt(processor, images, prompt)
    prompt_ids = prompt_part["input_ids"]  # [Tp]
    answer_ids = torch.tensor(encode_answer(processor, answer), dtype=prompt_ids.dtype)  # [Ta]
    if max_length is not None:
        room = max_length - prompt_ids.numel()
        if room < 1:
            raise ValueError(f"prompt needs {prompt_ids.numel()} tokens, more than max_length={max_length}")
        answer_ids = answer_ids[:room]
    n_answer = answer_ids.numel()
    example = dict(prompt_part)
    example["input_ids"] = torch.cat([prompt_ids, answer_ids])  # [T = Tp + Ta]
    example["attention_mask"] = torch.ones_like(example["input_ids"])
    example["mm_token_type_ids"] = torch.cat(
        [prompt_part["mm_token_type_ids"], torch.zeros(n_answer, dtype=prompt_part["mm_token_type_ids"].dtype)]
    )
    example["labels"] = torch.cat([torch.full_like(prompt_ids, IGNORE_INDEX), answer_ids])
    return example
