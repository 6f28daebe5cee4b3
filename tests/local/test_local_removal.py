"""Removing many chunks in bounded transactions: deleting sources, emptying and dropping a large
collection, a removal cut short by a killed process, and what readers see meanwhile."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from local_helpers import MakeProvider, chunk, collection

from genai_commons import IngestMode, KnowledgeBase, NotFoundError, RetrievalQuery, ValidationError
from genai_commons_local import ingestion, removal
from genai_commons_local.store import KnowledgeStore
from genai_commons_local.wire import chunk_rows

STEP = 20  # TRANSACTION_ROWS in these tests


@pytest.fixture(autouse=True)
def small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingestion, "TRANSACTION_ROWS", STEP)


def chunks(count: int, *, per_source: int = 5, prefix: str = "c"):
    rng = np.random.default_rng(count)
    return collection(
        *(
            chunk(f"{prefix}{i}", rng.standard_normal(8).tolist(), source=f"s{i // per_source}",
                  text=f"apples and pears number {i}", metadata={"n": str(i % 7)})
            for i in range(count)
        )
    )  # fmt: skip


def table_counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as conn:
        tables = ("chunks", "metadata", "tombstones", "collections")
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    conn.close()
    return counts


def keyword_index_intact(database: Path) -> None:
    """Every collection's keyword index matches its rows (FTS5's check against the content table)."""
    with sqlite3.connect(database) as conn:
        for (cid,) in conn.execute("SELECT id FROM collections").fetchall():
            name = f"chunks_fts_{cid}"
            conn.execute(f"INSERT INTO {name} ({name}, rank) VALUES ('integrity-check', 1)")
    conn.close()


@pytest.fixture
def store(database: Path) -> Iterator[KnowledgeStore]:
    opened = KnowledgeStore(database)
    yield opened
    opened.close()


def counting(store: KnowledgeStore) -> tuple[removal.Writing, list[int]]:
    """The store's write transactions, counted."""
    opened: list[int] = []

    @contextmanager
    def writing() -> Iterator[sqlite3.Connection]:
        with store._writing() as conn:  # the transaction factory under test
            opened.append(1)
            yield conn

    return writing, opened


def test_deleting_many_sources_takes_bounded_transactions(store: KnowledgeStore, database: Path):
    store.ingest("kb", None, chunk_rows(chunks(200)), IngestMode.INSERT)
    writing, opened = counting(store)
    sources = [f"s{i}" for i in range(30)] + ["no-such-source"]  # 150 chunks
    assert removal.delete_sources(writing, "kb", sources) == 150
    assert len(opened) == 150 // STEP + 1  # 7 full steps and one of 10
    assert table_counts(database)["chunks"] == 50
    keyword_index_intact(database)
    # a removal that fits in one transaction is one
    writing, opened = counting(store)
    assert removal.delete_sources(writing, "kb", ["s30", "s31"]) == 10 and len(opened) == 1


def test_deleting_sources_in_batches_of_the_in_list(store: KnowledgeStore, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(removal, "_BATCH", 3)
    store.ingest("kb", None, chunk_rows(chunks(100, per_source=1)), IngestMode.INSERT)
    writing, opened = counting(store)
    assert removal.delete_sources(writing, "kb", [f"s{i}" for i in range(0, 100, 2)]) == 50
    assert len(opened) == 3  # 20 + 20 + 10 deletions, batches of 3 sources cut where a step is full
    assert store.stored_chunk_ids("kb", ["s1", "s2"]) == {"s1": frozenset({"c1"})}


def test_emptying_a_large_collection_replaces_it_at_once(
    make_provider: MakeProvider, kb: KnowledgeBase, database: Path
):
    provider = make_provider(index="exact")
    provider.ingest(kb, chunks(100), IngestMode.INSERT)
    with sqlite3.connect(database) as conn:
        ((old_uid, old_version, dimension),) = conn.execute("SELECT uid, version, dimension FROM collections")
    conn.close()
    assert provider.delete_chunks(kb, None) == 100
    assert len(provider.retrieve(kb, RetrievalQuery(vector=[1.0] * 8, k=5))) == 0
    with sqlite3.connect(database) as conn:
        ((uid, version, new_dimension, name),) = conn.execute("SELECT uid, version, dimension, name FROM collections")
    conn.close()
    assert (name, new_dimension) == ("notes", dimension) and uid != old_uid and version > old_version
    assert table_counts(database) == {"chunks": 0, "metadata": 0, "tombstones": 0, "collections": 1}
    # the collection works as before: ingestion, keyword search, one more emptying
    provider.ingest(kb, chunks(10, prefix="d"), IngestMode.INSERT)
    found = provider.retrieve(kb, RetrievalQuery(text="pears", k=3, search_type="keyword"))
    assert len(found) == 3 and all(c.chunk_id.startswith("d") for c in found)
    keyword_index_intact(database)
    assert provider.delete_chunks(kb, None) == 10  # small: in place, one transaction
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT uid FROM collections").fetchone() == (uid,)
    conn.close()


def test_dropping_a_large_collection_leaves_nothing(make_provider: MakeProvider, kb: KnowledgeBase, database: Path):
    provider = make_provider(index="exact")
    provider.ingest(kb, chunks(100), IngestMode.INSERT)
    other = KnowledgeBase(provider="local", name="other")
    provider.ingest(other, chunks(7), IngestMode.INSERT)
    assert provider.drop_collection(kb)
    assert [c.name for c in provider.knowledge_bases()] == ["other"]
    assert table_counts(database) == {"chunks": 7, "metadata": 7, "tombstones": 0, "collections": 1}
    keyword_index_intact(database)
    assert not provider.drop_collection(kb)


def test_a_removal_cut_short_is_invisible_and_finished_by_the_next(
    make_provider: MakeProvider, kb: KnowledgeBase, database: Path, monkeypatch: pytest.MonkeyPatch
):
    provider = make_provider(index="exact")
    provider.ingest(kb, chunks(100), IngestMode.INSERT)
    other = KnowledgeBase(provider="local", name="other")
    provider.ingest(other, chunks(60), IngestMode.INSERT)

    def killed(writing: removal.Writing) -> None:
        raise KeyboardInterrupt  # the process dies after the retiring transaction

    purge = removal.purge
    monkeypatch.setattr(removal, "purge", killed)
    with pytest.raises(KeyboardInterrupt):
        provider.drop_collection(kb)
    monkeypatch.setattr(removal, "purge", purge)
    # the retired collection is out of reach: not listed, not found, not searchable, name free again
    assert [c.name for c in provider.knowledge_bases()] == ["other"]
    with pytest.raises(NotFoundError):
        provider.retrieve(kb, RetrievalQuery(vector=[1.0] * 8, k=5))
    assert table_counts(database)["chunks"] == 160
    provider.ingest(kb, chunks(3, prefix="new"), IngestMode.INSERT)
    assert provider.drop_collection(other)  # the next large removal purges what was left
    assert table_counts(database) == {"chunks": 3, "metadata": 3, "tombstones": 0, "collections": 1}


def test_a_retired_name_is_refused(make_provider: MakeProvider):
    provider = make_provider(index="exact")
    with pytest.raises(ValidationError, match="cannot start with"):
        provider.ingest(KnowledgeBase(provider="local", name=removal.RETIRED + "x"), chunks(1), IngestMode.INSERT)
