"""Generation: a backend interface (transformers, vLLM) and the `generate` stage.

`generation.backend` holds the interface the backends implement; `make_backend` (here, above the backends)
builds one by name, so no backend module imports its caller.
"""

from __future__ import annotations

from driftalign.errors import ConfigError
from driftalign.generation.backend import GenerationBackend, GenerationRequest, SamplingConfig

BACKENDS: tuple[str, ...] = ("transformers", "vllm")


def make_backend(name: str, model_dir: str, sampling: SamplingConfig, options=None) -> GenerationBackend:
    """Build a backend by name from a model directory (or a training output directory: its final/).

    `options`: a `models.options.ModelOptions` (dtype, attention kernel, image limits); None = defaults.
    """
    from driftalign.models.load import model_dir as resolve
    from driftalign.models.options import ModelOptions

    model_dir = str(resolve(model_dir))
    options = options or ModelOptions()
    if name == "transformers":
        from driftalign.generation.transformers_backend import TransformersBackend

        return TransformersBackend.from_pretrained(model_dir, sampling, dtype=options.dtype, **options.load_kwargs())
    if name == "vllm":
        from driftalign.generation.vllm_backend import VLLMBackend

        return VLLMBackend(model_dir, sampling, dtype=options.dtype, **options.load_kwargs())
    raise ConfigError(f"unknown generation backend {name!r}; choose one of {list(BACKENDS)}")


__all__ = ["BACKENDS", "GenerationBackend", "GenerationRequest", "SamplingConfig", "make_backend"]
