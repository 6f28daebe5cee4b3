"""A cap on the bytes of one answer (``max_response_bytes``), so that a server — or a proxy in the
way — that answers with a huge or endless body fails the call instead of filling memory.

An answer whose ``Content-Length`` is over the cap fails before its body is read; every body is
counted as it arrives (chunked answers and event streams have no length), and fails as soon as
it passes the cap. Bytes are counted as received, before any content decoding.

For code on httpx (the OpenAI and Mendix Cloud plugins, and the host's file downloads in
:mod:`genai_commons.fetch`): install :func:`hooks` as a client's ``event_hooks``, or call
:func:`cap` on a response read straight from a transport, and map :class:`AnswerTooLarge` to an
error of the core hierarchy that names the setting to raise. Import it with the first call, not
with the plugin: it imports httpx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

__all__ = ["AnswerTooLarge", "cap", "hooks"]


class AnswerTooLarge(Exception):
    """An answer longer than the cap (kept as ``__cause__`` of the core error)."""

    def __init__(self, limit: int, declared: int | None, status: int) -> None:
        what = f"declares {declared} bytes" if declared is not None else "goes on past it"
        super().__init__(f"the answer {what}; the limit is {limit} bytes")
        self.limit = limit
        self.declared = declared
        self.status = status


class _Capped(httpx.SyncByteStream, httpx.AsyncByteStream):
    """The body stream of one answer, counted as it is read."""

    def __init__(self, stream: Any, limit: int, status: int) -> None:
        self._stream = stream
        self._limit = limit
        self._status = status

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self._stream:
            seen += len(chunk)
            if seen > self._limit:
                raise AnswerTooLarge(self._limit, None, self._status)
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._stream:
            seen += len(chunk)
            if seen > self._limit:
                raise AnswerTooLarge(self._limit, None, self._status)
            yield chunk

    def close(self) -> None:
        self._stream.close()

    async def aclose(self) -> None:
        await self._stream.aclose()


def cap(response: httpx.Response, limit: int) -> None:
    """Refuse ``response`` when it declares more than ``limit`` bytes, and count its body as it is
    read; call it before the body is read."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise AnswerTooLarge(limit, int(declared), response.status_code)
    response.stream = _Capped(response.stream, limit, response.status_code)


def hooks(limit: int, *, asynchronous: bool) -> dict[str, list[Any]]:
    """The ``event_hooks`` of a client that caps every answer at ``limit`` bytes."""
    if asynchronous:

        async def acapped(response: httpx.Response) -> None:
            cap(response, limit)

        return {"response": [acapped]}

    def capped(response: httpx.Response) -> None:
        cap(response, limit)

    return {"response": [capped]}
