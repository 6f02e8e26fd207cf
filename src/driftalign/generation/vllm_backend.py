"""vLLM generation backend (GPU serving; optional, not installed or tested on the CPU machines).

vLLM loads the same HF directory the transformers backend does (e.g. SPD's `final/`, a merged
safetensors model), renders prompts with the same chat template (`models.chat.prompt_text`)
and passes the images as multi-modal data. Install with `pip install vllm` on a GPU machine.
"""

from __future__ import annotations

from collections.abc import Sequence

from driftalign.errors import ConfigError
from driftalign.generation.backend import GenerationBackend, GenerationRequest, SamplingConfig
from driftalign.models.chat import prompt_text
from driftalign.models.load import load_processor
from driftalign.models.processor import image_limits


def _import_vllm():
    try:
        import vllm
    except ImportError:
        raise ConfigError("--backend vllm needs the vllm package (pip install vllm, GPU machines only); "
                          "use --backend transformers otherwise") from None
    return vllm


class VLLMBackend(GenerationBackend):
    def __init__(self, model_dir: str, sampling: SamplingConfig | None = None, max_images_per_prompt: int = 4,
                 dtype: str = "auto", attn_implementation: str | None = None, min_pixels: int | None = None,
                 max_pixels: int | None = None):
        super().__init__(sampling)
        self._vllm = _import_vllm()
        self.processor = load_processor(model_dir, min_pixels=min_pixels, max_pixels=max_pixels)
        low, high = image_limits(self.processor)
        # generation_config="vllm": vLLM's neutral defaults, not the checkpoint's generation_config.json; the
        # image limits in force go to vLLM's processor (`mm_processor_kwargs`), as they do to ours.
        self.llm = self._vllm.LLM(model=str(model_dir), limit_mm_per_prompt={"image": max_images_per_prompt},
                                  dtype=dtype, generation_config="vllm",
                                  mm_processor_kwargs={"min_pixels": low, "max_pixels": high})

    def _params(self, s: SamplingConfig, seed: int | None = None):
        """Every decoding parameter explicit (`generation.sampling`); greedy is temperature 0. `seed`: this
        request's own random generator (vLLM seeds per request, whatever else is in the batch)."""
        k = s.generation_kwargs()
        return self._vllm.SamplingParams(
            seed=seed,
            n=s.num_return_sequences,
            temperature=k["temperature"] if s.do_sample else 0.0,
            top_p=k["top_p"],
            top_k=k["top_k"] if k["top_k"] > 0 else -1,   # vLLM: -1 = no top-k filter (0 in transformers)
            repetition_penalty=k["repetition_penalty"],
            max_tokens=s.max_new_tokens,
        )

    def _inputs(self, requests: Sequence[GenerationRequest]) -> list[dict]:
        return [{"prompt": prompt_text(self.processor, len(r.images), r.prompt),
                 "multi_modal_data": {"image": r.images}} for r in requests]

    def generate(self, requests: Sequence[GenerationRequest],
                 sampling: SamplingConfig | None = None) -> list[list[str]]:
        s = sampling or self.sampling
        inputs = self._inputs(requests)
        results = self.llm.generate(inputs, self._params(s), use_tqdm=False)
        return [[o.text.strip() for o in r.outputs] for r in results]

    def generate_seeded(self, requests: Sequence[GenerationRequest], seeds: Sequence[int],
                        sampling: SamplingConfig | None = None) -> list[list[str]]:
        """One batched call, each request with its own seed (`GenerationBackend.generate_seeded`)."""
        s = sampling or self.sampling
        inputs = self._inputs(requests)
        params = [self._params(s, seed) for seed in seeds]
        if len(params) != len(inputs):
            raise ValueError(f"{len(inputs)} requests but {len(params)} seeds")
        results = self.llm.generate(inputs, params, use_tqdm=False)
        return [[o.text.strip() for o in r.outputs] for r in results]
