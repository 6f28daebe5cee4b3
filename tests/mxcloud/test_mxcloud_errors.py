"""HTTP errors into the core's errors, with advice, the cause and the body kept, the key never shown."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from genai_commons import (
    AuthenticationError,
    BadRequestError,
    ContextLengthError,
    Host,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    ServiceUnavailableError,
)
from genai_commons.testing import UsageRecorder
from genai_commons_mxcloud.testing import FakeMxCloud


@pytest.mark.parametrize(
    ("fault", "expected", "advice"),
    [
        ("auth", AuthenticationError, "rejected key 'claude' (text generation): it was revoked or has expired"),
        ("permission", PermissionDeniedError, "a text-generation key only chats"),
        ("not_found", NotFoundError, "does not know this endpoint"),
        ("bad_request", BadRequestError, "mind its limits: images under 3.75 MB"),
        ("context_length", ContextLengthError, "shorten the history"),
        ("too_large", BadRequestError, "larger than Mendix Cloud GenAI accepts"),
        ("quota", QuotaExceededError, "monthly quota of the resource behind key 'claude'"),
    ],
)
def test_statuses_become_core_errors_with_advice(
    host: Host,
    service: FakeMxCloud,
    recorder: UsageRecorder,
    fault: str,
    expected: type[ProviderError],
    advice: str,
) -> None:
    service.fail_next(fault)
    with pytest.raises(expected) as info:
        host.chat("mxcloud:claude", "hi")
    error = info.value
    assert type(error) is expected and advice in str(error)
    assert isinstance(error.__cause__, httpx.HTTPStatusError)
    assert error.provider == "mxcloud" and error.status == error.__cause__.response.status_code
    assert error.body is not None and "message" in error.body
    assert "tok-claude" not in str(error) and "tok-claude" not in repr(error.body)
    assert len(service.requests) == 1, "not retried"
    assert recorder.records == []


def test_throttling_is_retried_and_quota_is_not(host: Host, service: FakeMxCloud) -> None:
    service.fail_next("rate_limit", times=2)
    assert host.chat("mxcloud:claude", "third time lucky").text == "You said: third time lucky"
    assert len(service.requests) == 3
    service.requests.clear()
    service.fail_next("rate_limit", times=3)
    with pytest.raises(RateLimitError, match="throttled the call: lower the request rate") as info:
        host.chat("mxcloud:claude", "never")
    assert info.value.retry_after == 0.0 and info.value.code == "ThrottlingException"


def test_a_revoked_key(host: Host, service: FakeMxCloud) -> None:
    service.revoke("tok-cohere")
    with pytest.raises(AuthenticationError, match="key 'cohere' \\(embeddings\\): it was revoked"):
        host.embed("mxcloud:cohere", "hello")


def test_a_key_of_the_wrong_type(make_mx_host: Callable[..., Host], service: FakeMxCloud) -> None:
    """A key whose type says text generation but whose token belongs to an embeddings resource."""
    wrong = service.issue_key("TEXT_GENERATION", name="wrong", token="tok-cohere-as-text")
    service.tokens["tok-cohere-as-text"] = "EMBEDDINGS_GENERATION"
    host = make_mx_host(keys=[wrong])
    with pytest.raises(PermissionDeniedError, match="Check its type with `genai mxcloud key list`"):
        host.chat("mxcloud:wrong", "hi")


def test_timeouts_and_dropped_connections_are_retried(make_mx_host: Callable[..., Host], service: FakeMxCloud) -> None:
    host = make_mx_host(timeout=0.2)
    service.timeout_delay = 0.5
    service.fail_next("timeout")
    assert host.chat("mxcloud:claude", "after a timeout").text == "You said: after a timeout"
    service.fail_next("timeout", times=3)
    with pytest.raises(ProviderTimeoutError, match="did not answer in time") as info:
        host.chat("mxcloud:claude", "never")
    assert isinstance(info.value.__cause__, httpx.TimeoutException)
    service.fail_next("disconnect", times=3)
    with pytest.raises(ServiceUnavailableError, match=r"cannot reach Mendix Cloud GenAI at 127\.0\.0\.1") as dropped:
        host.chat("mxcloud:claude", "dropped")
    assert isinstance(dropped.value.__cause__, httpx.TransportError)


def test_unavailable_is_retried(host: Host, service: FakeMxCloud) -> None:
    service.fail_next("unavailable")
    assert host.embed("mxcloud:cohere", "hello").first_vector()
    assert len(service.calls("/invoke")) == 2


def test_errors_of_batched_calls_surface(host: Host, service: FakeMxCloud) -> None:
    kb = host.knowledge_base("mxcloud:kb/docs")
    prepared = host.embed("mxcloud:kb/embeddings", [f"text {i}" for i in range(300)]).chunks
    service.fail_next("permission")
    with pytest.raises(PermissionDeniedError, match="a knowledge-base key only reaches its knowledge base") as info:
        host.ingest(kb, prepared)
    assert isinstance(info.value.__cause__, httpx.HTTPStatusError)
    service.fail_next("permission")
    with pytest.raises(PermissionDeniedError) as async_info:
        asyncio.run(host.aingest(kb, prepared))
    assert isinstance(async_info.value.__cause__, httpx.HTTPStatusError)


def test_the_in_process_transport_serves_the_same_fake() -> None:
    """``FakeMxCloud.transport()`` (an httpx.MockTransport) for tests that need no socket."""
    from genai_commons import Config
    from genai_commons_mxcloud import MxCloudProvider

    service = FakeMxCloud(dimensions=8)
    key = service.issue_key("TEXT_GENERATION", name="claude")
    plugin = MxCloudProvider(transport=service.transport())
    with Host(
        Config.defaults(".", providers={"mxcloud": {"keys": [key]}}), load_entry_points=False, plugins=[plugin]
    ) as host:
        assert host.chat("mxcloud:claude", "in process").text == "You said: in process"
        service.fail_next("timeout")
        service.fail_next("timeout")
        service.fail_next("timeout")
        with pytest.raises(ProviderTimeoutError):
            host.chat("mxcloud:claude", "late")
