"""Model consensus (SPEC §3 eq. 7): t+ ~ pi_SPD(. | v, l, T), the teachers' trajectories in the prompt.

The SPD student is shown the study's image(s) and a prompt made of the student's prompt l followed
by the N teacher trajectories T, numbered and anonymised (teacher names are not shown, so the
student cannot learn to trust a brand), and asked for the report they agree on — the paper's
in-context extraction. Generation goes through the shared `GenerationBackend` (transformers or
vLLM), greedy by default.
"""

from __future__ import annotations

from collections.abc import Sequence

CONSENSUS_INSTRUCTION = (
    "Here are {n} reports on this image by other readers. They may disagree.\n{reports}\n"
    "Write one report that keeps only the findings most of them agree on."
)


def consensus_prompt(prompt: str, responses: Sequence[str], max_chars: int = 1500) -> str:
    """The student's prompt l, then the N trajectories T (each cut to max_chars), then the instruction."""
    reports = "\n".join(f"[{i}] {' '.join(r.split())[:max_chars]}" for i, r in enumerate(responses, start=1))
    return f"{prompt}\n\n" + CONSENSUS_INSTRUCTION.format(n=len(responses), reports=reports)
