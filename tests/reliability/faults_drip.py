"""A loopback HTTP/1.1 server that answers too slowly to ever finish, for the deadline tests
(``test_hardening_deadline.py``): every wait for bytes is short, so no read timeout fires, but the
answer never ends in any useful time.

* :meth:`DripServer.drip` — a whole answer (head first), its body one byte every ``interval``;
* :meth:`DripServer.keep_alive` — an event stream: the ``first`` events, then a keep-alive
  comment (``: keep-alive``) every ``interval``, forever;
* :meth:`DripServer.events` — an event stream: ``event`` again and again, one every ``interval``.

Each connection is served by a thread of its own, which stops when the client hangs up or after
``limit`` seconds, whichever comes first; :meth:`DripServer.stop` closes everything.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

__all__ = ["DripServer"]

Sender = Callable[[socket.socket], None]


class DripServer:
    def __init__(self, *, interval: float = 0.1, limit: float = 20.0) -> None:
        self.interval = interval
        self.limit = limit
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sender: Sender = self.drip(b"{}")
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor: threading.Thread | None = None
        #: Requests received (their first line).
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def serve(self, sender: Sender) -> DripServer:
        """Answer every request with ``sender`` (one of the methods below)."""
        self._sender = sender
        return self

    # -- what to send ----------------------------------------------------------------------------

    def _alive(self, started: float) -> bool:
        return not self._stopped.is_set() and time.monotonic() - started < self.limit

    def drip(self, body: bytes, content_type: str = "application/json") -> Sender:
        def send(conn: socket.socket) -> None:
            started = time.monotonic()
            head = f"HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
            conn.sendall(head.encode())
            for index in range(len(body)):
                if not self._alive(started):
                    return
                conn.sendall(body[index : index + 1])
                time.sleep(self.interval)

        return send

    def _stream(self, first: list[bytes], again: bytes) -> Sender:
        def send(conn: socket.socket) -> None:
            started = time.monotonic()
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            for piece in first:
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            while self._alive(started):
                conn.sendall(b"%x\r\n%s\r\n" % (len(again), again))
                time.sleep(self.interval)

        return send

    def keep_alive(self, first: list[bytes]) -> Sender:
        return self._stream(first, b": keep-alive\n\n")

    def events(self, event: bytes) -> Sender:
        return self._stream([], event)

    # -- serving ---------------------------------------------------------------------------------

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    request += chunk
                head, _, rest = request.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(rest) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    rest += chunk
                self.requests.append(head.split(b"\r\n", 1)[0].decode())
                self._sender(conn)
            except OSError:
                return  # the client hung up: what a deadline does

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def start(self) -> DripServer:
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop serving and wait for every thread: the suites that count this process's threads
        and descriptors must find none left behind."""
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self._listener.close()
        if self._acceptor is not None:
            self._acceptor.join(5)
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> DripServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
