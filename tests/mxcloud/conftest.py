"""Fixtures: a fake Mendix Cloud GenAI service on a loopback port per test, its three kinds of
connection keys, and hosts whose mxcloud provider uses them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from genai_commons import Config, Host, RetryPolicy
from genai_commons.testing import UsageRecorder
from genai_commons_mxcloud import MxCloudProvider
from genai_commons_mxcloud.testing import FakeMxCloud, FakeMxCloudServer


@pytest.fixture
def server() -> Iterator[FakeMxCloudServer]:
    with FakeMxCloudServer(FakeMxCloud(dimensions=16)) as running:
        yield running


@pytest.fixture
def service(server: FakeMxCloudServer) -> FakeMxCloud:
    return server.service


@pytest.fixture
def keys(service: FakeMxCloud) -> dict[str, str]:
    """A text-generation key ``claude``, an embeddings key ``cohere`` and a knowledge-base key ``kb``."""
    return {
        "claude": service.issue_key("TEXT_GENERATION", name="claude", token="tok-claude"),
        "cohere": service.issue_key("EMBEDDINGS_GENERATION", name="cohere", token="tok-cohere"),
        "kb": service.issue_key("KNOWLEDGE_BASE", name="kb", token="tok-kb"),
    }


@pytest.fixture
def recorder() -> UsageRecorder:
    return UsageRecorder()


@pytest.fixture
def make_mx_host(tmp_path: Path, keys: dict[str, str], recorder: UsageRecorder) -> Iterator[Callable[..., Host]]:
    """``make_mx_host(**settings)``: a host with the mxcloud provider (all three keys unless
    ``keys`` is given), a usage recorder, no retry waits."""
    hosts: list[Host] = []

    def make(
        *, environ: dict[str, str] | None = None, usage: Any = None, plugins: tuple[Any, ...] = (), **settings: Any
    ) -> Host:
        settings.setdefault("keys", list(keys.values()))
        extra: dict[str, Any] = {"usage": usage} if usage is not None else {}
        config = Config(
            home=tmp_path,
            retry=RetryPolicy(max_attempts=3, initial_delay=0, max_delay=0),
            providers={"mxcloud": settings},
            environ=environ or {},
            **extra,
        )
        host = Host(config, load_entry_points=False, plugins=[MxCloudProvider, recorder, *plugins])
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()


@pytest.fixture
def host(make_mx_host: Callable[..., Host]) -> Host:
    return make_mx_host()


@pytest.fixture
def provider(host: Host) -> MxCloudProvider:
    plugin = host.plugin_manager.get_plugin("mxcloud")
    assert isinstance(plugin, MxCloudProvider)
    return plugin
