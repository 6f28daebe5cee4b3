"""The Bedrock plugin passes the core's conformance suite, botocore's transport replaced by the
local service (every request serialised, signed and parsed by botocore as over the network)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from bedrock_models import CLAUDE, NOVA_CANVAS, REGION, TITAN_EMBED

from genai_commons.testing.conformance import ProviderConformance
from genai_commons_bedrock import BedrockProvider
from genai_commons_bedrock.testing import Document, LocalBedrock, attach


class TestBedrockConformance(ProviderConformance):
    CHAT_MODEL = f"bedrock:{CLAUDE}"
    STREAM_MODEL = f"bedrock:{CLAUDE}"
    EMBEDDING_MODEL = f"bedrock:{TITAN_EMBED}"
    IMAGE_MODEL = f"bedrock:{NOVA_CANVAS}"
    #: Bedrock knowledge bases read their own data source: this one already holds the suite's texts.
    KNOWLEDGE_BASE = "bedrock:conformance"
    AGENT = "bedrock:CONFAGENT1"
    RERANK_MODEL = "bedrock:amazon.rerank-v1:0"

    @pytest.fixture
    def plugin(self, session: Any) -> BedrockProvider:
        self.local = attach(session, LocalBedrock())
        documents = [
            Document(uri="s3://conformance/fox.txt", text="the quick brown fox"),
            Document(uri="s3://conformance/dog.txt", text="jumps over the lazy dog"),
        ]
        kb = self.local.add_knowledge_base("conformance", documents)
        self.local.add_agent("CONFAGENT1", knowledge_base_id=kb.knowledge_base_id)
        return BedrockProvider(session=session)

    @pytest.fixture
    def provider_settings(self) -> Mapping[str, Any]:
        return {"region": REGION}

    RETRY_AFTER = False  # Bedrock's ThrottlingException says no wait time

    def fail_next(self, plugin: Any, kind: str) -> None:
        if kind == "stream_cut":
            self.local.fail_stream(after_events=2, exception_type="internalServerException")
        else:
            self.local.fail_next(kind)

    def last_request(self, plugin: Any) -> Any:
        return self.local.requests[-1].body

    def transport_calls(self, plugin: Any) -> int | None:
        return len(self.local.requests)


class TestBedrockConformanceCohere(TestBedrockConformance):
    """The same checks with Cohere Embed (batched) and Titan Image Generator."""

    CHAT_MODEL = "bedrock:amazon.nova-lite-v1:0"
    STREAM_MODEL = "bedrock:meta.llama3-1-70b-instruct-v1:0"
    EMBEDDING_MODEL = "bedrock:cohere.embed-english-v3"
    IMAGE_MODEL = "bedrock:amazon.titan-image-generator-v2:0"
    RERANK_MODEL = "bedrock:cohere.rerank-v3-5:0"
