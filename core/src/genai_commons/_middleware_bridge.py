"""Plumbing of :mod:`genai_commons.middleware`: closing streams, and running a sync ``around``
for an async call (a worker thread whose ``proceed()`` waits on the event loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from .provider import _iterate_in_thread

if TYPE_CHECKING:
    import asyncio


def discard(result: object) -> None:
    """Drop a hook result nobody will consume: a coroutine is closed (no "never awaited"
    warning), a generator too; an unstarted async generator needs nothing."""
    close = getattr(result, "close", None)
    if callable(close) and not isinstance(result, AsyncIterator):
        close()


def closing(events: Iterator[Any], opened: list[Any]) -> Iterator[Any]:
    """``events``; when closed or exhausted, the provider iterators in ``opened`` are closed too
    (a middleware's own generator need not close what ``proceed()`` returned)."""
    try:
        yield from events
    finally:
        for inner in (events, *opened):
            close = getattr(inner, "close", None)
            if callable(close):
                close()


async def aclose(events: object) -> None:
    """Close an async iterator when it can be closed."""
    close = getattr(events, "aclose", None)
    if callable(close):
        await close()


def around_in_thread(
    around: Callable[[Any, Callable[..., Any]], Any],
    call: Any,
    proceed: Callable[..., Awaitable[Any]],
) -> Awaitable[Any] | AsyncIterator[Any]:
    """Run a sync ``around(call, proceed)`` for an async call: ``around`` runs in a worker thread
    (the context variables travel with it), and its ``proceed()`` runs the async ``proceed`` on the
    caller's event loop and waits for it. A stream comes back as an async iterator whose events
    are read in worker threads."""
    import asyncio  # noqa: PLC0415 - asyncio loads with the first async call, not with the host

    loop = asyncio.get_running_loop()

    def blocking_proceed(*changed: Any) -> Any:
        result = asyncio.run_coroutine_threadsafe(_awaited(proceed(*changed)), loop).result()
        return _BlockingIterator(result, loop) if call.streaming and result is not None else result

    if call.streaming:
        return _iterate_in_thread(lambda: around(call, blocking_proceed))
    return asyncio.to_thread(around, call, blocking_proceed)


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class _BlockingIterator:
    """A sync iterator over an async one that lives on ``loop`` (read from a worker thread)."""

    def __init__(self, events: AsyncIterator[Any], loop: asyncio.AbstractEventLoop) -> None:
        self._events = events
        self._loop = loop

    def __iter__(self) -> _BlockingIterator:
        return self

    def __next__(self) -> Any:
        import asyncio  # noqa: PLC0415

        try:
            return asyncio.run_coroutine_threadsafe(_next(self._events), self._loop).result()
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        import asyncio  # noqa: PLC0415

        asyncio.run_coroutine_threadsafe(aclose(self._events), self._loop).result()


async def _next(events: AsyncIterator[Any]) -> Any:
    return await anext(events)
