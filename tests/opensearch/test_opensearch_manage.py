"""Collection management: stored chunk ids, deletes, listing chunks and collections, dropping."""

from __future__ import annotations

from typing import Any

import pytest
from opensearch_helpers import chunk, chunks, kb
from opensearch_standin import OpenSearchStandIn

from genai_commons import DeployedModel, Eq, IngestMode, Modality, Not
from genai_commons_opensearch import OpenSearchProvider

MODEL = DeployedModel(provider="fake", model_id="embed", output_modality=Modality.EMBEDDINGS)


def fill(provider: OpenSearchProvider, collection: str = "docs") -> None:
    items = [
        chunk(f"{source}-{n}", [1.0, float(n)], source_id=source, metadata={"n": str(n)})
        for source in ("s1", "s2", "s3")
        for n in range(3)
    ]
    items.append(chunk("loose", [0.0, 1.0]))
    provider.ingest(kb(collection), chunks(*items), IngestMode.INSERT)


def test_stored_chunk_ids_by_source_paged(make_provider: Any, standin: OpenSearchStandIn) -> None:
    provider = make_provider(scan_page_size=2)
    fill(provider)
    standin.reset()
    found = provider.stored_chunk_ids(kb(), ["s1", "s3", "absent", "s1"])
    assert found == {"s1": frozenset({"s1-0", "s1-1", "s1-2"}), "s3": frozenset({"s3-0", "s3-1", "s3-2"})}
    pages = [c.json() for c in standin.calls("POST", "_search")]
    assert len(pages) == 4  # 6 hits in pages of 2, then an empty page
    assert pages[0]["query"] == {"terms": {"source_id": ["s1", "s3", "absent"]}}
    assert "search_after" not in pages[0] and pages[1]["search_after"] == ["s1", "s1-1"]
    assert provider.stored_chunk_ids(kb(), []) == {}
    assert provider.stored_chunk_ids(kb("never-made"), ["s1"]) == {}


def test_delete_chunks_by_source_and_all(provider: OpenSearchProvider, standin: OpenSearchStandIn) -> None:
    fill(provider)
    assert provider.delete_chunks(kb(), ["s2", "absent"]) == 3
    assert standin.calls("POST", "_delete_by_query")[0].json() == {"query": {"terms": {"source_id": ["s2", "absent"]}}}
    assert set(provider.stored_chunk_ids(kb(), ["s1", "s2", "s3"])) == {"s1", "s3"}
    assert provider.delete_chunks(kb(), None) == 7
    assert provider.list_chunks(kb(), None, 0, 10) == []
    assert provider.knowledge_bases()[0].collection == "docs"  # the collection stays
    assert provider.delete_chunks(kb("never-made"), None) == 0


def test_list_chunks_in_order_and_by_page(provider: OpenSearchProvider) -> None:
    fill(provider)
    everything = provider.list_chunks(kb(), None, 0, 100)
    expected = ["loose", *(f"{s}-{n}" for s in ("s1", "s2", "s3") for n in range(3))]  # no source first
    assert [c.chunk_id for c in everything] == expected
    assert all(c.vector is None and c.similarity is None for c in everything)
    pages = [provider.list_chunks(kb(), None, offset, 4) for offset in (0, 4, 8)]
    assert [c.chunk_id for page in pages for c in page] == expected
    assert [len(p) for p in pages] == [4, 4, 2]
    assert provider.list_chunks(kb(), None, 50, 10) == []
    filtered = provider.list_chunks(kb(), Not(filter=Eq(key="n", value="1")), 0, 100)
    assert [c.chunk_id for c in filtered] == [c for c in expected if not c.endswith("-1")]
    assert provider.list_chunks(kb("never-made"), None, 0, 10) == []


def test_pages_beyond_the_result_window_are_walked(make_provider: Any, standin: OpenSearchStandIn) -> None:
    provider = make_provider(max_result_window=4, scan_page_size=3)
    fill(provider)
    expected = ["loose", *(f"{s}-{n}" for s in ("s1", "s2", "s3") for n in range(3))]
    standin.reset()
    page = provider.list_chunks(kb(), None, 3, 4)
    assert [c.chunk_id for c in page] == expected[3:7]
    searches = [c.json() for c in standin.calls("POST", "_search")]
    assert all("from" not in s and s["size"] == 3 for s in searches)  # search_after, never from + size > 4
    assert [c.chunk_id for c in provider.list_chunks(kb(), Eq(key="n", value="2"), 1, 4)] == ["s2-2", "s3-2"]


def test_list_and_drop_collections(make_provider: Any, standin: OpenSearchStandIn) -> None:
    provider = make_provider()
    provider.ingest(
        kb("Alpha", embedding_model=MODEL, description="first"), chunks(chunk("a", [1.0])), IngestMode.INSERT
    )
    provider.ingest(kb("beta"), chunks(chunk("b", [1.0, 0.0])), IngestMode.INSERT)
    other = make_provider(index_prefix="team2-")
    other.ingest(kb("gamma"), chunks(chunk("g", [1.0])), IngestMode.INSERT)
    listed = provider.knowledge_bases()
    assert [(k.name, k.collection, k.embedding_model, k.description) for k in listed] == [
        ("Alpha", "Alpha", MODEL, "first"),
        ("beta", "beta", None, None),
    ]
    assert all(k.provider == "opensearch" for k in listed)
    assert [k.name for k in other.knowledge_bases()] == ["gamma"]  # prefixes keep deployments apart
    assert provider.drop_collection(kb("alpha")) is True
    assert standin.calls("DELETE") and standin.calls("DELETE")[-1].path == "/genai-alpha"
    assert provider.drop_collection(kb("alpha")) is False
    assert [k.name for k in provider.knowledge_bases()] == ["beta"]
    assert [k.name for k in other.knowledge_bases()] == ["gamma"]


def test_resolving_a_collection_reads_its_model(provider: OpenSearchProvider) -> None:
    assert provider.resolve_knowledge_base("docs") is None
    provider.ingest(kb("docs", embedding_model=MODEL), chunks(chunk("a", [1.0, 0.0])), IngestMode.INSERT)
    found = provider.resolve_knowledge_base("DOCS")
    assert found is not None and (found.name, found.collection, found.embedding_model) == ("DOCS", "docs", MODEL)
    assert provider.resolve_knowledge_base("not a name") is None


@pytest.mark.parametrize("method", ["knowledge_bases", "resolve"])
def test_without_a_url_discovery_is_empty_and_quiet(method: str) -> None:
    provider = OpenSearchProvider()  # not configured: no url
    if method == "knowledge_bases":
        assert provider.knowledge_bases() == ()
    else:
        assert provider.resolve_knowledge_base("docs") is None
