"""A cap on the bytes of one answer (``max_response_bytes``), so that a server — or a proxy in the
way — that answers with a huge or endless body fails the call instead of filling memory.

An answer whose ``Content-Length`` is over the cap fails before its body is read; every body is
counted as it arrives (chunked answers and event streams have no length), and fails as soon as
it passes the cap. A compressed answer (``Content-Encoding`` gzip, deflate, br or zstd — those
httpx decodes) is decoded here instead of by httpx, a bounded step at a time
(:mod:`genai_commons._decoding`), and its decoded bytes are counted too: a small gzip bomb fails
at the cap, without being inflated whole. The answer then reaches httpx decoded, without its
``Content-Encoding`` header.

Time is bounded the same way: under a call's deadline (:mod:`genai_commons.deadlines`), a
request's timeouts are shortened to the time left, and every piece of the body read checks the
deadline, so that a server sending a trickle, or stream keep-alives forever, ends the call with
:class:`~genai_commons.errors.DeadlineExceededError` when the deadline passes.

For code on httpx (the OpenAI and Mendix Cloud plugins, and the host's file downloads in
:mod:`genai_commons.fetch`): install :func:`hooks` as a client's ``event_hooks``, or call
:func:`within_deadline` on a request and :func:`cap` on its response when sending straight through
a transport, and map :class:`AnswerTooLarge` to an error of the core hierarchy that names the
setting to raise. Import it with the first call, not with the plugin: it imports httpx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from . import deadlines

if TYPE_CHECKING:
    from ._decoding import Decoder

__all__ = ["AnswerTooLarge", "cap", "capped_stream", "hooks", "within_deadline"]


class AnswerTooLarge(Exception):
    """An answer longer than the cap (kept as ``__cause__`` of the core error). ``decoded``: the
    content codings whose decoded output went past the cap; None when the bytes received did."""

    def __init__(self, limit: int, declared: int | None, status: int, decoded: str | None = None) -> None:
        if decoded is not None:
            message = f"the answer decoded from {decoded} goes past the limit of {limit} bytes"
        else:
            what = f"declares {declared} bytes" if declared is not None else "goes on past it"
            message = f"the answer {what}; the limit is {limit} bytes"
        super().__init__(message)
        self.limit = limit
        self.declared = declared
        self.status = status
        self.decoded = decoded


class _Capped(httpx.SyncByteStream, httpx.AsyncByteStream):
    """The body stream of one answer, counted as it is read, and decoded here when it is
    compressed (``codings``: its ``Content-Encoding`` values)."""

    def __init__(self, stream: Any, limit: int, status: int, codings: list[str]) -> None:
        self._stream = stream
        self._limit = limit
        self._status = status
        self._received = 0
        self._decoder: Decoder | None = None
        self._decoded = ""
        if codings:
            from ._decoding import decoder_for  # noqa: PLC0415 - only a compressed answer needs it

            found = decoder_for(codings, self._counter)
            if found is not None:
                self._decoder, self._decoded = found

    @property
    def decodes(self) -> bool:
        """Whether this stream undoes the answer's content coding."""
        return self._decoder is not None

    def _counter(self) -> Callable[[int], None]:
        """Counts the output of one decoding layer against the cap."""
        made = 0

        def spend(size: int) -> None:
            nonlocal made
            made += size
            if made > self._limit:
                raise AnswerTooLarge(self._limit, None, self._status, self._decoded)

        return spend

    def _receive(self, chunk: bytes) -> Iterable[bytes]:
        deadlines.check()
        self._received += len(chunk)
        if self._received > self._limit:
            raise AnswerTooLarge(self._limit, None, self._status)
        if self._decoder is None:
            return (chunk,)
        return self._decoder.decode(chunk)

    def _end(self) -> Iterable[bytes]:
        return () if self._decoder is None else self._decoder.flush()

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            yield from self._receive(chunk)
        yield from self._end()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            for piece in self._receive(chunk):
                yield piece
        for piece in self._end():
            yield piece

    def close(self) -> None:
        self._stream.close()

    async def aclose(self) -> None:
        await self._stream.aclose()


def cap(response: httpx.Response, limit: int) -> None:
    """Refuse ``response`` when it declares more than ``limit`` bytes, and count its body (decoded,
    when it is compressed) as it is read; call it before the body is read."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise AnswerTooLarge(limit, int(declared), response.status_code)
    codings = response.headers.get_list("content-encoding", split_commas=True)
    capped = _Capped(response.stream, limit, response.status_code, codings)
    if capped.decodes:
        del response.headers["content-encoding"]  # decoded here: httpx must not decode it again
    response.stream = capped


def capped_stream(stream: Any, limit: int, status: int, codings: list[str]) -> AsyncIterator[bytes]:
    """``stream`` (the async iterable of an answer's body as received, by a client other than
    httpx) counted, deadline-checked and decoded as :func:`cap` does to an httpx answer."""
    return _Capped(stream, limit, status, codings).__aiter__()


def within_deadline(request: httpx.Request) -> None:
    """Shorten ``request``'s timeouts to the time left before the deadline in force, if any; call
    it before the request is sent."""
    left = deadlines.remaining()
    timeouts = request.extensions.get("timeout")
    if left is None or not timeouts:
        return
    left = max(left, 0.001)
    request.extensions["timeout"] = {kind: left if t is None else min(t, left) for kind, t in timeouts.items()}


def hooks(limit: int, *, asynchronous: bool) -> dict[str, list[Any]]:
    """The ``event_hooks`` of a client that caps every answer at ``limit`` bytes and keeps every
    request within the deadline in force."""
    if asynchronous:

        async def abounded(request: httpx.Request) -> None:
            within_deadline(request)

        async def acapped(response: httpx.Response) -> None:
            cap(response, limit)

        return {"request": [abounded], "response": [acapped]}

    def capped(response: httpx.Response) -> None:
        cap(response, limit)

    return {"request": [within_deadline], "response": [capped]}
