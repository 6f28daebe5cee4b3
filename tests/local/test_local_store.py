"""Every store operation of the local provider, with vectors given directly (no model needed)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from local_helpers import MakeProvider, chunk, collection, random_chunks, unit

from genai_commons import (
    Chunk,
    ChunkCollection,
    DeployedModel,
    Eq,
    IngestMode,
    IngestResult,
    KnowledgeBase,
    Modality,
    NotFoundError,
    RetrievalQuery,
    ValidationError,
)
from genai_commons_local import LocalProvider

MODEL = DeployedModel(provider="fake", model_id="embed", output_modality=Modality.EMBEDDINGS, dimensions=3)
OTHER_MODEL = DeployedModel(provider="fake", model_id="other", output_modality=Modality.EMBEDDINGS, dimensions=3)


def ids(provider: LocalProvider, kb: KnowledgeBase) -> list[str]:
    return [c.chunk_id for c in provider.list_chunks(kb, None, 0, 10_000)]


def test_reading_a_store_that_does_not_exist_creates_nothing(
    provider: LocalProvider, kb: KnowledgeBase, database: Path
):
    assert list(provider.knowledge_bases()) == []
    assert provider.resolve_knowledge_base("notes") is None
    assert provider.stored_chunk_ids(kb, ["a"]) == {}
    assert provider.list_chunks(kb, None, 0, 10) == []
    assert provider.delete_chunks(kb, None) == 0
    assert provider.drop_collection(kb) is False
    with pytest.raises(NotFoundError):
        provider.retrieve(kb, RetrievalQuery(vector=[1.0, 0.0], k=1))
    assert not database.exists() and not database.parent.exists()


def test_insert_stores_chunks_and_reingesting_them_changes_nothing(provider: LocalProvider, kb: KnowledgeBase):
    chunks = random_chunks(25)
    first = provider.ingest(kb, chunks, IngestMode.INSERT)
    assert (first.inserted, first.deleted, first.unchanged) == (25, 0, 0)
    assert isinstance(first, IngestResult) and first.duration_ms is not None
    again = provider.ingest(kb, chunks, IngestMode.INSERT)
    assert (again.inserted, again.deleted, again.unchanged) == (0, 0, 25)
    assert sorted(ids(provider, kb)) == sorted(f"c{i}" for i in range(25))


def test_stored_chunks_come_back_as_they_went_in(provider: LocalProvider, kb: KnowledgeBase):
    original = chunk("x1", [0.1, 0.2, 0.3], source="doc-9", text="Ünïcode ✓ text", metadata={"b": "2", "a": "it's"})
    provider.ingest(kb, collection(original), IngestMode.INSERT)
    (listed,) = provider.list_chunks(kb, None, 0, 10)
    assert listed.vector is None  # listings carry no vectors
    assert (listed.chunk_id, listed.input_text, listed.human_readable_id) == ("x1", "Ünïcode ✓ text", "doc-9#x1")
    assert (listed.source_id, listed.source_type) == ("doc-9", "Document")
    assert [(m.key, m.value) for m in listed.metadata] == [("b", "2"), ("a", "it's")]  # order kept
    (found,) = provider.retrieve(kb, RetrievalQuery(vector=[0.1, 0.2, 0.3], k=1))
    assert found.similarity == pytest.approx(1.0, abs=1e-6)
    assert found.metadata == listed.metadata and found.input_text == listed.input_text


def test_insert_upserts_a_changed_chunk_by_id(provider: LocalProvider, kb: KnowledgeBase):
    provider.ingest(kb, collection(chunk("a", [1, 0, 0], source="s"), chunk("b", [0, 1, 0], source="s")), "insert")
    result = provider.ingest(kb, collection(chunk("a", [0, 0, 1], source="s", text="new text")), IngestMode.INSERT)
    assert (result.inserted, result.deleted, result.unchanged) == (1, 1, 0)
    (best,) = provider.retrieve(kb, RetrievalQuery(vector=[0, 0, 1], k=1))
    assert (best.chunk_id, best.input_text) == ("a", "new text")
    assert sorted(ids(provider, kb)) == ["a", "b"]


def test_replace_deletes_the_other_chunks_of_the_same_sources_only(provider: LocalProvider, kb: KnowledgeBase):
    provider.ingest(
        kb,
        collection(
            chunk("a1", [1, 0, 0], source="A"),
            chunk("a2", [0, 1, 0], source="A"),
            chunk("b1", [0, 0, 1], source="B"),
            chunk("loose", [1, 1, 0]),
        ),
        IngestMode.INSERT,
    )
    result = provider.ingest(
        kb, collection(chunk("a1", [1, 0, 0], source="A"), chunk("a3", [1, 0, 1], source="A")), IngestMode.REPLACE
    )
    assert (result.inserted, result.deleted, result.unchanged) == (1, 1, 1)
    assert sorted(ids(provider, kb)) == ["a1", "a3", "b1", "loose"]
    assert provider.stored_chunk_ids(kb, ["A", "B"]) == {"A": frozenset({"a1", "a3"}), "B": frozenset({"b1"})}


def test_repopulate_deletes_everything_else(provider: LocalProvider, kb: KnowledgeBase):
    chunks = random_chunks(30)
    provider.ingest(kb, chunks, IngestMode.INSERT)
    result = provider.ingest(kb, collection(chunks.chunks[3], chunk("new", [1.0] * 16)), IngestMode.REPOPULATE)
    assert (result.inserted, result.deleted, result.unchanged) == (1, 29, 1)  # c3 is kept as it was
    assert ids(provider, kb) == ["new", "c3"]
    emptied = provider.ingest(kb, ChunkCollection(), IngestMode.REPOPULATE)
    assert (emptied.deleted, ids(provider, kb)) == (2, [])


def test_a_chunk_id_given_twice_in_one_batch_keeps_the_last(provider: LocalProvider, kb: KnowledgeBase):
    result = provider.ingest(
        kb, collection(chunk("a", [1, 0], text="first"), chunk("a", [0, 1], text="last")), "insert"
    )
    assert result.inserted == 1
    (only,) = provider.list_chunks(kb, None, 0, 10)
    assert only.input_text == "last"


def test_plain_chunks_get_an_id(provider: LocalProvider, kb: KnowledgeBase):
    provider.ingest(kb, ChunkCollection(chunks=[Chunk(input_text="plain", vector=[1.0, 2.0])]), IngestMode.INSERT)
    (stored,) = provider.list_chunks(kb, None, 0, 10)
    assert stored.input_text == "plain" and stored.chunk_id and stored.source_id is None


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        (ChunkCollection.of_texts(["no vector"]), "has no vector"),
        (collection(chunk("nan", [1.0, float("nan")])), "NaN or infinite"),
        (collection(chunk("inf", [float("inf"), 1.0])), "NaN or infinite"),
        (collection(chunk("both", [float("-inf"), float("inf")])), "NaN or infinite"),
        (collection(chunk("huge", [3.0e38] * 4), chunk("ninf", [1.0, 1.0, 1.0, float("-inf")])), "NaN or infinite"),
        (collection(chunk("a", [1.0, 0.0]), chunk("b", [1.0, 0.0, 0.0])), "differ in length"),
    ],
)
def test_bad_chunks_are_refused_and_nothing_is_written(
    provider: LocalProvider, kb: KnowledgeBase, chunks: ChunkCollection, message: str
):
    with pytest.raises(ValidationError, match=message):
        provider.ingest(kb, chunks, IngestMode.INSERT)
    assert list(provider.knowledge_bases()) == []


def test_an_ingest_with_another_dimension_fails_and_says_so(provider: LocalProvider):
    kb = KnowledgeBase(provider="local", name="notes", embedding_model=MODEL)
    provider.ingest(kb, collection(chunk("a", [1, 0, 0], source="s")), IngestMode.INSERT)
    with pytest.raises(ValidationError, match=r"holds 3-dimension vectors \(embedding model fake:embed\).* 4 dim"):
        provider.ingest(kb, collection(chunk("b", [1, 0, 0, 0], source="s")), IngestMode.INSERT)
    with pytest.raises(ValidationError, match="3-dimension"):
        provider.ingest(kb, collection(chunk("b", [1, 0, 0, 0], source="s")), IngestMode.REPLACE)
    with pytest.raises(ValidationError, match="query vector has 4 dimensions"):
        provider.retrieve(kb, RetrievalQuery(vector=[1, 0, 0, 0]))
    assert ids(provider, kb) == ["a"]


def test_an_ingest_with_another_embedding_model_fails(provider: LocalProvider):
    provider.ingest(
        KnowledgeBase(provider="local", name="notes", embedding_model=MODEL),
        collection(chunk("a", [1, 0, 0])),
        "insert",
    )
    other = KnowledgeBase(provider="local", name="notes", embedding_model=OTHER_MODEL)
    with pytest.raises(ValidationError, match="embedded with fake:embed, not fake:other"):
        provider.ingest(other, collection(chunk("b", [0, 1, 0])), IngestMode.INSERT)


def test_repopulate_or_an_empty_collection_may_change_the_model_and_dimension(provider: LocalProvider):
    kb = KnowledgeBase(provider="local", name="notes", embedding_model=MODEL)
    provider.ingest(kb, collection(chunk("a", [1, 0, 0])), IngestMode.INSERT)
    other = KnowledgeBase(provider="local", name="notes", embedding_model=OTHER_MODEL)
    provider.ingest(other, collection(chunk("a", [1, 0, 0, 0])), IngestMode.REPOPULATE)
    resolved = provider.resolve_knowledge_base("notes")
    assert resolved is not None and resolved.embedding_model == OTHER_MODEL
    assert "4 dimensions" in (resolved.description or "")
    assert provider.delete_chunks(other, None) == 1
    provider.ingest(kb, collection(chunk("z", [0, 1])), IngestMode.INSERT)  # empty: starts over
    (found,) = provider.retrieve(kb, RetrievalQuery(vector=[0, 1], k=5))
    assert found.chunk_id == "z"


def test_starting_over_with_another_dimension_forgets_a_model_that_no_longer_fits(provider: LocalProvider):
    kb = KnowledgeBase(provider="local", name="notes", embedding_model=MODEL)
    provider.ingest(kb, collection(chunk("a", [1, 0, 0])), IngestMode.INSERT)
    bare = KnowledgeBase(provider="local", name="notes")
    provider.ingest(bare, collection(chunk("a", [1, 0, 0])), IngestMode.REPOPULATE)  # same dimension: kept
    assert (resolved := provider.resolve_knowledge_base("notes")) and resolved.embedding_model == MODEL
    provider.ingest(bare, collection(chunk("b", [1, 0])), IngestMode.REPOPULATE)  # 2 dimensions: not MODEL's
    assert (resolved := provider.resolve_knowledge_base("notes")) and resolved.embedding_model is None
    provider.ingest(kb, collection(chunk("c", [0, 1])), IngestMode.INSERT)  # the first model named is kept
    assert (resolved := provider.resolve_knowledge_base("notes")) and resolved.embedding_model == MODEL


def test_the_collection_remembers_its_embedding_model(provider: LocalProvider, make_provider: MakeProvider):
    kb = KnowledgeBase(provider="local", name="notes", embedding_model=MODEL, description="mine")
    provider.ingest(kb, collection(chunk("a", [1, 0, 0])), IngestMode.INSERT)
    fresh = make_provider()  # another instance (another process would read the same)
    resolved = fresh.resolve_knowledge_base("notes")
    assert resolved is not None
    assert (resolved.provider, resolved.name, resolved.collection) == ("local", "notes", "notes")
    assert resolved.embedding_model == MODEL
    assert fresh.resolve_knowledge_base("absent") is None


def test_knowledge_bases_lists_every_collection_with_its_size(provider: LocalProvider):
    for name, count in (("beta", 3), ("alpha", 12)):
        provider.ingest(KnowledgeBase(provider="local", name=name), random_chunks(count), IngestMode.INSERT)
    listed = list(provider.knowledge_bases())
    assert [kb.name for kb in listed] == ["alpha", "beta"]
    assert listed[0].description == "local collection (12 chunks, 16 dimensions)"
    assert all(kb.provider == "local" and kb.embedding_model is None for kb in listed)


def test_delete_by_sources_and_delete_all(provider: LocalProvider, kb: KnowledgeBase):
    provider.ingest(kb, random_chunks(40), IngestMode.INSERT)  # doc-0 … doc-3, ten chunks each
    assert provider.delete_chunks(kb, ["doc-1", "doc-3", "no-such-doc"]) == 20
    assert provider.stored_chunk_ids(kb, ["doc-0", "doc-1", "doc-2", "doc-3"]).keys() == {"doc-0", "doc-2"}
    assert provider.delete_chunks(kb, ["doc-1"]) == 0
    assert provider.delete_chunks(kb, None) == 20
    assert ids(provider, kb) == []
    assert [k.name for k in provider.knowledge_bases()] == ["notes"]  # the collection stays
    assert provider.retrieve(kb, RetrievalQuery(vector=[1.0] * 16)).chunks == ()


def test_drop_deletes_the_collection_and_says_whether_it_existed(provider: LocalProvider, kb: KnowledgeBase):
    provider.ingest(kb, random_chunks(5), IngestMode.INSERT)
    other = KnowledgeBase(provider="local", name="other")
    provider.ingest(other, random_chunks(5), IngestMode.INSERT)
    assert provider.drop_collection(kb) is True
    assert provider.drop_collection(kb) is False
    assert [k.name for k in provider.knowledge_bases()] == ["other"]
    with pytest.raises(NotFoundError, match=r"genai kb ingest notes PATH"):
        provider.retrieve(kb, RetrievalQuery(vector=[1.0] * 16))
    assert len(ids(provider, other)) == 5
    provider.ingest(kb, random_chunks(2, dimension=4), IngestMode.INSERT)  # a new collection of the same name
    assert len(provider.retrieve(kb, RetrievalQuery(vector=[1.0] * 4, k=10))) == 2


def test_stored_chunk_ids_by_source(provider: LocalProvider, kb: KnowledgeBase):
    provider.ingest(kb, random_chunks(25), IngestMode.INSERT)
    stored = provider.stored_chunk_ids(kb, ["doc-2", "doc-0", "doc-0", "missing"])
    assert stored == {
        "doc-0": frozenset(f"c{i}" for i in range(10)),
        "doc-2": frozenset(f"c{i}" for i in range(20, 25)),
    }
    many = provider.stored_chunk_ids(kb, [f"doc-{i}" for i in range(2000)])  # more than one IN batch
    assert sum(len(v) for v in many.values()) == 25


def test_list_chunks_pages_in_a_stable_order_with_a_filter(provider: LocalProvider, kb: KnowledgeBase):
    provider.ingest(kb, random_chunks(35), IngestMode.INSERT)
    provider.ingest(kb, collection(chunk("zz-loose", [1.0] * 16, metadata={"parity": "odd"})), IngestMode.INSERT)
    pages = [provider.list_chunks(kb, None, offset, 10) for offset in range(0, 40, 10)]
    listed = [c for page in pages for c in page]
    assert [len(p) for p in pages] == [10, 10, 10, 6]
    assert len({c.chunk_id for c in listed}) == 36
    assert listed[0].chunk_id == "zz-loose"  # no source sorts first
    keys = [(c.source_id or "", c.chunk_id) for c in listed]
    assert keys == sorted(keys)
    odd = [c for offset in range(0, 40, 7) for c in provider.list_chunks(kb, Eq(key="parity", value="odd"), offset, 7)]
    assert len(odd) == 18 and all(c.metadata.get("parity") == "odd" for c in odd)
    assert provider.list_chunks(kb, None, 0, 0) == []
    with pytest.raises(ValidationError):
        provider.list_chunks(kb, None, -1, 10)


def test_collections_are_isolated(provider: LocalProvider):
    red, blue = KnowledgeBase(provider="local", name="red"), KnowledgeBase(provider="local", name="blue")
    # The same chunk ids, sources and metadata in both; blue's vectors are the best matches.
    provider.ingest(red, collection(*(chunk(f"c{i}", unit([1, i, 0]), source="s") for i in range(5))), "insert")
    provider.ingest(blue, collection(*(chunk(f"c{i}", unit([1, 0, 0]), source="s") for i in range(5))), "insert")
    query = RetrievalQuery(vector=[1, 0, 0], k=50)
    found = provider.retrieve(red, query)
    assert len(found) == 5
    assert {c.human_readable_id for c in found} == {f"s#c{i}" for i in range(5)}
    assert sorted(c.similarity for c in found if c.similarity is not None)[-1] == pytest.approx(1.0)
    assert sum(1 for c in found if c.similarity == pytest.approx(1.0)) == 1  # only red's own c0
    assert provider.delete_chunks(red, ["s"]) == 5
    assert len(provider.retrieve(blue, query)) == 5 and len(provider.retrieve(red, query)) == 0
    assert provider.stored_chunk_ids(blue, ["s"])["s"] == frozenset(f"c{i}" for i in range(5))
    provider.drop_collection(blue)
    assert provider.resolve_knowledge_base("red") is not None


def test_the_file_is_a_wal_sqlite_database_with_consistent_tables(
    provider: LocalProvider, kb: KnowledgeBase, database: Path
):
    provider.ingest(kb, random_chunks(20), IngestMode.INSERT)
    provider.delete_chunks(kb, ["doc-0"])
    provider.close()
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == 10
        orphans = conn.execute("SELECT COUNT(*) FROM metadata WHERE chunk NOT IN (SELECT id FROM chunks)").fetchone()
        assert orphans[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM metadata").fetchone()[0] == 20  # two keys a chunk
