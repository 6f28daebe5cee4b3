"""A loopback HTTP/1.1 server for :class:`~genai_commons_mxcloud.testing.FakeMxCloud`.

It is the testing kit's :class:`~genai_commons.testing.http.LoopbackServer` (``127.0.0.1``, port 0
by default: the system picks a free one; one thread per connection, connections kept alive),
answering with ``Content-Length`` or, for event streams, chunked transfer encoding flushed event by
event; and it misbehaves on demand like a network does: it waits (timeouts, the benchmarks'
latency), cuts a stream short, or closes a connection without answering. Use it in a ``with``
block, or as a process::

    python -m genai_commons_mxcloud.testing [--port 8000] [--delay 0.05] [--dimensions 1024]

which prints one JSON line (its URL, and a text-generation, an embeddings and a knowledge-base key
for it) and serves until interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Self

from genai_commons.testing.http import HTTPAnswer, HTTPRequest, LoopbackServer, sse_event

from .service import FakeMxCloud

__all__ = ["FakeMxCloudServer"]


class FakeMxCloudServer(LoopbackServer):
    """Serves a :class:`FakeMxCloud` on a loopback port; :attr:`url` is the base URL the keys of
    :meth:`FakeMxCloud.issue_key` point at once the server has started."""

    thread_name = "fake-mxcloud"

    def __init__(self, service: FakeMxCloud | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.service = service if service is not None else FakeMxCloud()

    def start(self) -> Self:
        super().start()
        self.service.base_url = self.url
        return self

    def answer(self, request: HTTPRequest) -> HTTPAnswer:
        service = self.service
        with service.serving():  # the delay counts as in flight, as a slow service's would
            answer = service.handle(request.method, request.target, dict(request.headers), request.body)
            if answer.delay:
                time.sleep(answer.delay)
        if answer.drop:
            return HTTPAnswer(drop=True)
        if answer.events is not None:
            frames = (sse_event(data, event=name) for name, data in answer.events)
            return HTTPAnswer.stream(frames, status=answer.status, cut=answer.cut)
        payload = b"" if answer.body is None else json.dumps(answer.body).encode()
        headers = {"Content-Type": "application/json"} if payload else {}
        return HTTPAnswer(status=answer.status, headers={**headers, **answer.headers}, body=payload)


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
