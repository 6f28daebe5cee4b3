"""The async driver's exchanges over aiohttp: :class:`AiohttpExchange`.

With the ``aiohttp`` extra installed (``pip install "genai-commons[aiohttp]"``), a call of
:meth:`.Driver.acall` / :meth:`.Driver.arun` goes through one ``aiohttp.ClientSession`` per event
loop instead of httpx: aiohttp parses HTTP in C and needs no anyio layer, so a call costs about a
third of the client CPU (see ``benchmarks/bench_openai.py``, async). Nothing else changes for a
provider: what goes wrong is raised as the httpx error httpx would have raised (:func:`_as_httpx`),
so :mod:`.errors` maps it to the same core error, with the request's credentials redacted; answers
are capped at ``max_response_bytes`` and decoded a bounded step at a time, and every wait is kept
within the call's deadline, by the same code as for httpx (:mod:`genai_commons.answer_limit`).

Streams (:meth:`.Driver.astream`, :meth:`.Driver.aevents`) go through the same session, so calls
and streams share one connection pool: :meth:`AiohttpExchange.stream` hands the driver an
``httpx.Response`` whose body aiohttp reads (:class:`_Body`), capped and decoded as httpx's are.
``Clients.async_()`` still gives an ``httpx.AsyncClient`` of the loop, made on first use
(:attr:`AiohttpExchange.client`), for code that wants one.

Differences that remain: aiohttp has no write timeout (a request body goes to the socket's
buffer) and no ``max_keepalive_connections`` (idle connections close after ``keepalive_expiry``,
as in httpx); the ``User-Agent`` is aiohttp's. ``GENAI_ASYNC_HTTP=httpx`` in the environment keeps
every async call on httpx; a proxy set in the environment does too (only httpx routes through it).
The session of a loop closes with the clients (``Host.aclose()``), or, when they are closed only
after the loop has ended (``asyncio.run(main())`` then ``host.close()``), as the loop shuts down.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx

from .. import deadlines
from ..answer_limit import AnswerTooLarge, cap, capped_stream

if TYPE_CHECKING:
    import ssl

__all__ = ["AiohttpExchange", "Received"]

#: The content codings httpx asks for (those :mod:`genai_commons._decoding` undoes: br and zstd
#: only when their decoders are installed).
_ACCEPT_ENCODING = ", ".join(name for name in httpx._decoders.SUPPORTED_DECODERS if name != "identity")
_httpx_log = logging.getLogger("httpx")
#: The most bytes of a body taken at once, as httpcore reads them: a stream over the size cap
#: delivers what came before the piece that passed it.
_READ = 64 * 1024


class Received:
    """An answer read whole: what the driver reads of an ``httpx.Response``, without building one
    (an error status builds one, to raise httpx's ``HTTPStatusError``)."""

    __slots__ = ("_method", "_sent", "_url", "content", "headers", "status_code")

    def __init__(
        self, status: int, headers: Mapping[str, str], content: bytes, method: str, url: str, sent: Mapping[str, str]
    ) -> None:
        self.status_code = status
        self.headers = headers
        self.content = content
        self._method = method
        self._url = url
        self._sent = sent

    def raise_for_status(self) -> None:
        """Raise ``httpx.HTTPStatusError`` for an error status, as ``httpx.Response`` does."""
        request = httpx.Request(self._method, self._url, headers=dict(self._sent))
        response = httpx.Response(
            self.status_code, headers=list(self.headers.items()), content=self.content, request=request
        )
        response.raise_for_status()


def _as_httpx(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx error httpx raises for what ``exc`` (raised by aiohttp) says went wrong."""
    message = f"{type(exc).__name__}: {exc}"
    kind: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout  # connecting, or waiting for a free connection of the pool
    elif isinstance(exc, TimeoutError):  # aiohttp.SocketTimeoutError, ServerTimeoutError
        kind = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake, certificate
        kind = httpx.ConnectError
    elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        kind = httpx.RemoteProtocolError  # closed mid-answer, a body cut short, HTTP that does not parse
    elif isinstance(exc, aiohttp.InvalidURL):
        kind = httpx.UnsupportedProtocol
    elif isinstance(exc, aiohttp.ClientOSError | ConnectionError):
        kind = httpx.ReadError
    else:
        kind = httpx.TransportError
    return kind(message, request=request)


def _version(answer: aiohttp.ClientResponse) -> str:
    version = answer.version
    return "1.1" if version is None else f"{version.major}.{version.minor}"


def _past_deadline(exc: TimeoutError) -> None:
    """Raise the deadline's error when the call's deadline has passed (what ended the wait)."""
    try:
        deadlines.check()
    except Exception as passed:
        raise passed from exc


class _Body(httpx.AsyncByteStream):
    """A streamed answer's body as aiohttp receives it; its errors raised as httpx's."""

    __slots__ = ("_answer", "_request")

    def __init__(self, answer: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._answer = answer
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._answer.content.iter_chunked(_READ):
                yield chunk
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            if isinstance(exc, TimeoutError):
                _past_deadline(exc)
            raise _as_httpx(exc, self._request) from exc

    async def aclose(self) -> None:
        self._answer.release()  # back to the pool when read to its end; closed otherwise


class AiohttpExchange:
    """One event loop's aiohttp session for plain exchanges, and its httpx client for streams.

    :param make_client: makes the loop's ``httpx.AsyncClient`` (for streams), on first use.
    :param headers: sent with every request (the client's default headers).
    :param timeouts: httpx's timeout phases (``connect``, ``read``, ``write``, ``pool``).
    """

    __slots__ = (
        "_client",
        "_guard",
        "_headers",
        "_keepalive",
        "_limit",
        "_make_client",
        "_session",
        "_size",
        "_ssl",
        "_timeouts",
    )

    def __init__(
        self,
        make_client: Callable[[], httpx.AsyncClient],
        *,
        headers: Mapping[str, str],
        timeouts: Mapping[str, float | None],
        limits: httpx.Limits,
        max_response_bytes: int,
    ) -> None:
        self._make_client = make_client
        self._client: httpx.AsyncClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self._headers = {"Accept-Encoding": _ACCEPT_ENCODING, **headers}
        self._timeouts = dict(timeouts)
        self._size = limits.max_connections or 100
        self._keepalive = limits.keepalive_expiry
        self._limit = max_response_bytes
        self._ssl: ssl.SSLContext | None = None
        self._guard: AsyncGenerator[None, None] | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The loop's httpx client, for streams (made on first use)."""
        if self._client is None:
            self._client = self._make_client()
        return self._client

    async def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._size, limit_per_host=0, keepalive_timeout=self._keepalive or 5.0, ttl_dns_cache=10
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            cookie_jar=aiohttp.DummyCookieJar(),  # stores and sends nothing, as the httpx clients
            auto_decompress=False,  # decoded here, a bounded step at a time (answer_limit)
            timeout=self._timeout(self._timeouts),
        )
        self._guard = self._closed_with_loop()
        await anext(self._guard)
        return self._session

    async def _closed_with_loop(self) -> AsyncGenerator[None, None]:
        """Closes the session when its event loop shuts down (``asyncio.run`` finalizes the async
        generators left open), for a host closed only after its loop has ended, as in a script."""
        try:
            yield
        finally:
            self._guard = None
            await self.aclose()

    def _timeout(self, timeouts: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
        """httpx's phases as aiohttp's, shortened to what the call's deadline leaves, which bounds
        the whole exchange (httpx checks it for each piece of the body read)."""
        connect, read, pool = timeouts.get("connect"), timeouts.get("read"), timeouts.get("pool")
        left = deadlines.remaining()
        if left is not None:
            left = max(left, 0.001)
            connect, read, pool = (left if t is None else min(t, left) for t in (connect, read, pool))
        waiting = None if pool is None or connect is None else pool + connect
        return aiohttp.ClientTimeout(total=left, connect=waiting, sock_connect=connect, sock_read=read)

    def _tls(self, url: str) -> ssl.SSLContext | bool:
        if not url.startswith("https:"):
            return True
        if self._ssl is None:  # the CA bundle httpx trusts (certifi); loading it takes milliseconds
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    async def request(
        self, method: str, url: httpx.URL | str, *, content: bytes | None, headers: dict[str, str] | None, timeout: Any
    ) -> Received:
        """Send one request and read its whole answer (see the module docstring)."""
        url = str(url)
        session = self._session or await self._open()
        timeouts = self._timeouts if timeout is httpx.USE_CLIENT_DEFAULT else httpx.Timeout(timeout).as_dict()
        try:
            async with session.request(
                method, url, data=content, headers=headers, allow_redirects=False, timeout=self._timeout(timeouts),
                ssl=self._tls(url),
            ) as answer:  # fmt: skip
                status, received = answer.status, answer.headers
                declared = received.get("Content-Length")
                codings = received.getall("Content-Encoding", ())
                if declared is not None and declared.isdigit():
                    if int(declared) > self._limit:
                        raise AnswerTooLarge(self._limit, int(declared), status)
                    if not codings:
                        deadlines.check()
                        body = await answer.read()
                    else:
                        body = await self._read(answer, status, codings)
                else:
                    body = await self._read(answer, status, codings)
                if _httpx_log.isEnabledFor(logging.INFO):  # the line httpx's clients log for every request
                    _httpx_log.info(
                        'HTTP Request: %s %s "HTTP/%s %d %s"', method, url, _version(answer), status, answer.reason
                    )
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            if isinstance(exc, TimeoutError):
                _past_deadline(exc)
            sent = {**self._headers, **(headers or {})}
            raise _as_httpx(exc, httpx.Request(method, url, headers=sent)) from exc
        return Received(status, received, body, method, url, headers or {})

    @asynccontextmanager
    async def stream(
        self, method: str, url: httpx.URL | str, *, content: bytes | None, headers: dict[str, str] | None, timeout: Any
    ) -> AsyncIterator[httpx.Response]:
        """Open a streamed request: its answer as an ``httpx.Response`` whose body is not read yet."""
        url = str(url)
        session = self._session or await self._open()
        timeouts = self._timeouts if timeout is httpx.USE_CLIENT_DEFAULT else httpx.Timeout(timeout).as_dict()
        request = httpx.Request(method, url, headers={**self._headers, **(headers or {})})
        try:
            answer = await session.request(
                method, url, data=content, headers=headers, allow_redirects=False, timeout=self._timeout(timeouts),
                ssl=self._tls(url),
            )  # fmt: skip
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            if isinstance(exc, TimeoutError):
                _past_deadline(exc)
            raise _as_httpx(exc, request) from exc
        response = httpx.Response(
            answer.status, headers=answer.raw_headers, stream=_Body(answer, request), request=request
        )
        try:
            cap(response, self._limit)
            if _httpx_log.isEnabledFor(logging.INFO):
                _httpx_log.info(
                    'HTTP Request: %s %s "HTTP/%s %d %s"', method, url, _version(answer), answer.status, answer.reason
                )
            yield response
        finally:
            await response.aclose()

    async def _read(self, answer: aiohttp.ClientResponse, status: int, codings: Any) -> bytes:
        """The body counted as it arrives, decoded when compressed (as :func:`~..answer_limit.cap`)."""
        names = [name.strip() for value in codings for name in value.split(",") if name.strip()]
        stream = capped_stream(answer.content.iter_chunked(_READ), self._limit, status, names)
        return b"".join([piece async for piece in stream])

    async def aclose(self) -> None:
        """Close the session and the httpx client, with their connections."""
        session, self._session = self._session, None
        client, self._client = self._client, None
        if session is not None:
            await session.close()
        if client is not None:
            await client.aclose()
