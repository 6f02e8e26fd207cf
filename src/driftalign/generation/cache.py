"""Generated texts kept on disk per request id, under a key of everything that decides them.

A `GenerationCache` is one JSONL file, `{"id": ..., "texts": [...]}` per line, named by the caller's
key (model files, data, prompt, decoding, seed: whatever decides the texts). Two runs with the same
key generate once: consensus `self-edit` and `self-edit --edit-pair` read the same greedy reports of
the student, `self-select` with and without `--select-worst-negative` the same K samples. Lines are
appended and flushed as they come; a line a kill cut short is skipped, so an interrupted run keeps
everything it finished.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from driftalign.data.io import open_appending


class GenerationCache:
    """texts per request id, read once from `path` and appended to by `put`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._texts: dict[str, list[str]] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError):
                    obj = json.loads(line)
                    self._texts[str(obj["id"])] = [str(t) for t in obj["texts"]]

    def __contains__(self, request_id: str) -> bool:
        return request_id in self._texts

    def __len__(self) -> int:
        return len(self._texts)

    def get(self, request_id: str) -> list[str] | None:
        return self._texts.get(request_id)

    def missing(self, request_ids: Sequence[str]) -> list[str]:
        return [i for i in request_ids if i not in self._texts]

    def put(self, texts: Mapping[str, Sequence[str]]) -> None:
        """Remember `texts` (id -> its generated texts) and append them to the file."""
        if not texts:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open_appending(self.path) as f:
            for request_id, outs in texts.items():
                self._texts[request_id] = list(outs)
                f.write(json.dumps({"id": request_id, "texts": list(outs)}, ensure_ascii=False) + "\n")
            f.flush()
