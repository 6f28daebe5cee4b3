"""The async connection pool: each connection serves one request at a time, handed out from a
free list.

httpcore's own pool (1.0.x) lets several waiting requests be assigned the same idle connection;
all but one then fail with ``ConnectionNotAvailable`` and go round again, each round scanning every
request against every connection. Under concurrency (64 requests in flight on a 100-connection
pool) a request makes about 14 such rounds, and the pool's bookkeeping costs milliseconds of CPU per
request (see benchmarks/bench_openai.py, async). Here each connection is a single-connection httpcore
pool of its own, lent to exactly one request until its response is closed, so no request is ever
assigned a busy connection and lending one is O(1).

Limits are httpx's: at most ``max_connections`` connections (each kept alive for
``keepalive_expiry``); a request that finds them all busy waits up to the ``pool`` timeout, then
fails with ``httpx.PoolTimeout``, like httpx's pool. The most recently returned connection is lent
first, so a quiet period leaves the extra connections idle to expire.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

__all__ = ["ConnectionSlots"]


class _Returning(httpx.AsyncByteStream):
    """A response body that gives its connection back when it is closed."""

    __slots__ = ("_give_back", "_stream")

    def __init__(self, stream: httpx.AsyncByteStream, give_back: Callable[[], None]) -> None:
        self._stream = stream
        self._give_back: Callable[[], None] | None = give_back

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            give_back, self._give_back = self._give_back, None
            if give_back is not None:
                give_back()


class ConnectionSlots(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` of at most ``limits.max_connections`` connections, each lent
    to one request at a time (see the module docstring). Bound to the event loop it first runs on,
    like httpx's own async pool."""

    def __init__(self, limits: httpx.Limits, *, verify: ssl.SSLContext | bool = True) -> None:
        self._size = limits.max_connections or 100
        self._keepalive = limits.keepalive_expiry
        #: One TLS context for every connection: making one loads the CA bundle, which takes milliseconds.
        self._ssl = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        self._idle: list[httpx.AsyncHTTPTransport] = []
        self._all: list[httpx.AsyncHTTPTransport] = []
        self._waiting: collections.deque[asyncio.Future[httpx.AsyncHTTPTransport]] = collections.deque()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        slot = await self._lend(request.extensions.get("timeout", {}).get("pool"))
        try:
            response = await slot.handle_async_request(request)
        except BaseException:
            self._give_back(slot)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Returning(response.stream, lambda: self._give_back(slot))
        return response

    async def _lend(self, timeout: float | None) -> httpx.AsyncHTTPTransport:
        if self._closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        if self._idle:
            return self._idle.pop()
        if len(self._all) < self._size:
            slot = httpx.AsyncHTTPTransport(
                verify=self._ssl,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=self._keepalive),
            )
            self._all.append(slot)
            return slot
        waiter: asyncio.Future[httpx.AsyncHTTPTransport] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except TimeoutError:
            raise httpx.PoolTimeout("every connection of the pool stayed busy for the pool timeout") from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():  # lent just as the caller gave up: pass it on
                self._give_back(waiter.result())
            raise
        finally:
            if not waiter.done():
                waiter.cancel()

    def _give_back(self, slot: httpx.AsyncHTTPTransport) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(slot)
                return
        self._idle.append(slot)

    async def aclose(self) -> None:
        self._closed = True
        slots, self._all, self._idle = self._all, [], []
        for waiter in self._waiting:
            waiter.cancel()
        self._waiting.clear()
        for slot in slots:
            await slot.aclose()

    def __repr__(self) -> str:
        return f"ConnectionSlots(connections={len(self._all)}/{self._size}, idle={len(self._idle)})"

    @property
    def stats(self) -> dict[str, Any]:
        """Connections made, idle, and requests waiting for one."""
        return {"connections": len(self._all), "idle": len(self._idle), "waiting": len(self._waiting)}
