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

from driftalign.generation.sampling import SamplingConfig


@dataclass(frozen=True)
class GenerationRequest:
    """One input: the study's images and the prompt text (rendered with the model's chat template)."""

    images: list[Image.Image] = field(default_factory=list)
    prompt: str = ""


class GenerationBackend(ABC):
    """Generate `sampling.num_return_sequences` texts for each request, in request order."""

    def __init__(self, sampling: SamplingConfig | None = None):
        self.sampling = sampling or SamplingConfig()

    @abstractmethod
    def generate(self, requests: Sequence[GenerationRequest],
                 sampling: SamplingConfig | None = None) -> list[list[str]]:
        """outputs[i][k] = the k-th text for requests[i] (special tokens removed)."""

    def generate_seeded(self, requests: Sequence[GenerationRequest], seeds: Sequence[int],
                        sampling: SamplingConfig | None = None) -> list[list[str]]:
        """As `generate`, with the outputs of requests[i] drawn from a random generator seeded by seeds[i] alone:
        the same request and seed give the same texts whatever else is in the call (resumable sampling).

        Default: one request at a time after `torch.manual_seed(seed)` (a request's K outputs are still one
        batch); a backend with per-request seeds (vLLM) overrides it and keeps the batch."""
        import torch

        outputs: list[list[str]] = []
        for request, seed in zip(requests, seeds, strict=True):
            torch.manual_seed(seed)
            outputs += self.generate([request], sampling)
        return outputs
