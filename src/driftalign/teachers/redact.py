"""Keep API keys out of every message driftalign prints, logs or stores.

httpx exceptions and server error bodies can echo headers or parts of a request; every text that
leaves the client goes through `Redactor.scrub` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
_BEARER_RE = re.compile(r"(Bearer\s+)[^\s'\",]+", re.IGNORECASE)


class Redactor:
    """Replaces each known secret (and anything after 'Bearer ') with ***."""

    def __init__(self, secrets: Iterable[str | None] = ()):
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _BEARER_RE.sub(rf"\g<1>{MASK}", text)
