"""Faults between the Bedrock plugin (boto3) and Bedrock Runtime, through a host: a loopback proxy
in front of the local Bedrock service answers throttling (with and without Retry-After), 500/502/503,
resets and cuts connections mid-answer and ConverseStream's event-stream frames mid-frame, stalls,
answers with something that is not Bedrock's JSON, or with an oversized frame; a closed port refuses
the connection. Each call ends in the documented error or a successful retry, never a hang, with one
usage record for a success and none for a failure."""

from __future__ import annotations

import json
import os
import struct
import time
from binascii import crc32
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faults_servers import Cut, Drop, Fault, FaultProxy, Reply, Stall, refused_url
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
from genai_commons_bedrock import BedrockProvider
from genai_commons_bedrock.testing import LocalBedrockServer

pytestmark = pytest.mark.timeout(60)

REGION = "us-east-1"
MODEL = "bedrock:anthropic.claude-3-haiku-20240307-v1:0"
CONVERSE = "/converse"
STREAM = "/converse-stream"


def bedrock_error(status: int, code: str, message: str, **headers: str) -> Reply:
    """An error answer as Bedrock's rest-json protocol sends it: the code in ``x-amzn-errortype``."""
    fields = {"content-type": "application/json", "x-amzn-errortype": f"{code}:http://internal.amazon.com/coral/"}
    return Reply(status, json.dumps({"message": message}).encode(), {**fields, **headers})


THROTTLED = "Too many requests, please wait before trying again."
#: Faults the host retries: the fault, and the error when it persists.
RETRIED: dict[str, tuple[Fault, type[ProviderError]]] = {
    "429 with Retry-After": (bedrock_error(429, "ThrottlingException", THROTTLED, **{"retry-after": "0"}),
                             RateLimitError),
    "429 without Retry-After": (bedrock_error(429, "ThrottlingException", THROTTLED), RateLimitError),
    "500": (bedrock_error(500, "InternalServerException", "The server encountered an internal error."),
            ServiceUnavailableError),
    "502 from a proxy": (Reply(502, b"<html>502 Bad Gateway</html>", {"content-type": "text/html"}),
                         ServiceUnavailableError),
    "503": (bedrock_error(503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
            ServiceUnavailableError),
    "connection reset mid-answer": (Cut(at=12, reset=True), ServiceUnavailableError),
    "connection closed mid-answer": (Cut(at=12), ServiceUnavailableError),
    "connection closed before answering": (Drop(), ServiceUnavailableError),
    "not JSON": (Reply(200, b"<html>Sign in to the Wi-Fi</html>", {"content-type": "text/html"}),
                 ServiceUnavailableError),
    "JSON of another shape": (Reply(200, b'{"status": "ok"}'), ServiceUnavailableError),
}  # fmt: skip

_LOADER: Any = None


def new_session() -> Any:
    """A boto3 session with fake keys; sessions share one botocore data loader, so that the service
    models are read from disk once."""
    import boto3
    import botocore.loaders
    import botocore.session

    global _LOADER  # noqa: PLW0603
    if _LOADER is None:
        _LOADER = botocore.loaders.create_loader()
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(
        botocore_session=core, aws_access_key_id="AKIDFAULTS", aws_secret_access_key="fake-secret", region_name=REGION
    )


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS variable or file of the machine, no instance metadata."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def upstream() -> Iterator[LocalBedrockServer]:
    with LocalBedrockServer() as server:
        yield server


@pytest.fixture
def proxy(upstream: LocalBedrockServer) -> Iterator[FaultProxy]:
    with FaultProxy(upstream.url) as running:
        yield running
    assert running.problems == []


@pytest.fixture
def recorder() -> UsageRecorder:
    return UsageRecorder()


@pytest.fixture
def make_host(proxy: FaultProxy, recorder: UsageRecorder, tmp_path: Path) -> Iterator[Callable[..., Host]]:
    """``make_host(**settings)``: a host whose ``bedrock`` provider sends Bedrock Runtime's calls to the proxy."""
    hosts: list[Host] = []

    def make(**settings: Any) -> Host:
        table = {"region": REGION, "runtime_endpoint_url": proxy.url, "read_timeout": 10, "connect_timeout": 2}
        config = Config.defaults(tmp_path, retry=FAST, providers={"bedrock": {**table, **settings}})
        host = Host(config, load_entry_points=False, plugins=[BedrockProvider(session=new_session()), recorder])
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
    response = retried_until_success(proxy, recorder, call, [fault, fault], path=CONVERSE)
    assert response.text == "You said: hello"
    assert recorder.last.output_tokens == response.output_tokens == 3
    persistent_failure(proxy, recorder, call, fault, error, path=CONVERSE)


def test_the_wait_of_a_retry_after_is_honoured(host: Host, proxy: FaultProxy, recorder: UsageRecorder) -> None:
    fault = bedrock_error(429, "ThrottlingException", THROTTLED, **{"retry-after": "0.3"})
    started = time.perf_counter()
    retried_until_success(proxy, recorder, lambda: chat(host, "sync", MODEL, "hello"), [fault])
    assert time.perf_counter() - started >= 0.3


def test_a_retry_after_longer_than_the_policy_allows_is_raised_at_once(
    host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    fault = bedrock_error(429, "ThrottlingException", THROTTLED, **{"retry-after": "120"})
    error = persistent_failure(
        proxy, recorder, lambda: chat(host, "sync", MODEL, "hi"), fault, RateLimitError, attempts=1
    )
    assert error.retry_after == 120.0 and error.code == "ThrottlingException"


@pytest.mark.parametrize("mode", MODES)
def test_a_slow_server_times_out_and_the_retry_succeeds(
    mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host(read_timeout=SHORT_TIMEOUT)
    started = time.perf_counter()
    retried_until_success(proxy, recorder, lambda: chat(host, mode, MODEL, "hello"), [Stall(STALL)])
    assert time.perf_counter() - started < STALL


def test_a_server_that_never_answers_ends_in_a_timeout_error(
    make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host(read_timeout=SHORT_TIMEOUT)
    started = time.perf_counter()
    error = persistent_failure(
        proxy, recorder, lambda: chat(host, "sync", MODEL, "hello"), Stall(STALL), ProviderTimeoutError
    )
    assert "read_timeout" in str(error) and time.perf_counter() - started < STALL


@pytest.mark.parametrize("mode", MODES)
def test_a_refused_connection_ends_in_service_unavailable(
    mode: str, make_host: Callable[..., Host], recorder: UsageRecorder
) -> None:
    host = make_host(runtime_endpoint_url=refused_url())
    with pytest.raises(ServiceUnavailableError, match="cannot reach Bedrock") as info:
        chat(host, mode, MODEL, "anyone?")
    assert type(info.value.__cause__).__name__ == "EndpointConnectionError"
    assert recorder.records == []


def test_an_oversized_answer_is_read_whole(host: Host, proxy: FaultProxy, recorder: UsageRecorder) -> None:
    """botocore reads a non-streamed answer whole; the plugin sets no byte limit (see docs/reliability.md)."""
    text = "word " * 400_000  # 2 MB
    answer = {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1, "outputTokens": 400_000, "totalTokens": 400_001},
        "metrics": {"latencyMs": 5},
    }
    proxy.script(Reply(200, json.dumps(answer).encode()))
    with one_usage_record(recorder):
        assert chat(host, "sync", MODEL, "say a lot").text == text


# -- ConverseStream ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_stream_cut_mid_frame_is_an_error_with_no_usage(
    reset: bool, mode: str, host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    proxy.script(Cut(at=mid_event, reset=reset))
    with pytest.raises(ServiceUnavailableError, match="broke off") as info:
        stream(host, mode, MODEL, "tell me a story")
    assert info.value.events == [TextDelta(text="You ")]  # type: ignore[attr-defined]
    assert type(info.value.__cause__).__name__ == "ProtocolError"
    assert len(proxy.calls()) == 1, "a stream that has started is not retried"
    assert recorder.records == []
    with one_usage_record(recorder):
        events, response = stream(host, mode, MODEL, "tell me a story")
    assert text_of(events) == "You said: tell me a story" and response is not None


def test_a_stream_whose_body_ends_cleanly_mid_frame_is_incomplete(
    host: Host, proxy: FaultProxy, upstream: LocalBedrockServer, recorder: UsageRecorder
) -> None:
    """The chunked body ends properly, but in the middle of a frame: no messageStop, no answer."""
    frames = _frames(upstream, "tell me a story")
    proxy.script(Reply(200, frames[: mid_event(frames)], {"content-type": "application/vnd.amazon.eventstream"}))
    with pytest.raises(ServiceUnavailableError, match="ended before its messageStop") as info:
        stream(host, "sync", MODEL, "tell me a story")
    assert info.value.events == [TextDelta(text="You ")]  # type: ignore[attr-defined]
    assert recorder.records == []


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_that_stops_mid_way_times_out_with_no_usage(
    mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host(read_timeout=SHORT_TIMEOUT)
    proxy.script(Stall(STALL, after=mid_event))
    with pytest.raises(ProviderTimeoutError, match="stopped sending"):
        stream(host, mode, MODEL, "tell me a story")
    assert len(proxy.calls()) == 1 and recorder.records == []


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_failing_before_its_first_event_is_retried(
    mode: str, host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    faults = [bedrock_error(503, "ServiceUnavailableException", "busy"), Cut(at=12, reset=True)]
    events, response = retried_until_success(
        proxy, recorder, lambda: stream(host, mode, MODEL, "once more"), faults, path=STREAM
    )
    assert text_of(events) == "You said: once more"
    assert response is not None and recorder.last.output_tokens == response.output_tokens


def test_a_frame_longer_than_the_event_stream_allows_is_refused_unread(
    host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    """botocore refuses a frame whose prelude announces more than 24 MiB before reading it."""
    prelude = struct.pack(">II", 100 * 1024 * 1024, 0)
    huge = Reply(
        200, prelude + struct.pack(">I", crc32(prelude)), {"content-type": "application/vnd.amazon.eventstream"}
    )
    call = lambda: stream(host, "sync", MODEL, "hi")  # noqa: E731
    retried_until_success(proxy, recorder, call, [huge], path=STREAM)
    error = persistent_failure(proxy, recorder, call, huge, ServiceUnavailableError, path=STREAM)
    assert "exceeded the maximum" in str(error)


def _frames(upstream: LocalBedrockServer, prompt: str) -> bytes:
    """The event-stream frames the local service answers ``prompt`` with."""
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": prompt}]}]}).encode()
    answer = upstream.service.handle("POST", f"/model/{MODEL.partition(':')[2]}/converse-stream", "", {}, body)
    assert answer.frames is not None
    return b"".join(answer.frames)
