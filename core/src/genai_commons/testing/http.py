"""A loopback HTTP/1.1 server for the fake services that a plugin's tests talk to.

A fake service is a function (or a :class:`LoopbackServer` subclass's :meth:`~LoopbackServer.answer`)
that turns one :class:`HTTPRequest` into one :class:`HTTPAnswer`; the server does the rest::

    def service(request: HTTPRequest) -> HTTPAnswer:
        if request.headers.get("authorization") != "Bearer sk-test":
            return HTTPAnswer.json({"error": "bad key"}, status=401)
        return HTTPAnswer.json({"echo": request.json()})

    with LoopbackServer(service) as server:
        httpx.post(f"{server.url}/echo", json={"a": 1}, headers={"authorization": "Bearer sk-test"})

The server listens on ``127.0.0.1`` (port 0: the system picks a free one), serves each connection
in a thread of its own (so a fake may block: sleep, wait on a lock), keeps connections alive as
HTTP/1.1 clients expect, and answers with ``Content-Length``, or, for a streamed body, chunk by
chunk with chunked transfer encoding or until the connection closes. It misbehaves on demand the
way networks and servers do, so that a plugin meets faults through its real HTTP stack:

* ``delay``: wait before answering (a slow model; a client's read timeout);
* ``drop``: close the connection without answering (with ``delay``: a stall that only the client's
  timeout ends — :meth:`HTTPAnswer.stall`);
* ``cut``: close the connection in the middle of the body (a stream without its end, a body
  shorter than its ``Content-Length``);
* any status with any headers (``429`` with ``Retry-After``: :meth:`HTTPAnswer.json`'s ``headers``).

It counts the connections it accepted, has open and had open at once (:meth:`~LoopbackServer.connection_counts`),
which load tests compare with a client's pool limits, and on :meth:`~LoopbackServer.stop` it closes
the connections clients still hold. Only the standard library's :mod:`http.server` is used.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self
from urllib.parse import parse_qsl, urlsplit

__all__ = ["HTTPAnswer", "HTTPRequest", "LoopbackServer", "sse_event"]


@dataclass(frozen=True, slots=True)
class HTTPRequest:
    """One request as the server read it.

    :param method: ``GET``, ``POST``, …
    :param target: the request target as sent (path and query, still percent-encoded).
    :param path: the target's path (percent-encoded as sent).
    :param query: the query's parameters, decoded (the last one wins when a name repeats).
    :param headers: the header fields, names lower-cased (repeated fields joined with ``", "``).
    :param body: the body (a chunked request body is de-chunked).
    """

    method: str
    target: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON, None when there is none; :class:`ValueError` when it is not JSON."""
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True, slots=True, kw_only=True)
class HTTPAnswer:
    """What the server sends back, and how it misbehaves while doing so.

    :param status: the status code; the reason phrase is the standard one.
    :param headers: header fields to send (the server adds ``Content-Length``,
        ``Transfer-Encoding`` and ``Connection`` itself).
    :param body: the whole body, sent with ``Content-Length``.
    :param chunks: a streamed body instead, given as byte pieces (an iterator is read as it is
        sent, so a fake may produce them slowly); each piece is flushed on its own.
    :param framing: how a streamed body ends: ``"chunked"`` (chunked transfer encoding, the
        connection stays open) or ``"close"`` (no length at all; the server closes the connection).
    :param delay: seconds to wait before sending anything.
    :param drop: close the connection without answering (after ``delay``).
    :param cut: close the connection before the body is complete: a stream without its last chunk,
        or a ``Content-Length`` body after half of it.
    :param close: close the connection after a complete answer (``Connection: close``).
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks: Iterable[bytes] | None = None
    framing: Literal["chunked", "close"] = "chunked"
    delay: float = 0.0
    drop: bool = False
    cut: bool = False
    close: bool = False

    @classmethod
    def json(
        cls, data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None, **options: Any
    ) -> HTTPAnswer:
        """A JSON body (``Content-Type: application/json``); ``options`` are the other fields."""
        fields = {"content-type": "application/json", **(headers or {})}
        return cls(status=status, headers=fields, body=json.dumps(data).encode(), **options)

    @classmethod
    def stream(
        cls,
        chunks: Iterable[bytes],
        *,
        status: int = 200,
        content_type: str = "text/event-stream",
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> HTTPAnswer:
        """A streamed body (server-sent events unless ``content_type`` says otherwise)."""
        fields = {"content-type": content_type, "cache-control": "no-cache", **(headers or {})}
        return cls(status=status, headers=fields, chunks=chunks, **options)

    @classmethod
    def stall(cls, seconds: float) -> HTTPAnswer:
        """No answer: keep the client waiting ``seconds``, then close the connection."""
        return cls(delay=seconds, drop=True)


def sse_event(data: Any, *, event: str | None = None) -> bytes:
    """One server-sent event: ``data`` as JSON (bytes and text are sent as they are)."""
    text = data.decode() if isinstance(data, bytes) else data if isinstance(data, str) else json.dumps(data)
    name = f"event: {event}\n" if event is not None else ""
    return f"{name}data: {text}\n\n".encode()


class LoopbackServer:
    """Serves ``handler`` (or a subclass's :meth:`answer`) on ``http://127.0.0.1:PORT``, in
    threads; see the module docstring. Use it in a ``with`` block, or call :meth:`start` and
    :meth:`stop`.

    A fake that raises gets a ``500`` answer and its error in :attr:`problems`, which a test can
    assert is empty.
    """

    #: The name of the server's thread (shown in thread dumps).
    thread_name = "loopback-http"

    def __init__(
        self,
        handler: Callable[[HTTPRequest], HTTPAnswer] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._handler = handler
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        #: What went wrong inside the fake (``"ValueError: …"``), oldest first.
        self.problems: list[str] = []

    def answer(self, request: HTTPRequest) -> HTTPAnswer:
        """The answer to ``request``: the handler's, unless a subclass overrides this. Runs in the
        connection's thread; it may block."""
        if self._handler is None:
            raise NotImplementedError("give LoopbackServer a handler, or override answer()")
        return self._handler(request)

    # -- where and how busy --------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on (known once started)."""
        if self._server is None:
            raise RuntimeError("the server is not started: call start() or use it in a with block")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, without a trailing slash."""
        return f"http://{self._address[0]}:{self.port}"

    def connection_counts(self) -> tuple[int, int, int]:
        """Connections accepted so far, open now, and the most open at once (load tests check that
        a client stays within its pool limit and closes every connection)."""
        server = self._server
        if server is None:
            return 0, 0, 0
        with server.counts_lock:
            return server.accepted, len(server.open_sockets), server.peak

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        return self.connection_counts()[0]

    @property
    def open_connections(self) -> int:
        """Connections open now."""
        return self.connection_counts()[1]

    @property
    def peak_connections(self) -> int:
        """The most connections open at once."""
        return self.connection_counts()[2]

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        """Listen and serve in a background thread; returns once the port is open. A stopped
        server may start again (on a new port when it was given port 0)."""
        if self._thread is not None:
            raise RuntimeError("the server is already started")
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every connection still open. Safe to call twice."""
        server, thread = self._server, self._thread
        self._thread = None
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        with server.counts_lock:
            still_open = list(server.open_sockets)
        for sock in still_open:
            with contextlib.suppress(OSError):  # already closed by the client
                sock.shutdown(socket.SHUT_RDWR)
        thread.join(timeout=10)
        # self._server stays: url and connection_counts() still answer after the server stopped

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    """The socket side: a thread per connection, counted while open."""

    daemon_threads = True
    #: The listen backlog: socketserver's default of 5 drops the connections a pooled client opens
    #: at once beyond it (they time out or are reset), as no real server does.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], owner: LoopbackServer) -> None:
        super().__init__(address, _Handler)
        self.owner = owner
        self.counts_lock = threading.Lock()
        self.open_sockets: set[socket.socket] = set()
        self.accepted = self.peak = 0

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve one connection (its thread), counting it while it is open."""
        with self.counts_lock:
            self.accepted += 1
            self.open_sockets.add(request)
            self.peak = max(self.peak, len(self.open_sockets))
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.counts_lock:
                self.open_sockets.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that gave up (a timeout test) leaves a broken pipe behind, nothing more."""


class _Handler(BaseHTTPRequestHandler):
    """Reads an :class:`HTTPRequest`, asks the server for its :class:`HTTPAnswer`, writes it."""

    protocol_version = "HTTP/1.1"
    #: Headers and body go out in separate writes; without this, Nagle's algorithm holds the body
    #: back until the client's delayed ACK (40 ms on Linux) on a kept-alive connection.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read what the fake recorded instead."""

    def _serve(self) -> None:
        request = self._read()
        owner = self.server.owner
        try:
            answer = owner.answer(request)
        except Exception as exc:
            owner.problems.append(f"{type(exc).__name__}: {exc}")
            answer = HTTPAnswer.json({"error": f"the fake service failed: {type(exc).__name__}"}, status=500)
        if answer.delay:
            time.sleep(answer.delay)
        if answer.drop:
            self.close_connection = True
            return
        try:
            self._write(answer)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _read(self) -> HTTPRequest:
        if (self.headers.get("transfer-encoding") or "").lower() == "chunked":
            body = self._read_chunked()
        else:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        return HTTPRequest(self.command, self.path, parts.path, query, headers, body)

    def _read_chunked(self) -> bytes:
        pieces: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(pieces)
            pieces.append(self.rfile.read(size))
            self.rfile.readline()

    def _write(self, answer: HTTPAnswer) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        closing = answer.close or answer.cut or self.close_connection
        if answer.chunks is None:
            self.send_header("Content-Length", str(len(answer.body)))
            self._end_head(closing)
            if self.command != "HEAD":
                self.wfile.write(answer.body[: len(answer.body) // 2] if answer.cut else answer.body)
            return
        chunked = answer.framing == "chunked"
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self._end_head(closing or not chunked)
        for piece in answer.chunks:
            if piece:  # an empty chunk would end the body
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                self.wfile.flush()
        if chunked and not answer.cut:
            self.wfile.write(b"0\r\n\r\n")

    def _end_head(self, closing: bool) -> None:
        self.send_header("Connection", "close" if closing else "keep-alive")
        self.end_headers()
        self.close_connection = closing
