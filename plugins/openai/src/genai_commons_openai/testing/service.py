"""A fake of the OpenAI API (and of Azure OpenAI's deployment routes), written from the API
reference, independent of any transport.

:meth:`FakeOpenAI.handle` takes one HTTP request and returns an :class:`Answer`; the loopback
server (:mod:`.server`) and :meth:`FakeOpenAI.transport` (an ``httpx.MockTransport``) serve it.
It checks what the API checks (credentials, the model, the shape of messages, tools and options),
answers deterministically, records every request, and fails on demand.

Routes: ``GET /v1/models``, ``POST /v1/chat/completions`` (also streamed),
``POST /v1/embeddings`` (``float`` or ``base64``), ``POST /v1/images/generations``, and for Azure
``POST /openai/deployments/{deployment}/{chat/completions|embeddings|images/generations}?api-version=…``.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

from . import _chat, _media
from ._chat import Reply
from ._errors import ApiError, failure

__all__ = ["DEFAULT_MODELS", "FAULTS", "Answer", "FakeOpenAI", "Recorded", "Reply"]

#: The models the fake serves unless told otherwise: id -> properties.
DEFAULT_MODELS: Mapping[str, Mapping[str, Any]] = {
    "gpt-4o-mini": {"kind": "chat"},
    "gpt-4o": {"kind": "chat"},
    "gpt-4.1-mini": {"kind": "chat"},
    "o3-mini": {"kind": "chat", "reasoning": True},
    "gpt-5-mini": {"kind": "chat", "reasoning": True},
    "llama3.2": {"kind": "chat"},
    "text-embedding-3-small": {"kind": "embeddings", "dimensions": 1536, "shortenable": True},
    "text-embedding-3-large": {"kind": "embeddings", "dimensions": 3072, "shortenable": True},
    "text-embedding-ada-002": {"kind": "embeddings", "dimensions": 1536},
    "nomic-embed-text": {"kind": "embeddings", "dimensions": 768},
    "dall-e-2": {"kind": "image", "image_api": "dall-e-2"},
    "dall-e-3": {"kind": "image", "image_api": "dall-e-3"},
    "gpt-image-1": {"kind": "image", "image_api": "gpt-image"},
    "whisper-1": {"kind": "audio"},
}

#: Failure kinds besides the API errors of ``_errors.failure``: how the transport misbehaves.
FAULTS = ("timeout", "malformed", "truncate", "disconnect", "drop", "stream_error", "ignore_stream")

_OPERATIONS = {"chat/completions": "chat", "embeddings": "embeddings", "images/generations": "image"}


class Answer:
    """What the fake answers: a status, headers and a body, or a stream of SSE frames, with the
    ways a transport can misbehave (a delay before answering, a connection cut mid-stream)."""

    __slots__ = ("body", "cut", "delay", "drop", "events", "headers", "status")

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        *,
        headers: Mapping[str, str] | None = None,
        events: list[bytes] | None = None,
        delay: float = 0.0,
        cut: bool = False,
        drop: bool = False,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers or {"content-type": "application/json"})
        #: SSE frames (``data: …\n\n``), sent one by one with chunked transfer encoding.
        self.events = events
        self.delay = delay
        #: Close the connection after the events, without ending the chunked body.
        self.cut = cut
        #: Close the connection without answering at all.
        self.drop = drop


class Recorded:
    """One request the fake received."""

    __slots__ = ("body", "headers", "method", "path", "query")

    def __init__(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Recorded({self.method} {self.path})"


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(data).encode(), headers={"content-type": "application/json", **(headers or {})})


def _sse(frames: Iterable[dict[str, Any]], done: bool = True) -> list[bytes]:
    events = [b"data: " + json.dumps(frame).encode() + b"\n\n" for frame in frames]
    if done:
        events.append(b"data: [DONE]\n\n")
    return events


class FakeOpenAI:
    """The fake service. Tell it what to answer with :meth:`script`, how to fail with
    :meth:`fail_next`, and read what it received in :attr:`requests`.

    :param api_key: the key ``Authorization: Bearer`` must carry (None: no key needed, like a
        local server); for Azure routes, the ``api-key`` header.
    :param ad_token: an Entra ID token Azure routes accept as ``Authorization: Bearer``.
    :param models: the model ids served (Azure deployments have the same names).
    :param slow_seconds: how long a ``timeout`` fault waits before answering.
    :param record: keep every request in :attr:`requests` (off for long benchmark runs).
    :param latency: seconds the loopback server waits before each answer, as a model would.
    """

    def __init__(
        self,
        *,
        api_key: str | None = "sk-test",
        ad_token: str | None = None,
        models: Mapping[str, Mapping[str, Any]] | None = None,
        slow_seconds: float = 5.0,
        record: bool = True,
        latency: float = 0.0,
    ) -> None:
        self.api_key = api_key
        self.ad_token = ad_token
        self.models = dict(DEFAULT_MODELS if models is None else models)
        self.slow_seconds = slow_seconds
        self.record = record
        self.latency = latency
        self.requests: list[Recorded] = []
        self.base_url = "http://fake-openai.invalid"
        self._faults: collections.deque[str] = collections.deque()
        self._replies: collections.deque[Reply] = collections.deque()
        self._lock = threading.Lock()
        self._counter = 0

    # -- what tests tell it ------------------------------------------------------------------

    def fail_next(self, kind: str, times: int = 1) -> None:
        """Fail the next ``times`` requests as ``kind``: an API error (``auth``, ``permission``,
        ``region``, ``not_found``, ``rate_limit``, ``quota``, ``unavailable``, ``server_error``,
        ``bad_request``, ``context_length``, ``content_filter``) or a fault of :data:`FAULTS`."""
        if kind not in FAULTS:
            failure(kind)  # KeyError for an unknown kind
        with self._lock:
            self._faults.extend([kind] * times)

    def script(self, *replies: str | Reply | list[tuple[str, Mapping[str, Any]]]) -> None:
        """Queue chat answers: a text, a :class:`Reply`, or a list of ``(tool name, arguments)``."""
        with self._lock:
            for reply in replies:
                if isinstance(reply, str):
                    self._replies.append(Reply(reply))
                elif isinstance(reply, Reply):
                    self._replies.append(reply)
                else:
                    self._replies.append(Reply(tool_calls=list(reply)))

    @property
    def calls(self) -> list[Recorded]:
        """The recorded API requests (``requests`` without model listings)."""
        return [r for r in self.requests if not r.path.endswith("/models")]

    # -- serving -----------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Answer one request (``target`` is the path with its query string)."""
        path, _, raw_query = target.partition("?")
        query = {k: v[-1] for k, v in parse_qs(raw_query).items()}
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        with self._lock:
            if self.record:
                self.requests.append(Recorded(method, path, query, lowered, parsed))
            fault = self._faults.popleft() if self._faults else None
            self._counter += 1
            number = self._counter
        try:
            return self._route(method, path, query, lowered, body, parsed, fault, number)
        except ApiError as error:
            return Answer(error.status, error.body(), headers={"content-type": "application/json", **error.headers})

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes, body: Any,
        fault: str | None, number: int,
    ) -> Answer:  # fmt: skip
        if fault == "drop":
            return Answer(drop=True)
        azure = path.startswith("/openai/")
        self._authenticate(headers, azure)
        if fault is not None and fault not in FAULTS:
            raise failure(fault)
        if fault == "malformed":
            return Answer(200, b"<html><body>Welcome to nginx!</body></html>", headers={"content-type": "text/html"})
        if azure:
            operation, model_id = self._azure_target(path, query)
        elif path == "/v1/models" and method == "GET":
            return _json({"object": "list", "data": [
                {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "system"} for m in self.models
            ]})  # fmt: skip
        elif path.startswith("/v1/") and path[4:] in _OPERATIONS:
            operation, model_id = _OPERATIONS[path[4:]], None
        else:
            raise ApiError(404, f"Invalid URL ({method} {path})", "invalid_request_error", "unknown_url")
        if method != "POST":
            raise ApiError(405, f"Method {method} not allowed", "invalid_request_error")
        if not isinstance(body, dict):
            raise ApiError.invalid("We could not parse the JSON body of your request.", None, "invalid_json")
        model_id = model_id or body.get("model")
        model = self._model(model_id, operation)
        answer = self._answer(operation, body, model, fault, number)
        if fault == "timeout":
            answer.delay = self.slow_seconds
        return answer

    def _authenticate(self, headers: dict[str, str], azure: bool) -> None:
        bearer = headers.get("authorization", "")
        if azure:
            ok = (self.api_key is None or headers.get("api-key") == self.api_key) or (
                self.ad_token is not None and bearer == f"Bearer {self.ad_token}"
            )
            if not ok:
                raise ApiError(
                    401,
                    "Access denied due to invalid subscription key or wrong API endpoint.",
                    "invalid_request_error",
                    "401",
                )
        elif self.api_key is not None and bearer != f"Bearer {self.api_key}":
            message = "You didn't provide an API key." if not bearer else "Incorrect API key provided."
            raise ApiError(401, message, "invalid_request_error", "invalid_api_key")

    def _azure_target(self, path: str, query: dict[str, str]) -> tuple[str, str]:
        parts = path.split("/", 4)  # ['', 'openai', 'deployments', NAME, OPERATION]
        if len(parts) != 5 or parts[2] != "deployments" or parts[4] not in _OPERATIONS:
            raise ApiError(404, "Resource not found", "invalid_request_error", "404")
        if not query.get("api-version"):
            raise ApiError(404, "Resource not found", "invalid_request_error", "404")
        if parts[3] not in self.models:
            raise ApiError(
                404,
                "The API deployment for this resource does not exist.",
                "invalid_request_error",
                "DeploymentNotFound",
            )
        return _OPERATIONS[parts[4]], parts[3]

    def _model(self, model_id: Any, operation: str) -> Mapping[str, Any]:
        if not isinstance(model_id, str) or not model_id:
            raise ApiError.invalid("you must provide a model parameter", "model")
        model = self.models.get(model_id)
        if model is None:
            raise ApiError(
                404,
                f"The model `{model_id}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
        if model.get("kind") != operation:
            raise ApiError(
                404,
                f"This is not a {operation} model and thus not supported in this endpoint.",
                "invalid_request_error",
                "model_not_found",
            )
        return model

    def _answer(
        self, operation: str, body: dict[str, Any], model: Mapping[str, Any], fault: str | None, number: int
    ) -> Answer:
        if operation == "embeddings":
            return _json(_media.embeddings(body, model))
        if operation == "image":
            return _json(_media.images(body, model, self.base_url))
        _chat.check_chat(body, model)
        with self._lock:
            reply = self._replies.popleft() if self._replies else _chat.default_reply(body)
        completion_id = f"chatcmpl-fake{number:06d}"
        created = int(time.time())
        if not body.get("stream") or fault == "ignore_stream":
            return _json(_chat.completion(body, reply, completion_id, created))
        frames = list(_chat.chunks(body, reply, completion_id, created))
        headers = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
        if fault == "truncate":  # the body ends cleanly, but before the last chunk and [DONE]
            return Answer(200, headers=headers, events=_sse(frames[: max(len(frames) - 3, 2)], done=False))
        if fault == "disconnect":  # the connection drops mid-stream
            return Answer(200, headers=headers, events=_sse(frames[:2], done=False), cut=True)
        if fault == "stream_error":
            error = {
                "message": "The server had an error while processing your request.",
                "type": "server_error",
                "param": None,
                "code": None,
            }
            return Answer(
                200, headers=headers, events=[*_sse(frames[:2], done=False), *_sse([{"error": error}], done=False)]
            )
        return Answer(200, headers=headers, events=_sse(frames))

    # -- as an httpx transport ---------------------------------------------------------------

    def transport(self) -> Any:
        """An ``httpx.MockTransport`` serving this fake in-process (sync and async).

        A ``timeout`` fault raises ``httpx.ReadTimeout`` at once, and cut or dropped connections
        raise ``httpx.RemoteProtocolError``, as httpx does over a network."""
        import httpx  # noqa: PLC0415

        def handler(request: httpx.Request) -> httpx.Response:
            target = request.url.raw_path.decode("ascii")
            answer = self.handle(request.method, target, dict(request.headers), request.read())
            if answer.delay:
                raise httpx.ReadTimeout("fake: no answer in time", request=request)
            if answer.drop:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
            if answer.events is None:
                return httpx.Response(answer.status, headers=answer.headers, content=answer.body)
            return httpx.Response(answer.status, headers=answer.headers, stream=_event_stream(httpx, answer, request))

        return httpx.MockTransport(handler)


def _event_stream(httpx: Any, answer: Answer, request: Any) -> Any:
    """The SSE frames of an answer as an httpx byte stream, sync and async; a cut connection raises."""

    def frames() -> Iterable[bytes]:
        yield from answer.events or []
        if answer.cut:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            )

    class EventStream(httpx.SyncByteStream, httpx.AsyncByteStream):  # type: ignore[misc]
        def __iter__(self) -> Any:
            return iter(frames())

        async def __aiter__(self) -> Any:
            for frame in frames():
                yield frame

    return EventStream()
