"""A loopback HTTP/1.1 server for :class:`~genai_commons_openai.testing.FakeOpenAI`.

It listens on ``127.0.0.1`` (port 0 by default: the system picks a free one), keeps connections
alive, answers with ``Content-Length`` or, for event streams, chunked transfer encoding flushed
frame by frame; and it misbehaves on demand like a network does: it waits (timeouts), cuts a stream
mid-way, or closes a connection without answering.

Use it in a ``with`` block (it runs on an event loop in a background thread), or as a process::

    python -m genai_commons_openai.testing [--port 8000] [--api-key sk-test] [--no-record] [--latency 0.02]

which prints its base URL (``http://127.0.0.1:PORT/v1``) and serves until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
from typing import Any

from .service import Answer, FakeOpenAI

__all__ = ["FakeOpenAIServer"]

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 429: "Too Many Requests", 500: "Internal Server Error",
            503: "Service Unavailable"}  # fmt: skip


class FakeOpenAIServer:
    """Serves a :class:`FakeOpenAI` on a loopback port; see the module docstring.

    :attr:`url` is the OpenAI base URL (``…/v1``, for ``OPENAI_BASE_URL``) and :attr:`endpoint`
    the bare address (for ``AZURE_OPENAI_ENDPOINT``).
    """

    def __init__(self, service: FakeOpenAI | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = service if service is not None else FakeOpenAI()
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        #: Connections accepted so far (a pooled client opens few).
        self.connections = 0
        #: Connections open now, and the most that were open at once (load tests check pool limits).
        self.open_connections = 0
        self.peak_connections = 0

    @property
    def endpoint(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def url(self) -> str:
        return f"{self.endpoint}/v1"

    def connection_counts(self) -> tuple[int, int, int]:
        """Connections accepted so far, open now, and the most open at once."""
        return self.connections, self.open_connections, self.peak_connections

    # -- lifecycle ---------------------------------------------------------------------------

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        self.service.base_url = self.endpoint

    def start(self) -> FakeOpenAIServer:
        """Start serving in a background thread; returns once the port is open."""
        ready = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start())
            except BaseException as exc:
                failed.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            raise failed[0]
        return self

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await asyncio.sleep(0)  # connections accepted just now get their task started
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

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- HTTP/1.1 ----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_connections += 1
        self.peak_connections = max(self.peak_connections, self.open_connections)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
            self.open_connections -= 1
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; whether the connection stays open."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length") or 0))
        answer = self.service.handle(method, target, headers, body)
        if answer.delay or self.service.latency:
            await asyncio.sleep(answer.delay or self.service.latency)
        if answer.drop:
            return False
        keep = headers.get("connection", "").lower() != "close"
        await self._write(writer, answer, keep)
        return keep and not answer.cut

    async def _write(self, writer: asyncio.StreamWriter, answer: Answer, keep: bool) -> None:
        status = f"HTTP/1.1 {answer.status} {_REASONS.get(answer.status, 'Unknown')}\r\n"
        fields = dict(answer.headers)
        fields["connection"] = "keep-alive" if keep else "close"
        if answer.events is None:
            fields["content-length"] = str(len(answer.body))
            writer.write(_head(status, fields) + answer.body)
            await writer.drain()
            return
        fields["transfer-encoding"] = "chunked"
        writer.write(_head(status, fields))
        for frame in answer.events:
            writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            await writer.drain()
        if not answer.cut:
            writer.write(b"0\r\n\r\n")
            await writer.drain()


def _head(status: str, fields: dict[str, Any]) -> bytes:
    return (status + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode("latin-1")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="sk-test", help="the key clients must send ('' for none)")
    parser.add_argument("--no-record", action="store_true", help="do not keep the requests (long runs)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each answer")
    args = parser.parse_args(argv)
    service = FakeOpenAI(api_key=args.api_key or None, record=not args.no_record, latency=args.latency)
    server = FakeOpenAIServer(service, port=args.port)

    async def serve() -> None:
        await server._start()
        sys.stdout.write(server.url + "\n")
        sys.stdout.flush()
        assert server._server is not None
        await server._server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
