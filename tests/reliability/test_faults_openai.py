"""Faults between the OpenAI plugin and its server, through a host: a loopback proxy in front of the
fake OpenAI server answers 429s (with and without Retry-After), 500/502/503, resets and cuts
connections mid-answer and mid-event, stalls, answers with something that is not the API's JSON or
with too many bytes; a closed port refuses the connection. Each call ends in the documented error
or a successful retry, never a hang, with one usage record for a success and none for a failure."""

from __future__ import annotations

import asyncio
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
    RateLimitError,
    ServiceUnavailableError,
    TextDelta,
)
from genai_commons.testing import UsageRecorder
from genai_commons_openai import OpenAIProvider
from genai_commons_openai.testing import FakeOpenAI, FakeOpenAIServer

pytestmark = pytest.mark.timeout(60)

KEY = "sk-test"
MODEL = "openai:gpt-4o-mini"
LIMIT = 64 * 1024


def api_error(status: int, message: str, code: str | None = None, **headers: str) -> Reply:
    """An error answer in the API's shape."""
    body = {"error": {"message": message, "type": "server_error", "param": None, "code": code}}
    return Reply(status, json.dumps(body).encode(), {"content-type": "application/json", **headers})


#: Faults the host retries: the fault, and the error when it persists.
RETRIED: dict[str, tuple[Fault, type[ProviderError]]] = {
    "429 with Retry-After": (api_error(429, "Rate limit reached", "rate_limit_exceeded", **{"retry-after": "0"}),
                             RateLimitError),
    "429 without Retry-After": (api_error(429, "Rate limit reached", "rate_limit_exceeded"), RateLimitError),
    "500": (api_error(500, "The server had an error while processing your request."), ServiceUnavailableError),
    "502 from a proxy": (Reply(502, b"<html>502 Bad Gateway</html>", {"content-type": "text/html"}),
                         ServiceUnavailableError),
    "503": (api_error(503, "The engine is currently overloaded."), ServiceUnavailableError),
    "connection reset mid-answer": (Cut(at=12, reset=True), ServiceUnavailableError),
    "connection closed mid-answer": (Cut(at=12), ServiceUnavailableError),
    "connection closed before answering": (Drop(), ServiceUnavailableError),
}  # fmt: skip


@pytest.fixture
def upstream() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeOpenAI(api_key=KEY)) as server:
        yield server


@pytest.fixture
def proxy(upstream: FakeOpenAIServer) -> Iterator[FaultProxy]:
    with FaultProxy(upstream.url) as running:
        yield running
    assert running.problems == []


@pytest.fixture
def recorder() -> UsageRecorder:
    return UsageRecorder()


@pytest.fixture
def make_host(proxy: FaultProxy, recorder: UsageRecorder, tmp_path: Path) -> Iterator[Callable[..., Host]]:
    """``make_host(**settings)``: a host whose ``openai`` provider talks to the proxy."""
    hosts: list[Host] = []

    def make(base_url: str | None = None, **settings: Any) -> Host:
        table = {"base_url": base_url or f"{proxy.url}/v1", "api_key": KEY, "timeout": 10, "connect_timeout": 2}
        config = Config.defaults(tmp_path, retry=FAST, providers={"openai": {**table, **settings}})
        host = Host(config, load_entry_points=False, plugins=[OpenAIProvider, recorder])
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
    response = retried_until_success(proxy, recorder, lambda: chat(host, mode, MODEL, "hello"), [fault, fault])
    assert response.text == "You said: hello"
    assert recorder.last.output_tokens == response.output_tokens == 3
    persistent_failure(proxy, recorder, lambda: chat(host, mode, MODEL, "hello"), fault, error)


def test_the_wait_of_a_retry_after_is_honoured(host: Host, proxy: FaultProxy, recorder: UsageRecorder) -> None:
    fault = api_error(429, "Rate limit reached", "rate_limit_exceeded", **{"retry-after": "0.3"})
    started = time.perf_counter()
    retried_until_success(proxy, recorder, lambda: chat(host, "sync", MODEL, "hello"), [fault])
    assert time.perf_counter() - started >= 0.3


def test_a_retry_after_longer_than_the_policy_allows_is_raised_at_once(
    host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    fault = api_error(429, "Rate limit reached", "rate_limit_exceeded", **{"retry-after": "120"})
    started = time.perf_counter()
    error = persistent_failure(
        proxy, recorder, lambda: chat(host, "sync", MODEL, "hi"), fault, RateLimitError, attempts=1
    )
    assert error.retry_after == 120.0 and time.perf_counter() - started < 5


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
    assert "raise `timeout`" in str(error)
    assert time.perf_counter() - started < STALL


@pytest.mark.parametrize("mode", MODES)
def test_a_refused_connection_ends_in_service_unavailable(
    mode: str, make_host: Callable[..., Host], recorder: UsageRecorder
) -> None:
    url = refused_url()
    host = make_host(base_url=f"{url}/v1")
    with pytest.raises(ServiceUnavailableError, match=f"cannot reach openai at {url}") as info:
        chat(host, mode, MODEL, "anyone?")
    assert info.value.__cause__ is not None
    assert recorder.records == []


MALFORMED = {
    "not JSON": Reply(200, b"<html><body>Welcome to nginx!</body></html>", {"content-type": "text/html"}),
    "JSON of another shape": Reply(200, b'{"object": "list", "data": []}'),
    "truncated JSON": Reply(200, b'{"id": "chatcmpl-1", "choices": [{"mess'),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(MALFORMED))
def test_an_answer_that_is_not_the_apis_json_is_an_error_not_retried(
    case: str, mode: str, host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    error = persistent_failure(
        proxy, recorder, lambda: chat(host, mode, MODEL, "hello"), MALFORMED[case], ProviderError, attempts=1
    )
    assert "not the OpenAI API's JSON" in str(error) and not error.retryable


@pytest.mark.parametrize("mode", MODES)
def test_a_fault_in_one_batch_of_an_embedding_call_retries_the_call_and_records_it_once(
    mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    """Batches in flight at once: one reset fails the call; the host runs it again whole."""
    host = make_host(embedding_concurrency=2, models={"text-embedding-3-small": {"max_batch_size": 4}})
    texts = [f"text number {i}" for i in range(8)]  # two batches, sent at once

    def embed() -> Any:
        if mode == "sync":
            return host.embed("openai:text-embedding-3-small", texts)
        return asyncio.run(host.aembed("openai:text-embedding-3-small", texts))

    faults: list[Fault | None] = [None, Cut(at=12, reset=True)]  # the batch that comes second is reset
    result = retried_until_success(proxy, recorder, embed, faults, path="/embeddings", operation="embed", requests=4)
    assert result.chunks.texts == texts and recorder.last.input_tokens == result.input_tokens
    # every batch of every attempt fails (a batch cancelled by its sibling's failure may not be sent at all)
    before = len(proxy.calls("/embeddings"))
    proxy.script(*[api_error(503, "overloaded")] * 2 * FAST.max_attempts, path="/embeddings")
    with pytest.raises(ServiceUnavailableError):
        embed()
    proxy.clear()
    assert len(proxy.calls("/embeddings")) - before >= FAST.max_attempts
    assert [r.operation for r in recorder.records] == ["embed"]


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
    faults = [api_error(503, "overloaded"), Cut(at=12, reset=True)]
    events, response = retried_until_success(proxy, recorder, lambda: stream(host, mode, MODEL, "once more"), faults)
    assert text_of(events) == "You said: once more"
    assert response is not None and recorder.last.output_tokens == response.output_tokens


@pytest.mark.parametrize("mode", MODES)
def test_an_error_answer_to_a_stream_persisting_ends_in_its_error(
    mode: str, host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    fault = api_error(429, "Rate limit reached", "rate_limit_exceeded")
    persistent_failure(proxy, recorder, lambda: stream(host, mode, MODEL, "hi"), fault, RateLimitError)


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
    assert f"the limit is {LIMIT} bytes" in str(error) and "raise max_response_bytes" in str(error)
    assert isinstance(error.__cause__, Exception) and type(error.__cause__).__name__ == "AnswerTooLarge"


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_over_max_response_bytes_fails_mid_way(
    mode: str, make_host: Callable[..., Host], upstream: FakeOpenAIServer, recorder: UsageRecorder
) -> None:
    host = make_host(max_response_bytes=LIMIT)
    upstream.service.script("word " * 2000)  # some 300 kB of events
    with pytest.raises(ProviderError, match="too large") as info:
        stream(host, mode, MODEL, "go on and on")
    assert 0 < len(info.value.events) < 2000  # type: ignore[attr-defined]
    assert recorder.records == []
