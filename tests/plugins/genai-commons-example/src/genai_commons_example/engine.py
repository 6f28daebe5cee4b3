"""The example's "service": a local, deterministic engine that speaks JSON-like payloads.

A real plugin talks HTTP here (through an SDK or httpx); the engine keeps that shape — requests
and answers are plain dicts, errors carry an HTTP-like status — so that ``wire.py`` and
``errors.py`` look like they would for a real service. Tests replace the engine to fake failures.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from typing import Any

_WORD = re.compile(r"\w+")


class EngineError(Exception):
    """An error answer of the engine, as an HTTP client would raise it."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.retry_after = retry_after


class LocalEngine:
    """Answers ``complete``, ``stream`` and ``embed`` payloads by rule.

    Model ``echo`` answers ``PREFIX <last user text>``; model ``reverse`` answers the words of the
    last user text in reverse order. Tokens are whitespace-separated words. Embeddings use the
    hashing trick: each lower-cased word adds ±1 to one dimension, then the vector is normalised.
    """

    def __init__(self, *, prefix: str = "You said:", api_key: str | None = None) -> None:
        self.prefix = prefix
        self.api_key = api_key
        #: Number of requests received, for tests.
        self.requests = 0

    def _answer(self, body: dict[str, Any]) -> tuple[str, int, int]:
        user = [m["text"] for m in body["messages"] if m["role"] == "user"]
        last = user[-1] if user else ""
        reverse = body["model"] == "reverse"
        text = " ".join(reversed(last.split())) if reverse else f"{self.prefix} {last}".strip()
        words_in = sum(len(m["text"].split()) for m in body["messages"]) + len((body.get("system") or "").split())
        if body.get("max_tokens") is not None:
            text = " ".join(text.split()[: body["max_tokens"]])
        return text, words_in, len(text.split())

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        text, words_in, words_out = self._answer(body)
        return {"model": body["model"], "text": text, "finish": "stop", "usage": {"in": words_in, "out": words_out}}

    def stream(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        self.requests += 1
        text, words_in, words_out = self._answer(body)
        for i, word in enumerate(text.split(" ")):
            yield {"type": "delta", "text": word if i == 0 else f" {word}"}
        yield {"type": "done", "model": body["model"], "finish": "stop", "usage": {"in": words_in, "out": words_out}}

    def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        dimensions = int(body.get("dimensions") or 64)
        vectors = [_hashing_vector(text, dimensions) for text in body["input"]]
        return {"model": body["model"], "data": vectors, "usage": {"in": sum(len(t.split()) for t in body["input"])}}


def _hashing_vector(text: str, dimensions: int) -> list[float]:
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "big") % dimensions
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector
