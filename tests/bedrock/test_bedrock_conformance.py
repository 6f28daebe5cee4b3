"""The Bedrock plugin passes the core's conformance suite, botocore's transport replaced by the
local service (every request serialised, signed and parsed by botocore as over the network)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from conftest import CLAUDE, NOVA_CANVAS, REGION, TITAN_EMBED
from genai_commons_bedrock import BedrockProvider
from genai_commons_bedrock.testing import LocalBedrock, attach

from genai_commons.testing.conformance import ProviderConformance


class TestBedrockConformance(ProviderConformance):
    CHAT_MODEL = f"bedrock:{CLAUDE}"
    STREAM_MODEL = f"bedrock:{CLAUDE}"
    EMBEDDING_MODEL = f"bedrock:{TITAN_EMBED}"
    IMAGE_MODEL = f"bedrock:{NOVA_CANVAS}"

    @pytest.fixture
    def plugin(self, session: Any) -> BedrockProvider:
        self.local = attach(session, LocalBedrock())
        return BedrockProvider(session=session)

    @pytest.fixture
    def provider_settings(self) -> Mapping[str, Any]:
        return {"region": REGION}

    def fail_next(self, plugin: Any, kind: str) -> None:
        self.local.fail_next(kind)

    def transport_calls(self, plugin: Any) -> int | None:
        return len(self.local.requests)


class TestBedrockConformanceCohere(TestBedrockConformance):
    """The same checks with Cohere Embed (batched) and Titan Image Generator."""

    CHAT_MODEL = "bedrock:amazon.nova-lite-v1:0"
    STREAM_MODEL = "bedrock:meta.llama3-1-70b-instruct-v1:0"
    EMBEDDING_MODEL = "bedrock:cohere.embed-english-v3"
    IMAGE_MODEL = "bedrock:amazon.titan-image-generator-v2:0"
