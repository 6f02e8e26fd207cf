"""Generation: a backend interface (transformers, vLLM) and the `generate` stage."""

from driftalign.generation.backend import GenerationBackend, GenerationRequest, SamplingConfig, make_backend

__all__ = ["GenerationBackend", "GenerationRequest", "SamplingConfig", "make_backend"]
