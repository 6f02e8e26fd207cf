"""vLLM generation backend (GPU serving; optional, not installed or tested on the CPU machines).

vLLM loads the same HF directory the transformers backend does (e.g. SPD's `final/`, a merged
safetensors model), renders prompts with the same chat template (`training.chat.prompt_text`)
and passes the images as multi-modal data. Install with `pip install vllm` on a GPU machine.
"""

from __future__ import annotations

from collections.abc import Sequence

from driftalign.errors import ConfigError
from driftalign.generation.backend import GenerationBackend, GenerationRequest, SamplingConfig
from driftalign.models.load import load_processor
from driftalign.training.chat import prompt_text


def _import_vllm():
    try:
        import vllm
    except ImportError:
        raise ConfigError("--backend vllm needs the vllm package (pip install vllm, GPU machines only); "
                          "use --backend transformers otherwise") from None
    return vllm


class VLLMBackend(GenerationBackend):
    def __init__(self, model_dir: str, sampling: SamplingConfig | None = None, max_images_per_prompt: int = 4):
        super().__init__(sampling)
        self._vllm = _import_vllm()
        self.processor = load_processor(model_dir)
        self.llm = self._vllm.LLM(model=str(model_dir), limit_mm_per_prompt={"image": max_images_per_prompt})

    def _params(self, s: SamplingConfig):
        return self._vllm.SamplingParams(
            n=s.num_return_sequences,
            temperature=s.temperature if s.do_sample else 0.0,
            top_p=s.top_p if s.do_sample else 1.0,
            max_tokens=s.max_new_tokens,
        )

    def generate(self, requests: Sequence[GenerationRequest],
                 sampling: SamplingConfig | None = None) -> list[list[str]]:
        s = sampling or self.sampling
        inputs = [
            {"prompt": prompt_text(self.processor, len(r.images), r.prompt), "multi_modal_data": {"image": r.images}}
            for r in requests
        ]
        results = self.llm.generate(inputs, self._params(s), use_tqdm=False)
        return [[o.text.strip() for o in r.outputs] for r in results]
