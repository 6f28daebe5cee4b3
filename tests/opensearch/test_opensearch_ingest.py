"""Ingestion: insert (upsert by chunk id), replace, repopulate, unchanged chunks, and bulk items that
fail — retried alone when the cluster was busy, reported by chunk id when they cannot be stored."""

from __future__ import annotations

from typing import Any

import pytest
from opensearch_helpers import chunk, chunks, kb
from opensearch_standin import OpenSearchStandIn, iter_bulk_documents

from genai_commons import (
    BadRequestError,
    Chunk,
    ChunkCollection,
    IngestMode,
    RateLimitError,
    ServiceUnavailableError,
    ValidationError,
)
from genai_commons_opensearch import OpenSearchProvider


def stored(standin: OpenSearchStandIn, index: str = "genai-docs") -> dict[str, dict[str, Any]]:
    """What osmem holds, by document id."""
    status, answer = standin.direct("POST", f"/{index}/_search", {"size": 1000, "query": {"match_all": {}}})
    assert status == 200
    return {hit["_id"]: hit["_source"] for hit in answer["hits"]["hits"]}


def bulk_documents(standin: OpenSearchStandIn) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    return [op for call in standin.calls("POST", "_bulk") for op in iter_bulk_documents(call)]


def test_insert_writes_one_document_per_chunk_with_its_id(
    provider: OpenSearchProvider, standin: OpenSearchStandIn
) -> None:
    items = chunks(
        chunk("a", [1.0, 0.0], source_id="s1", source_type="Doc", metadata={"team": "x", "year": "2020"}),
        chunk("b", [0.0, 1.0], source_id="s1", text="second"),
    )
    result = provider.ingest(kb(), items, IngestMode.INSERT)
    assert (result.inserted, result.deleted, result.unchanged) == (2, 0, 0)
    documents = stored(standin)
    assert set(documents) == {"a", "b"}
    assert documents["a"] | {"fingerprint": "-"} == {
        "chunk_id": "a",
        "source_id": "s1",
        "source_type": "Doc",
        "human_readable_id": "a.md",
        "text": "text of a",
        "vector": [1.0, 0.0],
        "metadata": {"team": "x", "year": "2020"},
        "metadata_pairs": ['["team","x"]', '["year","2020"]'],
        "metadata_numbers": [{"key": "year", "value": 2020.0}],
        "fingerprint": "-",
    }
    # Writes wait for a refresh, so the next read sees them.
    assert standin.calls("POST", "_bulk")[0].params == {"refresh": "wait_for"}


def test_unchanged_chunks_are_not_written_again(provider: OpenSearchProvider, standin: OpenSearchStandIn) -> None:
    items = chunks(chunk("a", [1.0, 0.0], source_id="s1"), chunk("b", [0.0, 1.0], source_id="s1"))
    provider.ingest(kb(), items, IngestMode.INSERT)
    standin.reset()
    again = provider.ingest(kb(), items, IngestMode.INSERT)
    assert (again.inserted, again.deleted, again.unchanged) == (0, 0, 2)
    assert standin.calls("POST", "_bulk") == []
    changed = chunks(chunk("a", [1.0, 0.0], source_id="s1", metadata={"new": "1"}), chunk("c", [1.0, 1.0]))
    result = provider.ingest(kb(), changed, IngestMode.INSERT)
    assert (result.inserted, result.deleted, result.unchanged) == (2, 1, 0)  # "a" replaced, "c" added
    assert [meta["_id"] for _, meta, _ in bulk_documents(standin)] == ["a", "c"]
    assert stored(standin)["a"]["metadata"] == {"new": "1"}


def test_the_last_chunk_of_an_id_wins_within_one_call(provider: OpenSearchProvider, standin: OpenSearchStandIn) -> None:
    result = provider.ingest(
        kb(), chunks(chunk("a", [1.0, 0.0], text="first"), chunk("a", [0.0, 1.0], text="second")), IngestMode.INSERT
    )
    assert result.inserted == 1
    assert stored(standin)["a"]["text"] == "second"


def test_replace_writes_first_then_deletes_the_sources_stale_chunks(
    provider: OpenSearchProvider, standin: OpenSearchStandIn
) -> None:
    provider.ingest(
        kb(),
        chunks(
            chunk("s1-a", [1.0, 0.0], source_id="s1"),
            chunk("s1-b", [1.0, 0.5], source_id="s1"),
            chunk("s2-a", [0.0, 1.0], source_id="s2"),
            chunk("loose", [0.5, 0.5]),
        ),
        IngestMode.INSERT,
    )
    standin.reset()
    result = provider.ingest(
        kb(),
        chunks(chunk("s1-a", [1.0, 0.0], source_id="s1"), chunk("s1-c", [0.2, 1.0], source_id="s1")),
        IngestMode.REPLACE,
    )
    assert (result.inserted, result.deleted, result.unchanged) == (1, 1, 1)
    assert set(stored(standin)) == {"s1-a", "s1-c", "s2-a", "loose"}
    paths = [c.path for c in standin.requests if c.method != "GET"]
    assert paths.index("/_bulk") < paths.index("/genai-docs/_delete_by_query")
    delete = standin.calls("POST", "_delete_by_query")[0]
    assert delete.json() == {"query": {"terms": {"chunk_id": ["s1-b"]}}}
    assert delete.params == {"refresh": "true", "conflicts": "proceed"}


def test_repopulate_deletes_everything_first(provider: OpenSearchProvider, standin: OpenSearchStandIn) -> None:
    provider.ingest(kb(), chunks(chunk("a", [1.0, 0.0], source_id="s1"), chunk("b", [0.0, 1.0])), IngestMode.INSERT)
    result = provider.ingest(kb(), chunks(chunk("a", [1.0, 0.0], source_id="s1")), IngestMode.REPOPULATE)
    assert (result.inserted, result.deleted, result.unchanged) == (1, 2, 0)
    assert set(stored(standin)) == {"a"}
    assert standin.calls("POST", "_delete_by_query")[0].json() == {"query": {"match_all": {}}}


def test_repopulate_with_nothing_empties_the_collection(
    provider: OpenSearchProvider, standin: OpenSearchStandIn
) -> None:
    assert provider.ingest(kb(), ChunkCollection(), IngestMode.REPOPULATE).deleted == 0  # no index yet: nothing
    assert standin.calls("PUT") == []
    provider.ingest(kb(), chunks(chunk("a", [1.0, 0.0])), IngestMode.INSERT)
    assert provider.ingest(kb(), ChunkCollection(), IngestMode.REPOPULATE).deleted == 1
    assert stored(standin) == {}


def test_plain_chunks_become_knowledge_base_chunks(provider: OpenSearchProvider, standin: OpenSearchStandIn) -> None:
    provider.ingest(kb(), ChunkCollection(chunks=[Chunk(input_text="plain", vector=[0.5, 0.5])]), IngestMode.INSERT)
    (document,) = stored(standin).values()
    assert document["text"] == "plain" and document["source_id"] is None


def test_chunks_without_vectors_are_refused(provider: OpenSearchProvider, standin: OpenSearchStandIn) -> None:
    with pytest.raises(ValidationError, match="give the knowledge base an embedding model"):
        provider.ingest(kb(), ChunkCollection.of_texts(["no vector"]), IngestMode.INSERT)
    assert standin.requests == []


def test_a_rejected_item_is_retried_alone(provider: OpenSearchProvider, standin: OpenSearchStandIn) -> None:
    standin.fail_bulk_items({"b"}, status=429, times=2)
    items = chunks(chunk("a", [1.0, 0.0]), chunk("b", [0.0, 1.0]), chunk("c", [1.0, 1.0]))
    result = provider.ingest(kb(), items, IngestMode.INSERT)
    assert result.inserted == 3
    assert set(stored(standin)) == {"a", "b", "c"}
    sent = [[meta["_id"] for _, meta, _ in iter_bulk_documents(call)] for call in standin.calls("POST", "_bulk")]
    assert sent == [["a", "b", "c"], ["b"], ["b"]]


def test_a_whole_bulk_request_answered_429_is_sent_again(
    provider: OpenSearchProvider, standin: OpenSearchStandIn
) -> None:
    provider.ingest(kb(), chunks(chunk("seed", [1.0, 0.0])), IngestMode.INSERT)  # the index exists
    standin.fail_next(429, "es_rejected_execution_exception", "busy", path="_bulk")
    assert provider.ingest(kb(), chunks(chunk("a", [1.0, 0.0])), IngestMode.INSERT).inserted == 1
    assert len(standin.calls("POST", "_bulk")) == 3  # seed, the refused one, its resend


def test_items_still_rejected_after_the_retries_are_a_rate_limit(
    make_provider: Any, standin: OpenSearchStandIn
) -> None:
    provider = make_provider(bulk_retries=1)
    standin.fail_bulk_items({"b"}, status=429, times=5)
    with pytest.raises(RateLimitError, match="1 of 2 items") as info:
        provider.ingest(kb(), chunks(chunk("a", [1.0, 0.0]), chunk("b", [0.0, 1.0])), IngestMode.INSERT)
    assert info.value.code == "es_rejected_execution_exception"
    assert '"chunk_id": "b"' in (info.value.body or "")
    assert set(stored(standin)) == {"a"}  # the other item was stored
    assert len(standin.calls("POST", "_bulk")) == 2


def test_items_the_cluster_cannot_store_are_named(provider: OpenSearchProvider, standin: OpenSearchStandIn) -> None:
    standin.fail_bulk_items({"b", "c"}, status=400, kind="mapper_parsing_exception", reason="failed to parse")
    items = chunks(chunk("a", [1.0, 0.0]), chunk("b", [0.0, 1.0]), chunk("c", [1.0, 1.0]))
    with pytest.raises(BadRequestError) as info:
        provider.ingest(kb(), items, IngestMode.INSERT)
    message = str(info.value)
    assert "did not store 2 of 3 items" in message and "chunk 'b'" in message and "chunk 'c'" in message
    assert "mapper_parsing_exception" in message and "ingest them again" in message
    assert info.value.status == 400 and info.value.code == "mapper_parsing_exception"
    assert len(standin.calls("POST", "_bulk")) == 1  # not retried
    assert set(stored(standin)) == {"a"}


def test_items_failing_on_the_server_side_are_retryable(
    provider: OpenSearchProvider, standin: OpenSearchStandIn
) -> None:
    standin.fail_bulk_items({"a"}, status=503, kind="unavailable_shards_exception", reason="primary shard inactive")
    with pytest.raises(ServiceUnavailableError):
        provider.ingest(kb(), chunks(chunk("a", [1.0, 0.0])), IngestMode.INSERT)


def test_bulk_requests_are_split_by_count_and_bytes(make_provider: Any, standin: OpenSearchStandIn) -> None:
    provider = make_provider(bulk_batch_size=2)
    items = chunks(*(chunk(f"c{i}", [1.0, float(i)]) for i in range(5)))
    assert provider.ingest(kb(), items, IngestMode.INSERT).inserted == 5
    assert [len(list(iter_bulk_documents(c))) for c in standin.calls("POST", "_bulk")] == [2, 2, 1]
    standin.reset()
    small = make_provider(bulk_max_bytes=1024, index_prefix="small-")
    big = chunks(*(chunk(f"d{i}", [1.0, float(i)], text="x" * 600) for i in range(3)))
    assert small.ingest(kb(), big, IngestMode.INSERT).inserted == 3
    assert len(standin.calls("POST", "_bulk")) == 3
    assert all(len(c.body) <= 1024 + 700 for c in standin.calls("POST", "_bulk"))
