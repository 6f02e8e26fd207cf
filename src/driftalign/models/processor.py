"""The image-only Qwen2.5-VL processor, image-size limits, and saving processors under the standard name.

Why a subclass: the stock `Qwen2_5_VLProcessor` needs a video processor, and transformers' video
processors need torchvision, which has no CPU build on our machines (SPEC §4). Students here only
ever see still images, so `ImageOnlyQwen2_5_VLProcessor` is the stock processor minus the video
slot: same image-token expansion, same chat template, same outputs (input_ids, attention_mask,
pixel_values, image_grid_thw, mm_token_type_ids). `models.load.load_processor` uses it only when
the stock processor cannot be built (no torchvision), with a one-line notice.

Saved processors always name the standard class (`save_processor`): `Qwen2_5_VLProcessor`, so a
plain `AutoProcessor.from_pretrained(final_dir)` works without importing driftalign (where
torchvision is installed, as on any GPU machine). Directories written by older versions name
`ImageOnlyQwen2_5_VLProcessor`; `register_processor` keeps them loadable.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoProcessor, Qwen2_5_VLConfig, Qwen2_5_VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

# Qwen2.5-VL's vision constants: 14 px patches, 2x2 patch merge -> one token per 28x28 px.
PATCH_SIZE = 14
MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2
STANDARD_PROCESSOR_CLASS = "Qwen2_5_VLProcessor"   # what every saved processor names (hub checkpoints do too)


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


def save_processor(processor, out: str | Path) -> Path:
    """`processor.save_pretrained(out)`, naming the standard `Qwen2_5_VLProcessor` class in every file it wrote.

    transformers writes `type(processor).__name__` into processor_config.json / preprocessor_config.json /
    tokenizer_config.json; the image-only subclass would make those files unloadable by a plain
    `AutoProcessor` that has not imported driftalign.
    """
    out = Path(out)
    processor.save_pretrained(out)
    private = type(processor).__name__
    if private == STANDARD_PROCESSOR_CLASS:
        return out
    for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        path = out / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("processor_class") == private:
            data["processor_class"] = STANDARD_PROCESSOR_CLASS
            path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def image_limits(processor) -> tuple[int, int]:
    """(min_pixels, max_pixels) of a Qwen2-VL-family image processor (its `size` shortest/longest edge)."""
    size = processor.image_processor.size
    get = size.get if isinstance(size, dict) else (lambda k: getattr(size, k, None))
    return int(get("shortest_edge")), int(get("longest_edge"))


def set_image_limits(processor, min_pixels: int, max_pixels: int) -> None:
    """Set the image processor's pixel limits in place (saved with it: preprocessor_config.json `size`)."""
    ip = processor.image_processor
    ip.size = {"shortest_edge": int(min_pixels), "longest_edge": int(max_pixels)}
    for attr, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if hasattr(ip, attr):   # older processors keep these as attributes too: keep them in step
            setattr(ip, attr, int(value))


def resized_image_shape(processor, height: int, width: int) -> tuple[int, int]:
    """The (height, width) the processor resizes an image of this size to (Qwen2-VL's `smart_resize`)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    ip = processor.image_processor
    factor = ip.patch_size * ip.merge_size
    low, high = image_limits(processor)
    return smart_resize(height, width, factor=factor, min_pixels=low, max_pixels=high)


def image_token_count(processor, height: int, width: int) -> int:
    """<|image_pad|> tokens of one image of this size: (resized h / 28) * (resized w / 28) for Qwen2.5-VL."""
    ip = processor.image_processor
    h, w = resized_image_shape(processor, height, width)
    factor = ip.patch_size * ip.merge_size
    return (h // factor) * (w // factor)

register_processor()   # on import: directories written by older versions name the image-only class
