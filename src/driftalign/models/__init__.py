"""Student models: presets, locally trained tokenizer, image-only processor, build/load, LoRA.

Importing this package registers the image-only Qwen2.5-VL processor with AutoProcessor, so
`AutoProcessor.from_pretrained(student_dir)` returns the full processor, not just a tokenizer.
"""

from driftalign.models.processor import ImageOnlyQwen2_5_VLProcessor, register_processor

register_processor()

from driftalign.models.build import build_student  # noqa: E402
from driftalign.models.load import load_model, load_processor, load_student  # noqa: E402

__all__ = ["ImageOnlyQwen2_5_VLProcessor", "build_student", "load_model", "load_processor", "load_student",
           "register_processor"]
