"""A loopback OpenSearch stand-in: osmem-server behind a small HTTP proxy that also runs ``knn``.

osmem-server answers everything the plugin sends except the k-NN query itself. This proxy, on
127.0.0.1 and a free port, forwards every request to an osmem clone unchanged and answers a
search whose query is ``knn`` the way the k-NN plugin's Lucene engine does for ``cosinesimil``:

* the ``knn`` clause is parsed strictly (one ``knn_vector`` field; ``vector``, ``k``, ``filter``);
  the field must be a ``knn_vector`` with ``space_type: cosinesimil`` and the vector must have its
  dimension, else 400 as the real plugin answers;
* the filter runs inside the search (efficient filtering): the documents it matches are fetched
  from osmem, scored exactly — score ``(1 + cos) / 2`` — and the ``k`` best kept, then the
  top-level ``min_score`` and ``size`` apply, as in OpenSearch;
* ``_source`` filtering (a list of fields, or includes/excludes) is applied to the hits.

It also records every request (method, path, query parameters, headers, body) so that tests can
check the exact bodies the plugin sends, and injects faults at the HTTP level: an error answer or
a delay for the next matching request, per-item bulk failures (the items are not forwarded, and
their answers say 429 or 400), and Amazon OpenSearch Serverless's refusals (``refresh``, custom
document ids, ``_delete_by_query``).
"""

from __future__ import annotations

import http.client
import json
import math
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

_SEARCH = re.compile(r"^/(?P<index>[^/_][^/]*)/_search$")
_KNN_PARAMS = frozenset({"vector", "k", "filter"})
_BODY_KEYS = frozenset({"size", "_source", "query", "min_score"})
_MAX_CANDIDATES = 10_000


@dataclass
class Captured:
    """One request as the proxy received it."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def ndjson(self) -> list[Any]:
        return [json.loads(line) for line in self.body.decode().splitlines() if line.strip()]


@dataclass
class _Fault:
    status: int
    body: dict[str, Any]
    matches: Callable[[Captured], bool]
    delay: float = 0.0


@dataclass
class _ItemFault:
    chunk_ids: set[str]
    status: int
    kind: str
    reason: str
    times: int


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json; charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


def _json_answer(status: int, data: Any) -> _Answer:
    return _Answer(status, json.dumps(data).encode())


def _error(status: int, kind: str, reason: str) -> _Answer:
    error = {"type": kind, "reason": reason}
    return _json_answer(status, {"error": {**error, "root_cause": [error]}, "status": status})


class OpenSearchStandIn:
    """The proxy; use as a context manager. ``url`` is where the plugin connects."""

    def __init__(self, upstream: str, *, tls: ssl.SSLContext | None = None, serverless: bool = False) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 9200)
        self.serverless = serverless
        #: Every request received, oldest first.
        self.requests: list[Captured] = []
        #: The bodies of the k-NN searches answered.
        self.knn_searches: list[dict[str, Any]] = []
        self._faults: list[_Fault] = []
        self._item_faults: list[_ItemFault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="opensearch-standin", daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> OpenSearchStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- test controls -----------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        kind: str = "simulated_exception",
        reason: str = "simulated failure",
        *,
        path: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next request (whose path contains ``path``, when given) with this error,
        after ``delay`` seconds; status 0 means no answer at all until the delay has passed."""
        error = {"type": kind, "reason": reason}
        with self._lock:
            self._faults.append(
                _Fault(
                    status=status,
                    body={"error": {**error, "root_cause": [error]}, "status": status},
                    matches=lambda c: path is None or path in c.path,
                    delay=delay,
                )
            )

    def fail_bulk_items(
        self,
        chunk_ids: set[str],
        *,
        status: int = 429,
        kind: str = "es_rejected_execution_exception",
        reason: str = "rejected execution of coordinating operation",
        times: int = 1,
    ) -> None:
        """In the next ``times`` bulk requests that hold them, answer the index actions of these
        chunks with this error, without forwarding them to osmem."""
        with self._lock:
            self._item_faults.append(_ItemFault(set(chunk_ids), status, kind, reason, times))

    def calls(self, method: str | None = None, path: str | None = None) -> list[Captured]:
        """The recorded requests of that method, whose path contains ``path``."""
        with self._lock:
            return [
                c for c in self.requests if (method is None or c.method == method) and (path is None or path in c.path)
            ]

    def direct(self, method: str, path: str, data: Any = None) -> tuple[int, Any]:
        """A request straight to osmem, not recorded: for tests that set up or inspect the cluster."""
        return self._upstream_json(method, path, data)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.knn_searches.clear()

    # -- the proxy ---------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms Nagle stalls

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                captured = Captured(
                    method=self.command,
                    path=parts.path,
                    params=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                answer = standin._answer(captured, self.path)
                if answer is None:
                    self.close_connection = True
                    return
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.content_type)
                    self.send_header("Content-Length", str(len(answer.body)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        return Handler

    def _answer(self, captured: Captured, raw_path: str) -> _Answer | None:
        with self._lock:
            self.requests.append(captured)
            fault = next((f for f in self._faults if f.matches(captured)), None)
            if fault is not None:
                self._faults.remove(fault)
        if fault is not None:
            time.sleep(fault.delay)
            return None if fault.status == 0 else _json_answer(fault.status, fault.body)
        if self.serverless:
            refused = self._serverless_refusal(captured)
            if refused is not None:
                return refused
        search = _SEARCH.match(captured.path)
        if search and captured.method in ("GET", "POST") and captured.body:
            body = json.loads(captured.body)
            if isinstance(body.get("query"), dict) and "knn" in body["query"]:
                return self._knn(search["index"], body)
        if captured.path.endswith("/_bulk") or captured.path == "/_bulk":
            return self._bulk(captured, raw_path)
        return self._forward(captured.method, raw_path, captured.body, captured.headers)

    def _serverless_refusal(self, captured: Captured) -> _Answer | None:
        if "refresh" in captured.params:
            return _error(400, "illegal_argument_exception", "request [refresh] is not supported in serverless")
        if captured.path.endswith("/_delete_by_query"):
            return _error(404, "unsupported_operation", "_delete_by_query is not supported in serverless")
        return None

    def _forward(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> _Answer:
        connection = http.client.HTTPConnection(*self._upstream, timeout=30)
        try:
            sent = {"Content-Type": headers.get("content-type", "application/json")}
            connection.request(method, path, body=body or None, headers=sent)
            response = connection.getresponse()
            data = response.read()
            return _Answer(response.status, data, response.getheader("Content-Type") or "application/json")
        finally:
            connection.close()

    def _upstream_json(self, method: str, path: str, data: Any = None) -> tuple[int, Any]:
        body = json.dumps(data).encode() if data is not None else b""
        answer = self._forward(method, path, body, {})
        return answer.status, json.loads(answer.body) if answer.body else None

    # -- bulk with item faults and serverless rules ------------------------------------------

    def _bulk(self, captured: Captured, raw_path: str) -> _Answer:
        lines = [json.loads(line) for line in captured.body.decode().splitlines() if line.strip()]
        actions: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        position = 0
        while position < len(lines):
            action = lines[position]
            op = next(iter(action))
            if op == "delete":
                actions.append((action, None))
                position += 1
            else:
                actions.append((action, lines[position + 1]))
                position += 2
        synthetic: dict[int, dict[str, Any]] = {}
        with self._lock:
            hit_faults: set[int] = set()
            for number, (action, document) in enumerate(actions):
                op, meta = next(iter(action.items()))
                if self.serverless and op == "index" and "_id" in meta:
                    synthetic[number] = _item(op, meta, 400, "illegal_argument_exception", "custom _id not supported")
                    continue
                chunk_id = document.get("chunk_id") if document is not None else None
                fault = next((f for f in self._item_faults if chunk_id in f.chunk_ids), None)
                if fault is not None:
                    synthetic[number] = _item(op, meta, fault.status, fault.kind, fault.reason)
                    hit_faults.add(id(fault))
            for fault in self._item_faults:
                fault.times -= id(fault) in hit_faults
            self._item_faults = [f for f in self._item_faults if f.times > 0]
        forwarded = [pair for number, pair in enumerate(actions) if number not in synthetic]
        upstream_items: list[dict[str, Any]] = []
        took = 0
        if forwarded:
            text = "".join(json.dumps(a) + "\n" + (json.dumps(d) + "\n" if d is not None else "") for a, d in forwarded)
            answer = self._forward("POST", raw_path, text.encode(), {"content-type": "application/x-ndjson"})
            if answer.status >= 300:
                return answer
            data = json.loads(answer.body)
            upstream_items, took = data["items"], data.get("took", 0)
        items = []
        upstream = iter(upstream_items)
        for number in range(len(actions)):
            items.append(synthetic[number] if number in synthetic else next(upstream))
        errors = any(next(iter(i.values())).get("status", 500) >= 300 for i in items)
        return _json_answer(200, {"took": took, "errors": errors, "items": items})

    # -- k-NN --------------------------------------------------------------------------------

    def _knn(self, index: str, body: dict[str, Any]) -> _Answer:
        unknown = set(body) - _BODY_KEYS
        if unknown:
            return _error(400, "x_content_parse_exception", f"stand-in: unsupported search keys {sorted(unknown)}")
        knn = body["query"]["knn"]
        if len(body["query"]) != 1 or not isinstance(knn, dict) or len(knn) != 1:
            return _error(400, "parsing_exception", "[knn] query malformed, expected one field")
        field_name, clause = next(iter(knn.items()))
        if not isinstance(clause, dict) or set(clause) - _KNN_PARAMS or not {"vector", "k"} <= set(clause):
            return _error(400, "parsing_exception", f"[knn] unknown or missing parameters in {sorted(clause)}")
        vector, k = clause["vector"], clause["k"]
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            return _error(400, "illegal_argument_exception", "[knn] requires k > 0")
        if not isinstance(vector, list) or not all(isinstance(x, int | float) for x in vector):
            return _error(400, "parsing_exception", "[knn] vector must be an array of numbers")
        status, mapping = self._upstream_json("GET", f"/{index}/_mapping")
        if status != 200:
            return _json_answer(status, mapping)
        properties = next(iter(mapping.values()))["mappings"].get("properties", {})
        spec = properties.get(field_name) or {}
        if spec.get("type") != "knn_vector":
            return _error(400, "query_shard_exception", f"Field '{field_name}' is not knn_vector type.")
        if (spec.get("method") or {}).get("space_type") != "cosinesimil":
            return _error(400, "illegal_argument_exception", "stand-in: only space_type cosinesimil is implemented")
        if len(vector) != spec["dimension"]:
            return _error(
                400,
                "illegal_argument_exception",
                f"Query vector has invalid dimension: {len(vector)}. Dimension should be: {spec['dimension']}",
            )
        query_norm = math.sqrt(sum(x * x for x in vector))
        if query_norm == 0:
            return _error(400, "illegal_argument_exception", "zero vector is not supported when space type is cosine")
        candidates_query = clause.get("filter") or {"match_all": {}}
        status, found = self._upstream_json(
            "POST", f"/{index}/_search", {"query": candidates_query, "size": _MAX_CANDIDATES, "track_total_hits": True}
        )
        if status != 200:
            return _json_answer(status, found)
        if found["hits"]["total"]["value"] > _MAX_CANDIDATES:
            return _error(500, "stand_in_exception", "stand-in: too many candidates for brute force")
        scored = []
        for hit in found["hits"]["hits"]:
            stored = hit["_source"].get(field_name)
            if not stored:
                continue
            norm = math.sqrt(sum(x * x for x in stored))
            cosine = sum(a * b for a, b in zip(vector, stored, strict=True)) / (query_norm * norm)
            scored.append(((1.0 + cosine) / 2.0, hit))
        scored.sort(key=lambda pair: -pair[0])
        scored = scored[:k]
        if body.get("min_score") is not None:
            scored = [(score, hit) for score, hit in scored if score >= body["min_score"]]
        size = body.get("size", 10)
        hits = [
            {"_index": index, "_id": hit["_id"], "_score": score, "_source": _filter_source(hit["_source"], body)}
            for score, hit in scored[:size]
        ]
        with self._lock:
            self.knn_searches.append(body)
        return _json_answer(
            200,
            {
                "took": 1,
                "timed_out": False,
                "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                "hits": {
                    "total": {"value": len(scored), "relation": "eq"},
                    "max_score": hits[0]["_score"] if hits else None,
                    "hits": hits,
                },
            },
        )


def _item(op: str, meta: dict[str, Any], status: int, kind: str, reason: str) -> dict[str, Any]:
    error = {"type": kind, "reason": reason}
    return {op: {"_index": meta.get("_index"), "_id": meta.get("_id"), "status": status, "error": error}}


def _filter_source(source: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    spec = body.get("_source", True)
    if spec is True:
        return source
    if spec is False:
        return {}
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, list):
        return {k: v for k, v in source.items() if k in spec}
    includes, excludes = spec.get("includes"), spec.get("excludes") or []
    return {k: v for k, v in source.items() if (includes is None or k in includes) and k not in excludes}


def iter_bulk_documents(captured: Captured) -> Iterator[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """The operations of a recorded bulk request: (op, its metadata, its document or None)."""
    lines = captured.ndjson()
    position = 0
    while position < len(lines):
        op, meta = next(iter(lines[position].items()))
        if op == "delete":
            yield op, meta, None
            position += 1
        else:
            yield op, meta, lines[position + 1]
            position += 2
