"""Errors: HTTP statuses and OpenAI error codes mapped into the core hierarchy with the body kept,
rate-limit waits read from the headers, retries through the host, timeouts (per call too),
unreachable servers and answers that are not the API's JSON."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from genai_commons import (
    AuthenticationError,
    BadRequestError,
    ContentFilteredError,
    ContextLengthError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    Request,
    RetryPolicy,
    ServiceUnavailableError,
)
from genai_commons.testing import UsageRecorder
from genai_commons_openai import OpenAIChatOptions
from genai_commons_openai.errors import retry_after
from genai_commons_openai.testing import FakeOpenAI

CASES = [
    ("auth", AuthenticationError, 401, "invalid_api_key", "OPENAI_API_KEY"),
    ("permission", PermissionDeniedError, 403, "model_not_allowed", "no access"),
    ("region", PermissionDeniedError, 403, "unsupported_country_region_territory", "region"),
    ("not_found", NotFoundError, 404, "model_not_found", "genai models --provider openai"),
    ("quota", QuotaExceededError, 429, "insufficient_quota", "billing"),
    ("bad_request", BadRequestError, 400, "bad_request", "parameters"),
    ("context_length", ContextLengthError, 400, "context_length_exceeded", "context window"),
    ("content_filter", ContentFilteredError, 400, "ResponsibleAIPolicyViolation", "content filter"),
]


@pytest.mark.parametrize(("kind", "cls", "status", "code", "advice"), CASES, ids=[c[0] for c in CASES])
def test_api_errors_are_mapped_with_advice_and_the_body_kept(
    kind: str, cls: type, status: int, code: str, advice: str, openai_host, service: FakeOpenAI, recorder: UsageRecorder
) -> None:
    host = openai_host()
    service.fail_next(kind)
    with pytest.raises(cls) as info:
        host.chat("openai:gpt-4o-mini", "hello")
    error = info.value
    assert type(error) is cls
    assert (error.status, error.code, error.provider) == (status, code, "openai")
    assert advice in str(error)
    assert '"error"' in (error.body or "")
    assert isinstance(error.__cause__, httpx.HTTPStatusError)
    assert len(service.calls) == 1, "not retried"
    assert recorder.records == []


@pytest.mark.parametrize("kind", ["rate_limit", "unavailable", "server_error", "drop"])
def test_retryable_failures_are_retried_by_the_host(kind: str, openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    service.fail_next(kind, times=2)
    assert host.chat("openai:gpt-4o-mini", "third time lucky").text == "You said: third time lucky"
    assert len(service.calls) == 3


def test_a_rate_limit_carries_the_wait_and_the_limits(openai_host, service: FakeOpenAI) -> None:
    host = openai_host(retry=RetryPolicy(max_attempts=1))
    service.fail_next("rate_limit")
    with pytest.raises(RateLimitError) as info:
        host.chat("openai:gpt-4o-mini", "hello")
    assert info.value.retry_after == 0.0
    assert "0/500 requests left, reset in 20ms" in str(info.value)


def test_retry_after_from_the_headers() -> None:
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"retry-after": "7"}) == 7.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (retry_after({"retry-after": later}) or 0) <= 30
    exhausted = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m2.5s",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "250ms",
    }
    assert retry_after(exhausted) == 62.5
    assert retry_after({"x-ratelimit-remaining-tokens": "10", "x-ratelimit-reset-tokens": "5s"}) is None
    assert retry_after({"retry-after": "soon"}) is None


def test_a_long_retry_after_is_not_waited_for(openai_host, tmp_path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after": "120"}, json={"error": {"message": "slow", "code": None}})

    from genai_commons import Config, Host
    from genai_commons_openai import OpenAIProvider

    plugin = OpenAIProvider(httpx.MockTransport(handler))
    config = Config.defaults(tmp_path, providers={"openai": {"api_key": "k"}})
    with Host(config, load_entry_points=False, plugins=[plugin]) as host, pytest.raises(RateLimitError) as info:
        host.chat("openai:gpt-4o-mini", "x")
    assert info.value.retry_after == 120.0


def test_timeouts_are_retried_then_raised(openai_host, service: FakeOpenAI) -> None:
    host = openai_host(timeout=0.2)
    service.fail_next("timeout")
    assert host.chat("openai:gpt-4o-mini", "patience").text == "You said: patience"
    service.fail_next("timeout", times=3)
    with pytest.raises(ProviderTimeoutError, match="did not answer in time") as info:
        host.chat("openai:gpt-4o-mini", "patience")
    assert isinstance(info.value.__cause__, httpx.TimeoutException)


def test_a_per_call_timeout_replaces_the_configured_one(openai_host, service: FakeOpenAI) -> None:
    host = openai_host(timeout=30, retry=RetryPolicy(max_attempts=1))
    service.fail_next("timeout")
    request = Request.from_prompt("quick").with_options(OpenAIChatOptions(timeout=0.2))
    with pytest.raises(ProviderTimeoutError):
        host.chat("openai:gpt-4o-mini", request)


def test_an_unreachable_server(openai_host, tmp_path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from genai_commons import Config, Host
    from genai_commons_openai import OpenAIProvider

    config = Config.defaults(
        tmp_path,
        retry=RetryPolicy(max_attempts=2, initial_delay=0, max_delay=0),
        providers={"openai": {"base_url": f"http://127.0.0.1:{port}/v1"}},
    )
    expected = f"cannot reach openai at http://127.0.0.1:{port}/v1"
    with (
        Host(config, load_entry_points=False, plugins=[OpenAIProvider]) as host,
        pytest.raises(ServiceUnavailableError, match=expected),
    ):
        host.chat("openai:llama3.2", "anyone?")


def test_an_answer_that_is_not_json_is_an_error_with_advice(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    service.fail_next("malformed")
    with pytest.raises(ProviderError, match="usually ending in /v1") as info:
        host.chat("openai:gpt-4o-mini", "hello")
    assert not info.value.retryable and len(service.calls) == 1


@pytest.mark.parametrize(
    "answer",
    [
        {"object": "chat.completion"},
        {"choices": []},
        {"choices": [{"message": {"content": 5}}]},
        [1, 2],
    ],
    ids=["no choices", "empty choices", "content not text", "not an object"],
)
def test_json_of_the_wrong_shape_is_an_error(answer: object, tmp_path) -> None:
    from genai_commons import Config, Host
    from genai_commons_openai import OpenAIProvider

    plugin = OpenAIProvider(httpx.MockTransport(lambda request: httpx.Response(200, json=answer)))
    config = Config.defaults(tmp_path, providers={"openai": {"api_key": "k"}})
    with Host(config, load_entry_points=False, plugins=[plugin]) as host, pytest.raises(ProviderError) as info:
        host.chat("openai:gpt-4o-mini", "x")
    assert type(info.value) is ProviderError and info.value.__cause__ is not None


def test_compatible_servers_error_shapes(tmp_path) -> None:
    from genai_commons import Config, Host
    from genai_commons_openai import OpenAIProvider

    answers = iter(
        [
            httpx.Response(400, json={"error": "model 'x' not found, try pulling it first"}),
            httpx.Response(422, json={"detail": "field required"}),
            httpx.Response(404, text="404 page not found"),
        ]
    )
    plugin = OpenAIProvider(httpx.MockTransport(lambda request: next(answers)))
    config = Config.defaults(tmp_path, providers={"openai": {"base_url": "http://localhost:11434/v1"}})
    with Host(config, load_entry_points=False, plugins=[plugin]) as host:
        with pytest.raises(BadRequestError, match="try pulling it first"):
            host.chat("openai:x", "hi")
        with pytest.raises(BadRequestError, match="field required"):
            host.chat("openai:x", "hi")
        with pytest.raises(NotFoundError) as info:
            host.chat("openai:x", "hi")
    assert info.value.body == "404 page not found"


def test_a_key_echoed_by_the_server_is_kept_out_of_the_message(tmp_path) -> None:
    from genai_commons import Config, Host
    from genai_commons_openai import OpenAIProvider

    echoed = "Incorrect API key provided: sk-proj-abc*****************************wxyz. You can find your key at ..."

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": echoed, "type": "invalid_request_error", "code": None}})

    config = Config.defaults(tmp_path, providers={"openai": {"api_key": "sk-proj-abcdefwxyz"}})
    plugin = OpenAIProvider(httpx.MockTransport(handler))
    with Host(config, load_entry_points=False, plugins=[plugin]) as host, pytest.raises(AuthenticationError) as info:
        host.chat("openai:gpt-4o-mini", "x")
    assert "wxyz" not in str(info.value) and "sk-[redacted]" in str(info.value)
