"""The core's HTTP layer (genai_commons.http): operations run by the sync and the async driver over
httpx.MockTransport, concurrent calls, event streams, Retry-After in every form, the mapping of
error answers and transport failures, and the credentials a request carried redacted from errors."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from genai_commons import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServiceUnavailableError,
)
from genai_commons.http import Answer, Call, ClientOptions, Clients, Driver, Endpoint, Operation, one, run_all
from genai_commons.http.errors import retry_after

KEY = "sk-test-0123456789abcdefghij"


class Keyed(Endpoint):
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {KEY}"}


#: The clients a test made, closed after it (a client left to its finalizer closes at a random
#: moment of a later test).
MADE: list[Clients] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Any:
    yield
    while MADE:
        MADE.pop().close()


def driver_for(handler: Any, **options: Any) -> Driver:
    clients = Clients(lambda: ClientOptions(**options), httpx.MockTransport(handler))
    MADE.append(clients)
    return Driver(clients)


def endpoint() -> Keyed:
    return Keyed("demo", "https://api.example.test/v1", service="Demo API")


def echo(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content) if request.content else None
    return httpx.Response(
        200,
        json={
            "path": request.url.path,
            "query": dict(request.url.params),
            "body": body,
            "auth": request.headers["authorization"],
        },
    )


def doubled(numbers: list[int]) -> Operation[list[int]]:
    answers = yield from run_all([Call(method="POST", path="/double", body={"n": n}) for n in numbers])
    return [a.data["body"]["n"] * 2 for a in answers]


def test_an_operation_runs_the_same_sync_and_async() -> None:
    driver = driver_for(echo)

    def operation() -> Operation[tuple[Any, Any]]:
        first = yield Call(method="GET", path="/models", params={"limit": 2})
        second = yield Call(method="POST", path="/chat", body=lambda: {"built": "when sent"})
        return first.data, second.data

    sync = driver.run(endpoint(), operation())
    asynchronous = asyncio.run(driver.arun(endpoint(), operation()))
    assert sync == asynchronous
    assert sync[0] == {"path": "/v1/models", "query": {"limit": "2"}, "body": None, "auth": f"Bearer {KEY}"}
    assert sync[1]["body"] == {"built": "when sent"}
    assert driver.run(endpoint(), doubled([1, 2, 3])) == [2, 4, 6]
    assert asyncio.run(driver.arun(endpoint(), doubled([4, 5]))) == [8, 10]
    assert driver.run(endpoint(), doubled([])) == []


def test_a_list_of_calls_runs_concurrently_within_the_limit() -> None:
    inside, most, lock = 0, 0, threading.Lock()

    def slow(request: httpx.Request) -> httpx.Response:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.05)
        with lock:
            inside -= 1
        return echo(request)

    driver = driver_for(slow, concurrency=3)
    started = time.perf_counter()
    assert driver.run(endpoint(), doubled(list(range(6)))) == [0, 2, 4, 6, 8, 10]
    assert most == 3 and time.perf_counter() - started < 0.25  # two rounds of three, not six calls in a row


def test_the_first_failure_of_a_list_is_raised() -> None:
    def failing(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["n"] == 2:
            return httpx.Response(404, json={"error": {"message": "no such thing", "code": "missing"}})
        return echo(request)

    driver = driver_for(failing)
    with pytest.raises(NotFoundError, match="no such thing"):
        driver.run(endpoint(), doubled([1, 2, 3]))
    with pytest.raises(NotFoundError, match="no such thing"):
        asyncio.run(driver.arun(endpoint(), doubled([1, 2, 3])))


def test_missing_ok_makes_a_404_an_answer() -> None:
    driver = driver_for(lambda request: httpx.Response(404, json={"message": "gone"}))
    answer = driver.call(endpoint(), Call(method="GET", path="/thing", missing_ok=True))
    assert answer == Answer(status=404, data=None, headers=answer.headers)
    assert driver.run(endpoint(), one(Call(method="GET", path="/thing", missing_ok=True))).data is None


@pytest.mark.parametrize(
    ("status", "error", "retry"),
    [
        (400, BadRequestError, None),
        (401, AuthenticationError, None),
        (403, PermissionDeniedError, None),
        (404, NotFoundError, None),
        (408, ProviderTimeoutError, None),
        (413, BadRequestError, None),
        (418, BadRequestError, None),
        (429, RateLimitError, 7.0),
        (500, ServiceUnavailableError, 7.0),
        (503, ServiceUnavailableError, 7.0),
        (504, ProviderTimeoutError, 7.0),
    ],
)
def test_error_answers_map_by_status(status: int, error: type[ProviderError], retry: float | None) -> None:
    body = {"error": {"message": "it went wrong", "code": "oops"}}
    driver = driver_for(lambda request: httpx.Response(status, json=body, headers={"Retry-After": "7"}))
    for run in (lambda: driver.call(endpoint(), Call(method="GET", path="/x")),
                lambda: asyncio.run(driver.acall(endpoint(), Call(method="GET", path="/x")))):  # fmt: skip
        with pytest.raises(error) as caught:
            run()
        assert type(caught.value) is error
        assert caught.value.status == status and caught.value.code == "oops" and caught.value.provider == "demo"
        assert caught.value.retry_after == retry
        assert f"Demo API answered {status} (oops): it went wrong" in str(caught.value)
        assert isinstance(caught.value.__cause__, httpx.HTTPStatusError)


def test_retry_after_in_every_form() -> None:
    now = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
    assert retry_after({"retry-after-ms": "1500"}) == 1.5
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after": "-3"}) == 0.0
    assert retry_after({"retry-after": format_datetime(now + timedelta(seconds=30), usegmt=True)}, now=now) == 30.0
    assert retry_after({"retry-after": format_datetime(now - timedelta(seconds=30), usegmt=True)}, now=now) == 0.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({"retry-after-ms": "x", "retry-after": "2"}) == 2.0
    assert retry_after({}) is None


@pytest.mark.parametrize(
    ("failure", "error", "says"),
    [
        (httpx.ReadTimeout("slow"), ProviderTimeoutError, "raise `timeout` in [providers.demo]"),
        (
            httpx.ConnectError("refused"),
            ServiceUnavailableError,
            "cannot reach Demo API at https://api.example.test/v1",
        ),
        (httpx.RemoteProtocolError("cut"), ServiceUnavailableError, "or the connection broke off mid-answer"),
    ],
)
def test_transport_failures_map_to_core_errors(failure: Exception, error: type[ProviderError], says: str) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        failure.request = request  # type: ignore[attr-defined]
        raise failure

    driver = driver_for(broken)
    with pytest.raises(error) as caught:
        driver.call(endpoint(), Call(method="GET", path="/x"))
    assert says in str(caught.value) and caught.value.__cause__ is failure


def test_a_2xx_answer_that_is_not_json_is_an_error_of_the_service() -> None:
    driver = driver_for(lambda request: httpx.Response(200, content=b"<html>proxy login</html>"))
    with pytest.raises(ServiceUnavailableError, match="not the JSON expected"):
        driver.call(endpoint(), Call(method="GET", path="/x"))


def test_an_answer_over_the_cap_names_the_setting() -> None:
    driver = driver_for(
        lambda request: httpx.Response(200, content=b"[" + b"1," * 5000 + b"1]"), max_response_bytes=1000
    )
    with pytest.raises(ProviderError, match=r"raise max_response_bytes in \[providers.demo\]"):
        driver.call(endpoint(), Call(method="GET", path="/x"))


def test_credentials_quoted_back_are_redacted_from_every_error() -> None:
    def quoting(request: httpx.Request) -> httpx.Response:
        said = f"bad key {request.headers['authorization']}"
        return httpx.Response(401, json={"error": {"message": said}})

    driver = driver_for(quoting)
    with pytest.raises(AuthenticationError) as caught:
        driver.call(endpoint(), Call(method="GET", path="/x"))
    texts = [str(caught.value), repr(caught.value), caught.value.body or "", str(caught.value.__cause__)]
    assert all(KEY not in text and KEY[:12] not in text for text in texts)
    assert "[redacted]" in str(caught.value)

    def leaking() -> Operation[None]:  # what an operation raises reading an answer is redacted too
        answer = yield Call(method="GET", path="/x")
        raise KeyError(f"no field in {answer.data} for {KEY}")

    with pytest.raises(KeyError) as leaked:
        driver_for(echo).run(endpoint(), leaking())
    assert KEY not in str(leaked.value)


def sse(*events: str) -> bytes:
    return "".join(f"{e}\n\n" for e in events).encode()


def test_events_of_a_stream_sync_and_async() -> None:
    def streaming(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept"] == "text/event-stream"
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"},
            content=sse("event: start\ndata: {}", 'data: {"text": "hé"}', "event: end\ndata: done"),
        )  # fmt: skip

    driver = driver_for(streaming)
    call = Call(method="POST", path="/stream", body={"q": 1})
    sync = [(e.event, e.data) for e in driver.events(endpoint(), call)]

    async def collect() -> list[tuple[str, str]]:
        return [(e.event, e.data) async for e in driver.aevents(endpoint(), call)]

    assert sync == asyncio.run(collect()) == [("start", "{}"), ("", '{"text": "hé"}'), ("end", "done")]


def test_a_stream_refused_or_not_a_stream_is_a_core_error() -> None:
    driver = driver_for(
        lambda request: httpx.Response(429, json={"error": {"message": "slow down"}}, headers={"retry-after": "2"})
    )
    with pytest.raises(RateLimitError, match="slow down") as caught:
        list(driver.events(endpoint(), Call(method="POST", path="/stream")))
    assert caught.value.retry_after == 2.0
    driver = driver_for(lambda request: httpx.Response(200, json={"not": "a stream"}))
    with pytest.raises(ServiceUnavailableError, match="not answer a streamed call with an event stream"):
        list(driver.events(endpoint(), Call(method="POST", path="/stream")))
    driver = driver_for(
        lambda request: httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=b"data: \xff\xfe\n\n"
        )
    )
    with pytest.raises(ServiceUnavailableError, match="not valid UTF-8"):
        list(driver.events(endpoint(), Call(method="POST", path="/stream")))


def test_one_async_client_per_event_loop() -> None:
    clients = Clients(ClientOptions, httpx.MockTransport(echo))

    async def exchange() -> Any:
        return clients.exchange()

    first, second = asyncio.run(exchange()), asyncio.run(exchange())
    assert first is not second  # the first loop ended: its client is never lent to another loop
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(exchange()) is loop.run_until_complete(exchange())
    finally:
        loop.close()
    clients.close()


def test_options_are_asked_once_when_the_first_client_is_made() -> None:
    asked: list[int] = []

    def options() -> ClientOptions:
        asked.append(1)
        return ClientOptions(headers={"X-Static": "yes"})

    seen: list[str] = []
    clients = Clients(options, httpx.MockTransport(lambda r: (seen.append(r.headers["x-static"]), echo(r))[1]))
    assert asked == []  # nothing made yet
    driver = Driver(clients)
    driver.call(endpoint(), Call(method="GET", path="/a"))
    driver.call(endpoint(), Call(method="GET", path="/b"))
    assert asked == [1] and seen == ["yes", "yes"]
    clients.close()
