"""The core's conformance suite against the mxcloud provider and the loopback fake service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from genai_commons.testing.conformance import ProviderConformance
from genai_commons_mxcloud import MxCloudProvider
from genai_commons_mxcloud.testing import FakeMxCloud, FakeMxCloudServer


class TestMxCloudConformance(ProviderConformance):
    CHAT_MODEL = "mxcloud:claude"
    STREAM_MODEL = "mxcloud:claude"
    EMBEDDING_MODEL = "mxcloud:cohere"
    KNOWLEDGE_BASE = "mxcloud:kb/conformance"

    @pytest.fixture
    def fake(self) -> Iterator[FakeMxCloudServer]:
        service = FakeMxCloud(dimensions=16)
        service.timeout_delay = 0.6
        with FakeMxCloudServer(service) as server:
            yield server

    @pytest.fixture
    def plugin(self, fake: FakeMxCloudServer) -> MxCloudProvider:
        self.service = fake.service
        return MxCloudProvider()

    @pytest.fixture
    def provider_settings(self, fake: FakeMxCloudServer) -> dict[str, Any]:
        service = fake.service
        keys = [
            service.issue_key("TEXT_GENERATION", name="claude"),
            service.issue_key("EMBEDDINGS_GENERATION", name="cohere"),
            service.issue_key("KNOWLEDGE_BASE", name="kb"),
        ]
        return {"keys": keys, "timeout": 0.3}

    def fail_next(self, plugin: Any, kind: str) -> None:
        self.service.fail_next({"stream_cut": "cut_stream"}.get(kind, kind))

    def last_request(self, plugin: Any) -> Any:
        return self.service.requests[-1].body

    def transport_calls(self, plugin: Any) -> int:
        return len(self.service.requests)
