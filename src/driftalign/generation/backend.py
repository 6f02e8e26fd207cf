"""The generation backend interface: requests (images + prompt) in, K texts per request out.

Every stage that samples from a student (generate, consensus, DDSampling's K samples, DiTPO
rollouts) talks to a `GenerationBackend`, so switching between transformers (CPU/GPU, tested)
and vLLM (GPU serving, optional) is one flag.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from driftalign.errors import ConfigError


@dataclass(frozen=True)
class GenerationRequest:
    """One input: the study's images and the prompt text (rendered with the model's chat template)."""

    images: list[Image.Image] = field(default_factory=list)
    prompt: str = ""


@dataclass(frozen=True)
class SamplingConfig:
    """How to decode. Greedy (do_sample False) gives exactly one output per request."""

    max_new_tokens: int = 128
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    num_return_sequences: int = 1

    def __post_init__(self) -> None:
        if self.num_return_sequences < 1:
            raise ConfigError("--num-return-sequences must be >= 1")
        if self.num_return_sequences > 1 and not self.do_sample:
            raise ConfigError("--num-return-sequences > 1 needs --do-sample (greedy decoding gives one output)")
        if self.max_new_tokens < 1:
            raise ConfigError("--max-new-tokens must be >= 1")
        if self.do_sample and not (self.temperature > 0 and 0 < self.top_p <= 1):
            raise ConfigError("sampling needs --temperature > 0 and 0 < --top-p <= 1")


class GenerationBackend(ABC):
    """Generate `sampling.num_return_sequences` texts for each request, in request order."""

    def __init__(self, sampling: SamplingConfig | None = None):
        self.sampling = sampling or SamplingConfig()

    @abstractmethod
    def generate(self, requests: Sequence[GenerationRequest],
                 sampling: SamplingConfig | None = None) -> list[list[str]]:
        """outputs[i][k] = the k-th text for requests[i] (special tokens removed)."""


BACKENDS: tuple[str, ...] = ("transformers", "vllm")


def make_backend(name: str, model_dir: str, sampling: SamplingConfig) -> GenerationBackend:
    """Build a backend by name from a model directory (or a training output directory: its final/)."""
    from driftalign.models.load import model_dir as resolve

    model_dir = str(resolve(model_dir))
    if name == "transformers":
        from driftalign.generation.transformers_backend import TransformersBackend

        return TransformersBackend.from_pretrained(model_dir, sampling)
    if name == "vllm":
        from driftalign.generation.vllm_backend import VLLMBackend

        return VLLMBackend(model_dir, sampling)
    raise ConfigError(f"unknown generation backend {name!r}; choose one of {list(BACKENDS)}")
