"""Fixtures: an osmem-server per session, a clone and a stand-in proxy per test, providers and hosts.

osmem-server (PyPI ``osmem-server``) is an in-memory OpenSearch-compatible server; its pytest
plugin provides ``osmem_server`` (overridden here: no Japanese analysis, base left writable) and
``osmem_clone`` (a fresh copy-on-write clone per test). Every test talks to the clone through
:class:`~opensearch_standin.OpenSearchStandIn`, which answers ``knn`` searches by brute force.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from osmem_server import OsmemClone, OsmemServer

from genai_commons import Config, Host
from genai_commons.config import KnowledgeSettings, RetryPolicy
from genai_commons.testing import FakeProvider, UsageRecorder
from genai_commons_opensearch import OpenSearchProvider

sys.path.insert(0, str(Path(__file__).resolve().parent))

from opensearch_helpers import settings_for
from opensearch_standin import OpenSearchStandIn


@pytest.fixture(scope="session")
def osmem_server() -> Iterator[OsmemServer]:
    server = OsmemServer.start(japanese=False)
    yield server
    server.close()


@pytest.fixture
def standin(osmem_clone: OsmemClone) -> Iterator[OpenSearchStandIn]:
    with OpenSearchStandIn(osmem_clone.url) as proxy:
        yield proxy


@pytest.fixture
def make_provider(standin: OpenSearchStandIn) -> Iterator[Callable[..., OpenSearchProvider]]:
    """``make_provider(**settings)``: a configured provider talking to the stand-in, closed after."""
    made: list[OpenSearchProvider] = []

    def make(**values: Any) -> OpenSearchProvider:
        provider = OpenSearchProvider()
        provider.configure(settings_for(values.pop("url", standin.url), **values))
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def provider(make_provider: Callable[..., OpenSearchProvider]) -> OpenSearchProvider:
    return make_provider()


@pytest.fixture
def recorder() -> UsageRecorder:
    return UsageRecorder()


@pytest.fixture
def make_host(standin: OpenSearchStandIn, tmp_path: Path, recorder: UsageRecorder) -> Iterator[Callable[..., Host]]:
    """``make_host(knowledge_bases=..., **provider_settings)``: a host with the plugin (on the stand-in)
    and the core's fake provider, whose ``fake:embed`` is the default embedding model and whose
    ``fake:chat`` answers what a test scripts (``host.plugin_manager.get_plugin("fake").script``)."""
    hosts: list[Host] = []

    def make(knowledge_bases: Mapping[str, Mapping[str, Any]] | None = None, **values: Any) -> Host:
        config = Config.defaults(
            tmp_path,
            retry=RetryPolicy(max_attempts=3, initial_delay=0, max_delay=0),
            knowledge=KnowledgeSettings(default_embedding_model="fake:embed"),
            providers={"opensearch": {"url": standin.url, "bulk_backoff": 0.0, **values}},
            knowledge_bases=dict(knowledge_bases or {}),
        )
        host = Host(config, load_entry_points=False, plugins=[OpenSearchProvider, FakeProvider(), recorder])
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()
