"""Search types on Bedrock knowledge bases: ``overrideSearchType`` SEMANTIC / HYBRID from the portable
option in Retrieve and RetrieveAndGenerate, keyword refused before any call, and a vector store that
refuses HYBRID — an error when asked for, a fallback to SEMANTIC when it was only the default —
checked with botocore's Stubber, which validates every request against the service model."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bedrock_models import CLAUDE, REGION
from botocore.stub import Stubber

from genai_commons import (
    BadRequestError,
    Host,
    KnowledgeBase,
    Request,
    RetrievalQuery,
    SearchType,
    UnsupportedCapabilityError,
)
from genai_commons_bedrock import BedrockProvider, RetrieveAndGenerateOptions
from genai_commons_bedrock.knowledge import retrieve_request

KB = "bedrock:KB00000001"
MODEL = f"bedrock:{CLAUDE}"
ARN = f"arn:aws:bedrock:{REGION}::foundation-model/{CLAUDE}"
#: A ValidationException of a vector store without a text field (worded like Bedrock's).
NO_HYBRID = "HYBRID search type is not supported for the knowledge base's vector store configuration"
RESULT = {
    "content": {"text": "Rotation changes on Monday."},
    "location": {"type": "S3", "s3Location": {"uri": "s3://docs/oncall.md"}},
    "score": 0.8,
}


@pytest.fixture
def bedrock(make_host: Callable[..., Host], session: Any) -> Iterator[tuple[Host, Stubber]]:
    plugin = BedrockProvider(session=session)
    host = make_host(plugin)
    plugin._knowledge_bases["KB00000001"] = KnowledgeBase(provider="bedrock", name="handbook", collection="KB00000001")
    stubber = Stubber(plugin.clients.client("bedrock-agent-runtime"))
    stubber.activate()
    yield host, stubber
    stubber.assert_no_pending_responses()
    stubber.deactivate()


def retrieve_params(override: str | None, k: int = 5) -> dict[str, Any]:
    search: dict[str, Any] = {"numberOfResults": k}
    if override is not None:
        search["overrideSearchType"] = override
    return {
        "knowledgeBaseId": "KB00000001",
        "retrievalQuery": {"text": "on-call"},
        "retrievalConfiguration": {"vectorSearchConfiguration": search},
    }


def rag_params(override: str) -> dict[str, Any]:
    return {
        "input": {"text": "Who is on call?"},
        "retrieveAndGenerateConfiguration": {
            "type": "KNOWLEDGE_BASE",
            "knowledgeBaseConfiguration": {
                "knowledgeBaseId": "KB00000001",
                "modelArn": ARN,
                "retrievalConfiguration": {
                    "vectorSearchConfiguration": {"numberOfResults": 5, "overrideSearchType": override}
                },
            },
        },
    }


ANSWER = {"output": {"text": "Alex is."}, "sessionId": "3f1c9e7a-2b8d-4c6e-9a0f-123456789abc"}


@pytest.mark.parametrize(("search_type", "override"), [(None, "HYBRID"), ("hybrid", "HYBRID"), ("vector", "SEMANTIC")])
def test_the_search_type_becomes_override_search_type(bedrock, search_type, override) -> None:
    host, stubber = bedrock
    stubber.add_response("retrieve", {"retrievalResults": [RESULT]}, retrieve_params(override))
    (chunk,) = host.retrieve(KB, "on-call", search_type=search_type)
    assert chunk.input_text == "Rotation changes on Monday."


def test_a_query_that_names_no_type_sends_no_override_without_the_host() -> None:
    kb = KnowledgeBase(provider="bedrock", name="handbook", collection="KB00000001")
    assert retrieve_request(kb, RetrievalQuery(text="on-call")) == retrieve_params(None)


def test_keyword_search_is_refused_before_any_call(bedrock) -> None:
    host, _ = bedrock  # nothing queued: a call would fail the Stubber
    assert host.provider("bedrock").search_types == frozenset({SearchType.VECTOR, SearchType.HYBRID})
    with pytest.raises(UnsupportedCapabilityError, match="provider 'bedrock' offers vector and hybrid search"):
        host.retrieve(KB, "on-call", search_type="keyword")
    with pytest.raises(UnsupportedCapabilityError, match="offers vector and hybrid search"):
        host.retrieve_and_generate(KB, "Who is on call?", model=MODEL, search_type="keyword")
    kb = KnowledgeBase(provider="bedrock", name="handbook", collection="KB00000001")
    with pytest.raises(UnsupportedCapabilityError, match="never by text alone; use search_type='hybrid'") as info:
        retrieve_request(kb, RetrievalQuery(text="on-call", search_type="keyword"))  # the plugin on its own
    assert info.value.capability == "keyword search"


def test_a_store_without_hybrid_falls_back_to_semantic_when_hybrid_was_the_default(bedrock) -> None:
    host, stubber = bedrock
    stubber.add_client_error(
        "retrieve", "ValidationException", NO_HYBRID, 400, expected_params=retrieve_params("HYBRID")
    )
    stubber.add_response("retrieve", {"retrievalResults": [RESULT]}, retrieve_params("SEMANTIC"))
    assert len(host.retrieve(KB, "on-call")) == 1
    # Remembered: the next query asks for SEMANTIC straight away, sync or async.
    stubber.add_response("retrieve", {"retrievalResults": [RESULT]}, retrieve_params("SEMANTIC"))
    assert len(host.retrieve(KB, "on-call")) == 1
    stubber.add_response("retrieve", {"retrievalResults": [RESULT]}, retrieve_params("SEMANTIC"))
    assert len(asyncio.run(host.aretrieve(KB, "on-call"))) == 1


def test_a_store_without_hybrid_is_an_error_when_hybrid_was_asked_for(bedrock) -> None:
    host, stubber = bedrock
    stubber.add_client_error(
        "retrieve", "ValidationException", NO_HYBRID, 400, expected_params=retrieve_params("HYBRID")
    )
    with pytest.raises(UnsupportedCapabilityError, match="its vector store has no text search") as info:
        host.retrieve(KB, "on-call", search_type="hybrid")
    assert info.value.capability == "hybrid search"
    assert isinstance(info.value.__cause__, BadRequestError) and info.value.__cause__.code == "ValidationException"


def test_another_validation_error_of_a_hybrid_search_is_not_a_refusal(bedrock) -> None:
    host, stubber = bedrock
    stubber.add_client_error(
        "retrieve",
        "ValidationException",
        "numberOfResults is too large",
        400,
        expected_params=retrieve_params("HYBRID"),
    )
    with pytest.raises(BadRequestError, match="numberOfResults is too large"):
        host.retrieve(KB, "on-call")


@pytest.mark.parametrize(("search_type", "override"), [(None, "HYBRID"), ("vector", "SEMANTIC")])
def test_retrieve_and_generate_sends_the_search_type(bedrock, search_type, override) -> None:
    host, stubber = bedrock
    stubber.add_response("retrieve_and_generate", ANSWER, rag_params(override))
    answer = host.retrieve_and_generate(KB, "Who is on call?", model=MODEL, search_type=search_type)
    assert answer.text == "Alex is."


def test_the_provider_option_wins_over_the_portable_one(bedrock) -> None:
    host, stubber = bedrock
    stubber.add_response("retrieve_and_generate", ANSWER, rag_params("SEMANTIC"))
    request = Request.from_prompt("Who is on call?").with_options(RetrieveAndGenerateOptions(search_type="SEMANTIC"))
    host.retrieve_and_generate(KB, request, model=MODEL, search_type="hybrid")


def test_retrieve_and_generate_falls_back_to_semantic_too(bedrock) -> None:
    host, stubber = bedrock
    stubber.add_client_error(
        "retrieve_and_generate", "ValidationException", NO_HYBRID, 400, expected_params=rag_params("HYBRID")
    )
    stubber.add_response("retrieve_and_generate", ANSWER, rag_params("SEMANTIC"))
    assert host.retrieve_and_generate(KB, "Who is on call?", model=MODEL).text == "Alex is."
    stubber.add_client_error(
        "retrieve_and_generate", "ValidationException", NO_HYBRID, 400, expected_params=rag_params("HYBRID")
    )
    with pytest.raises(UnsupportedCapabilityError, match="cannot run a hybrid search"):
        asyncio.run(host.aretrieve_and_generate(KB, "Who is on call?", model=MODEL, search_type="hybrid"))
