"""A byte-level BPE tokenizer trained locally on a dataset's text, with Qwen2.5-VL's special tokens.

The tiny and small students cannot download Qwen's 151k-token vocabulary (no hub access), so they
get a tokenizer trained here with the `tokenizers` library on the dataset's own text (reports,
teacher trajectories, prompts). Everything downstream only relies on what a real Qwen2.5-VL
tokenizer also has: the same special tokens and an equivalent chat template. A byte-level BPE
trained on templated reports saturates at ~1.5k tokens (SPEC §4), so the requested vocabulary size
is an upper bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from driftalign.constants import CXR_MAX_PROMPT, STUDENT_PROMPT, UNHINTED_PROMPT
from driftalign.data.dataset import Dataset

# Qwen2.5-VL's special tokens, in Qwen's id order (<|endoftext|> first).
PAD_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS: tuple[str, ...] = (
    PAD_TOKEN,
    IM_START,
    IM_END,
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# Qwen2.5-VL-Instruct's chat template (same rendering: default system turn, one
# <|vision_start|><|image_pad|><|vision_end|> block per image, optional "Picture k: " ids).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Text every student sees whatever the dataset: the fixed prompts and the chat template's own words.
_FIXED_TEXTS: tuple[str, ...] = (
    STUDENT_PROMPT,
    CXR_MAX_PROMPT,
    UNHINTED_PROMPT,
    "system\nYou are a helpful assistant.\nuser\nassistant\nPicture 1: Picture 2: ",
)


def dataset_texts(ds: Dataset) -> Iterator[str]:
    """All text of a dataset a student will read or write: reports, trajectories, prompts."""
    yield from _FIXED_TEXTS
    for study in ds.studies:
        if study.report:
            yield study.report
    for t in ds.trajectories:
        yield t.prompt
        yield t.response


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE (GPT-2/Qwen style) on `texts`; returns a transformers tokenizer.

    The 256 byte symbols are always in the vocabulary, so any text is encodable; special tokens
    take the first ids. The result carries Qwen2.5-VL's chat template, pad = <|endoftext|> and
    eos = <|im_end|> (what an Instruct model ends its answers with).
    """
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=IM_END,
        pad_token=PAD_TOKEN,
        chat_template=CHAT_TEMPLATE,
        extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                              "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>"},
        model_max_length=4096,
        clean_up_tokenization_spaces=False,
    )
