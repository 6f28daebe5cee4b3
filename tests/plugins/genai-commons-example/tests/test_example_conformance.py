"""The example plugin passes the genai-commons conformance suite, its engine faked to fail on demand.

In the plugin's own repository the package is installed; here it is imported from ``src``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from genai_commons import Config, ContextLengthError, Host, Request
from genai_commons.testing.conformance import ProviderConformance
from genai_commons.testing.failures import HTTP_STATUS
from genai_commons_example import ExampleProvider
from genai_commons_example.engine import EngineError, LocalEngine


class FlakyEngine(LocalEngine):
    """The local engine, failing the next requests the way the service would."""

    def __init__(self) -> None:
        super().__init__()
        self.faults: list[str] = []

    def _fault(self) -> None:
        if not self.faults:
            return
        kind = self.faults.pop(0)
        self.requests += 1
        if kind == "timeout":
            raise TimeoutError("read timed out")
        status = HTTP_STATUS[kind]
        assert status is not None
        code = "context_length_exceeded" if kind == "context_length" else kind
        raise EngineError(status, code, "simulated", retry_after=0.0 if status == 429 else None)

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        self._fault()
        return super().complete(body)

    def stream(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        self._fault()
        return super().stream(body)

    def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        self._fault()
        return super().embed(body)


class TestExampleConformance(ProviderConformance):
    CHAT_MODEL = "example:echo"
    STREAM_MODEL = "example:reverse"
    EMBEDDING_MODEL = "example:embed"

    @pytest.fixture
    def plugin(self) -> ExampleProvider:
        return ExampleProvider(engine=FlakyEngine())

    def fail_next(self, plugin: Any, kind: str) -> None:
        plugin.engine.faults.append(kind)

    def transport_calls(self, plugin: Any) -> int | None:
        return int(plugin.engine.requests)


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
    engine = FlakyEngine()
    engine.faults.append("context_length")
    host = Host(Config.defaults(tmp_path), load_entry_points=False, plugins=[ExampleProvider(engine=engine)])
    with host, pytest.raises(ContextLengthError) as info:
        host.chat("example:echo", "x")
    assert isinstance(info.value.__cause__, EngineError)
