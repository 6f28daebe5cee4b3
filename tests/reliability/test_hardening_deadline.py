"""The per-call deadline through the HTTP plugins (issue 12, defect 6): a server whose every wait
is short — one byte every 0.1 s, stream keep-alives forever, an endless stream of events — never
trips a read timeout, yet the call ends at its deadline with ``DeadlineExceededError``, sync and
async, plain and streamed, whether the deadline comes from ``[providers.NAME] deadline``,
``[retry] deadline`` or ``genai_commons.deadline()``; and no usage is recorded."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faults_drip import DripServer
from faults_support import MODES, chat, http_host, stream

import genai_commons
from genai_commons import DeadlineExceededError, Host, ProviderTimeoutError, RetryPolicy
from genai_commons.testing import UsageRecorder

pytestmark = pytest.mark.timeout(60)

DEADLINE = 1.0
#: How late after its deadline a call may end (a loaded machine, the drip's own pace).
SLACK = 1.5
OPENAI = "openai:gpt-4o-mini"
MXCLOUD = "mxcloud:drip-chat"
ANSWER = json.dumps(
    {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
     "choices": [{"index": 0, "message": {"role": "assistant", "content": "x" * 60}, "finish_reason": "stop"}],
     "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
).encode()  # fmt: skip
DELTA = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{"content":"more "},"finish_reason":null}]}\n\n'
)


@pytest.fixture
def drip() -> Iterator[DripServer]:
    with DripServer(interval=0.1) as server:
        yield server


@pytest.fixture
def recorder() -> UsageRecorder:
    return UsageRecorder()


@pytest.fixture
def make_host(drip: DripServer, recorder: UsageRecorder, tmp_path: Path) -> Iterator[Callable[..., Host]]:
    """``make_host(kind, retry=..., **settings)``: a host whose provider talks to the drip server,
    with a read timeout far longer than the deadline."""
    hosts: list[Host] = []

    def make(kind: str, retry: RetryPolicy | None = None, **settings: Any) -> Host:
        retry = retry or RetryPolicy()
        host = http_host(kind, drip.url, tmp_path, recorder, retry=retry, key_name="drip-chat", timeout=30, **settings)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()


def ends_at_the_deadline(call: Callable[[], Any], recorder: UsageRecorder) -> DeadlineExceededError:
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError) as info:
        call()
    took = time.monotonic() - started
    assert DEADLINE - 0.05 <= took < DEADLINE + SLACK, f"ended after {took:.2f} s"
    assert isinstance(info.value, ProviderTimeoutError) and not info.value.retryable
    assert recorder.records == []
    return info.value


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["openai", "mxcloud"])
def test_an_answer_dripping_a_byte_at_a_time_ends_at_the_provider_deadline(
    kind: str, mode: str, drip: DripServer, make_host: Callable[..., Host], recorder: UsageRecorder
):
    drip.serve(drip.drip(ANSWER))
    host = make_host(kind, deadline=DEADLINE)
    model = OPENAI if kind == "openai" else MXCLOUD
    error = ends_at_the_deadline(lambda: chat(host, mode, model, "hello"), recorder)
    assert f"[providers.{kind}] deadline" in str(error)
    assert error.provider == kind
    assert len(drip.requests) == 1  # not retried


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["openai", "mxcloud"])
def test_a_stream_of_keep_alives_ends_at_the_configured_deadline(
    kind: str, mode: str, drip: DripServer, make_host: Callable[..., Host], recorder: UsageRecorder
):
    drip.serve(drip.keep_alive([]))
    host = make_host(kind, retry=RetryPolicy(deadline=DEADLINE))
    model = OPENAI if kind == "openai" else MXCLOUD
    error = ends_at_the_deadline(lambda: stream(host, mode, model, "hello"), recorder)
    assert "[retry] deadline" in str(error)


@pytest.mark.parametrize("mode", MODES)
def test_an_endless_stream_of_events_ends_at_the_deadline_of_the_block(
    mode: str, drip: DripServer, make_host: Callable[..., Host], recorder: UsageRecorder
):
    drip.serve(drip.events(DELTA))
    host = make_host("openai")

    def call() -> Any:
        with genai_commons.deadline(DEADLINE):
            if mode == "sync":
                return list(host.stream(OPENAI, "hello"))

            async def consume() -> list[Any]:
                return [event async for event in await host.astream(OPENAI, "hello")]

            return asyncio.run(consume())

    error = ends_at_the_deadline(call, recorder)
    assert "genai_commons.deadline()" in str(error)
