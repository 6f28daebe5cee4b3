"""Knowledge bases through /knowledge-bases: every provider method of the knowledge-base design."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from genai_commons import (
    ChunkCollection,
    Eq,
    Host,
    In,
    IngestMode,
    KnowledgeBase,
    MetadataCollection,
    Not,
    NotFoundError,
    RetrievalQuery,
    ValidationError,
)
from genai_commons_mxcloud import MxCloudProvider
from genai_commons_mxcloud.testing import FakeMxCloud

TOPICS = ["pets", "billing", "travel"]


def chunks(count: int, *, sources: int = 10, prefix: str = "chunk", long: int = 0) -> ChunkCollection:
    collection = ChunkCollection()
    for i in range(count):
        collection = collection.add_knowledge_base_chunk(
            f"{prefix} {i} about {TOPICS[i % 3]}" + "x" * long,
            f"{prefix}-{i}.md",
            source_id=f"src-{i % sources:03d}",
            source_type="Doc",
            metadata={"topic": TOPICS[i % 3], "n": str(i)},
            chunk_id=f"{prefix}-{i:05d}",
        )
    return collection


@pytest.fixture
def kb(host: Host) -> KnowledgeBase:
    return host.knowledge_base("mxcloud:kb/docs")


def inserted(service: FakeMxCloud) -> list[int]:
    return sorted(len(c.body["chunks"]) for c in service.calls("/knowledge-bases/docs/chunks") if c.method == "POST")


def test_ingest_embeds_then_inserts_in_batches_of_100(host: Host, kb: KnowledgeBase, service: FakeMxCloud) -> None:
    result = host.ingest(kb, chunks(250))
    assert (result.inserted, result.deleted) == (250, 0)
    assert inserted(service) == [50, 100, 100]
    assert all(c.headers["content-type"] == "application/json" for c in service.requests)
    posted = [
        chunk for c in service.calls("/knowledge-bases/docs/chunks") if c.method == "POST" for chunk in c.body["chunks"]
    ]
    first = next(chunk for chunk in posted if chunk["chunkId"] == "chunk-00000")  # batches run concurrently
    assert set(first) == {"chunkId", "humanReadableId", "vector", "key", "value", "chunkType", "mxObjectId",
                          "mxEntity", "metadata"}  # fmt: skip
    assert first["chunkId"] == "chunk-00000" and first["mxObjectId"] == "src-000" and first["mxEntity"] == "Doc"
    assert first["metadata"] == [{"name": "topic", "value": "pets"}, {"name": "n", "value": "0"}]
    assert len(first["vector"]) == 16 and first["key"] == "chunk 0 about pets"
    embed_calls = service.calls("/invoke")
    assert sorted(len(c.body["texts"]) for c in embed_calls) == [58, 96, 96]  # the host embeds, 96 at most
    assert {c.body["input_type"] for c in embed_calls} == {"search_document"}


def test_ingest_runs_several_batches_at_once_but_no_more_than_the_concurrency(
    make_mx_host: Callable[..., Host], service: FakeMxCloud
) -> None:
    host = make_mx_host(concurrency=3)
    kb = host.knowledge_base("mxcloud:kb/docs")
    prepared = host.embed("mxcloud:kb/embeddings", chunks(1000)).chunks
    service.delay = 0.02
    host.ingest(kb, prepared)
    assert inserted(service) == [100] * 10
    assert 2 <= service.max_in_flight <= 3


def test_chunk_text_is_checked_before_anything_is_sent(host: Host, kb: KnowledgeBase, service: FakeMxCloud) -> None:
    provider = host.plugin_manager.get_plugin("mxcloud")
    embedded = host.embed("mxcloud:kb/embeddings", chunks(3)).chunks
    too_long = ChunkCollection(chunks=[*embedded, *host.embed("mxcloud:kb/embeddings", chunks(1, long=2048)).chunks])
    service.requests.clear()
    with pytest.raises(ValidationError, match=r"chunk 4 \('chunk-0.md'\) has 2066 characters; .* at most 2048"):
        provider.ingest(kb, too_long, IngestMode.INSERT)
    with pytest.raises(ValidationError, match="has no vector: ingest through the host"):
        provider.ingest(kb, chunks(2), IngestMode.INSERT)
    assert service.requests == []


def test_inserting_a_chunk_id_again_replaces_it(host: Host, kb: KnowledgeBase) -> None:
    host.ingest(kb, chunks(5))
    host.ingest(kb, chunks(5, prefix="chunk"))
    assert len(host.list_chunks(kb, limit=100)) == 5


def test_replace_deletes_the_chunks_of_the_sources_first(host: Host, kb: KnowledgeBase, service: FakeMxCloud) -> None:
    host.ingest(kb, chunks(30, sources=3))  # 10 chunks per source
    service.requests.clear()
    replacement = chunks(4, sources=2, prefix="new")  # sources src-000 and src-001
    result = host.ingest(kb, replacement, IngestMode.REPLACE)
    assert (result.inserted, result.deleted) == (4, 20)
    deletes = [c for c in service.requests if c.method == "DELETE"]
    assert sorted(c.query["mxObjectId"] for c in deletes) == ["src-000", "src-001"]
    left = host.stored_chunk_ids(kb, ["src-000", "src-001", "src-002"])
    assert {s: len(ids) for s, ids in left.items()} == {"src-000": 2, "src-001": 2, "src-002": 10}


def test_repopulate_deletes_the_collection_first(host: Host, kb: KnowledgeBase, service: FakeMxCloud) -> None:
    host.ingest(kb, chunks(12))
    result = host.ingest(kb, chunks(3, prefix="fresh"), IngestMode.REPOPULATE)
    assert (result.inserted, result.deleted) == (3, 12)
    assert any(c.method == "DELETE" and c.path == "/knowledge-bases/docs" for c in service.requests)
    assert sorted(c.chunk_id for c in host.list_chunks(kb)) == ["fresh-00000", "fresh-00001", "fresh-00002"]


def test_retrieve_sends_k_the_vector_and_exact_metadata_filters(
    host: Host, kb: KnowledgeBase, service: FakeMxCloud
) -> None:
    host.ingest(kb, chunks(30))
    service.requests.clear()
    query = RetrievalQuery(text="chunk about pets", k=3, metadata=MetadataCollection.of(topic="pets"))
    result = host.retrieve(kb, query)
    assert len(result) == 3 and all(c.metadata.get("topic") == "pets" for c in result)
    similarities = [c.similarity for c in result]
    assert similarities == sorted(similarities, reverse=True)  # type: ignore[type-var]
    [call] = service.calls("/knowledge-bases/docs/similarity")
    assert call.body["k"] == 3 and len(call.body["targetVector"]) == 16
    assert call.body["metadataFilters"] == [{"name": "topic", "value": "pets"}]
    assert service.calls("/invoke")[0].body["input_type"] == "search_query"
    assert all(c.vector is None for c in result)


def test_min_similarity_is_applied_to_the_answer(host: Host, kb: KnowledgeBase) -> None:
    host.ingest(kb, chunks(30))
    every = host.retrieve(kb, RetrievalQuery(text="chunk 7 about travel", k=30))
    floor = every.chunks[4].similarity
    assert floor is not None
    kept = host.retrieve(kb, RetrievalQuery(text="chunk 7 about travel", k=30, min_similarity=floor))
    assert [c.chunk_id for c in kept] == [c.chunk_id for c in every if (c.similarity or -2) >= floor]


def test_portable_filters_are_evaluated_on_an_over_fetched_answer(
    host: Host, kb: KnowledgeBase, service: FakeMxCloud
) -> None:
    host.ingest(kb, chunks(60))
    service.requests.clear()
    flt = In(key="topic", values=["pets", "travel"])
    query = RetrievalQuery(text="chunk", k=4, filter=flt, metadata=MetadataCollection.of(n="3"))
    result = host.retrieve(kb, query)
    [call] = service.calls("/knowledge-bases/docs/similarity")
    assert call.body["k"] == 40  # filter_overfetch (10) times k
    assert call.body["metadataFilters"] == [{"name": "n", "value": "3"}]  # the exact part still goes to the service
    assert [c.chunk_id for c in result] == ["chunk-00003"]  # about pets
    query = RetrievalQuery(text="chunk", k=4, filter=flt, metadata=MetadataCollection.of(n="4"))
    assert len(host.retrieve(kb, query)) == 0  # chunk 4 is about billing
    result = host.retrieve(kb, RetrievalQuery(text="chunk", k=4, filter=Not(filter=Eq(key="topic", value="pets"))))
    assert len(result) == 4 and all(c.metadata.get("topic") != "pets" for c in result)


def test_retrieving_from_a_missing_collection_says_how_to_create_it(host: Host) -> None:
    kb = host.knowledge_base("mxcloud:kb/missing")
    with pytest.raises(
        NotFoundError, match=r"no collection 'missing': create it with `genai kb ingest mxcloud:kb/missing"
    ):
        host.retrieve(kb, "anything")


@pytest.mark.parametrize("small", [True, False])
def test_stored_chunk_ids_from_the_whole_collection_or_per_source(
    host: Host, kb: KnowledgeBase, service: FakeMxCloud, small: bool
) -> None:
    """Whichever takes fewer calls: one page holds a small collection; a large one is listed per source."""
    host.ingest(kb, chunks(40 if small else 1200, sources=4))
    service.requests.clear()
    stored = host.stored_chunk_ids(kb, ["src-001", "absent"])
    assert set(stored) == {"src-001"}
    count = 10 if small else 300
    assert stored["src-001"] == frozenset(f"chunk-{i:05d}" for i in range(1, count * 4, 4))
    listings = [c.query for c in service.calls("/knowledge-bases/docs/chunks") if c.method == "GET"]
    if small:
        assert listings == [{"pageNumber": "0", "pageSize": "500"}]
    else:  # three pages of the whole collection would be more calls than the two sources take
        assert sorted(str(q.get("mxObjectId")) for q in listings) == ["None", "absent", "src-001"]


def test_stored_chunk_ids_of_a_missing_collection_is_empty(host: Host) -> None:
    assert host.stored_chunk_ids(host.knowledge_base("mxcloud:kb/none"), ["a"]) == {}


def test_list_chunks_pages_in_a_stable_order_with_filters(host: Host, kb: KnowledgeBase, service: FakeMxCloud) -> None:
    host.ingest(kb, chunks(1200, sources=7))  # more than two pages of the service's listing
    service.requests.clear()
    page = host.list_chunks(kb, offset=10, limit=5)
    everything = host.list_chunks(kb, limit=10_000)
    assert len(everything) == 1200 and page == everything[10:15]
    assert everything == sorted(everything, key=lambda c: (c.source_id or "", c.chunk_id))
    assert all(c.vector is None and c.input_text for c in everything)
    pages = sorted(int(c.query["pageNumber"]) for c in service.calls("/knowledge-bases/docs/chunks"))
    assert pages[:3] == [0, 0, 1]
    billing = host.list_chunks(kb, Eq(key="topic", value="billing"), limit=10_000)
    assert len(billing) == 400 and {c.metadata.get("topic") for c in billing} == {"billing"}


def test_delete_by_sources_and_all(host: Host, kb: KnowledgeBase, service: FakeMxCloud) -> None:
    host.ingest(kb, chunks(30, sources=3))
    assert host.delete_chunks(kb, ["src-000", "absent"]) == 10
    assert sorted({c.source_id for c in host.list_chunks(kb)}) == ["src-001", "src-002"]
    assert host.delete_chunks(kb) == 20
    assert host.list_chunks(kb) == []
    assert host.delete_chunks(kb) == 0


def test_drop_collection_and_list_collections(host: Host, service: FakeMxCloud) -> None:
    for name in ("alpha", "beta"):
        host.ingest(host.knowledge_base(f"mxcloud:kb/{name}"), chunks(2))
    listed = host.knowledge_bases("mxcloud")
    assert [(k.name, k.collection) for k in listed] == [("kb/alpha", "alpha"), ("kb/beta", "beta")]
    assert all(k.embedding_model is not None and k.embedding_model.ref == "mxcloud:kb/embeddings" for k in listed)
    assert host.drop_collection("mxcloud:kb/alpha") is True
    assert host.drop_collection("mxcloud:kb/alpha") is False
    assert [k.collection for k in host.knowledge_bases("mxcloud")] == ["beta"]


def test_collection_names_are_quoted_in_paths(host: Host, service: FakeMxCloud) -> None:
    kb = host.knowledge_base("mxcloud:kb/My Docs?")
    host.ingest(kb, chunks(1))
    assert service.knowledge.collections.keys() == {"My Docs?"}
    assert any(c.path == "/knowledge-bases/My%20Docs%3F/chunks" for c in service.requests)


def test_the_async_methods_agree(host: Host, kb: KnowledgeBase) -> None:
    async def run() -> tuple[int, int, list[str], int, bool]:
        result = await host.aingest(kb, chunks(150, sources=5))
        found = await host.aretrieve(kb, "chunk 3 about pets", k=2)
        stored = await host.astored_chunk_ids(kb, ["src-000"])
        listed = await host.alist_chunks(kb, limit=3)
        deleted = await host.adelete_chunks(kb, ["src-001"])
        dropped = await host.adrop_collection(kb)
        assert len(found) == 2 and len(stored["src-000"]) == 30 and len(listed) == 3
        return result.inserted, deleted, [c.chunk_id for c in listed], len(found), dropped

    assert asyncio.run(run()) == (150, 30, ["chunk-00000", "chunk-00005", "chunk-00010"], 2, True)


def test_provider_lists_collections_only_for_knowledge_base_keys(
    make_mx_host: Callable[..., Host], keys: dict[str, str]
) -> None:
    host = make_mx_host(keys=[keys["claude"]])
    assert host.knowledge_bases("mxcloud") == []
    provider = host.plugin_manager.get_plugin("mxcloud")
    assert isinstance(provider, MxCloudProvider)
