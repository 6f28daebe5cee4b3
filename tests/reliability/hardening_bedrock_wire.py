"""Bytes for the Bedrock hardening tests (issue 12): damaged event-stream frames of every kind
botocore's decoder or parser refuses (or, worse, accepts), and a loopback server that sends an
answer's head at once and then its body a piece at a time — a byte of a Converse answer every
0.3 s, or a stream's keep-alive frames for ever — for the deadline tests.

Frames are built with the plugin's own encoder (:mod:`genai_commons_bedrock.testing.eventstream`)
or, where the damage is in the framing itself, byte by byte here.
"""

from __future__ import annotations

import json
import select
import socket
import socketserver
import struct
import threading
import time
from binascii import crc32
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from faults_servers import Reply

from genai_commons_bedrock.testing.eventstream import encode_message, event

EVENT_STREAM = {"content-type": "application/vnd.amazon.eventstream"}
_DELTA = {":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"}


def text(piece: str) -> bytes:
    """A text delta event."""
    return event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})


def closing() -> list[bytes]:
    """What ends a ConverseStream answer: the block's end, messageStop and metadata (the usage)."""
    usage = {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}
    return [
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": "end_turn"}),
        event("metadata", {"usage": usage, "metrics": {"latencyMs": 1}}),
    ]


def opening() -> list[bytes]:
    """The start of an answer, with one text delta: the stream has begun once the caller has it."""
    return [event("messageStart", {"role": "assistant"}), text("Hello")]


def stream_reply(*frames: bytes) -> Reply:
    """A ConverseStream (or InvokeAgent) answer of these frames."""
    return Reply(200, b"".join(frames), EVENT_STREAM)


def _with_crc(message: bytes) -> bytes:
    return message + struct.pack(">I", crc32(message) & 0xFFFFFFFF)


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", 7, len(raw_value)) + raw_value


def _framed(headers: bytes, payload: bytes, *, headers_length: int | None = None) -> bytes:
    """A message with these raw headers; ``headers_length`` overrides the length the prelude
    announces for them (both checksums still right)."""
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers) if headers_length is None else headers_length)
    prelude += struct.pack(">I", crc32(prelude) & 0xFFFFFFFF)
    return _with_crc(prelude + headers + payload)


def _delta_headers() -> bytes:
    return b"".join(_header(name, value) for name, value in _DELTA.items())


def _flip_last_byte(message: bytes) -> bytes:
    return message[:-1] + bytes([message[-1] ^ 0xFF])


def nested(depth: int) -> bytes:
    """JSON nested ``depth`` levels deep (``[[[…]]]``)."""
    return b"[" * depth + b"]" * depth


#: A damaged event, by what is wrong with it; each comes after a good text delta.
DAMAGED_EVENTS: Mapping[str, Callable[[], bytes]] = {
    "payload not JSON": lambda: encode_message(_DELTA, b"<html>not json</html>"),
    "payload a JSON list": lambda: encode_message(_DELTA, b'[{"delta": {"text": "x"}}]'),
    "payload not UTF-8": lambda: encode_message(_DELTA, b'{"contentBlockIndex": 0, "delta": {"text": "\xff\xfe"}}'),
    "payload nested 100,000 levels": lambda: encode_message(_DELTA, b'{"delta": ' + nested(100_000) + b"}"),
    "a text that is a number": lambda: event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": 5}}),
    "a delta of two kinds at once": lambda: event(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "a", "toolUse": {"input": "{}"}}}
    ),
    "the event type of another event": lambda: encode_message(
        {**_DELTA, ":event-type": "messageStop"}, json.dumps({"contentBlockIndex": 0, "delta": {"text": "x"}}).encode()
    ),
    "a bad checksum": lambda: _flip_last_byte(text("lost")),
    "a headers length past the payload": lambda: _framed(_delta_headers(), b"{}", headers_length=4096),
    "a headers length over the format's limit": lambda: _framed(_delta_headers(), b"{}", headers_length=200_000),
    "a duplicate header": lambda: _framed(_delta_headers() + _header(":event-type", "messageStop"), b"{}"),
    "a header of an unknown type": lambda: _framed(b"\x03abc\x63", b"{}"),
}


# -- a server that takes its time -----------------------------------------------------------------


class TrickleServer:
    """A loopback HTTP/1.1 server answering every request with ``head`` at once, then the pieces
    of ``body()`` one every ``interval`` seconds, until they run out, the client goes away, or the
    server stops. ``url`` is its address; :meth:`wait_for_hang_up` waits until a client closed
    the connection in the middle of an answer."""

    def __init__(self, head: bytes, body: Callable[[], Iterator[bytes]], interval: float) -> None:
        self.head, self.body, self.interval = head, body, interval
        self.stopping = threading.Event()
        self.hung_up = threading.Event()
        self.requests: list[bytes] = []
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = _read_request(conn)
        if request is None:
            return
        self.requests.append(request)
        try:
            conn.sendall(self.head)
            for piece in self.body():
                if _closed_by_peer(conn, self.stopping, self.interval):
                    break
                conn.sendall(piece)
            else:
                _closed_by_peer(conn, self.stopping, None)
        except OSError:  # the client closed the connection: what a deadline does
            self.hung_up.set()
            return
        if not self.stopping.is_set():
            self.hung_up.set()

    def wait_for_hang_up(self, timeout: float) -> bool:
        return self.hung_up.wait(timeout)

    def __enter__(self) -> TrickleServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head


def _closed_by_peer(conn: socket.socket, stopping: threading.Event, seconds: float | None) -> bool:
    """Wait ``seconds`` (None: until the server stops) for the client to close its end: True
    when it did, or when the server is stopping."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while not stopping.is_set():
        left = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
        if left <= 0:
            return False
        readable, _, _ = select.select([conn], [], [], left)
        if readable:
            try:
                if conn.recv(1) == b"":
                    return True
            except OSError:
                return True
    return True


def dripping_json(answer: Any) -> tuple[bytes, Callable[[], Iterator[bytes]]]:
    """The head and the byte-by-byte body of a JSON answer (with its true Content-Length)."""
    body = json.dumps(answer).encode()
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    return head, lambda: (body[i : i + 1] for i in range(len(body)))


def endless_frames(first: list[bytes], again: bytes) -> tuple[bytes, Callable[[], Iterator[bytes]]]:
    """The head of a chunked event stream and its body: ``first``, then ``again`` for ever, one
    frame a chunk."""
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/vnd.amazon.eventstream\r\ntransfer-encoding: chunked\r\n\r\n"

    def body() -> Iterator[bytes]:
        for frame in first:
            yield b"%x\r\n%s\r\n" % (len(frame), frame)
        while True:
            yield b"%x\r\n%s\r\n" % (len(again), again)

    return head, body


def keep_alive() -> bytes:
    """A frame of a kind botocore does not know (it skips those without a word)."""
    return event("keepAlive", {})


def converse_answer(text_: str = "Hello") -> dict[str, Any]:
    """A complete Converse answer."""
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text_}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
        "metrics": {"latencyMs": 5},
    }
