"""Faults between the Mendix Cloud GenAI plugin and its service, through a host: a loopback proxy in
front of the fake service answers 429s (with and without Retry-After), 500/502/503, resets and cuts
connections mid-answer and mid-event, stalls, answers with something that is not the service's JSON
or with too many bytes; a closed port refuses the connection. Each call ends in the documented error
or a successful retry, never a hang, with one usage record for a success and none for a failure."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faults_servers import Cut, Drop, Fault, FaultProxy, Reply, Stall, big_json, refused_url
from faults_support import (
    FAST,
    MODES,
    SHORT_TIMEOUT,
    STALL,
    chat,
    mid_event,
    one_usage_record,
    persistent_failure,
    retried_until_success,
    stream,
    text_of,
)

from genai_commons import (
    Config,
    Host,
    ProviderError,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    ServiceUnavailableError,
    TextDelta,
)
from genai_commons.testing import UsageRecorder
from genai_commons_mxcloud import MxCloudProvider
from genai_commons_mxcloud.testing import FakeMxCloud, FakeMxCloudServer, make_key

pytestmark = pytest.mark.timeout(60)

MODEL = "mxcloud:claude"
TOKEN = "tok-faults"
LIMIT = 64 * 1024


def service_error(status: int, kind: str, message: str, **headers: str) -> Reply:
    """An error answer in the service's shape."""
    return Reply(
        status, json.dumps({"type": kind, "message": message}).encode(), {"content-type": "application/json", **headers}
    )


THROTTLED = "Too many requests, please wait before trying again."
#: Faults the host retries: the fault, and the error when it persists.
RETRIED: dict[str, tuple[Fault, type[ProviderError]]] = {
    "429 with Retry-After": (service_error(429, "ThrottlingException", THROTTLED, **{"retry-after": "0"}),
                             RateLimitError),
    "429 without Retry-After": (service_error(429, "ThrottlingException", THROTTLED), RateLimitError),
    "500": (service_error(500, "InternalServerException", "Internal error."), ServiceUnavailableError),
    "502 from a proxy": (Reply(502, b"<html>502 Bad Gateway</html>", {"content-type": "text/html"}),
                         ServiceUnavailableError),
    "503": (service_error(503, "ServiceUnavailableException", "Temporarily unavailable."), ServiceUnavailableError),
    "connection reset mid-answer": (Cut(at=12, reset=True), ServiceUnavailableError),
    "connection closed mid-answer": (Cut(at=12), ServiceUnavailableError),
    "connection closed before answering": (Drop(), ServiceUnavailableError),
    "not JSON": (Reply(200, b"<html>Sign in to the Wi-Fi</html>", {"content-type": "text/html"}),
                 ServiceUnavailableError),
    "JSON of another shape": (Reply(200, b"[1, 2, 3]"), ServiceUnavailableError),
    "JSON without a message": (Reply(200, b'{"status": "ok"}'), ServiceUnavailableError),
}  # fmt: skip


@pytest.fixture
def upstream() -> Iterator[FakeMxCloudServer]:
    with FakeMxCloudServer(FakeMxCloud(dimensions=16)) as server:
        yield server


@pytest.fixture
def proxy(upstream: FakeMxCloudServer) -> Iterator[FaultProxy]:
    with FaultProxy(upstream.url) as running:
        yield running
    assert running.problems == []


@pytest.fixture
def recorder() -> UsageRecorder:
    return UsageRecorder()


@pytest.fixture
def make_host(
    upstream: FakeMxCloudServer, proxy: FaultProxy, recorder: UsageRecorder, tmp_path: Path
) -> Iterator[Callable[..., Host]]:
    """``make_host(**settings)``: a host with a text-generation key whose endpoint is the proxy."""
    hosts: list[Host] = []
    upstream.service.tokens[TOKEN] = "TEXT_GENERATION"

    def make(url: str | None = None, **settings: Any) -> Host:
        key = make_key("TEXT_GENERATION", url or proxy.url, TOKEN, name="claude")
        table = {"keys": [key], "timeout": 10, "connect_timeout": 2, **settings}
        config = Config(home=tmp_path, retry=FAST, providers={"mxcloud": table}, environ={})
        host = Host(config, load_entry_points=False, plugins=[MxCloudProvider, recorder])
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()


@pytest.fixture
def host(make_host: Callable[..., Host]) -> Host:
    return make_host()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(RETRIED))
def test_a_fault_is_retried_and_when_it_persists_ends_in_its_error(
    case: str, mode: str, host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    fault, error = RETRIED[case]
    call = lambda: chat(host, mode, MODEL, "hello")  # noqa: E731
    response = retried_until_success(proxy, recorder, call, [fault, fault])
    assert response.text == "You said: hello"
    assert recorder.last.output_tokens == response.output_tokens
    raised = persistent_failure(proxy, recorder, call, fault, error)
    assert TOKEN not in f"{raised} {raised.body}"


def test_the_wait_of_a_retry_after_is_honoured(host: Host, proxy: FaultProxy, recorder: UsageRecorder) -> None:
    fault = service_error(429, "ThrottlingException", THROTTLED, **{"retry-after": "0.3"})
    started = time.perf_counter()
    retried_until_success(proxy, recorder, lambda: chat(host, "sync", MODEL, "hello"), [fault])
    assert time.perf_counter() - started >= 0.3


def test_a_retry_after_longer_than_the_policy_allows_is_raised_at_once(
    host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    fault = service_error(429, "ThrottlingException", THROTTLED, **{"retry-after": "120"})
    error = persistent_failure(
        proxy, recorder, lambda: chat(host, "sync", MODEL, "hi"), fault, RateLimitError, attempts=1
    )
    assert error.retry_after == 120.0


def test_a_429_for_a_used_up_quota_is_not_retried(host: Host, proxy: FaultProxy, recorder: UsageRecorder) -> None:
    fault = service_error(429, "QuotaExceededException", "The monthly token quota of this resource is exceeded.")
    persistent_failure(proxy, recorder, lambda: chat(host, "sync", MODEL, "hi"), fault, QuotaExceededError, attempts=1)


@pytest.mark.parametrize("mode", MODES)
def test_a_slow_server_times_out_and_the_retry_succeeds(
    mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host(timeout=SHORT_TIMEOUT)
    started = time.perf_counter()
    retried_until_success(proxy, recorder, lambda: chat(host, mode, MODEL, "hello"), [Stall(STALL)])
    assert time.perf_counter() - started < STALL


def test_a_server_that_never_answers_ends_in_a_timeout_error(
    make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host(timeout=SHORT_TIMEOUT)
    started = time.perf_counter()
    error = persistent_failure(
        proxy, recorder, lambda: chat(host, "sync", MODEL, "hello"), Stall(STALL), ProviderTimeoutError
    )
    assert "timeout" in str(error) and time.perf_counter() - started < STALL


@pytest.mark.parametrize("mode", MODES)
def test_a_refused_connection_ends_in_service_unavailable(
    mode: str, make_host: Callable[..., Host], recorder: UsageRecorder
) -> None:
    url = refused_url()
    host = make_host(url=url)
    with pytest.raises(ServiceUnavailableError, match=f"cannot reach Mendix Cloud GenAI at {url[7:]}") as info:
        chat(host, mode, MODEL, "anyone?")
    assert info.value.__cause__ is not None
    assert recorder.records == []


# -- streams -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_stream_cut_mid_event_is_an_error_with_no_usage(
    reset: bool, mode: str, host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    proxy.script(Cut(at=mid_event, reset=reset))
    with pytest.raises(ServiceUnavailableError, match="broke off") as info:
        stream(host, mode, MODEL, "tell me a story")
    assert info.value.events == [TextDelta(text="You")]  # type: ignore[attr-defined]
    assert len(proxy.calls()) == 1, "a stream that has started is not retried"
    assert recorder.records == []
    with one_usage_record(recorder):
        events, response = stream(host, mode, MODEL, "tell me a story")
    assert text_of(events) == "You said: tell me a story" and response is not None


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_that_stops_mid_way_times_out_with_no_usage(
    mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host(timeout=SHORT_TIMEOUT)
    proxy.script(Stall(STALL, after=mid_event))
    with pytest.raises(ProviderTimeoutError):
        stream(host, mode, MODEL, "tell me a story")
    assert len(proxy.calls()) == 1 and recorder.records == []


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_failing_before_its_first_event_is_retried(
    mode: str, host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    faults = [service_error(503, "ServiceUnavailableException", "busy"), Cut(at=12, reset=True)]
    events, response = retried_until_success(proxy, recorder, lambda: stream(host, mode, MODEL, "once more"), faults)
    assert text_of(events) == "You said: once more"
    assert response is not None and recorder.last.output_tokens == response.output_tokens


def test_a_stream_event_that_is_not_json_ends_the_stream_with_no_usage(
    host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    delta = b'event: CONTENT_BLOCK_DELTA\ndata: {"contentBlockIndex": 0, "delta": {"text": "Hi"}}\n\n'
    body = delta + b'event: CONTENT_BLOCK_DELTA\ndata: {"contentBl\n\n'
    proxy.script(Reply(200, body, {"content-type": "text/event-stream"}, chunked=True))
    with pytest.raises(ServiceUnavailableError, match="not JSON") as info:
        stream(host, "sync", MODEL, "hi")
    assert info.value.events == [TextDelta(text="Hi")]  # type: ignore[attr-defined]
    assert len(proxy.calls()) == 1 and recorder.records == []


# -- oversized answers ---------------------------------------------------------------------------

OVERSIZED = {
    "declared length": Reply(200, b"", content_length=10**12),
    "chunked body": Reply(200, big_json(4 * LIMIT), chunked=True),
    "error body": Reply(500, big_json(4 * LIMIT)),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(OVERSIZED))
def test_an_answer_over_max_response_bytes_fails_the_call(
    case: str, mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host(max_response_bytes=LIMIT)
    with one_usage_record(recorder):
        assert chat(host, mode, MODEL, "a small answer passes").text.startswith("You said")
    error = persistent_failure(
        proxy, recorder, lambda: chat(host, mode, MODEL, "hello"), OVERSIZED[case], ProviderError, attempts=1
    )
    assert f"the limit is {LIMIT} bytes" in str(error) and "max_response_bytes" in str(error)
    assert type(error.__cause__).__name__ == "AnswerTooLarge"


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_over_max_response_bytes_fails_mid_way(
    mode: str, make_host: Callable[..., Host], upstream: FakeMxCloudServer, recorder: UsageRecorder
) -> None:
    host = make_host(max_response_bytes=LIMIT)
    upstream.service.script("word " * 2000)  # some 200 kB of events
    with pytest.raises(ProviderError, match="too large") as info:
        stream(host, mode, MODEL, "go on and on")
    assert 0 < len(info.value.events) < 2000  # type: ignore[attr-defined]
    assert recorder.records == []
