"""The example's "service": a local, deterministic engine behind an HTTP API.

The plugin talks HTTP to it through the core's HTTP layer, exactly as it would to a remote
service; :class:`EngineService` answers those requests in-process (an ``httpx.MockTransport``
handler), so the plugin needs no network. Its API: ``POST /v1/complete``, ``POST /v1/stream``
(server-sent events) and ``POST /v1/embed``, JSON bodies, errors as
``{"error": {"code", "message"}}`` with an HTTP status. Tests use :meth:`EngineService.fail_next`
to fake failures.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

_WORD = re.compile(r"\w+")


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
        prefix = body.get("prefix", self.prefix)
        text = " ".join(reversed(last.split())) if reverse else f"{prefix} {last}".strip()
        words_in = sum(len(m["text"].split()) for m in body["messages"]) + len((body.get("system") or "").split())
        for stop in body.get("stop") or ():
            if stop in text:
                text = text[: text.index(stop)].rstrip()
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


#: The HTTP status of each failure kind :meth:`EngineService.fail_next` fakes.
FAULTS = {
    "auth": 401,
    "permission": 403,
    "not_found": 404,
    "bad_request": 400,
    "context_length": 400,
    "rate_limit": 429,
    "rate_limit_wait": 429,
    "server_error": 500,
    "unavailable": 503,
}


class EngineService:
    """The engine's HTTP API, answered in-process (an ``httpx.MockTransport`` handler)."""

    def __init__(self, engine: LocalEngine | None = None) -> None:
        self.engine = engine or LocalEngine()
        #: Requests received, for tests.
        self.requests = 0
        self.faults: list[str] = []
        #: The JSON body of the last request, for tests.
        self.last_body: Any = None

    def fail_next(self, kind: str) -> None:
        """Fail the next request: a kind of :data:`FAULTS`, ``timeout``, or ``stream_cut`` (a
        streamed answer whose connection breaks after its first event)."""
        self.faults.append(kind)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        key = self.engine.api_key
        if key is not None and request.headers.get("authorization") != f"Bearer {key}":
            return _error(401, "invalid_api_key", "unknown key")
        kind = self.faults.pop(0) if self.faults else None
        if kind == "timeout":
            raise httpx.ReadTimeout("read timed out", request=request)
        if kind is not None and kind != "stream_cut":
            code = {"context_length": "context_length_exceeded", "rate_limit_wait": "rate_limit"}.get(kind, kind)
            headers = {"rate_limit": {"retry-after": "0"}, "rate_limit_wait": {"retry-after-ms": "50"}}.get(kind)
            return _error(FAULTS[kind], code, "simulated", headers)
        try:
            body = json.loads(request.content)
        except ValueError:
            return _error(400, "bad_request", "the body is not JSON")
        self.last_body = body
        path = request.url.path
        if path == "/v1/complete":
            return httpx.Response(200, json=self.engine.complete(body))
        if path == "/v1/embed":
            return httpx.Response(200, json=self.engine.embed(body))
        if path == "/v1/stream":
            events = [f"data: {json.dumps(event)}\n\n".encode() for event in self.engine.stream(body)]
            if kind == "stream_cut":
                return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_Cut(events[:1]))
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(events))
        return _error(404, "not_found", f"no such endpoint {path}")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}}, headers=headers)


class _Cut(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that breaks off after ``chunks``, as a dropped connection does."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def _broken(self) -> httpx.RemoteProtocolError:
        return httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        raise self._broken()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        raise self._broken()
