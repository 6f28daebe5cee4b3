"""Reranking with Bedrock's Rerank operation (bedrock-agent-runtime): the request, paging, scores,
errors and usage — against botocore's Stubber, which checks every request and answer against the
service model — and the rerank models in the catalogue."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bedrock_models import REGION
from botocore.stub import Stubber

from genai_commons import (
    Capability,
    ChunkCollection,
    Host,
    Modality,
    ProviderError,
    RateLimitError,
    ValidationError,
)
from genai_commons_bedrock import BedrockProvider
from genai_commons_bedrock.catalog import built_in, model_for_id, model_from_summary

ARN = f"arn:aws:bedrock:{REGION}::foundation-model/amazon.rerank-v1:0"


@pytest.fixture
def bedrock(make_host: Callable[..., Host], session: Any) -> tuple[Host, BedrockProvider]:
    plugin = BedrockProvider(session=session)
    return make_host(plugin, {"list_models": False}, attempts=2), plugin


@pytest.fixture
def runtime(bedrock: tuple[Host, BedrockProvider]) -> Iterator[Stubber]:
    stubber = Stubber(bedrock[1].clients.client("bedrock-agent-runtime"))
    stubber.activate()
    yield stubber
    stubber.assert_no_pending_responses()
    stubber.deactivate()


def expected(texts: list[str], wanted: int, arn: str = ARN, **extra: Any) -> dict[str, Any]:
    return {
        "queries": [{"type": "TEXT", "textQuery": {"text": "when are invoices due?"}}],
        "sources": [
            {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": t}}} for t in texts
        ],
        "rerankingConfiguration": {
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {"numberOfResults": wanted, "modelConfiguration": {"modelArn": arn}},
        },
        **extra,
    }


TEXTS = ["Cats purr.", "Invoices are due within 30 days.", "Dogs bark."]


def test_rerank_sends_the_query_sources_and_model_arn_and_reads_the_scores(bedrock, runtime, recorder) -> None:
    host, _ = bedrock
    answer = {"results": [{"index": 1, "relevanceScore": 0.93}, {"index": 2, "relevanceScore": 0.02}]}
    runtime.add_response("rerank", answer, expected(TEXTS, 2))
    result = host.rerank("bedrock:amazon.rerank-v1:0", "when are invoices due?", TEXTS, top_n=2)
    assert result.indexes == [1, 2]
    assert [r.relevance_score for r in result] == [0.93, 0.02]
    assert recorder.operations == ["rerank"]
    assert recorder.last.model_id == "amazon.rerank-v1:0" and recorder.last.total_tokens == 0


def test_results_are_read_page_by_page(bedrock, runtime) -> None:
    host, _ = bedrock
    arn = "arn:aws:bedrock:eu-west-1::foundation-model/cohere.rerank-v3-5:0"
    runtime.add_response(
        "rerank", {"results": [{"index": 2, "relevanceScore": 0.8}], "nextToken": "page-2"}, expected(TEXTS, 3, arn)
    )
    runtime.add_response(
        "rerank",
        {"results": [{"index": 0, "relevanceScore": 0.1}, {"index": 1, "relevanceScore": 0.5}]},
        expected(TEXTS, 3, arn, nextToken="page-2"),
    )
    result = host.rerank(f"bedrock:{arn}", "when are invoices due?", TEXTS)
    assert result.indexes == [2, 1, 0]


def test_errors_are_mapped_and_throttling_is_retried(bedrock, runtime, recorder) -> None:
    host, _ = bedrock
    runtime.add_client_error("rerank", "ThrottlingException", "slow down", 429)
    runtime.add_response("rerank", {"results": [{"index": 0, "relevanceScore": 0.4}]}, expected(TEXTS[:1], 1))
    assert host.rerank("bedrock:amazon.rerank-v1:0", "when are invoices due?", TEXTS[:1]).indexes == [0]
    runtime.add_client_error("rerank", "ThrottlingException", "slow down", 429)
    runtime.add_client_error("rerank", "ThrottlingException", "slow down", 429)
    with pytest.raises(RateLimitError):
        host.rerank("bedrock:amazon.rerank-v1:0", "when are invoices due?", TEXTS[:1])
    runtime.add_client_error("rerank", "AccessDeniedException", "no access to the model", 403)
    with pytest.raises(ProviderError, match="no access to the model"):
        host.rerank("bedrock:amazon.rerank-v1:0", "when are invoices due?", TEXTS[:1])
    assert recorder.operations == ["rerank"]


def test_too_many_sources_are_refused_before_any_call(bedrock, runtime) -> None:
    host, _ = bedrock
    with pytest.raises(ValidationError, match="at most 1000 documents"):
        host.rerank("bedrock:amazon.rerank-v1:0", "q", [f"text {i}" for i in range(1001)])


def test_rerank_models_are_in_the_catalogue() -> None:
    ids = {m.model_id: m for m in built_in()}
    for model_id in ("amazon.rerank-v1:0", "cohere.rerank-v3-5:0"):
        assert ids[model_id].output_modality is Modality.RERANK and ids[model_id].active
    listed = model_from_summary(
        {"modelId": "cohere.rerank-v3-5:0", "outputModalities": ["TEXT"], "inputModalities": ["TEXT"]}
    )
    assert listed.output_modality is Modality.RERANK and listed.active
    assert model_for_id(ARN).output_modality is Modality.RERANK
    assert Capability.RERANK in BedrockProvider.capabilities()


def test_chunks_are_sent_as_their_texts(runtime, bedrock) -> None:
    host, _ = bedrock
    chunks = ChunkCollection.of_texts(TEXTS)
    runtime.add_response("rerank", {"results": [{"index": 1, "relevanceScore": 0.9}]}, expected(TEXTS, 1))
    assert host.rerank("bedrock:amazon.rerank-v1:0", "when are invoices due?", chunks, top_n=1).indexes == [1]
