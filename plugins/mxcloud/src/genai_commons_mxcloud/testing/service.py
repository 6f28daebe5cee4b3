"""A fake of the Mendix Cloud GenAI service, written from the protocol notes, independent of any
transport: :meth:`FakeMxCloud.handle` takes one HTTP request and returns an :class:`Answer`; the
loopback server (:mod:`.server`) and :meth:`FakeMxCloud.transport` (an ``httpx.MockTransport``)
serve it.

It is strict: every request needs ``x-api-key`` with a token it issued (401 otherwise) for a
resource of the right type (403 otherwise: a text-generation key chats, an embeddings key embeds,
a knowledge-base key reaches ``/knowledge-bases``) and ``Content-Type: application/json`` (415);
paths and methods are the documented ones (404, 405); bodies are checked as the service would
(400, 413). Answers are deterministic; every request is recorded (the key redacted); failures are
injected with :meth:`fail_next`.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import math
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson
from attrs import field, frozen

from ._converse import Reply, check_converse, converse_answer, reply_for, stream_frames, words
from ._errors import ApiError
from ._knowledge import KnowledgeStore
from .keys import make_key

__all__ = ["FAULTS", "Answer", "FakeMxCloud", "Recorded", "Reply"]

#: Failure kinds :meth:`FakeMxCloud.fail_next` takes: the conformance kit's, and the service's own.
FAULTS: dict[str, tuple[int, str, str]] = {
    "auth": (401, "UnauthorizedException", "The API key is invalid or has been revoked."),
    "permission": (403, "AccessDeniedException", "This key may not access this resource."),
    "not_found": (404, "ResourceNotFoundException", "The resource does not exist."),
    "rate_limit": (429, "ThrottlingException", "Too many requests, please wait before trying again."),
    "rate_limit_wait": (429, "ThrottlingException", "Too many requests, please wait before trying again."),
    "quota": (429, "QuotaExceededException", "The monthly token quota of this resource is exceeded."),
    "unavailable": (503, "ServiceUnavailableException", "The service is temporarily unavailable."),
    "bad_request": (400, "ValidationException", "Malformed request."),
    "context_length": (400, "ValidationException", "Input is too long for requested model."),
    "too_large": (413, "PayloadTooLargeException", "The request is too large."),
}
#: Transport misbehaviour: no answer in time, the connection dropped, a stream cut short.
TRANSPORT_FAULTS = ("timeout", "disconnect", "cut_stream")

_KB = re.compile(r"^/knowledge-bases/(?P<collection>[^/]+)(?P<rest>/chunks|/similarity)?$")
_COHERE_INPUT = {"search_document", "search_query", "classification", "clustering"}


@frozen(kw_only=True)
class Answer:
    """A status, headers and a JSON body; or a stream of ``(event, data)`` frames."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(factory=dict)
    events: list[tuple[str, dict[str, Any]]] | None = None
    delay: float = 0.0
    drop: bool = False
    cut: bool = False
    #: No answer in time: the server waits ``timeout_delay``, the mock transport raises ReadTimeout.
    late: bool = False


@frozen(kw_only=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class FakeMxCloud:
    """See the module docstring.

    :param dimensions: length of the embedding vectors (Cohere Embed v3: 1024).
    :param delay: seconds every answer waits (the benchmarks' service latency).
    :param wrap_events: stream event data as ``{"contentBlockDelta": {…}}`` instead of the body alone.
    :param record: keep every request in :attr:`requests`.
    """

    def __init__(
        self, *, dimensions: int = 1024, delay: float = 0.0, wrap_events: bool = False, record: bool = True
    ) -> None:
        self.base_url = "http://127.0.0.1"
        self.dimensions = dimensions
        self.delay = delay
        self.timeout_delay = 1.0
        self.wrap_events = wrap_events
        #: Keep every request in :attr:`requests` (the benchmarks turn it off: bodies of vectors add up).
        self.record = record
        self.tokens: dict[str, str] = {}
        self.knowledge = KnowledgeStore()
        self.requests: list[Recorded] = []
        self.replies: collections.deque[Reply] = collections.deque()
        self.faults: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self._counter = 0
        #: Requests being answered now, and the most at once (the server counts them).
        self.in_flight = 0
        self.max_in_flight = 0

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Count one request in flight while the server answers it."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    # -- keys and faults -----------------------------------------------------------------------

    def issue_key(self, key_type: str, *, name: str, token: str | None = None, **overrides: Any) -> str:
        """A connection key for this service (base64), its token registered."""
        token = token or f"tok-{name}-{len(self.tokens)}"
        self.tokens[token] = key_type
        extra = {}
        if key_type == "KNOWLEDGE_BASE":
            embeddings_token = f"{token}-embeddings"
            self.tokens[embeddings_token] = "EMBEDDINGS_GENERATION"
            extra["embeddings_token"] = embeddings_token
        return make_key(key_type, self.base_url, token, name=name, **extra, **overrides)

    def revoke(self, token: str) -> None:
        self.tokens.pop(token, None)

    def fail_next(self, kind: str, times: int = 1) -> None:
        if kind not in FAULTS and kind not in TRANSPORT_FAULTS:
            raise ValueError(f"unknown fault {kind!r}; use one of {', '.join([*FAULTS, *TRANSPORT_FAULTS])}")
        self.faults.extend([kind] * times)

    def script(self, *replies: Reply | str) -> None:
        """The next answers of ``/converse`` (a string is a text reply)."""
        self.replies.extend(Reply(text=r) if isinstance(r, str) else r for r in replies)

    def calls(self, path_prefix: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    # -- requests ------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        """Answer one request (``target`` is the path with its query)."""
        parts = urlsplit(target)
        path, query = parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in headers.items()}
        try:
            data = orjson.loads(body) if body else None
        except ValueError:
            data = "<not json>"
        shown = {k: ("<redacted>" if k == "x-api-key" else v) for k, v in headers.items()}
        with self._lock:
            if self.record:
                self.requests.append(Recorded(method=method, path=path, query=query, headers=shown, body=data))
            fault = self.faults.popleft() if self.faults else None
            self._counter += 1
            counter = self._counter
        if fault == "timeout":
            return Answer(status=503, body={"message": "late"}, delay=self.timeout_delay, late=True)
        if fault == "disconnect":
            return Answer(drop=True)
        try:
            if fault in FAULTS:
                status, kind, message = FAULTS[fault]
                retry = {"rate_limit": {"retry-after": "0"}, "rate_limit_wait": {"retry-after-ms": "50"}}.get(fault, {})
                raise ApiError(status, kind, message, headers=retry)
            answer = self._route(method, path, query, headers, data, counter)
        except ApiError as exc:
            return Answer(status=exc.status, body=exc.body(), headers=exc.headers, delay=self.delay)
        if fault == "cut_stream" and answer.events is not None:
            return Answer(status=200, events=answer.events[:3], cut=True, delay=self.delay)
        return answer

    def _auth(self, headers: dict[str, str], wanted: str) -> None:
        token = headers.get("x-api-key")
        if not token or token not in self.tokens:
            raise ApiError(401, "UnauthorizedException", "The API key is missing, invalid or revoked.")
        if self.tokens[token] != wanted:
            raise ApiError(403, "AccessDeniedException", f"A {self.tokens[token]} key cannot call this endpoint.")

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], data: Any, counter: int
    ) -> Answer:
        if headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise ApiError(415, "UnsupportedMediaTypeException", "Content-Type must be application/json.")
        if data == "<not json>":
            raise ApiError(400, "SerializationException", "The body is not JSON.")
        if path in ("/converse", "/converse-stream"):
            self._method(method, "POST")
            self._auth(headers, "TEXT_GENERATION")
            return self._converse(data, counter, stream=path == "/converse-stream", headers=headers)
        if path == "/invoke":
            self._method(method, "POST")
            self._auth(headers, "EMBEDDINGS_GENERATION")
            return self._embed(data)
        if path == "/knowledge-bases":
            self._method(method, "GET")
            self._auth(headers, "KNOWLEDGE_BASE")
            return self._ok(self.knowledge.list_collections(query))
        found = _KB.match(path)
        if found is None:
            raise ApiError(404, "NotFoundException", f"No route for {path}.")
        self._auth(headers, "KNOWLEDGE_BASE")
        collection, rest = unquote(found["collection"]), found["rest"]
        if rest == "/similarity":
            self._method(method, "POST")
            return self._ok(self.knowledge.similarity(collection, data))
        if rest == "/chunks":
            self._method(method, "POST", "GET", "DELETE")
            if method == "POST":
                return self._ok(self.knowledge.insert(collection, data))
            if method == "GET":
                return self._ok(self.knowledge.list_chunks(collection, query))
            self.knowledge.delete_chunks(collection, query)
            return Answer(status=204, delay=self.delay)
        self._method(method, "DELETE")
        self.knowledge.drop(collection)
        return Answer(status=204, delay=self.delay)

    @staticmethod
    def _method(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise ApiError(405, "MethodNotAllowedException", f"{method} is not allowed here.")

    def _ok(self, body: Any, headers: dict[str, str] | None = None) -> Answer:
        return Answer(status=200, body=body, headers=headers or {}, delay=self.delay)

    def _converse(self, data: Any, counter: int, *, stream: bool, headers: dict[str, str]) -> Answer:
        check_converse(data)
        with self._lock:
            scripted = self.replies.popleft() if self.replies else None
        reply, tokens_in, tokens_out = reply_for(data, scripted, counter)
        if not stream:
            return self._ok(converse_answer(reply, tokens_in, tokens_out, counter))
        if "text/event-stream" not in headers.get("accept", ""):
            raise ApiError(406, "NotAcceptableException", "Accept must include text/event-stream.")
        frames = list(stream_frames(reply, tokens_in, tokens_out, counter, wrapped=self.wrap_events))
        return Answer(status=200, events=frames, delay=self.delay)

    def _embed(self, data: Any) -> Answer:
        allowed = {"texts", "input_type", "truncate", "embedding_types"}
        if not isinstance(data, dict) or not set(data) <= allowed or "texts" not in data:
            raise ApiError(400, "ValidationException", f"the body takes {sorted(allowed)} and needs texts")
        texts = data["texts"]
        if not isinstance(texts, list) or not 1 <= len(texts) <= 96:
            raise ApiError(400, "ValidationException", "texts must hold 1 to 96 strings")
        if not all(isinstance(t, str) and t for t in texts):
            raise ApiError(400, "ValidationException", "texts must be non-empty strings")
        if data.get("input_type") not in _COHERE_INPUT:
            raise ApiError(400, "ValidationException", f"input_type must be one of {sorted(_COHERE_INPUT)}")
        if data.get("truncate", "NONE") not in ("NONE", "START", "END"):
            raise ApiError(400, "ValidationException", "truncate is NONE, START or END")
        if data.get("truncate", "NONE") == "NONE" and any(words(t) > 512 for t in texts):
            raise ApiError(400, "ValidationException", "A text is too long: more than 512 tokens.")
        types = data.get("embedding_types")
        vectors = [_vector(t, self.dimensions) for t in texts]
        if types is None:
            body: dict[str, Any] = {
                "id": "emb",
                "response_type": "embeddings_floats",
                "texts": texts,
                "embeddings": vectors,
            }
        else:
            if types != ["float"]:
                raise ApiError(400, "ValidationException", "this fake serves embedding_types ['float'] only")
            body = {
                "id": "emb",
                "response_type": "embeddings_by_type",
                "texts": texts,
                "embeddings": {"float": vectors},
            }
        tokens = sum(words(t) for t in texts)
        return self._ok(
            body, {"x-amzn-bedrock-input-token-count": str(tokens), "x-amzn-bedrock-output-token-count": "0"}
        )

    # -- in-process transport ------------------------------------------------------------------

    def transport(self) -> Any:
        """An ``httpx.MockTransport`` serving this fake (no delays, no dropped connections)."""
        import httpx  # noqa: PLC0415

        def handler(request: httpx.Request) -> httpx.Response:
            answer = self.handle(
                request.method, request.url.raw_path.decode("ascii"), dict(request.headers), request.content
            )
            if answer.drop:
                raise httpx.RemoteProtocolError("server disconnected", request=request)
            if answer.late:
                raise httpx.ReadTimeout("timed out", request=request)
            if answer.events is not None:
                text = "".join(f"event: {name}\ndata: {json.dumps(body)}\n\n" for name, body in answer.events)
                return httpx.Response(answer.status, headers={"content-type": "text/event-stream"}, text=text)
            if answer.body is None:
                return httpx.Response(answer.status, headers=answer.headers)
            return httpx.Response(answer.status, headers=answer.headers, json=answer.body)

        return httpx.MockTransport(handler)


def _vector(text: str, dimensions: int) -> list[float]:
    """The hashing trick: each lower-cased word adds ±1 to one dimension; unit length."""
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector[int.from_bytes(digest[:4], "big") % dimensions] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [round(v / norm, 6) for v in vector]
