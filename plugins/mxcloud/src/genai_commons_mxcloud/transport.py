"""HTTP for one provider instance: one pooled ``httpx.Client``, one ``httpx.AsyncClient`` per event
loop, a bounded thread pool for concurrent sync calls; and the runners of operations
(:mod:`.calls`) and of event streams.

Every call carries ``x-api-key`` (the key's access token) and ``Content-Type: application/json``.
The clients are shared by every key (connections are pooled per host); each call names its key's
base URL. An ``httpx.AsyncClient`` belongs to the loop it first ran on, so a call from another
loop gets a client of its own; clients of loops that have ended are dropped. httpx retries
nothing: the host has the only retry loop.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncGenerator, Generator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeVar

from genai_commons.jsonparse import check_depth

from .calls import Answer, Call, Operation
from .errors import Failure, redacted_errors, translated_errors

if TYPE_CHECKING:
    import httpx

    from .keys import ConnectionKey
    from .settings import MxCloudSettings

__all__ = ["Transport"]

T = TypeVar("T")


def _content(call: Call) -> bytes | None:
    """The call's JSON body, encoded with orjson (an order of magnitude faster than the standard
    library on vectors); a callable body is built now, as the call is sent."""
    import orjson  # noqa: PLC0415

    body = call.body() if callable(call.body) else call.body
    return None if body is None else orjson.dumps(body)


def _json(response: httpx.Response) -> Any:
    """The answer's JSON; nested too deeply (see :mod:`genai_commons.jsonparse`), a decode error."""
    import orjson  # noqa: PLC0415

    if not response.content:
        return None
    data = orjson.loads(response.content)
    check_depth(data)
    return data


def _check_event_stream(answer: httpx.Response) -> None:
    """An answer to a streamed call must be an event stream (httpx-sse's check)."""
    from httpx_sse import SSEError  # noqa: PLC0415

    kind = answer.headers.get("content-type", "").partition(";")[0]
    if "text/event-stream" not in kind:
        raise SSEError(f"expected an event stream (Content-Type text/event-stream), got {kind!r}")


class _Pool:
    """What the finalizer closes; holds no reference to the transport."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sync: httpx.Client | None = None
        self.by_loop: dict[int, tuple[weakref.ref[asyncio.AbstractEventLoop], httpx.AsyncClient]] = {}
        self.threads: ThreadPoolExecutor | None = None

    def close(self) -> None:
        with self.lock:
            sync, self.sync = self.sync, None
            clients, self.by_loop = list(self.by_loop.values()), {}
            threads, self.threads = self.threads, None
        if sync is not None:
            sync.close()
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)
        for loop_ref, client in clients:
            loop = loop_ref()
            if loop is not None and not loop.is_closed() and not loop.is_running():
                loop.run_until_complete(client.aclose())
            # a client of a running or closed loop is let go; its connections close when collected


class Transport:
    """See the module docstring. ``transport`` and ``async_transport`` replace the network in
    tests (an ``httpx.MockTransport`` serves both)."""

    def __init__(self, transport: Any = None, async_transport: Any = None) -> None:
        self._transport = transport
        self._async_transport = async_transport
        self._pool = _Pool()
        self._finalizer = weakref.finalize(self, _Pool.close, self._pool)
        self.timeout = 300.0
        self.connect_timeout = 10.0
        self.max_response_bytes = 128 * 1024 * 1024
        self.concurrency = 8

    def configure(self, settings: MxCloudSettings) -> None:
        self.close()
        self.timeout = settings.timeout
        self.connect_timeout = settings.connect_timeout
        self.max_response_bytes = settings.max_response_bytes
        self.concurrency = settings.concurrency

    def _options(self, *, asynchronous: bool) -> dict[str, Any]:
        import httpx  # noqa: PLC0415 - httpx loads with the first call, not with the host

        from genai_commons.answer_limit import hooks  # noqa: PLC0415

        return {
            "headers": {"Content-Type": "application/json", "Accept": "application/json"},
            "timeout": httpx.Timeout(self.timeout, connect=self.connect_timeout),
            "limits": httpx.Limits(max_connections=max(10, self.concurrency * 2), max_keepalive_connections=20),
            "follow_redirects": False,
            "event_hooks": hooks(self.max_response_bytes, asynchronous=asynchronous),
        }

    def client(self) -> httpx.Client:
        """The pooled sync client."""
        client = self._pool.sync
        if client is None:
            with self._pool.lock:
                if self._pool.sync is None:
                    import httpx  # noqa: PLC0415

                    self._pool.sync = httpx.Client(transport=self._transport, **self._options(asynchronous=False))
                client = self._pool.sync
        return client

    def aclient(self) -> httpx.AsyncClient:
        """The pooled async client of the running event loop."""
        loop = asyncio.get_running_loop()
        entry = self._pool.by_loop.get(id(loop))
        if entry is not None and entry[0]() is loop:
            return entry[1]
        with self._pool.lock:
            for key, (loop_ref, _client) in list(self._pool.by_loop.items()):
                other = loop_ref()
                if other is None or other.is_closed() or key == id(loop):
                    del self._pool.by_loop[key]
            import httpx  # noqa: PLC0415

            transport = self._async_transport
            if transport is None and isinstance(self._transport, httpx.AsyncBaseTransport):
                transport = self._transport
            client = httpx.AsyncClient(transport=transport, **self._options(asynchronous=True))
            self._pool.by_loop[id(loop)] = (weakref.ref(loop), client)
            return client

    def _threads(self) -> ThreadPoolExecutor:
        threads = self._pool.threads
        if threads is None:
            with self._pool.lock:
                if self._pool.threads is None:
                    self._pool.threads = ThreadPoolExecutor(self.concurrency, thread_name_prefix="mxcloud")
                threads = self._pool.threads
        return threads

    def close(self) -> None:
        self._pool.close()

    async def aclose(self) -> None:
        """Close the clients from async code, awaiting the running loop's async client (which
        :meth:`close` cannot close from inside its running loop)."""
        loop = asyncio.get_running_loop()
        with self._pool.lock:
            entry = self._pool.by_loop.pop(id(loop), None)
        if entry is not None and entry[0]() is loop:
            await entry[1].aclose()
        self._pool.close()

    # -- one call ------------------------------------------------------------------------------

    @staticmethod
    def _headers(key: ConnectionKey) -> dict[str, str]:
        return {"x-api-key": key.access_token.reveal()}

    @staticmethod
    def _answer(key: ConnectionKey, call: Call, response: httpx.Response) -> Answer:
        with translated_errors(key, collection=call.collection):
            if response.status_code == 404 and call.missing_ok:
                return Answer(status=404, data=None, headers=response.headers)
            response.raise_for_status()
            return Answer(
                status=response.status_code,
                data=_json(response),
                headers=response.headers,
            )

    def call(self, key: ConnectionKey, call: Call) -> Answer:
        with translated_errors(key, collection=call.collection):
            response = self.client().request(
                call.method, key.base_url + call.path, params=call.params or None, content=_content(call),
                headers=self._headers(key),
            )  # fmt: skip
        return self._answer(key, call, response)

    async def acall(self, key: ConnectionKey, call: Call) -> Answer:
        with translated_errors(key, collection=call.collection):
            response = await self.aclient().request(
                call.method, key.base_url + call.path, params=call.params or None, content=_content(call),
                headers=self._headers(key),
            )  # fmt: skip
        return self._answer(key, call, response)

    # -- operations ----------------------------------------------------------------------------

    def run(self, key: ConnectionKey, operation: Operation[T]) -> T:
        """Run an operation with the sync client; a list of calls runs in the thread pool. What
        the operation raises (reading an answer) loses the key's secrets too."""
        with redacted_errors(key):
            return self._run(key, operation)

    def _run(self, key: ConnectionKey, operation: Operation[T]) -> T:
        try:
            step = next(operation)
            while True:
                if isinstance(step, list):
                    step = operation.send(self._call_many(key, step))
                else:
                    step = operation.send(self.call(key, step))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def _call_many(self, key: ConnectionKey, calls: list[Call]) -> list[Answer]:
        if len(calls) == 1:
            return [self.call(key, calls[0])]
        futures: list[Future[Answer]] = [self._threads().submit(self.call, key, c) for c in calls]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            if future in done and future.exception() is not None:
                wait(pending)  # let the calls already running finish before raising
                raise future.exception()  # type: ignore[misc]
        return [f.result() for f in futures]

    async def arun(self, key: ConnectionKey, operation: Operation[T]) -> T:
        """Run an operation with the async client; a list of calls runs with bounded concurrency."""
        with redacted_errors(key):
            return await self._arun(key, operation)

    async def _arun(self, key: ConnectionKey, operation: Operation[T]) -> T:
        try:
            step = next(operation)
            while True:
                if isinstance(step, list):
                    step = operation.send(await self._acall_many(key, step))
                else:
                    step = operation.send(await self.acall(key, step))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def _acall_many(self, key: ConnectionKey, calls: list[Call]) -> list[Answer]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(call: Call) -> Answer:
            async with gate:
                return await self.acall(key, call)

        failure: BaseException | None = None
        try:
            async with asyncio.TaskGroup() as group:  # the first failure cancels the other calls
                tasks = [group.create_task(one(c)) for c in calls]
        except BaseExceptionGroup as group_error:
            failure = group_error.exceptions[0]
        if failure is not None:
            raise failure  # the core error itself, its cause (the httpx error) kept
        return [t.result() for t in tasks]

    # -- event streams -------------------------------------------------------------------------

    def events(self, key: ConnectionKey, path: str, body: Any) -> Generator[tuple[str, str], None, None]:
        """``(event name, data)`` of each server-sent event of a streamed answer, read strictly
        (:mod:`genai_commons.formats.sse`: invalid UTF-8 is an error, not U+FFFD)."""
        from httpx_sse import connect_sse  # noqa: PLC0415

        from genai_commons.formats.sse import events  # noqa: PLC0415

        headers = {**self._headers(key), "Accept": "text/event-stream"}
        url = key.base_url + path
        with translated_errors(key), connect_sse(self.client(), "POST", url, json=body, headers=headers) as source:
            answer = source.response
            if answer.status_code >= 400:
                raise Failure(answer.status_code, answer.read().decode("utf-8", "replace"), answer.headers)
            _check_event_stream(answer)
            for event in events(answer.iter_bytes()):
                yield event.event, event.data

    async def aevents(self, key: ConnectionKey, path: str, body: Any) -> AsyncGenerator[tuple[str, str], None]:
        """:meth:`events` with the async client."""
        from httpx_sse import aconnect_sse  # noqa: PLC0415

        from genai_commons.formats.sse import aevents  # noqa: PLC0415

        headers = {**self._headers(key), "Accept": "text/event-stream"}
        with translated_errors(key):
            async with aconnect_sse(self.aclient(), "POST", key.base_url + path, json=body, headers=headers) as source:
                answer = source.response
                if answer.status_code >= 400:
                    raise Failure(answer.status_code, (await answer.aread()).decode("utf-8", "replace"), answer.headers)
                _check_event_stream(answer)
                async with aclosing(aevents(answer.aiter_bytes())) as stream:
                    async for event in stream:
                        yield event.event, event.data
