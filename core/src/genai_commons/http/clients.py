"""The pooled HTTP clients of one provider instance: one ``httpx.Client``, one ``httpx.AsyncClient``
per event loop and a bounded thread pool for concurrent sync calls, created on first use from the
provider's :class:`ClientOptions` and closed with the host.

The clients keep no cookies (provider APIs are stateless; some edges set cookies on every answer,
and a jar that ignores them saves httpx the work), follow no redirects, retry nothing (the host
has the only retry loop), cap every answer at ``max_response_bytes`` and keep every request within
the call's deadline (:mod:`genai_commons.answer_limit`). ``Host.close()`` calls the provider's
``close()``, which closes them; a provider dropped without being closed (a host never closed, as
in a short script) is closed by a :func:`weakref.finalize`. An ``httpx.AsyncClient`` belongs to
the event loop it first ran on (its pooled connections do), so a call from another loop gets its
own client; clients of loops that have ended are dropped.

The async driver's calls and streams go through aiohttp when it is installed (:mod:`.aio`, the
``aiohttp`` extra; ``GENAI_ASYNC_HTTP=httpx`` in the environment keeps them on httpx). Over httpx,
plain request-and-answer exchanges (:class:`AsyncExchange`) go straight to the async client's
transport, sharing its connection pool (:mod:`.pool`): the client's per-request
machinery (merging URLs, headers, cookies and timeouts, auth and redirect flows) costs more CPU
than the rest of a call, and the driver uses none of it. Streams, and every call when an HTTP(S)
proxy is set in the environment (which only a client routes through), go through the client.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

if TYPE_CHECKING:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from .aio import AiohttpExchange

__all__ = ["AsyncExchange", "ClientOptions", "Clients"]


@frozen(kw_only=True)
class ClientOptions:
    """How a provider's clients are made.

    :param timeout: seconds for each phase of a call (connect, write, each read, pool).
    :param connect_timeout: seconds to connect, when shorter.
    :param headers: sent with every call (``Content-Type`` and ``Accept`` JSON unless given).
    :param concurrency: the most calls of one operation's list in flight at once (a thread pool of
        this size for sync code, a semaphore for async code).
    """

    timeout: float = 300.0
    connect_timeout: float = 10.0
    max_connections: int = 100
    max_keepalive_connections: int = 20
    max_response_bytes: int = 128 * 1024 * 1024
    headers: Mapping[str, str] = field(factory=dict, repr=False)
    concurrency: int = 8


def _no_cookies() -> Any:
    """A cookie jar that stores and sends nothing."""
    import http.cookiejar  # noqa: PLC0415 - loaded by httpx anyway, with the first call

    class NoCookies(http.cookiejar.CookieJar):
        def extract_cookies(self, response: Any, request: Any) -> None:
            return None

        def add_cookie_header(self, request: Any) -> None:
            return None

    return NoCookies()


class AsyncExchange:
    """One event loop's async client, and its transport for plain request-and-answer exchanges."""

    __slots__ = ("_limit", "_timeout", "_transport", "client")

    def __init__(self, client: httpx.AsyncClient, transport: httpx.AsyncBaseTransport | None, limit: int) -> None:
        self.client = client
        #: The client's own transport when exchanges may bypass the client (no proxy in the way).
        self._transport = transport
        self._timeout = client.timeout.as_dict()
        #: ``max_response_bytes``: the client's response hook applies it to what goes through the client.
        self._limit = limit

    async def request(
        self, method: str, url: httpx.URL | str, *, content: bytes | None, headers: dict[str, str] | None, timeout: Any
    ) -> httpx.Response:
        """Send one request and read its whole answer, as ``client.request`` would."""
        import httpx  # noqa: PLC0415

        from ..answer_limit import cap, within_deadline  # noqa: PLC0415

        transport, client = self._transport, self.client
        if transport is None:
            return await client.request(method, url, content=content, headers=headers, timeout=timeout)
        if client.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        merged = client.headers
        if headers:
            merged = httpx.Headers(merged)
            merged.update(headers)
        timeouts = self._timeout if timeout is httpx.USE_CLIENT_DEFAULT else httpx.Timeout(timeout).as_dict()
        request = httpx.Request(method, url, content=content, headers=merged, extensions={"timeout": timeouts})
        within_deadline(request)
        try:
            response = await transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        response.request = request
        try:
            cap(response, self._limit)
            await response.aread()
        finally:
            await response.aclose()
        if _httpx_log.isEnabledFor(logging.INFO):  # the line httpx's clients log for every request
            _httpx_log.info(
                'HTTP Request: %s %s "%s %d %s"',
                request.method,
                request.url,
                response.http_version,
                response.status_code,
                response.reason_phrase,
            )
        return response

    def stream(
        self, method: str, url: httpx.URL | str, *, content: bytes | None, headers: dict[str, str] | None, timeout: Any
    ) -> AbstractAsyncContextManager[httpx.Response]:
        """Open a streamed request through the client."""
        return self.client.stream(method, url, content=content, headers=headers, timeout=timeout)

    async def aclose(self) -> None:
        await self.client.aclose()


_httpx_log = logging.getLogger("httpx")


def _aiohttp_wanted() -> bool:
    """Whether plain async exchanges go through aiohttp: when it is installed, unless
    ``GENAI_ASYNC_HTTP`` says ``httpx``."""
    import os  # noqa: PLC0415

    choice = os.environ.get("GENAI_ASYNC_HTTP", "").strip().lower()
    if choice == "httpx":
        return False
    import importlib.util  # noqa: PLC0415

    installed = importlib.util.find_spec("aiohttp") is not None
    if choice == "aiohttp" and not installed:
        from ..errors import ConfigurationError  # noqa: PLC0415

        raise ConfigurationError(
            'GENAI_ASYNC_HTTP is "aiohttp" but aiohttp is not installed: pip install "genai-commons[aiohttp]"'
        )
    return installed


def _proxied() -> bool:
    """Whether the environment sets an HTTP(S) proxy, which a client made without a transport
    routes requests through (``trust_env``)."""
    from urllib.request import getproxies  # noqa: PLC0415

    return any(getproxies().get(scheme) for scheme in ("http", "https", "all"))


class _State:
    """What the finalizer needs; holds no reference to the provider."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sync: httpx.Client | None = None
        #: id(loop) -> (weak reference to the loop, its client and exchange)
        self.by_loop: dict[int, tuple[weakref.ref[asyncio.AbstractEventLoop], AsyncExchange | AiohttpExchange]] = {}
        self.pending: set[Any] = set()
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
        for loop_ref, exchange in clients:
            _close_async(loop_ref(), exchange, self.pending)


def _close_async(
    loop: asyncio.AbstractEventLoop | None, client: AsyncExchange | AiohttpExchange, pending: set[Any]
) -> None:
    """Close an async client from sync code: on its loop when that loop can still run, else by
    letting it go (a closed loop's connections are released when they are collected)."""
    if loop is None or loop.is_closed():
        return
    if loop.is_running():
        import asyncio  # noqa: PLC0415

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            task = loop.create_task(client.aclose())
            pending.add(task)
            task.add_done_callback(pending.discard)
        else:
            asyncio.run_coroutine_threadsafe(client.aclose(), loop)
        return
    loop.run_until_complete(client.aclose())


class Clients:
    """Lazily created, pooled clients; see the module docstring.

    :param options: what the clients are made with, asked when the first is made (so a provider
        can check its credentials then, at the first call, not when it is configured).
    :param transport: replaces the network for the sync client (tests pass ``httpx.MockTransport``).
    :param async_transport: the same for async clients; by default ``transport`` when it can serve
        async requests too, as ``MockTransport`` can.
    """

    def __init__(
        self,
        options: Callable[[], ClientOptions] = ClientOptions,
        transport: Any = None,
        async_transport: Any = None,
    ) -> None:
        self._make_options = options
        self._transport = transport
        self._async_transport = async_transport
        self._state = _State()
        self._finalizer = weakref.finalize(self, _State.close, self._state)
        self._current: ClientOptions | None = None

    def configure(self, options: Callable[[], ClientOptions]) -> None:
        """Make the next clients with ``options`` (the ones made before are closed)."""
        self._state.close()
        self._make_options = options
        self._current = None

    @property
    def options(self) -> ClientOptions:
        """The options the clients are made with (asked for once, then kept)."""
        current = self._current
        if current is None:
            current = self._make_options()
            self._current = current
        return current

    def _options(self, *, asynchronous: bool) -> dict[str, Any]:
        import httpx  # noqa: PLC0415 - httpx loads with the first call, not with the host

        from ..answer_limit import hooks  # noqa: PLC0415

        options = self.options
        return {
            "headers": {"Content-Type": "application/json", "Accept": "application/json", **options.headers},
            "timeout": httpx.Timeout(options.timeout, connect=min(options.connect_timeout, options.timeout)),
            "limits": httpx.Limits(
                max_connections=options.max_connections,
                max_keepalive_connections=options.max_keepalive_connections,
            ),
            "follow_redirects": False,
            "cookies": _no_cookies(),
            "event_hooks": hooks(options.max_response_bytes, asynchronous=asynchronous),
        }

    def sync(self) -> httpx.Client:
        """The pooled sync client."""
        client = self._state.sync
        if client is not None:
            return client
        self.options  # noqa: B018 - asked outside the lock: the provider's function may configure it
        with self._state.lock:
            if self._state.sync is None:
                import httpx  # noqa: PLC0415

                self._state.sync = httpx.Client(transport=self._transport, **self._options(asynchronous=False))
            return self._state.sync

    def async_(self) -> httpx.AsyncClient:
        """The pooled async client of the running event loop."""
        return self.exchange().client

    def exchange(self) -> AsyncExchange | AiohttpExchange:
        """The running event loop's async client, with the fast path for plain exchanges."""
        import asyncio  # noqa: PLC0415

        loop = asyncio.get_running_loop()
        entry = self._state.by_loop.get(id(loop))
        if entry is not None and entry[0]() is loop:
            return entry[1]
        self.options  # noqa: B018 - asked outside the lock, as in sync()
        with self._state.lock:
            for key, (loop_ref, _exchange) in list(self._state.by_loop.items()):
                other = loop_ref()
                if other is None or other.is_closed() or (other is not loop and key == id(loop)):
                    del self._state.by_loop[key]
            entry = self._state.by_loop.get(id(loop))
            if entry is None:
                entry = (weakref.ref(loop), self._new_exchange())
                self._state.by_loop[id(loop)] = entry
            return entry[1]

    def _new_exchange(self) -> AsyncExchange | AiohttpExchange:
        import httpx  # noqa: PLC0415

        limit = self.options.max_response_bytes
        transport = self._async_transport
        if transport is None and isinstance(self._transport, httpx.AsyncBaseTransport):
            transport = self._transport
        if transport is None and not _proxied() and _aiohttp_wanted():
            from .aio import AiohttpExchange  # noqa: PLC0415 - aiohttp loads with the first async call

            options = self._options(asynchronous=True)
            return AiohttpExchange(
                self._stream_client,
                headers=options["headers"],
                timeouts=options["timeout"].as_dict(),
                limits=options["limits"],
                max_response_bytes=limit,
            )
        options = self._options(asynchronous=True)
        if transport is None:
            if _proxied():  # the client routes through the environment's proxy (only without a transport)
                return AsyncExchange(httpx.AsyncClient(**options), None, limit)
            from .pool import ConnectionSlots  # noqa: PLC0415 - see pool.py for why not httpx's own pool

            transport = ConnectionSlots(options.pop("limits"))
        return AsyncExchange(httpx.AsyncClient(transport=transport, **options), transport, limit)

    def _stream_client(self) -> httpx.AsyncClient:
        """The httpx client of a loop whose plain exchanges go through aiohttp: for its streams."""
        import httpx  # noqa: PLC0415

        from .pool import ConnectionSlots  # noqa: PLC0415

        options = self._options(asynchronous=True)
        return httpx.AsyncClient(transport=ConnectionSlots(options.pop("limits")), **options)

    def threads(self) -> ThreadPoolExecutor:
        """The thread pool that runs a list of sync calls concurrently."""
        threads = self._state.threads
        if threads is not None:
            return threads
        with self._state.lock:
            if self._state.threads is None:
                from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

                self._state.threads = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="genai-http")
            return self._state.threads

    def close(self) -> None:
        self._state.close()

    async def aclose(self) -> None:
        """Close the clients from async code, awaiting the running loop's client."""
        import asyncio  # noqa: PLC0415

        loop = asyncio.get_running_loop()
        with self._state.lock:
            entry = self._state.by_loop.pop(id(loop), None)
        if entry is not None:
            await entry[1].aclose()
        self._state.close()
