"""A loopback HTTP/1.1 proxy that misbehaves on purpose, for the fault suites (``test_faults_*.py``).

:class:`FaultProxy` listens on ``127.0.0.1`` (a free port) in a thread of its own and forwards each
request to an upstream server — a provider's fake from its testing kit — unless a fault was
scripted for it. Faults are what networks and servers do wrong, at the byte level, so that every
plugin meets them through its real HTTP stack (httpx, botocore / urllib3, opensearch-py):

* :class:`Reply` — answer this instead (an error status with or without ``Retry-After``, a body
  that is not JSON, an oversized body, or a ``Content-Length`` that promises more than is sent);
* :class:`Cut` — forward, then send the answer only up to a byte and close the connection: cleanly
  (FIN), or with a reset (RST, ``SO_LINGER`` 0) — mid-body, mid-event, mid-frame;
* :class:`Stall` — send nothing (or the answer up to a byte) for a while, then close: the client's
  read timeout must end it;
* :class:`Drop` — close the connection as soon as the request has arrived.

Every answer the proxy gives carries ``Connection: close`` and the proxy closes the connection after
it, so that no client reuses a connection a fault has broken. A refused connection needs no server:
:func:`refused_url` is the address of a port nobody listens on.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["Cut", "Drop", "FaultProxy", "Fault", "Reply", "Seen", "Stall", "big_json", "refused_url"]

#: A position in the answer's body (as sent: chunked framing included): a byte offset, or a
#: function of the body (``lambda body: body.index(b"said:") + 2`` cuts inside that event).
Position = int | Callable[[bytes], int]

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}  # fmt: skip


@dataclass(frozen=True)
class Reply:
    """Answer with this instead of forwarding. ``content_length`` replaces the true length in the
    header (a server that promises more than it sends); ``chunked`` sends the body with chunked
    transfer encoding and no length at all."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    content_length: int | None = None
    chunked: bool = False


@dataclass(frozen=True)
class Cut:
    """Forward, then send the answer's head and its body up to ``at`` and close the connection,
    with a reset (RST) instead of a clean close when ``reset``."""

    at: Position
    reset: bool = False


@dataclass(frozen=True)
class Stall:
    """Keep the client waiting ``seconds``, then close: with nothing sent, or (``after`` given)
    after forwarding and sending the head and the body up to ``after``."""

    seconds: float
    after: Position | None = None


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering, cleanly or (``reset``) with a reset."""

    reset: bool = False


Fault = Reply | Cut | Stall | Drop


@dataclass(frozen=True)
class Seen:
    """A request the proxy received, and the fault it played (None: forwarded as it was)."""

    method: str
    path: str
    fault: Fault | None


def refused_url() -> str:
    """``http://127.0.0.1:PORT`` of a port that refuses connections (bound once, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def big_json(size: int) -> bytes:
    """A well-formed JSON object of about ``size`` bytes."""
    return b'{"padding": "' + b"x" * max(size - 16, 0) + b'"}'


class FaultProxy:
    """See the module docstring. ``upstream`` is the base URL of the server to forward to (its path,
    if any, is ignored: requests keep theirs); without one, only scripted requests are answered."""

    def __init__(self, upstream: str | None = None) -> None:
        parts = urlsplit(upstream) if upstream else None
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80) if parts else None
        self._faults: collections.deque[tuple[str | None, Fault | None]] = collections.deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        #: Every request received, oldest first.
        self.seen: list[Seen] = []
        #: What went wrong inside the proxy (a position function that failed): tests assert it is empty.
        self.problems: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # -- test controls -----------------------------------------------------------------------

    def script(self, *faults: Fault | None, path: str | None = None) -> None:
        """Play these faults, in order, on the next requests whose path contains ``path`` (any
        request when None); a None in the list lets that request through."""
        with self._lock:
            self._faults.extend((path, fault) for fault in faults)

    def clear(self) -> int:
        """Drop the faults not played yet; how many there were."""
        with self._lock:
            left = len(self._faults)
            self._faults.clear()
        return left

    def calls(self, path: str | None = None) -> list[Seen]:
        """The requests received whose path contains ``path``."""
        with self._lock:
            return [s for s in self.seen if path is None or path in s.path]

    @property
    def pending(self) -> int:
        """Scripted faults not played yet."""
        with self._lock:
            return len(self._faults)

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for entry in self._faults:
                if entry[0] is None or entry[0] in path:
                    self._faults.remove(entry)
                    fault = entry[1]
                    break
            else:
                fault = None
            self.seen.append(Seen(method, path, fault))
        return fault

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        ready = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
                self._port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:
                failed.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        ready.wait(timeout=10)
        if failed:
            raise failed[0]
        return self

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await asyncio.sleep(0)
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- serving -----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is not None:
                await self._answer(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except Exception as exc:  # a fault that cannot be played: the test reads it in problems
            with self._lock:
                self.problems.append(f"{type(exc).__name__}: {exc}")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, request: _Request, writer: asyncio.StreamWriter) -> None:
        fault = self._take(request.method, request.path)
        if isinstance(fault, Drop):
            if fault.reset:
                _reset(writer)
            return
        if isinstance(fault, Stall) and fault.after is None:
            await asyncio.sleep(fault.seconds)
            return
        if isinstance(fault, Reply):
            await _send(writer, *_reply(fault))
            return
        head, body = await self._forward(request)
        if isinstance(fault, Cut | Stall):
            at = fault.at if isinstance(fault, Cut) else fault.after
            assert at is not None
            end = at(body) if callable(at) else at
            await _send(writer, head, body[:end])
            if isinstance(fault, Stall):
                await asyncio.sleep(fault.seconds)
            elif fault.reset:
                await asyncio.sleep(0.05)  # let the client read what was sent before the reset
                _reset(writer)
            return
        await _send(writer, head, body)

    async def _forward(self, request: _Request) -> tuple[bytes, bytes]:
        """The upstream's answer: its head (with ``Connection: close``) and its body as sent."""
        if self._upstream is None:
            return _reply(Reply(502, b'{"error": "the fault proxy has no upstream"}'))
        reader, writer = await asyncio.open_connection(*self._upstream)
        try:
            writer.write(_head(request.start_line, request.headers) + request.body)
            await writer.drain()
            return await asyncio.wait_for(_read_response(reader, request.method), timeout=30)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


# -- HTTP/1.1 framing ------------------------------------------------------------------------------


@dataclass
class _Request:
    start_line: str
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


def _parse_head(raw: bytes) -> tuple[str, list[tuple[str, str]]]:
    lines = raw.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return lines[0], headers


def _get(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    start_line, headers = _parse_head(raw)
    method, target, _version = start_line.split(" ", 2)
    if (_get(headers, "transfer-encoding") or "").lower() == "chunked":
        body = _dechunk(await _read_chunked(reader))
        headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        headers.append(("Content-Length", str(len(body))))
    else:
        body = await reader.readexactly(int(_get(headers, "content-length") or 0))
    headers = [(k, v) for k, v in headers if k.lower() != "connection"] + [("Connection", "close")]
    return _Request(start_line, method, urlsplit(target).path, headers, body)


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[bytes, bytes]:
    raw = await reader.readuntil(b"\r\n\r\n")
    status_line, headers = _parse_head(raw)
    status = int(status_line.split(" ", 2)[1])
    if method == "HEAD" or status in (204, 304):
        body = b""
    elif (_get(headers, "transfer-encoding") or "").lower() == "chunked":
        body = await _read_chunked(reader)
    elif _get(headers, "content-length") is not None:
        body = await reader.readexactly(int(_get(headers, "content-length") or 0))
    else:
        body = await reader.read()
        headers.append(("Content-Length", str(len(body))))
    headers = [(k, v) for k, v in headers if k.lower() != "connection"] + [("Connection", "close")]
    return _head(status_line, headers), body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body as it was sent (framing included), up to and with its last chunk."""
    parts = []
    while True:
        line = await reader.readuntil(b"\r\n")
        parts.append(line)
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:  # trailers, then the empty line
                trailer = await reader.readuntil(b"\r\n")
                parts.append(trailer)
                if trailer == b"\r\n":
                    return b"".join(parts)
        parts.append(await reader.readexactly(size + 2))


def _dechunk(raw: bytes) -> bytes:
    out, position = [], 0
    while True:
        end = raw.index(b"\r\n", position)
        size = int(raw[position:end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(raw[end + 2 : end + 2 + size])
        position = end + 2 + size + 2


def _head(start_line: str, headers: list[tuple[str, str]]) -> bytes:
    return (start_line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode("latin-1")


def _reply(reply: Reply) -> tuple[bytes, bytes]:
    headers = [(k, v) for k, v in reply.headers.items()]
    if reply.chunked:
        headers.append(("Transfer-Encoding", "chunked"))
        body = (b"%x\r\n%s\r\n0\r\n\r\n" % (len(reply.body), reply.body)) if reply.body else b"0\r\n\r\n"
    else:
        length = reply.content_length if reply.content_length is not None else len(reply.body)
        headers.append(("Content-Length", str(length)))
        body = reply.body
    headers.append(("Connection", "close"))
    status_line = f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Unknown')}"
    return _head(status_line, headers), body


async def _send(writer: asyncio.StreamWriter, head: bytes, body: bytes) -> None:
    writer.write(head + body)
    await writer.drain()
    while writer.transport.get_write_buffer_size():  # all of it on the wire before what follows
        await asyncio.sleep(0.001)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST: ``SO_LINGER`` on with a zero timeout, then close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
