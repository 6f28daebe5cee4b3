"""A loopback HTTP/1.1 server for :class:`~genai_commons_openai.testing.FakeOpenAI`.

It is the testing kit's :class:`~genai_commons.testing.http.LoopbackServer`: it listens on
``127.0.0.1`` (port 0 by default: the system picks a free one), keeps connections alive, answers
with ``Content-Length`` or, for event streams, chunked transfer encoding flushed frame by frame;
and it misbehaves on demand like a network does: it waits (timeouts), cuts a stream mid-way, or
closes a connection without answering.

Use it in a ``with`` block (it serves from background threads), or as a process::

    python -m genai_commons_openai.testing [--port 8000] [--api-key sk-test] [--no-record] [--latency 0.02]

which prints its base URL (``http://127.0.0.1:PORT/v1``) and serves until interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from typing import Self

from genai_commons.testing.http import HTTPAnswer, HTTPRequest, LoopbackServer

from .service import FakeOpenAI

__all__ = ["FakeOpenAIServer"]


class FakeOpenAIServer(LoopbackServer):
    """Serves a :class:`FakeOpenAI` on a loopback port; see the module docstring.

    :attr:`url` is the OpenAI base URL (``…/v1``, for ``OPENAI_BASE_URL``) and :attr:`endpoint`
    the bare address (for ``AZURE_OPENAI_ENDPOINT``). :attr:`connections`,
    :attr:`open_connections` and :attr:`peak_connections` count the connections accepted so far,
    open now and open at once (a pooled client opens few).
    """

    thread_name = "fake-openai-server"

    def __init__(self, service: FakeOpenAI | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.service = service if service is not None else FakeOpenAI()

    @property
    def endpoint(self) -> str:
        return super().url

    @property
    def url(self) -> str:
        return f"{self.endpoint}/v1"

    def start(self) -> Self:
        super().start()
        self.service.base_url = self.endpoint
        return self

    def answer(self, request: HTTPRequest) -> HTTPAnswer:
        answer = self.service.handle(request.method, request.target, request.headers, request.body)
        delay = answer.delay or self.service.latency
        if answer.drop:
            return HTTPAnswer(drop=True, delay=delay)
        if answer.events is None:  # a cut connection closes after a whole body
            return HTTPAnswer(
                status=answer.status, headers=answer.headers, body=answer.body, delay=delay, close=answer.cut
            )
        return HTTPAnswer(
            status=answer.status, headers=answer.headers, chunks=answer.events, delay=delay, cut=answer.cut
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="sk-test", help="the key clients must send ('' for none)")
    parser.add_argument("--no-record", action="store_true", help="do not keep the requests (long runs)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each answer")
    args = parser.parse_args(argv)
    service = FakeOpenAI(api_key=args.api_key or None, record=not args.no_record, latency=args.latency)
    with FakeOpenAIServer(service, port=args.port) as server, contextlib.suppress(KeyboardInterrupt):
        sys.stdout.write(server.url + "\n")
        sys.stdout.flush()
        threading.Event().wait()


if __name__ == "__main__":
    main()
