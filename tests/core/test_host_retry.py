"""The host's one retry loop: retryable errors only, Retry-After honoured, usage once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from genai_commons import (
    AuthenticationError,
    ProviderError,
    RateLimitError,
    RetryPolicy,
    ServiceUnavailableError,
)
from genai_commons.retry import backoff
from genai_commons.testing import FakeProvider, UsageRecorder

FAST = RetryPolicy(max_attempts=3, initial_delay=0.001, max_delay=0.002)


@pytest.fixture
def setup(make_host: Any) -> tuple[Any, FakeProvider, UsageRecorder]:
    fake, recorder = FakeProvider(), UsageRecorder()
    return make_host(fake, recorder, retry=FAST), fake, recorder


def test_a_retryable_error_is_retried_then_succeeds_with_one_usage_record(setup: Any) -> None:
    host, fake, recorder = setup
    fake.fail_next("rate_limit")
    fake.fail_next("unavailable")
    assert host.chat("fake:chat", "hi").text == "echo: hi"
    assert len(fake.calls) == 3
    assert len(recorder.records) == 1


def test_retries_stop_at_max_attempts_with_the_last_error_and_no_usage(setup: Any) -> None:
    host, fake, recorder = setup
    fake.fail_next("timeout", times=5)
    with pytest.raises(ProviderError) as info:
        host.chat("fake:chat", "hi")
    assert info.value.retryable
    assert info.value.__cause__ is not None
    assert len(fake.calls) == 3
    assert recorder.records == []


@pytest.mark.parametrize("kind", ["auth", "permission", "not_found", "bad_request", "context_length"])
def test_errors_that_are_not_retryable_fail_at_once(setup: Any, kind: str) -> None:
    host, fake, recorder = setup
    fake.fail_next(kind)
    with pytest.raises(ProviderError):
        host.chat("fake:chat", "hi")
    assert len(fake.calls) == 1
    assert recorder.records == []


def test_retry_after_is_honoured(setup: Any) -> None:
    host, fake, _ = setup
    fake.script(RateLimitError("slow down", provider="fake", retry_after=0.2))
    started = time.perf_counter()
    host.chat("fake:chat", "hi")
    assert time.perf_counter() - started >= 0.2


def test_a_retry_after_longer_than_the_policy_allows_is_raised_not_waited(make_host: Any) -> None:
    fake = FakeProvider()
    host = make_host(fake, retry=RetryPolicy(max_attempts=3, max_retry_after=1.0))
    fake.script(RateLimitError("come back in an hour", provider="fake", retry_after=3600))
    started = time.perf_counter()
    with pytest.raises(RateLimitError, match="come back in an hour"):
        host.chat("fake:chat", "hi")
    assert time.perf_counter() - started < 1.0
    assert len(fake.calls) == 1


def test_max_attempts_one_turns_retries_off(make_host: Any) -> None:
    fake = FakeProvider()
    host = make_host(fake, retry=RetryPolicy(max_attempts=1))
    fake.fail_next("unavailable")
    with pytest.raises(ServiceUnavailableError):
        host.chat("fake:chat", "hi")
    assert len(fake.calls) == 1


def test_async_calls_retry_too(setup: Any) -> None:
    host, fake, recorder = setup
    fake.fail_next("rate_limit")
    result = asyncio.run(host.aembed("fake:embed", "hello"))
    assert len(result.first_vector()) == 8
    assert len(recorder.records) == 1
    fake.fail_next("auth")
    with pytest.raises(AuthenticationError):
        asyncio.run(host.achat("fake:chat", "hi"))


def test_a_stream_is_retried_when_it_fails_before_its_first_event(setup: Any) -> None:
    host, fake, recorder = setup
    fake.fail_next("unavailable")
    stream = host.stream("fake:chat", "hello there")
    assert "".join(stream.text()) == "echo: hello there"
    assert len(recorder.records) == 1


def test_backoff_grows_is_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=4.0, multiplier=2.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        delays = [backoff(policy, attempt, None) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= ceiling
        assert max(delays) > ceiling / 2  # full jitter spreads over the whole range
    assert backoff(policy, 1, RateLimitError("x", provider="p", retry_after=7)) >= 7
