"""What servers answer in ``test_hardening_redaction.py``: answers that quote the credential the
call carried, on every error path — a 200 answer that is not JSON, a 200 JSON answer of the wrong
shape, a stream event that is not JSON, an error event inside a stream, and 4xx/5xx answers in
HTML and JSON — for the OpenAI, Azure OpenAI, Mendix Cloud GenAI and OpenSearch plugins.

A :class:`Target` is one provider configured with one canary of :mod:`security_canaries`; a
:class:`Quote` is one answer, made for the target's secret, that the fault proxy plays instead of
forwarding the request. Each answer quotes the secret whole and, elsewhere, by a masked beginning
longer than the eight characters a key may show, as servers and proxies do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from faults_servers import Reply
from security_canaries import CANARIES

__all__ = ["QUOTES", "TARGETS", "Quote", "Target", "said"]

HTML = {"content-type": "text/html"}
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Target:
    """A provider whose calls carry ``secret``; ``ref`` is the model (or knowledge base) called."""

    provider: str
    ref: str
    secret: str
    #: Whether it streams (chat plugins) or is a knowledge base (OpenSearch).
    knowledge: bool = False


TARGETS: Mapping[str, Target] = {
    "openai": Target("openai", "openai:gpt-4o-mini", CANARIES["openai_api_key"]),
    "azure": Target("azure", "azure:gpt-4o-mini", CANARIES["azure_api_key"]),
    "mxcloud": Target("mxcloud", "mxcloud:claude", CANARIES["mxcloud_token"]),
    "opensearch": Target("opensearch", "opensearch:docs", CANARIES["opensearch_password"], knowledge=True),
}


@dataclass(frozen=True)
class Quote:
    """An answer quoting a secret: ``reply(target)`` is what the proxy plays; ``stream`` says that
    it answers a streamed chat; ``providers`` are those it applies to."""

    name: str
    reply: Callable[[Target], Reply]
    providers: frozenset[str]
    stream: bool = False


def said(secret: str) -> str:
    """A server's sentence quoting ``secret`` whole and by a masked beginning of ten characters."""
    return f"Incorrect API key provided: {secret} (starts {secret[:10]}****)"


def _openai_chunk(delta: Mapping[str, Any]) -> bytes:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
             "choices": [{"index": 0, "delta": dict(delta), "finish_reason": None}]}  # fmt: skip
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _mx_event(name: str, data: Any) -> bytes:
    body = data if isinstance(data, str) else json.dumps(data)
    return f"event: {name}\ndata: {body}\n\n".encode()


def _stream(target: Target, last: Callable[[str], bytes]) -> Reply:
    """A stream whose first event is good (so it has started) and whose second is ``last``."""
    if target.provider == "mxcloud":
        first = _mx_event("MESSAGE_START", {"role": "assistant"}) + _mx_event(
            "CONTENT_BLOCK_DELTA", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}
        )
    else:
        first = _openai_chunk({"role": "assistant", "content": "Hi"})
    return Reply(200, first + last(target.secret), SSE, chunked=True)


def _not_json_event(target: Target) -> Reply:
    if target.provider == "mxcloud":
        return _stream(target, lambda s: _mx_event("CONTENT_BLOCK_DELTA", f'{{"delta": "{said(s)}'))
    return _stream(target, lambda s: f'data: {{"choices": [{{"delta": "{said(s)}\n\n'.encode())


def _error_event(target: Target) -> Reply:
    if target.provider == "mxcloud":
        return _stream(target, lambda s: _mx_event("internalServerException", {"message": said(s)}))

    def event(secret: str) -> bytes:
        error = {"message": said(secret), "type": "invalid_request_error", "code": "invalid_api_key"}
        return b"data: " + json.dumps({"error": error}).encode() + b"\n\n"

    return _stream(target, event)


def _wrong_shape(target: Target) -> Reply:
    """JSON an answer of the right kind would never be, quoting the secret where a value goes."""
    if target.provider == "mxcloud":
        return Reply(200, json.dumps({"message": said(target.secret)}).encode(), JSON)
    if target.provider == "opensearch":
        return Reply(200, json.dumps({"genai-docs": said(target.secret)}).encode(), JSON)
    answer = {"id": "c1", "object": "chat.completion", "model": "gpt-4o-mini",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": said(target.secret), "completion_tokens": 1, "total_tokens": 2}}  # fmt: skip
    return Reply(200, json.dumps(answer).encode(), JSON)


def _error_json(status: int) -> Callable[[Target], Reply]:
    def reply(target: Target) -> Reply:
        message = said(target.secret)
        if target.provider == "opensearch":
            error = {"type": "security_exception", "reason": message}
            return Reply(status, json.dumps({"error": {**error, "root_cause": [error]}, "status": status}).encode())
        body = {"error": {"message": message, "type": "invalid_request_error", "code": None}, "message": message}
        return Reply(status, json.dumps(body).encode(), JSON)

    return reply


CHAT = frozenset({"openai", "azure", "mxcloud"})
EVERY = CHAT | {"opensearch"}

QUOTES: tuple[Quote, ...] = (
    Quote("200 not JSON", lambda t: Reply(200, f"<html><body>{said(t.secret)}</body></html>".encode(), HTML), EVERY),
    Quote("200 JSON of the wrong shape", _wrong_shape, EVERY),
    Quote("stream event not JSON", _not_json_event, CHAT, stream=True),
    Quote("error event in a stream", _error_event, CHAT, stream=True),
    Quote("502 HTML", lambda t: Reply(502, f"<html>Bad gateway: {said(t.secret)}</html>".encode(), HTML), EVERY),
    Quote("403 HTML", lambda t: Reply(403, f"<html><h1>Forbidden</h1>{said(t.secret)}</html>".encode(), HTML), EVERY),
    Quote("400 JSON", _error_json(400), EVERY),
    Quote("503 JSON", _error_json(503), EVERY),
)
