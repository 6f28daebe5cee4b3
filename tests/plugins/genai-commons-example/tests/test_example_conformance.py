"""The example plugin passes the genai-commons conformance suite, its service made to fail on demand.

In the plugin's own repository the package is installed; here it is imported from ``src``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx

from genai_commons import Config, ContextLengthError, Host, Request
from genai_commons.testing.conformance import ProviderConformance
from genai_commons_example import ExampleProvider
from genai_commons_example.engine import EngineService


def provider_with(service: EngineService) -> ExampleProvider:
    return ExampleProvider(transport=httpx.MockTransport(service))


class TestExampleConformance(ProviderConformance):
    CHAT_MODEL = "example:echo"
    STREAM_MODEL = "example:reverse"
    EMBEDDING_MODEL = "example:embed"

    @pytest.fixture
    def plugin(self) -> ExampleProvider:
        return provider_with(EngineService())

    def fail_next(self, plugin: Any, kind: str) -> None:
        plugin.transport.handler.fail_next(kind)

    def last_request(self, plugin: Any) -> Any:
        return plugin.transport.handler.last_body

    def transport_calls(self, plugin: Any) -> int | None:
        return int(plugin.transport.handler.requests)


def test_rules_and_settings(tmp_path: Path) -> None:
    config = Config.defaults(tmp_path, providers={"example": {"prefix": "Echo:", "api_key": "not-needed"}})
    with Host(config, load_entry_points=False, plugins=[ExampleProvider]) as host:
        assert host.chat("example:echo", "hello world").text == "Echo: hello world"
        assert host.chat("example:reverse", "hello big world").text == "world big hello"
        short = host.chat("example:echo", Request.create(max_tokens=2).with_message("user", "one two three"))
        assert short.text == "Echo: one"
        vectors = host.embed("example:embed", ["red apples", "red apples", "tax law"]).vectors
        assert list(vectors[0]) == list(vectors[1]) != list(vectors[2])


def test_context_length_is_mapped(tmp_path: Path) -> None:
    service = EngineService()
    service.fail_next("context_length")
    host = Host(Config.defaults(tmp_path), load_entry_points=False, plugins=[provider_with(service)])
    with host, pytest.raises(ContextLengthError) as info:
        host.chat("example:echo", "x")
    assert isinstance(info.value.__cause__, httpx.HTTPStatusError)
