"""Running calls (:mod:`.calls`) over httpx: :class:`Driver`, the I/O half of the HTTP layer.

One driver per provider instance, over its :class:`~.clients.Clients`. Each method takes the
:class:`~.endpoint.Endpoint` the calls go to:

- :meth:`Driver.run` / :meth:`Driver.arun` run an operation; a list of calls it yields runs
  concurrently (sync: in the clients' thread pool; async: under a semaphore), and the first failure
  cancels the rest;
- :meth:`Driver.events` / :meth:`Driver.aevents` yield the server-sent events of a streamed call
  (:mod:`genai_commons.formats.sse` reads them strictly: invalid UTF-8 is an error, not U+FFFD);
  :meth:`Driver.stream` / :meth:`Driver.astream` open one for a provider that reads the bytes
  itself (a server that may answer a streamed call with one JSON body);
- every error leaving them is a core error (:mod:`.errors`), raised ``from`` its cause, with the
  endpoint's secrets and the credentials the request carried redacted.

An error answer becomes :meth:`Endpoint.error_for`'s error; a 2xx answer that is not JSON,
:meth:`Endpoint.malformed`'s. What the operation itself raises while reading an answer (a
``KeyError`` of an unexpected shape) is redacted and left as it is: the provider maps it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from contextlib import aclosing, asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from .calls import Answer, Call, Operation
from .errors import NotAnEventStream, StatusFailure, failed, redact_failure, translating

if TYPE_CHECKING:
    import httpx

    from ..formats.sse import Event
    from .aio import Received
    from .clients import Clients
    from .endpoint import Endpoint

__all__ = ["Driver"]

T = TypeVar("T")


def _timeout(clients: Clients, seconds: float | None) -> Any:
    import httpx  # noqa: PLC0415 - loaded already: the clients are httpx's

    if seconds is None:
        return httpx.USE_CLIENT_DEFAULT
    return httpx.Timeout(seconds, connect=min(seconds, clients.options.connect_timeout))


def _headers(endpoint: Endpoint, call: Call, *, stream: bool = False) -> dict[str, str] | None:
    """The call's own headers; None when it has none (httpx then merges nothing: a few µs a call)."""
    own = endpoint.headers()
    if not own and not call.headers and not stream:
        return None
    headers = dict(own)
    if call.headers:
        headers.update(call.headers)
    if stream:
        headers["Accept"] = "text/event-stream"
    return headers


def _answer(endpoint: Endpoint, call: Call, response: httpx.Response | Received) -> Answer:
    status = response.status_code
    if status == 404 and call.missing_ok:
        return Answer(status=404, data=None, headers=response.headers)
    if status >= 400:
        response.raise_for_status()
    try:
        data = endpoint.decode(response.content)
    except ValueError as exc:  # not JSON, not UTF-8, nested too deeply
        raise endpoint.malformed(f"{type(exc).__name__}: {str(exc)[:120]}", status) from exc
    return Answer(status=status, data=data, headers=response.headers)


def _with_params(url: Any, call: Call) -> Any:
    """``url`` with the call's query parameters added to its own, as an httpx client adds them."""
    if not call.params:
        return url
    import httpx  # noqa: PLC0415 - loaded already: the clients are httpx's

    return str(httpx.URL(url).copy_merge_params(call.params))


def _check_event_stream(response: httpx.Response) -> None:
    """An answer to a streamed call must be an event stream."""
    kind = response.headers.get("content-type", "").partition(";")[0]
    if "text/event-stream" not in kind:
        raise NotAnEventStream(f"Content-Type {kind or 'none'!r}, not text/event-stream")


class Driver:
    """Runs operations and streams over a provider's clients (see the module docstring)."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    # -- one call ------------------------------------------------------------------------------

    def call(self, endpoint: Endpoint, call: Call) -> Answer:
        """Make one call with the sync client."""
        headers = _headers(endpoint, call)
        try:
            response = self.clients.sync().request(
                call.method, endpoint.url(call), params=call.params or None, content=call.content(endpoint.encode),
                headers=headers, timeout=_timeout(self.clients, call.timeout),
            )  # fmt: skip
            return _answer(endpoint, call, response)
        except Exception as exc:
            failure = failed(endpoint, call, exc, headers.values() if headers else ())
            if failure is exc:
                raise
            raise failure from exc

    async def acall(self, endpoint: Endpoint, call: Call) -> Answer:
        """Make one call with the running loop's async client (straight through its transport)."""
        headers = _headers(endpoint, call)
        try:
            url = _with_params(endpoint.url(call), call)
            response = await self.clients.exchange().request(
                call.method, url, content=call.content(endpoint.encode), headers=headers,
                timeout=_timeout(self.clients, call.timeout),
            )  # fmt: skip
            return _answer(endpoint, call, response)
        except Exception as exc:
            failure = failed(endpoint, call, exc, headers.values() if headers else ())
            if failure is exc:
                raise
            raise failure from exc

    # -- operations ----------------------------------------------------------------------------

    def run(self, endpoint: Endpoint, operation: Operation[T]) -> T:
        """Run an operation with the sync client. What the operation raises reading an answer
        loses the endpoint's secrets too."""
        try:
            step = next(operation)
            while True:
                if isinstance(step, list):
                    step = operation.send(self._call_many(endpoint, step))
                else:
                    step = operation.send(self.call(endpoint, step))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except Exception as exc:
            redact_failure(endpoint, exc)
            raise

    def _call_many(self, endpoint: Endpoint, calls: list[Call]) -> list[Answer]:
        if len(calls) == 1:
            return [self.call(endpoint, calls[0])]
        threads = self.clients.threads()
        futures: list[Future[Answer]] = [threads.submit(self.call, endpoint, c) for c in calls]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            if future in done and future.exception() is not None:
                wait(pending)  # let the calls already running finish before raising
                raise future.exception()  # type: ignore[misc]
        return [f.result() for f in futures]

    async def arun(self, endpoint: Endpoint, operation: Operation[T]) -> T:
        """Run an operation with the async client."""
        try:
            step = next(operation)
            while True:
                if isinstance(step, list):
                    step = operation.send(await self._acall_many(endpoint, step))
                else:
                    step = operation.send(await self.acall(endpoint, step))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except Exception as exc:
            redact_failure(endpoint, exc)
            raise

    async def _acall_many(self, endpoint: Endpoint, calls: list[Call]) -> list[Answer]:
        if len(calls) == 1:
            return [await self.acall(endpoint, calls[0])]
        gate = asyncio.Semaphore(self.clients.options.concurrency)

        async def one(call: Call) -> Answer:
            async with gate:
                return await self.acall(endpoint, call)

        failure: BaseException | None = None
        try:
            async with asyncio.TaskGroup() as group:  # the first failure cancels the other calls
                tasks = [group.create_task(one(c)) for c in calls]
        except BaseExceptionGroup as group_error:
            failure = group_error.exceptions[0]
        if failure is not None:
            raise failure  # the core error itself, its cause (the httpx error) kept
        return [t.result() for t in tasks]

    # -- streamed answers -----------------------------------------------------------------------

    @contextmanager
    def stream(self, endpoint: Endpoint, call: Call) -> Iterator[httpx.Response]:
        """Open a streamed call with the sync client: the answer, its status checked (an error
        status is the endpoint's error), its body not read yet; failures inside the block are
        mapped and redacted as the driver's own. For a provider that reads the bytes itself."""
        headers = _headers(endpoint, call, stream=True)
        with translating(endpoint, call, headers.values() if headers else ()), self.clients.sync().stream(
            call.method, endpoint.url(call), params=call.params or None, content=call.content(endpoint.encode),
            headers=headers, timeout=_timeout(self.clients, call.timeout),
        ) as answer:  # fmt: skip
            if answer.status_code >= 400:
                raise StatusFailure(answer.status_code, answer.read().decode("utf-8", "replace"), answer.headers)
            yield answer

    @asynccontextmanager
    async def astream(self, endpoint: Endpoint, call: Call) -> AsyncIterator[httpx.Response]:
        """:meth:`stream` with the running loop's async client."""
        headers = _headers(endpoint, call, stream=True)
        with translating(endpoint, call, headers.values() if headers else ()):
            async with self.clients.exchange().stream(
                call.method, _with_params(endpoint.url(call), call), content=call.content(endpoint.encode),
                headers=headers, timeout=_timeout(self.clients, call.timeout),
            ) as answer:  # fmt: skip
                if answer.status_code >= 400:
                    body = (await answer.aread()).decode("utf-8", "replace")
                    raise StatusFailure(answer.status_code, body, answer.headers)
                yield answer

    def events(self, endpoint: Endpoint, call: Call) -> Generator[Event, None, None]:
        """The server-sent events of a streamed call; the connection closes with the iterator."""
        with self.stream(endpoint, call) as answer:
            _check_event_stream(answer)
            from ..formats import sse  # noqa: PLC0415 - loaded with the first stream, not the first call

            yield from sse.events(answer.iter_bytes())

    async def aevents(self, endpoint: Endpoint, call: Call) -> AsyncGenerator[Event, None]:
        """:meth:`events` with the running loop's async client."""
        async with self.astream(endpoint, call) as answer:
            _check_event_stream(answer)
            from ..formats import sse  # noqa: PLC0415 - loaded with the first stream, not the first call

            async with aclosing(sse.aevents(answer.aiter_bytes())) as stream:
                async for event in stream:
                    yield event
