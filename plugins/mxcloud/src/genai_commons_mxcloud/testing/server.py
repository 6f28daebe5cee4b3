"""A loopback HTTP/1.1 server for :class:`~genai_commons_mxcloud.testing.FakeMxCloud`.

It listens on ``127.0.0.1`` (port 0 by default: the system picks a free one), one thread per
connection, keeps connections alive, answers with ``Content-Length`` or, for event streams,
chunked transfer encoding flushed event by event; and it misbehaves on demand like a network
does: it waits (timeouts, the benchmarks' latency), cuts a stream short, or closes a connection
without answering. Use it in a ``with`` block, or as a process::

    python -m genai_commons_mxcloud.testing [--port 8000] [--delay 0.05] [--dimensions 1024]

which prints one JSON line (its URL, and a text-generation, an embeddings and a knowledge-base key
for it) and serves until interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .service import FakeMxCloud

__all__ = ["FakeMxCloudServer"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the fake's records instead."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        service = self.server.service
        with service.serving():
            answer = service.handle(self.command, self.path, dict(self.headers.items()), body)
            if answer.delay:
                time.sleep(answer.delay)
        if answer.drop:
            self.close_connection = True
            self.connection.close()
            return
        if answer.events is not None:
            self._stream(answer.status, answer.events, cut=answer.cut)
            return
        payload = b"" if answer.body is None else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        if payload:
            self.send_header("Content-Type", "application/json")
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, status: int, events: list[tuple[str, dict[str, Any]]], *, cut: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for name, data in events:
            frame = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(f"{len(frame):X}\r\n".encode() + frame + b"\r\n")
            self.wfile.flush()
        if cut:  # no closing chunk: the connection just ends
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    #: The listen backlog: socketserver's default of 5 drops the connections a pooled client opens
    #: at once beyond it (they time out or are reset), as no real server does.
    request_queue_size = 128
    service: FakeMxCloud

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.counts_lock = threading.Lock()
        self.connections = self.open_connections = self.peak_connections = 0

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve one connection (its thread), counting it while it is open."""
        with self.counts_lock:
            self.connections += 1
            self.open_connections += 1
            self.peak_connections = max(self.peak_connections, self.open_connections)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.counts_lock:
                self.open_connections -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that gave up (a timeout test) leaves a broken pipe behind, nothing more."""


class FakeMxCloudServer:
    """Serves a :class:`FakeMxCloud` on a loopback port; :attr:`url` is the base URL the keys of
    :meth:`FakeMxCloud.issue_key` point at once the server has started."""

    def __init__(self, service: FakeMxCloud | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = service if service is not None else FakeMxCloud()
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def connection_counts(self) -> tuple[int, int, int]:
        """Connections accepted so far, open now, and the most open at once (load tests check
        that a client stays within its pool limit and closes every connection)."""
        assert self._server is not None, "start the server first"
        with self._server.counts_lock:
            return self._server.connections, self._server.open_connections, self._server.peak_connections

    def start(self) -> FakeMxCloudServer:
        self._server = _Server(self._address)
        self._server.service = self.service
        self.service.base_url = self.url
        serve = self._server.serve_forever
        self._thread = threading.Thread(target=serve, args=(0.02,), name="fake-mxcloud", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeMxCloudServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Mendix Cloud GenAI service on a loopback port.")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds every answer waits")
    parser.add_argument("--dimensions", type=int, default=1024, help="length of the embedding vectors")
    parser.add_argument("--no-record", action="store_true", help="do not keep the requests (long runs)")
    args = parser.parse_args()
    service = FakeMxCloud(dimensions=args.dimensions, delay=args.delay, record=not args.no_record)
    with FakeMxCloudServer(service, port=args.port) as server:
        kinds = {"claude": "TEXT_GENERATION", "cohere": "EMBEDDINGS_GENERATION", "kb": "KNOWLEDGE_BASE"}
        keys = {name: service.issue_key(kind, name=name) for name, kind in kinds.items()}
        sys.stdout.write(json.dumps({"url": server.url, "keys": keys}) + "\n")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
