"""Knowledge bases: ListKnowledgeBases and GetKnowledgeBase as KnowledgeBase objects, Retrieve with
its number of results, filter, paging and minimum similarity, the results as chunks with their
source location — against botocore's Stubber (which checks every request and answer against the
service model) and, end to end, the local service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from genai_commons import (
    Host,
    KnowledgeBase,
    MissingCredentialsError,
    NotFoundError,
    RetrievalQuery,
    UnknownModelError,
    ValidationError,
)
from genai_commons.model import And, Eq, In, Not, Or, Range
from genai_commons_bedrock import BedrockProvider
from genai_commons_bedrock.testing import Document, LocalBedrock, attach

UPDATED = datetime(2024, 5, 1, tzinfo=UTC)


def summary(kb_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"knowledgeBaseId": kb_id, "name": name, "status": "ACTIVE", "updatedAt": UPDATED, **extra}


@pytest.fixture
def bedrock(make_host: Callable[..., Host], session: Any) -> tuple[Host, BedrockProvider]:
    plugin = BedrockProvider(session=session)
    return make_host(plugin), plugin


@pytest.fixture
def stub(bedrock: tuple[Host, BedrockProvider]) -> Iterator[Callable[[str], Stubber]]:
    """``stub(service)``: an active Stubber on the provider's client of that service."""
    stubbers: list[Stubber] = []

    def make(service: str) -> Stubber:
        stubber = Stubber(bedrock[1].clients.client(service))
        stubber.activate()
        stubbers.append(stubber)
        return stubber

    yield make
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def test_knowledge_bases_are_listed_page_by_page(bedrock, stub) -> None:
    host, _ = bedrock
    agent = stub("bedrock-agent")
    agent.add_response(
        "list_knowledge_bases",
        {"knowledgeBaseSummaries": [summary("KB00000001", "handbook", description="HR")], "nextToken": "page-2"},
        {},
    )
    agent.add_response(
        "list_knowledge_bases",
        {"knowledgeBaseSummaries": [summary("KB00000002", "wiki"), summary("KB00000003", "old", status="DELETING")]},
        {"nextToken": "page-2"},
    )
    listed = host.knowledge_bases("bedrock")
    assert [(kb.name, kb.collection, kb.description, kb.embedding_model) for kb in listed] == [
        ("handbook", "KB00000001", "HR", None),  # Bedrock embeds server-side: no embedding model
        ("wiki", "KB00000002", None, None),
    ]
    # Listed knowledge bases are known: naming one asks Bedrock nothing more.
    assert host.knowledge_base("bedrock:wiki").collection == "KB00000002"


def test_a_knowledge_base_is_resolved_by_id_or_by_name(bedrock, stub) -> None:
    host, _ = bedrock
    agent = stub("bedrock-agent")
    described = {
        "knowledgeBaseId": "KB00000001",
        "name": "handbook",
        "knowledgeBaseArn": "arn:aws:bedrock:us-east-1:123456789012:knowledge-base/KB00000001",
        "roleArn": "arn:aws:iam::123456789012:role/kb",
        "knowledgeBaseConfiguration": {"type": "VECTOR"},
        "status": "ACTIVE",
        "createdAt": UPDATED,
        "updatedAt": UPDATED,
    }
    agent.add_response("get_knowledge_base", {"knowledgeBase": described}, {"knowledgeBaseId": "KB00000001"})
    assert host.knowledge_base("bedrock:KB00000001").name == "handbook"
    # A name that looks like an id: GetKnowledgeBase does not know it, the listing does.
    agent.add_client_error("get_knowledge_base", "ResourceNotFoundException", http_status_code=404)
    agent.add_response("list_knowledge_bases", {"knowledgeBaseSummaries": [summary("KB00000009", "handbook24")]}, {})
    assert host.knowledge_base("bedrock:handbook24").collection == "KB00000009"
    agent.add_response("list_knowledge_bases", {"knowledgeBaseSummaries": []}, {})
    with pytest.raises(UnknownModelError, match="provider 'bedrock' has no knowledge base 'absent'"):
        host.knowledge_base("bedrock:absent")


def test_a_configured_knowledge_base_names_its_id(make_host, session, stub) -> None:
    service = attach(session, LocalBedrock())
    service.add_knowledge_base("handbook", [Document(uri="s3://b/a.md", text="alpha")], knowledge_base_id="KBHANDBOOK")
    host = make_host(BedrockProvider(session=session))
    host.config.knowledge_bases["hr"] = {"provider": "bedrock", "collection": "KBHANDBOOK"}
    kb = host.knowledge_base("hr")
    assert (kb.provider, kb.name, kb.collection, kb.embedding_model) == ("bedrock", "hr", "KBHANDBOOK", None)
    assert host.retrieve("hr", "alpha").chunks[0].input_text == "alpha"


def result(text: str, score: float, uri: str = "s3://docs/guide.pdf", **metadata: Any) -> dict[str, Any]:
    return {
        "content": {"text": text, "type": "TEXT"},
        "location": {"type": "S3", "s3Location": {"uri": uri}},
        "score": score,
        "metadata": {"x-amz-bedrock-kb-source-uri": uri, **metadata},
    }


KB = "bedrock:KB00000001"
CHUNK_ID = "x-amz-bedrock-kb-chunk-id"


@pytest.fixture
def known(bedrock) -> Host:
    """The host, with knowledge base KB00000001 known to the provider (no lookup call)."""
    host, plugin = bedrock
    plugin._knowledge_bases["KB00000001"] = KnowledgeBase(provider="bedrock", name="handbook", collection="KB00000001")
    return host


def test_retrieve_sends_the_query_count_and_filter_and_maps_the_results(known, stub) -> None:
    runtime = stub("bedrock-agent-runtime")
    expected = {
        "knowledgeBaseId": "KB00000001",
        "retrievalQuery": {"text": "on-call rotation"},
        "retrievalConfiguration": {
            "vectorSearchConfiguration": {
                "numberOfResults": 3,
                "overrideSearchType": "HYBRID",  # the default search type, which Bedrock offers
                "filter": {
                    "andAll": [
                        {"equals": {"key": "team", "value": "platform"}},
                        {"greaterThanOrEquals": {"key": "year", "value": 2023}},
                    ]
                },
            }
        },
    }
    answer = {
        "retrievalResults": [
            result(
                "Rotation changes on Monday.", 0.82, team="platform", year=2024, **{"x-amz-bedrock-kb-chunk-id": "c1"}
            ),
            {
                "content": {"text": "Weekend shifts are split."},
                "location": {"type": "WEB", "webLocation": {"url": "https://wiki.example.com/oncall"}},
                "score": 0.61,
                "metadata": {"title": "On call", "tags": ["a", "b"], "draft": False},
            },
        ]
    }
    runtime.add_response("retrieve", answer, expected)
    query = RetrievalQuery(
        text="on-call rotation", k=3, metadata={"team": "platform"}, filter=Range(key="year", gte=2023)
    )
    first, second = known.retrieve(KB, query).chunks
    assert (first.input_text, first.similarity, first.chunk_id) == ("Rotation changes on Monday.", 0.82, "c1")
    assert (first.human_readable_id, first.source_id, first.source_type) == ("guide.pdf", "s3://docs/guide.pdf", "S3")
    assert first.metadata.as_dict() == {
        "x-amz-bedrock-kb-source-uri": "s3://docs/guide.pdf",
        "team": "platform",
        "year": "2024",
        "x-amz-bedrock-kb-chunk-id": "c1",
        "sourceUrl": "s3://docs/guide.pdf",
        "locationType": "S3",
    }
    assert second.metadata.get("sourceUrl") == "https://wiki.example.com/oncall"
    assert (second.metadata.get("locationType"), second.human_readable_id) == ("WEB", "On call")
    assert (second.metadata.get("tags"), second.metadata.get("draft")) == ('["a","b"]', "false")
    assert len(second.chunk_id) == 32  # no chunk id from Bedrock: a stable one of source and text


def test_retrieve_follows_next_token_and_applies_min_similarity(known, stub) -> None:
    runtime = stub("bedrock-agent-runtime")
    base = {
        "knowledgeBaseId": "KB00000001",
        "retrievalQuery": {"text": "q"},
        "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 3, "overrideSearchType": "HYBRID"}},
    }
    runtime.add_response("retrieve", {"retrievalResults": [result("one", 0.9)], "nextToken": "t2"}, base)
    runtime.add_response(
        "retrieve", {"retrievalResults": [result("two", 0.7), result("low", 0.2)], "nextToken": "t3"},
        {**base, "nextToken": "t2"},
    )  # fmt: skip
    runtime.add_response("retrieve", {"retrievalResults": [result("three", 0.5)]}, {**base, "nextToken": "t3"})
    found = known.retrieve(KB, RetrievalQuery(text="q", k=3, min_similarity=0.4))
    assert [c.input_text for c in found] == ["one", "two", "three"]
    assert found.duration_ms is not None


def test_retrieve_asks_at_most_100_results_a_call_and_clamps_scores(known, stub) -> None:
    runtime = stub("bedrock-agent-runtime")
    expected = {
        "knowledgeBaseId": "KB00000001",
        "retrievalQuery": {"text": "q"},
        "retrievalConfiguration": {
            "vectorSearchConfiguration": {"numberOfResults": 100, "overrideSearchType": "HYBRID"}
        },
    }
    runtime.add_response("retrieve", {"retrievalResults": [result("hybrid", 1.7)]}, expected)
    (chunk,) = known.retrieve(KB, "q", k=250)
    assert chunk.similarity == 1.0


def test_retrieve_needs_a_text_and_maps_a_missing_knowledge_base(known, stub) -> None:
    with pytest.raises(ValidationError, match="embeds queries itself"):
        known.retrieve(KB, RetrievalQuery(vector=[0.1, 0.2]))
    runtime = stub("bedrock-agent-runtime")
    runtime.add_client_error(
        "retrieve", "ResourceNotFoundException", "Knowledge Base with id KB00000001 does not exist", 404
    )
    with pytest.raises(NotFoundError, match=r"knowledge base KB00000001.*Check the knowledge base id") as info:
        known.retrieve(KB, "q")
    assert info.value.code == "ResourceNotFoundException" and info.value.__cause__ is not None


def test_no_credentials_lists_nothing_but_retrieving_says_what_to_do(make_host, monkeypatch) -> None:
    import boto3

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    host = make_host(BedrockProvider(session=boto3.Session()))
    assert host.knowledge_bases("bedrock") == []
    with pytest.raises(MissingCredentialsError, match="configure AWS credentials"):
        host.knowledge_base("bedrock:handbook")


# -- filters, end to end against the local service's evaluation of Bedrock's filter ----------------

DOCUMENTS = [
    Document(uri="s3://kb/a.md", text="alpha report", metadata={"team": "red", "year": 2023, "draft": True}),
    Document(uri="s3://kb/b.md", text="beta report", metadata={"team": "blue", "year": 2024, "draft": False}),
    Document(uri="s3://kb/c.md", text="gamma report", metadata={"team": "red", "year": "2025", "draft": False}),
    Document(uri="s3://kb/d.md", text="delta report", metadata={"team": "green", "year": 2022.5, "draft": True}),
]
FILTERS = [
    Eq(key="team", value="red"),
    Eq(key="year", value="2024"),
    Eq(key="draft", value="true"),
    In(key="year", values=["2023", "2025"]),
    Range(key="year", gt=2022.5, lte=2024),
    Not(filter=Eq(key="team", value="red")),
    Not(filter=In(key="team", values=["red", "blue"])),
    Not(filter=Range(key="year", gte=2023)),
    And(filters=[Eq(key="team", value="red"), Not(filter=Eq(key="draft", value="true"))]),
    Or(filters=[Eq(key="team", value="green"), Range(key="year", lt=2023.5)]),
    Not(filter=Or(filters=[Eq(key="team", value="red"), Eq(key="team", value="blue")])),
    Not(filter=And(filters=[Eq(key="team", value="red"), Eq(key="draft", value="true")])),
    And(filters=[]),
    Or(filters=[And(filters=[]), Eq(key="team", value="none")]),
]


def _as_strings(metadata: dict[str, Any]) -> dict[str, str]:
    return {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in metadata.items()}


@pytest.mark.parametrize("search_type", ["vector", "hybrid"])  # the search types Bedrock runs
@pytest.mark.parametrize("portable", FILTERS, ids=repr)
def test_portable_filters_select_what_they_select_in_memory(make_host, session, portable, search_type) -> None:
    service = attach(session, LocalBedrock())
    service.add_knowledge_base("reports", DOCUMENTS, knowledge_base_id="KBREPORTS1")
    host = make_host(BedrockProvider(session=session))
    query = RetrievalQuery(text="report", k=10, filter=portable, search_type=search_type)
    found = host.retrieve("bedrock:KBREPORTS1", query)
    expected = {d.uri for d in DOCUMENTS if portable.matches(_as_strings(dict(d.metadata)))}
    assert {c.source_id for c in found} == expected


def test_a_filter_that_matches_nothing_is_refused(known) -> None:
    with pytest.raises(ValidationError, match="can match no chunk"):
        known.retrieve(KB, RetrievalQuery(text="q", filter=Not(filter=And(filters=[]))))


def test_a_web_source_through_the_local_service(make_host, session) -> None:
    service = attach(session, LocalBedrock())
    service.add_knowledge_base("web", [Document(uri="https://example.com/a", text="web page")])
    host = make_host(BedrockProvider(session=session))
    (chunk,) = host.retrieve("bedrock:web", "web page")
    assert (chunk.metadata.get("locationType"), chunk.metadata.get("sourceUrl")) == ("WEB", "https://example.com/a")
    assert (chunk.source_type, chunk.similarity) == ("WEB", 1.0)
