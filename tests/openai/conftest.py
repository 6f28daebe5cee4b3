"""Fixtures of the OpenAI plugin's tests: the fake OpenAI service, served over loopback HTTP or
through ``httpx.MockTransport``, and hosts configured to use it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from genai_commons import Config, Host, RetryPolicy
from genai_commons.testing import UsageRecorder
from genai_commons_openai import AzureOpenAIProvider, OpenAIProvider
from genai_commons_openai.testing import FakeOpenAI, FakeOpenAIServer

KEY = "sk-test"
NO_WAIT = RetryPolicy(max_attempts=3, initial_delay=0, max_delay=0, max_retry_after=5)


@pytest.fixture
def service() -> FakeOpenAI:
    return FakeOpenAI(api_key=KEY, slow_seconds=2.0)


@pytest.fixture
def server(service: FakeOpenAI) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(service) as running:
        yield running


@pytest.fixture
def recorder() -> UsageRecorder:
    return UsageRecorder()


HostFactory = Callable[..., Host]


@contextmanager
def _hosts(
    tmp_path: Path, recorder: UsageRecorder, provider: str, table: dict[str, Any]
) -> Iterator[Callable[..., Host]]:
    """A factory of hosts with one provider plugin (its settings: ``table`` plus the call's), all
    closed at the end: ``make(plugin, retry=..., **settings)``."""
    hosts: list[Host] = []

    def make(plugin: Any, retry: RetryPolicy = NO_WAIT, **settings: Any) -> Host:
        config = Config.defaults(tmp_path, retry=retry, providers={provider: {**table, **settings}})
        host = Host(config, load_entry_points=False, plugins=[plugin, recorder])
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()


@pytest.fixture
def openai_host(server: FakeOpenAIServer, recorder: UsageRecorder, tmp_path: Path) -> Iterator[HostFactory]:
    """``openai_host(**settings)``: a host whose ``openai`` provider talks to the loopback server."""
    with _hosts(tmp_path, recorder, "openai", {"base_url": server.url, "api_key": KEY}) as make:

        def openai(plugin: Any = OpenAIProvider, retry: RetryPolicy = NO_WAIT, **settings: Any) -> Host:
            return make(plugin, retry, **settings)

        yield openai


@pytest.fixture
def azure_host(server: FakeOpenAIServer, recorder: UsageRecorder, tmp_path: Path) -> Iterator[HostFactory]:
    """``azure_host(**settings)``: a host whose ``azure`` provider talks to the loopback server."""
    with _hosts(tmp_path, recorder, "azure", {"endpoint": server.endpoint, "api_key": KEY}) as make:

        def azure(plugin: Any = AzureOpenAIProvider, retry: RetryPolicy = NO_WAIT, **settings: Any) -> Host:
            return make(plugin, retry, **settings)

        yield azure


@pytest.fixture
def mock_host(service: FakeOpenAI, recorder: UsageRecorder, tmp_path: Path) -> Iterator[HostFactory]:
    """``mock_host(**settings)``: the fake served in-process through ``httpx.MockTransport``."""
    with _hosts(tmp_path, recorder, "openai", {"api_key": KEY}) as make:

        def mock(retry: RetryPolicy = NO_WAIT, **settings: Any) -> Host:
            return make(OpenAIProvider(service.transport()), retry, **settings)

        yield mock
