"""The async driver over aiohttp (``genai_commons.http.aio``) against the same driver over httpx:
every fault through a loopback server ends in the same core error with the same message, the
credentials redacted; sessions close with the clients, or with their event loop."""

from __future__ import annotations

import asyncio
import gc
import gzip
import logging
import time
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from genai_commons import deadline
from genai_commons.errors import (
    AuthenticationError,
    DeadlineExceededError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServiceUnavailableError,
)
from genai_commons.http import Answer, Call, ClientOptions, Clients, Driver, Endpoint
from genai_commons.http.aio import AiohttpExchange
from genai_commons.http.clients import AsyncExchange
from genai_commons.testing.http import HTTPAnswer, HTTPRequest, LoopbackServer, sse_event

pytest.importorskip("aiohttp")
pytestmark = pytest.mark.timeout(60)

KEY = "sk-secret-key-1234567890"
LIMIT = 4096
BACKENDS = ["httpx", "aiohttp"]


class KeyEndpoint(Endpoint):
    def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {KEY}"}

    def secrets(self) -> list[str]:
        return [KEY]


def _slow(pieces: list[bytes], pause: float) -> Iterator[bytes]:
    for piece in pieces:
        time.sleep(pause)
        yield piece


def _bomb() -> bytes:
    return gzip.compress(b"[" + b"0," * (LIMIT * 4) + b"0]")


#: Path -> what the server answers.
ANSWERS: dict[str, HTTPAnswer] = {
    "/ok": HTTPAnswer.json({"text": "hello"}, headers={"x-request-id": "r-1"}),
    "/gzip": HTTPAnswer(
        headers={"content-type": "application/json", "content-encoding": "gzip"},
        body=gzip.compress(b'{"text": "hello"}'),
    ),
    "/chunked": HTTPAnswer.stream([b'{"text": ', b'"hello"}'], content_type="application/json"),
    "/401": HTTPAnswer.json({"error": {"message": f"bad key {KEY}", "code": "invalid_api_key"}}, status=401),
    "/429": HTTPAnswer.json({"error": {"message": "slow down"}}, status=429, headers={"retry-after": "3"}),
    "/503": HTTPAnswer.json({"error": {"message": "overloaded"}}, status=503),
    "/cut": HTTPAnswer.json({"text": "x" * 500}, cut=True),
    "/cut-stream": HTTPAnswer.stream([b'{"text": ', b'"hello"}'], content_type="application/json", cut=True),
    "/drop": HTTPAnswer(drop=True),
    "/stall": HTTPAnswer.stall(5),
    "/large": HTTPAnswer.json({"text": "x" * (LIMIT * 2)}),
    "/large-stream": HTTPAnswer.stream([b"x" * 1024] * 8, content_type="application/json"),
    "/bomb": HTTPAnswer(headers={"content-type": "application/json", "content-encoding": "gzip"}, body=_bomb()),
    "/html": HTTPAnswer(headers={"content-type": "text/html"}, body=b"<html>proxy</html>"),
}


def service(request: HTTPRequest) -> HTTPAnswer:
    if request.path == "/drip":
        return HTTPAnswer.stream(_slow([b"["] + [b"1,"] * 50 + [b"1]"], 0.1), content_type="application/json")
    if request.path == "/echo":
        return HTTPAnswer.json(
            {"query": request.query, "auth": request.headers.get("authorization") == f"Bearer {KEY}"}
        )
    return ANSWERS.get(request.path, HTTPAnswer.json({"error": "no such path"}, status=404))


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(service) as running:
        yield running


def _use(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    monkeypatch.setenv("GENAI_ASYNC_HTTP", backend)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def _outcome(url: str, call: Call, *, within: float | None = None) -> Answer | BaseException:
    """The answer to ``call``, or the error it ended with (clients closed in the loop)."""

    async def run() -> Answer | BaseException:
        clients = Clients(lambda: ClientOptions(max_response_bytes=LIMIT, timeout=2.0))
        try:
            if within is None:
                return await Driver(clients).acall(KeyEndpoint("acme", url), call)
            with deadline(within):
                return await Driver(clients).acall(KeyEndpoint("acme", url), call)
        except Exception as exc:
            return exc
        finally:
            await clients.aclose()

    return asyncio.run(run())


def _both(monkeypatch: pytest.MonkeyPatch, url: str, call: Call, **options: Any) -> tuple[Any, Any]:
    outcomes = []
    for backend in BACKENDS:
        _use(monkeypatch, backend)
        outcomes.append(_outcome(url, call, **options))
    return outcomes[0], outcomes[1]


def _described(outcome: Answer | BaseException) -> tuple[str, str]:
    return type(outcome).__name__, str(outcome)


@pytest.mark.parametrize("path", ["/ok", "/gzip", "/chunked"])
def test_answers_are_the_same(monkeypatch: pytest.MonkeyPatch, server: LoopbackServer, path: str) -> None:
    over_httpx, over_aiohttp = _both(monkeypatch, server.url, Call(method="POST", path=path, body={"q": 1}))
    assert isinstance(over_aiohttp, Answer), over_aiohttp
    assert (over_aiohttp.status, over_aiohttp.data) == (over_httpx.status, over_httpx.data) == (200, {"text": "hello"})
    assert over_aiohttp.headers["Content-Type"] == over_aiohttp.headers["content-type"] == "application/json"


def test_the_query_and_the_credentials_are_sent(monkeypatch: pytest.MonkeyPatch, server: LoopbackServer) -> None:
    over_httpx, over_aiohttp = _both(monkeypatch, server.url, Call(method="GET", path="/echo", params={"a": "b c"}))
    assert over_aiohttp.data == over_httpx.data == {"query": {"a": "b c"}, "auth": True}


def test_a_missing_resource_may_be_an_answer(monkeypatch: pytest.MonkeyPatch, server: LoopbackServer) -> None:
    _, over_aiohttp = _both(monkeypatch, server.url, Call(method="GET", path="/nothing", missing_ok=True))
    assert (over_aiohttp.status, over_aiohttp.data) == (404, None)


FAULTS: dict[str, tuple[type[ProviderError], str]] = {
    "/401": (AuthenticationError, "answered 401"),
    "/429": (RateLimitError, "answered 429"),
    "/503": (ServiceUnavailableError, "answered 503"),
    "/cut": (ServiceUnavailableError, "RemoteProtocolError"),
    "/cut-stream": (ServiceUnavailableError, "RemoteProtocolError"),
    "/drop": (ServiceUnavailableError, "RemoteProtocolError"),
    "/large": (ProviderError, "declares"),
    "/large-stream": (ProviderError, "goes on past it"),
    "/bomb": (ProviderError, "decoded from gzip"),
    "/html": (ProviderError, ""),
    "/nothing": (ProviderError, "answered 404"),
}


@pytest.mark.parametrize("path", list(FAULTS))
def test_every_fault_ends_in_the_same_error(monkeypatch: pytest.MonkeyPatch, server: LoopbackServer, path: str) -> None:
    over_httpx, over_aiohttp = _both(monkeypatch, server.url, Call(method="POST", path=path, body={"q": 1}))
    kind, words = FAULTS[path]
    assert isinstance(over_aiohttp, kind), over_aiohttp
    assert words in str(over_aiohttp)
    assert _described(over_aiohttp) == _described(over_httpx)
    assert getattr(over_aiohttp, "status", None) == getattr(over_httpx, "status", None)
    assert getattr(over_aiohttp, "retry_after", None) == getattr(over_httpx, "retry_after", None)
    assert over_aiohttp.__cause__ is not None
    _nowhere(over_aiohttp, KEY)


def _nowhere(error: BaseException, secret: str) -> None:
    """``secret`` in no message, body or argument of ``error`` and its chain."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        assert secret not in str(current)
        assert secret not in repr(current.args)
        assert secret not in str(getattr(current, "body", "") or "")
        current = current.__cause__ or current.__context__


def test_a_refused_connection_is_the_same_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with LoopbackServer(service) as gone:
        url = gone.url
    over_httpx, over_aiohttp = _both(monkeypatch, url, Call(method="POST", path="/ok"))
    assert isinstance(over_aiohttp, ServiceUnavailableError)
    assert _described(over_aiohttp) == _described(over_httpx)
    assert "ConnectError" in str(over_aiohttp)


def test_a_stall_ends_at_the_call_timeout(monkeypatch: pytest.MonkeyPatch, server: LoopbackServer) -> None:
    over_httpx, over_aiohttp = _both(monkeypatch, server.url, Call(method="POST", path="/stall", timeout=0.3))
    assert isinstance(over_aiohttp, ProviderTimeoutError)
    assert _described(over_aiohttp) == _described(over_httpx)
    assert "ReadTimeout" in str(over_aiohttp)


def test_a_dripping_answer_ends_at_the_deadline(monkeypatch: pytest.MonkeyPatch, server: LoopbackServer) -> None:
    started = time.monotonic()
    over_httpx, over_aiohttp = _both(monkeypatch, server.url, Call(method="POST", path="/drip"), within=0.5)
    assert isinstance(over_aiohttp, DeadlineExceededError), over_aiohttp
    assert type(over_httpx) is type(over_aiohttp)
    assert time.monotonic() - started < 3.0  # both ended at their deadline, not after the 5 s drip


def test_the_exchange_is_aiohttps_unless_the_environment_says_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    async def kind() -> type[Any]:
        clients = Clients()
        try:
            return type(clients.exchange())
        finally:
            await clients.aclose()

    _use(monkeypatch, "aiohttp")
    assert asyncio.run(kind()) is AiohttpExchange
    monkeypatch.delenv("GENAI_ASYNC_HTTP")
    assert asyncio.run(kind()) is AiohttpExchange  # installed: the default
    _use(monkeypatch, "httpx")
    assert asyncio.run(kind()) is AsyncExchange


def test_streams_share_the_session_of_the_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, "aiohttp")
    with LoopbackServer(service) as server:

        async def run() -> bytes:
            clients = Clients()
            endpoint = KeyEndpoint("acme", server.url)
            try:
                await Driver(clients).acall(endpoint, Call(method="POST", path="/ok"))
                async with Driver(clients).astream(endpoint, Call(method="POST", path="/chunked")) as answer:
                    body = await answer.aread()
                exchange = clients.exchange()
                assert isinstance(exchange, AiohttpExchange) and exchange._client is None  # no httpx client made
                return body
            finally:
                await clients.aclose()

        assert asyncio.run(run()) == b'{"text": "hello"}'
        assert server.connections == 1


def _stream_outcome(url: str, path: str) -> tuple[int, BaseException | None]:
    """How many events a streamed call delivered, and the error it ended with."""

    async def run() -> tuple[int, BaseException | None]:
        clients = Clients(lambda: ClientOptions(max_response_bytes=LIMIT))
        seen = 0
        try:
            async for _event in Driver(clients).aevents(KeyEndpoint("acme", url), Call(method="POST", path=path)):
                seen += 1
        except Exception as exc:
            return seen, exc
        finally:
            await clients.aclose()
        return seen, None

    return asyncio.run(run())


def events_service(request: HTTPRequest) -> HTTPAnswer:
    events = [sse_event({"n": n, "pad": "x" * 200}) for n in range(40)]
    if request.path == "/events-cut":
        return HTTPAnswer.stream(events[:5], cut=True)
    if request.path == "/events-large":
        return HTTPAnswer.stream(events)
    if request.path == "/events-401":
        return HTTPAnswer.json({"error": {"message": f"bad key {KEY}"}}, status=401)
    return HTTPAnswer.json({"not": "a stream"})


@pytest.mark.parametrize("path", ["/events-cut", "/events-large", "/events-401", "/events-json"])
def test_streams_fail_the_same_way(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    with LoopbackServer(events_service) as server:
        outcomes = []
        for backend in BACKENDS:
            _use(monkeypatch, backend)
            outcomes.append(_stream_outcome(server.url, path))
    (seen_httpx, over_httpx), (seen_aiohttp, over_aiohttp) = outcomes
    assert isinstance(over_aiohttp, ProviderError), over_aiohttp
    assert _described(over_aiohttp) == _described(over_httpx)
    if path == "/events-large":  # what came before the piece that passed the cap: pieces differ by timing
        assert 0 < seen_aiohttp < 40 and 0 < seen_httpx < 40
    else:
        assert seen_aiohttp == seen_httpx
    _nowhere(over_aiohttp, KEY)


def _unclosed(caplog: pytest.LogCaptureFixture) -> list[str]:
    gc.collect()
    return [r.getMessage() for r in caplog.records if "Unclosed" in r.getMessage()]


def test_the_session_closes_with_the_clients(
    monkeypatch: pytest.MonkeyPatch, server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    _use(monkeypatch, "aiohttp")
    caplog.set_level(logging.ERROR, logger="asyncio")

    async def run() -> bool:
        clients = Clients()
        exchange = clients.exchange()
        assert isinstance(exchange, AiohttpExchange)
        await Driver(clients).acall(KeyEndpoint("acme", server.url), Call(method="POST", path="/ok"))
        session = exchange._session
        assert session is not None and not session.closed
        await clients.aclose()
        return session.closed

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        assert asyncio.run(run())
        assert _unclosed(caplog) == []


def test_a_session_closes_with_its_loop_when_the_clients_are_closed_after_it(
    monkeypatch: pytest.MonkeyPatch, server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    """As in a script: ``asyncio.run(main())``, then ``host.close()`` once the loop has ended."""
    _use(monkeypatch, "aiohttp")
    caplog.set_level(logging.ERROR, logger="asyncio")
    clients = Clients()
    sessions = []

    async def run() -> None:
        await Driver(clients).acall(KeyEndpoint("acme", server.url), Call(method="POST", path="/ok"))
        exchange = clients.exchange()
        assert isinstance(exchange, AiohttpExchange)
        sessions.append(exchange._session)

    asyncio.run(run())
    assert sessions[0] is not None and sessions[0].closed  # by the loop's shutdown
    clients.close()
    assert _unclosed(caplog) == []
