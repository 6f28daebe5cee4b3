"""The pooled HTTP clients of one provider instance: one ``httpx.Client`` and one
``httpx.AsyncClient`` per event loop, created on first use and closed with the host.

The API is stateless, so the clients keep no cookies (OpenAI's edge sets some on every answer; a
jar that ignores them saves the cookie-jar work httpx would do for each request). ``Host.close()``
calls the provider's ``close()``, which closes them. A provider that is dropped
without being closed (a host never closed, as in a short script) is closed by a
:func:`weakref.finalize` when it is collected or when the interpreter exits. An
``httpx.AsyncClient`` belongs to the event loop it first ran on (its pooled connections do), so a
call from another loop gets its own client; clients of loops that have ended are dropped.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    import httpx

    from .endpoint import Endpoint

__all__ = ["Clients"]


def _no_cookies() -> Any:
    """A cookie jar that stores and sends nothing."""
    import http.cookiejar  # noqa: PLC0415 - loaded by httpx anyway, with the first call

    class NoCookies(http.cookiejar.CookieJar):
        def extract_cookies(self, response: Any, request: Any) -> None:
            return None

        def add_cookie_header(self, request: Any) -> None:
            return None

    return NoCookies()


class _State:
    """What the finalizer needs; holds no reference to the provider."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sync: httpx.Client | None = None
        #: id(loop) -> (weak reference to the loop, its client)
        self.by_loop: dict[int, tuple[weakref.ref[asyncio.AbstractEventLoop], httpx.AsyncClient]] = {}
        self.pending: set[Any] = set()

    def close(self) -> None:
        with self.lock:
            sync, self.sync = self.sync, None
            clients, self.by_loop = list(self.by_loop.values()), {}
        if sync is not None:
            sync.close()
        for loop_ref, client in clients:
            _close_async(loop_ref(), client, self.pending)


def _close_async(loop: asyncio.AbstractEventLoop | None, client: httpx.AsyncClient, pending: set[Any]) -> None:
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
    """Lazily created, pooled clients for one endpoint; see the module docstring.

    :param transport: replaces the network for the sync client (tests pass ``httpx.MockTransport``).
    :param async_transport: the same for async clients; by default ``transport`` when it can serve
        async requests too, as ``MockTransport`` can.
    """

    def __init__(self, transport: Any = None, async_transport: Any = None) -> None:
        self._transport = transport
        self._async_transport = async_transport
        self._state = _State()
        self._finalizer = weakref.finalize(self, _State.close, self._state)
        self.endpoint: Endpoint | None = None

    def _options(self) -> dict[str, Any]:
        import httpx  # noqa: PLC0415 - httpx loads with the first call, not with the host

        endpoint = self.endpoint
        assert endpoint is not None, "configure the provider before calling it"
        endpoint.check_credentials()
        headers = {"Content-Type": "application/json", "Accept": "application/json", **endpoint.auth_headers()}
        return {
            "headers": headers,
            "timeout": httpx.Timeout(endpoint.timeout, connect=endpoint.connect_timeout),
            "limits": httpx.Limits(
                max_connections=endpoint.max_connections,
                max_keepalive_connections=endpoint.max_keepalive_connections,
            ),
            "follow_redirects": False,
            "cookies": _no_cookies(),
        }

    def sync(self) -> httpx.Client:
        """The pooled sync client."""
        client = self._state.sync
        if client is not None:
            return client
        with self._state.lock:
            if self._state.sync is None:
                import httpx  # noqa: PLC0415

                self._state.sync = httpx.Client(transport=self._transport, **self._options())
            return self._state.sync

    def async_(self) -> httpx.AsyncClient:
        """The pooled async client of the running event loop."""
        import asyncio  # noqa: PLC0415

        loop = asyncio.get_running_loop()
        entry = self._state.by_loop.get(id(loop))
        if entry is not None and entry[0]() is loop:
            return entry[1]
        with self._state.lock:
            for key, (loop_ref, _client) in list(self._state.by_loop.items()):
                other = loop_ref()
                if other is None or other.is_closed() or (other is not loop and key == id(loop)):
                    del self._state.by_loop[key]
            entry = self._state.by_loop.get(id(loop))
            if entry is None:
                import httpx  # noqa: PLC0415

                transport = self._async_transport
                if transport is None and isinstance(self._transport, httpx.AsyncBaseTransport):
                    transport = self._transport
                entry = (weakref.ref(loop), httpx.AsyncClient(transport=transport, **self._options()))
                self._state.by_loop[id(loop)] = entry
            return entry[1]

    def reset(self) -> None:
        """Close the clients; the next call makes new ones (after a change of settings)."""
        self._state.close()

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
