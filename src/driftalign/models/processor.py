"""The image-only Qwen2.5-VL processor, registered with AutoProcessor on import.

Why a subclass: the stock `Qwen2_5_VLProcessor` needs a video processor, and transformers' video
processors need torchvision, which has no CPU build on our machines (SPEC §4). Students here only
ever see still images, so `ImageOnlyQwen2_5_VLProcessor` is the stock processor minus the video
slot: same image-token expansion, same chat template, same outputs (input_ids, attention_mask,
pixel_values, image_grid_thw, mm_token_type_ids).

Why the registration matters: a saved processor names its class (`processor_class`) and
AutoProcessor resolves that name among the classes it knows. If this module was not imported
first, AutoProcessor silently falls back to returning only the tokenizer. `driftalign.models`
imports this module, and `load_student` asserts it got a processor with an image processor.
"""

from __future__ import annotations

from transformers import AutoProcessor, Qwen2_5_VLConfig, Qwen2_5_VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

# Qwen2.5-VL's vision constants: 14 px patches, 2x2 patch merge -> one token per 28x28 px.
PATCH_SIZE = 14
MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2


class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
    """Qwen2.5-VL processor for images and text only (no video processor slot).

    `ProcessorMixin` derives the sub-processors from this `__init__` signature, so saving and
    loading handle exactly an image processor and a tokenizer.
    """

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


def register_processor() -> None:
    """Make `AutoProcessor` resolve the saved name `ImageOnlyQwen2_5_VLProcessor` (idempotent).

    transformers looks a saved `processor_class` name up among registered classes keyed by config
    class. Qwen2.5-VL checkpoints that name their own processor class (as the Hub's do) keep
    resolving to it: name lookup in transformers' own table comes first.
    """
    AutoProcessor.register(Qwen2_5_VLConfig, ImageOnlyQwen2_5_VLProcessor, exist_ok=True)


def image_processor_for(image_size: int) -> Qwen2VLImageProcessorPil:
    """A PIL Qwen2-VL image processor that resizes every image to exactly image_size x image_size
    (for square inputs): min_pixels = max_pixels = image_size**2. image_size must be a multiple of 28."""
    if image_size % (PATCH_SIZE * MERGE_SIZE):
        raise ValueError(f"image_size must be a multiple of {PATCH_SIZE * MERGE_SIZE}, got {image_size}")
    pixels = image_size * image_size
    return Qwen2VLImageProcessorPil(
        size={"shortest_edge": pixels, "longest_edge": pixels},
        patch_size=PATCH_SIZE,
        merge_size=MERGE_SIZE,
        temporal_patch_size=TEMPORAL_PATCH_SIZE,
    )


def build_processor(tokenizer, image_size: int) -> ImageOnlyQwen2_5_VLProcessor:
    """Image processor (image_size px) + tokenizer, with the tokenizer's chat template."""
    return ImageOnlyQwen2_5_VLProcessor(
        image_processor=image_processor_for(image_size),
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template,
    )


def image_tokens_per_image(image_size: int) -> int:
    """Number of <|image_pad|> tokens one square image becomes: (size / 28)**2."""
    return (image_size // (PATCH_SIZE * MERGE_SIZE)) ** 2
