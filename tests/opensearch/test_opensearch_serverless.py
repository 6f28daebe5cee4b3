"""Amazon OpenSearch Serverless rules: every operation works without custom document ids, without
``refresh`` and without ``_delete_by_query`` (the stand-in refuses all three, as Serverless does)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opensearch_helpers import chunk, chunks, kb, settings_for
from opensearch_standin import OpenSearchStandIn, iter_bulk_documents
from osmem_server import OsmemClone

from genai_commons import BadRequestError, Eq, IngestMode, RetrievalQuery
from genai_commons_opensearch import OpenSearchProvider


@pytest.fixture
def aoss(osmem_clone: OsmemClone) -> Iterator[OpenSearchStandIn]:
    with OpenSearchStandIn(osmem_clone.url, serverless=True) as proxy:
        yield proxy


@pytest.fixture
def serverless(aoss: OpenSearchStandIn) -> Iterator[OpenSearchProvider]:
    provider = OpenSearchProvider()
    provider.configure(settings_for(aoss.url, serverless=True, scan_page_size=2))
    yield provider
    provider.close()


def documents(aoss: OpenSearchStandIn) -> list[dict[str, object]]:
    status, answer = aoss.direct("POST", "/genai-docs/_search", {"size": 100, "query": {"match_all": {}}})
    assert status == 200
    return sorted((hit["_source"] for hit in answer["hits"]["hits"]), key=lambda s: str(s["chunk_id"]))


def test_the_stand_in_refuses_what_serverless_refuses(aoss: OpenSearchStandIn) -> None:
    cluster_style = OpenSearchProvider()
    cluster_style.configure(settings_for(aoss.url))
    try:
        with pytest.raises(BadRequestError, match="refresh"):
            cluster_style.ingest(kb(), chunks(chunk("a", [1.0, 0.0])), IngestMode.INSERT)
    finally:
        cluster_style.close()


def test_ingest_upserts_by_chunk_id_without_document_ids(
    serverless: OpenSearchProvider, aoss: OpenSearchStandIn
) -> None:
    first = serverless.ingest(
        kb(), chunks(chunk("a", [1.0, 0.0], source_id="s1"), chunk("b", [0.0, 1.0], source_id="s1")), IngestMode.INSERT
    )
    assert (first.inserted, first.deleted) == (2, 0)
    again = serverless.ingest(
        kb(),
        chunks(chunk("a", [1.0, 0.0], source_id="s1", text="changed"), chunk("b", [0.0, 1.0], source_id="s1")),
        IngestMode.INSERT,
    )
    assert (again.inserted, again.deleted, again.unchanged) == (1, 1, 1)
    assert [(d["chunk_id"], d["text"]) for d in documents(aoss)] == [("a", "changed"), ("b", "text of b")]
    for call in aoss.calls("POST", "_bulk"):
        assert call.params == {}
        for op, meta, _ in iter_bulk_documents(call):
            assert op == "delete" or "_id" not in meta


def test_replace_repopulate_and_deletes(serverless: OpenSearchProvider, aoss: OpenSearchStandIn) -> None:
    items = [chunk(f"{s}-{n}", [1.0, float(n)], source_id=s) for s in ("s1", "s2") for n in range(3)]
    serverless.ingest(kb(), chunks(*items), IngestMode.INSERT)
    replaced = serverless.ingest(kb(), chunks(chunk("s1-new", [0.5, 0.5], source_id="s1")), IngestMode.REPLACE)
    assert (replaced.inserted, replaced.deleted) == (1, 3)
    assert serverless.stored_chunk_ids(kb(), ["s1", "s2"]) == {
        "s1": frozenset({"s1-new"}),
        "s2": frozenset({"s2-0", "s2-1", "s2-2"}),
    }
    assert serverless.delete_chunks(kb(), ["s2"]) == 3
    assert [d["chunk_id"] for d in documents(aoss)] == ["s1-new"]
    repopulated = serverless.ingest(kb(), chunks(chunk("only", [1.0, 0.0])), IngestMode.REPOPULATE)
    assert (repopulated.inserted, repopulated.deleted) == (1, 1)
    assert serverless.delete_chunks(kb(), None) == 1
    assert aoss.calls("POST", "_delete_by_query") == []
    assert all("refresh" not in call.params for call in aoss.requests)


def test_retrieve_and_list(serverless: OpenSearchProvider) -> None:
    serverless.ingest(
        kb(), chunks(chunk("a", [1.0, 0.0], metadata={"k": "v"}), chunk("b", [0.0, 1.0])), IngestMode.INSERT
    )
    found = serverless.retrieve(kb(), RetrievalQuery(vector=[1.0, 0.1], k=1, filter=Eq(key="k", value="v")))
    assert [c.chunk_id for c in found] == ["a"]
    assert [c.chunk_id for c in serverless.list_chunks(kb(), None, 0, 10)] == ["a", "b"]
    assert serverless.drop_collection(kb()) is True
