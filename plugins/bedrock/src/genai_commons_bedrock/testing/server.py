"""Two ways to put the local service under boto3: a real HTTP server on a loopback port, or an
in-process ``before-send`` handler that answers botocore's prepared requests without a socket.

Both go through botocore's whole stack (serialisation, signing, response and event-stream parsing);
only the network is replaced.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .answers import Answer
from .service import LocalBedrock

#: The standard variables that point boto3's Bedrock and STS clients at an endpoint.
ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "AWS_ENDPOINT_URL_BEDROCK",
    "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME",
    "AWS_ENDPOINT_URL_BEDROCK_AGENT",
    "AWS_ENDPOINT_URL_STS",
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm holds the
        # body back until the client's delayed ACK (40 ms on Linux) on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        answer = self.server.service.handle(self.command, parts.path, parts.query, dict(self.headers), body)
        if answer.stall:
            time.sleep(self.server.stall_seconds)
            self.close_connection = True
            return
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.frames is None:
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            else:  # an event stream: one chunk per message, flushed as it goes
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for frame in answer.frames:
                    self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = _answer
    do_POST = _answer
    do_PUT = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no line per request on stderr."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    #: The listen backlog: socketserver's default of 5 drops the connections a pooled client opens
    #: at once beyond it (they time out or are reset), as no real server does.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], service: LocalBedrock, stall_seconds: float) -> None:
        super().__init__(address, _Handler)
        self.service = service
        self.stall_seconds = stall_seconds
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


class LocalBedrockServer:
    """The local service on ``http://127.0.0.1:PORT`` (port 0: any free port), in a thread.

    :param stall_seconds: how long a ``"timeout"`` failure keeps the client waiting (set the
        client's ``read_timeout`` below it).
    """

    def __init__(self, service: LocalBedrock | None = None, *, port: int = 0, stall_seconds: float = 2.0) -> None:
        self.service = service if service is not None else LocalBedrock()
        self._server = _Server(("127.0.0.1", port), self.service, stall_seconds)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="local-bedrock", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def connection_counts(self) -> tuple[int, int, int]:
        """Connections accepted so far, open now, and the most open at once (load tests check
        that a client stays within its pool limit and closes every connection)."""
        with self._server.counts_lock:
            return self._server.connections, self._server.open_connections, self._server.peak_connections

    def environ(self) -> dict[str, str]:
        """The ``AWS_ENDPOINT_URL_*`` variables that point boto3 at this server."""
        return dict.fromkeys(ENDPOINT_VARIABLES, self.url)

    def start(self) -> LocalBedrockServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalBedrockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def attach(session: Any, service: LocalBedrock) -> LocalBedrock:
    """Answer every Bedrock and STS request of the clients ``session`` (a ``boto3.Session``) creates
    from ``service``, in-process: a ``before-send`` handler turns botocore's prepared request into
    the service's answer, which botocore then parses as it would a network answer. A ``"timeout"``
    failure raises botocore's ``ReadTimeoutError`` at once."""
    from botocore.awsrequest import AWSResponse  # type: ignore[import-untyped]  # noqa: PLC0415
    from botocore.exceptions import ReadTimeoutError  # type: ignore[import-untyped]  # noqa: PLC0415
    from urllib3 import HTTPResponse  # noqa: PLC0415
    from urllib3._collections import HTTPHeaderDict  # noqa: PLC0415

    def before_send(request: Any, **_: Any) -> Any:
        parts = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif hasattr(body, "read"):
            body = body.read()
        headers = {_text(k): _text(v) for k, v in request.headers.items()}
        answer: Answer = service.handle(request.method, parts.path, parts.query, headers, body)
        if answer.stall:
            raise ReadTimeoutError(endpoint_url=request.url)
        answer_headers = HTTPHeaderDict(_str_headers(answer.headers))
        raw = HTTPResponse(
            body=io.BytesIO(b"".join(answer.chunks())),
            headers=answer_headers,
            status=answer.status,
            preload_content=False,
            decode_content=False,
        )
        return AWSResponse(request.url, answer.status, answer_headers, raw)

    for service_name in ("bedrock-runtime", "bedrock", "bedrock-agent-runtime", "bedrock-agent", "sts"):
        session.events.register(f"before-send.{service_name}", before_send)
    return service


def _str_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(k): str(v) for k, v in headers.items()}


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value
