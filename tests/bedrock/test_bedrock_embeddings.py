"""Embeddings through InvokeModel: Titan Text Embeddings (one text a call, concurrent and bounded)
and Cohere Embed (96 texts a call, input type from the purpose)."""

from __future__ import annotations

import io
import json
import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from bedrock_models import COHERE_EMBED, TITAN_EMBED
from botocore.response import StreamingBody
from botocore.stub import Stubber

from genai_commons import (
    EmbeddingsOptions,
    Host,
    RateLimitError,
    UnsupportedCapabilityError,
    ValidationError,
)
from genai_commons_bedrock import BedrockProvider
from genai_commons_bedrock.testing import LocalBedrock, attach
from genai_commons_bedrock.testing.service import Answer


def test_titan_v2_one_call_per_text_with_dimensions_and_normalisation(host: Host, service: LocalBedrock) -> None:
    texts = [f"text number {i}" for i in range(7)]
    result = host.embed(f"bedrock:{TITAN_EMBED}", texts, EmbeddingsOptions(dimensions=256, normalize=False))
    assert result.chunks.texts == texts  # in order, whatever order the calls finished in
    assert [len(v) for v in result.vectors] == [256] * 7
    assert result.input_tokens == 3 * 7
    bodies = [r.body for r in service.calls("invoke")]
    assert sorted(b["inputText"] for b in bodies) == sorted(texts)
    assert all(b["dimensions"] == 256 and b["normalize"] is False for b in bodies)
    unit = host.embed(f"bedrock:{TITAN_EMBED}", "a unit vector").first_vector()
    assert len(unit) == 1024 and math.isclose(math.fsum(x * x for x in unit), 1.0, rel_tol=1e-5)


class CountingBedrock(LocalBedrock):
    """Counts how many requests it answers at once."""

    def __init__(self) -> None:
        super().__init__(latency=0.02)
        self.in_flight = 0
        self.most = 0
        self._count = threading.Lock()

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Answer:
        with self._count:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            return super().handle(method, path, query, headers, body)
        finally:
            with self._count:
                self.in_flight -= 1


def test_titan_calls_run_concurrently_and_bounded(session: Any, make_host: Callable[..., Host]) -> None:
    service = attach(session, CountingBedrock())
    host = make_host(BedrockProvider(session=session), {"max_concurrency": 4})
    result = host.embed(f"bedrock:{TITAN_EMBED}", [f"t{i}" for i in range(24)])
    assert len(result.vectors) == 24
    assert 1 < service.most <= 4


def test_one_failed_call_fails_the_request(session: Any, service: LocalBedrock, make_host: Callable[..., Host]) -> None:
    host = make_host(BedrockProvider(session=session), attempts=1)
    service.fail_next("rate_limit")
    with pytest.raises(RateLimitError):
        host.embed(f"bedrock:{TITAN_EMBED}", ["a", "b", "c"])


def test_the_host_retries_a_throttled_request_whole(host: Host, service: LocalBedrock) -> None:
    service.fail_next("rate_limit")
    assert len(host.embed(f"bedrock:{TITAN_EMBED}", ["a", "b", "c"]).vectors) == 3
    assert len(service.requests) > 3  # the second attempt embeds every text again


def test_titan_dimensions_are_checked_before_any_call(host: Host, service: LocalBedrock) -> None:
    with pytest.raises(ValidationError, match="256 or 512 or 1024"):
        host.embed(f"bedrock:{TITAN_EMBED}", "x", EmbeddingsOptions(dimensions=300))
    with pytest.raises(ValidationError, match="1536"):
        host.embed("bedrock:amazon.titan-embed-text-v1", "x", EmbeddingsOptions(dimensions=256))
    assert service.requests == []
    v1 = host.embed("bedrock:amazon.titan-embed-text-v1", "x")
    assert len(v1.first_vector()) == 1536 and "dimensions" not in service.requests[0].body


def test_cohere_batches_of_96_with_the_input_type_of_the_purpose(host: Host, service: LocalBedrock) -> None:
    texts = [f"document {i}" for i in range(200)]
    result = host.embed(f"bedrock:{COHERE_EMBED}", texts)
    assert result.chunks.texts == texts and {len(v) for v in result.vectors} == {1024}
    bodies = sorted((r.body for r in service.calls("invoke")), key=lambda b: -len(b["texts"]))
    assert [len(b["texts"]) for b in bodies] == [96, 96, 8]
    assert {b["input_type"] for b in bodies} == {"search_document"}
    assert result.input_tokens == 400  # from the X-Amzn-Bedrock-Input-Token-Count headers
    query = host.embed(f"bedrock:{COHERE_EMBED}", "document 0", EmbeddingsOptions(purpose="query"))
    assert service.requests[-1].body["input_type"] == "search_query"
    assert list(query.first_vector()) != list(result.vectors[0])  # queries and documents are encoded differently
    with pytest.raises(ValidationError, match="1024"):
        host.embed(f"bedrock:{COHERE_EMBED}", "x", EmbeddingsOptions(dimensions=512))


def test_models_that_embed_otherwise_are_refused(host: Host, service: LocalBedrock) -> None:
    with pytest.raises(UnsupportedCapabilityError):
        host.embed("bedrock:amazon.titan-embed-image-v1", "x")
    with pytest.raises(UnsupportedCapabilityError):
        host.embed(f"bedrock:{'amazon.nova-lite-v1:0'}", "x")
    assert service.requests == []


def _body(data: dict[str, Any]) -> StreamingBody:
    raw = json.dumps(data).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_stubbed_invoke_model_bodies(session: Any, make_host: Callable[..., Host]) -> None:
    host = make_host(BedrockProvider(session=session))
    client = host.plugin_manager.get_plugin("bedrock").clients.client("bedrock-runtime")
    with Stubber(client) as stub:
        stub.add_response(
            "invoke_model",
            {"body": _body({"embedding": [0.6, 0.8], "inputTextTokenCount": 2}), "contentType": "application/json"},
            {
                "modelId": TITAN_EMBED,
                "body": b'{"inputText":"hello world","dimensions":512,"normalize":true}',
                "contentType": "application/json",
                "accept": "application/json",
            },
        )
        result = host.embed(f"bedrock:{TITAN_EMBED}", "hello world", EmbeddingsOptions(dimensions=512))
        assert list(result.first_vector()) == pytest.approx([0.6, 0.8]) and result.input_tokens == 2
        cohere = {
            "embeddings": {"float": [[1.0, 0.0]]},
            "response_type": "embeddings_by_type",
            "id": "x",
            "texts": ["q"],
        }
        stub.add_response(
            "invoke_model",
            {"body": _body(cohere), "contentType": "application/json"},
            {
                "modelId": "cohere.embed-multilingual-v3",
                "body": b'{"texts":["q"],"input_type":"search_query","embedding_types":["float"]}',
                "contentType": "application/json",
                "accept": "application/json",
            },
        )
        query = host.embed("bedrock:cohere.embed-multilingual-v3", "q", EmbeddingsOptions(purpose="query"))
        assert list(query.first_vector()) == [1.0, 0.0] and query.input_tokens is None
        stub.assert_no_pending_responses()
