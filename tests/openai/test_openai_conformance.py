"""The core's conformance suite, for ``openai`` over loopback HTTP and over ``httpx.MockTransport``,
and for ``azure`` over loopback HTTP. The fake service fails on demand as the API does."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from genai_commons.testing.conformance import ProviderConformance
from genai_commons_openai import AzureOpenAIProvider, OpenAIProvider
from genai_commons_openai.testing import FakeOpenAI, FakeOpenAIServer

KEY = "sk-test"


class _Fake:
    """What the three suites share: the fake service and how to make it fail."""

    CHAT_MODEL = "openai:gpt-4o-mini"
    STREAM_MODEL = "openai:gpt-4o-mini"
    EMBEDDING_MODEL = "openai:text-embedding-3-small"
    IMAGE_MODEL = "openai:gpt-image-1"

    service: FakeOpenAI

    def fail_next(self, plugin: Any, kind: str) -> None:
        self.service.fail_next({"stream_cut": "disconnect"}.get(kind, kind))

    def transport_calls(self, plugin: Any) -> int | None:
        return len(self.service.calls)

    def last_request(self, plugin: Any) -> Any:
        return self.service.calls[-1].body


class TestOpenAIConformance(_Fake, ProviderConformance):
    @pytest.fixture
    def plugin(self) -> Iterator[OpenAIProvider]:
        self.service = FakeOpenAI(api_key=KEY, slow_seconds=2.0)
        with FakeOpenAIServer(self.service) as server:
            self.server = server
            yield OpenAIProvider()

    @pytest.fixture
    def provider_settings(self) -> Mapping[str, Any]:
        return {"base_url": self.server.url, "api_key": KEY, "timeout": 0.3}


class TestOpenAIMockTransportConformance(_Fake, ProviderConformance):
    @pytest.fixture
    def plugin(self) -> OpenAIProvider:
        self.service = FakeOpenAI(api_key=KEY)
        return OpenAIProvider(self.service.transport())

    @pytest.fixture
    def provider_settings(self) -> Mapping[str, Any]:
        return {"api_key": KEY}


class TestAzureConformance(_Fake, ProviderConformance):
    CHAT_MODEL = "azure:chat"
    STREAM_MODEL = "azure:chat"
    EMBEDDING_MODEL = "azure:embeddings"
    IMAGE_MODEL = "azure:dall-e-3"

    @pytest.fixture
    def plugin(self) -> Iterator[AzureOpenAIProvider]:
        models = {
            "chat": {"kind": "chat"},
            "embeddings": {"kind": "embeddings", "dimensions": 256, "shortenable": True},
            "dall-e-3": {"kind": "image", "image_api": "dall-e-3"},
        }
        self.service = FakeOpenAI(api_key=KEY, models=models, slow_seconds=2.0)
        with FakeOpenAIServer(self.service) as server:
            self.server = server
            yield AzureOpenAIProvider()

    @pytest.fixture
    def provider_settings(self) -> Mapping[str, Any]:
        return {
            "endpoint": self.server.endpoint,
            "api_key": KEY,
            "timeout": 0.3,
            "deployments": {
                "chat": {"model": "gpt-4o-mini"},
                "embeddings": {"model": "text-embedding-3-small"},
                "dall-e-3": {"model": "dall-e-3"},
            },
        }
