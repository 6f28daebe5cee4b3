"""The core's conformance suite, run against the plugin on osmem-server and the k-NN stand-in."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from opensearch_helpers import FakeEmbedder
from opensearch_standin import OpenSearchStandIn

from genai_commons import Config, Host, RetryPolicy
from genai_commons.config import KnowledgeSettings
from genai_commons.testing import UsageRecorder
from genai_commons.testing.conformance import ProviderConformance
from genai_commons_opensearch import OpenSearchProvider


class TestOpenSearchConformance(ProviderConformance):
    KNOWLEDGE_BASE = "opensearch:conformance"

    @pytest.fixture
    def plugin(self, standin: OpenSearchStandIn) -> OpenSearchProvider:
        self.standin = standin
        return OpenSearchProvider()

    @pytest.fixture
    def provider_settings(self, standin: OpenSearchStandIn) -> Mapping[str, Any]:
        return {"url": standin.url, "bulk_backoff": 0.0}

    @pytest.fixture
    def host(
        self,
        plugin: Any,
        provider_name: str,
        provider_settings: Mapping[str, Any],
        retry_policy: RetryPolicy,
        recorder: UsageRecorder,
        tmp_path: Path,
    ) -> Iterator[Host]:
        """The suite's host, plus an embedding model for the knowledge base (the host embeds)."""
        config = Config.defaults(
            tmp_path,
            retry=retry_policy,
            providers={provider_name: dict(provider_settings)},
            knowledge=KnowledgeSettings(default_embedding_model="fake:embed"),
        )
        host = Host(config, load_entry_points=False, plugins=[plugin, FakeEmbedder, recorder])
        yield host
        host.close()

    def transport_calls(self, plugin: Any) -> int | None:
        return len(self.standin.requests)
