"""The store's change log (tombstones) and its bounded write transactions, read through the
Reader methods a searching process catches up with, and observed from other connections."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from local_helpers import chunk, collection, random_chunks

from genai_commons import ChunkCollection, IngestMode, ServiceUnavailableError
from genai_commons_local import changes, ingestion, keywords
from genai_commons_local.store import SCHEMA_VERSION, KnowledgeStore, Reader
from genai_commons_local.wire import ChunkRow, chunk_rows


@pytest.fixture
def store(database: Path) -> Iterator[KnowledgeStore]:
    opened = KnowledgeStore(database)
    yield opened
    opened.close()


def ingest(store: KnowledgeStore, name: str, chunks: ChunkCollection, mode: str = "insert") -> tuple[int, int, int]:
    result = store.ingest(name, None, chunk_rows(chunks), IngestMode(mode))
    return result.inserted, result.deleted, result.unchanged


def read(store: KnowledgeStore) -> Reader:
    """A reader outside a transaction of its own (each call sees the latest commit)."""
    with store.reading() as reader:
        assert reader is not None
        return Reader(reader.conn)


def collection_id(store: KnowledgeStore, name: str) -> int:
    info = store.collection(name)
    assert info is not None
    return info.id


def rows_of(store: KnowledgeStore, name: str) -> dict[str, int]:
    """chunk id -> row id."""
    with sqlite3.connect(store.path) as conn:
        found = dict(conn.execute("SELECT c.chunk_id, c.id FROM chunks c JOIN collections k ON k.id = c.collection_id "
                                  "WHERE k.name = ?", (name,)).fetchall())  # fmt: skip
    conn.close()
    return found


def deleted_since(store: KnowledgeStore, name: str, seq: int) -> tuple[list[int], int]:
    cid = collection_id(store, name)
    with store.reading() as reader:
        assert reader is not None
        answer = reader.deleted_after(cid, seq)
    assert answer is not None
    return answer


# -- tombstones ------------------------------------------------------------------------------------


def test_every_kind_of_deletion_leaves_a_tombstone(store: KnowledgeStore):
    ingest(store, "kb", collection(chunk("a1", [1, 0], source="A"), chunk("a2", [0, 1], source="A"),
                                   chunk("b1", [1, 1], source="B"), chunk("loose", [1, 2])))  # fmt: skip
    seen = 0
    with store.reading() as reader:
        assert reader is not None and reader.last_tombstone() == 0

    def step(expected: set[str], before: dict[str, int]) -> None:
        nonlocal seen
        ids, last = deleted_since(store, "kb", seen)
        assert ids == sorted(before[c] for c in expected) and last > seen
        seen = last

    before = rows_of(store, "kb")
    assert ingest(store, "kb", collection(chunk("a1", [2, 0], source="A"))) == (1, 1, 0)  # a changed chunk
    step({"a1"}, before)
    before = rows_of(store, "kb")
    assert ingest(store, "kb", collection(chunk("a1", [2, 0], source="A")), "replace") == (0, 1, 1)
    step({"a2"}, before)
    before = rows_of(store, "kb")
    assert ingest(store, "kb", collection(chunk("b1", [1, 1], source="B")), "repopulate") == (0, 2, 1)
    step({"a1", "loose"}, before)
    ingest(store, "kb", collection(chunk("c1", [1, 0], source="C"), chunk("c2", [1, 0], source="C")))
    before = rows_of(store, "kb")
    assert store.delete_chunks("kb", ["B"]) == (1, None)
    step({"b1"}, before)
    assert store.delete_chunks("kb", None) == (2, None)
    step({"c1", "c2"}, before)
    assert deleted_since(store, "kb", seen) == ([], seen)  # nothing new


def test_dropping_a_collection_logs_nothing_and_forgets_its_tombstones(store: KnowledgeStore):
    ingest(store, "gone", random_chunks(30))
    ingest(store, "kept", random_chunks(30))
    store.delete_chunks("gone", ["doc-0"])
    store.delete_chunks("kept", ["doc-1"])
    gone = collection_id(store, "gone")
    reader = read(store)
    last = reader.last_tombstone()
    assert last == 20
    store.drop("gone")
    assert reader.last_tombstone() == last  # no tombstone written by the cascade
    with sqlite3.connect(store.path) as conn:
        by_collection = dict(conn.execute("SELECT collection_id, COUNT(*) FROM tombstones GROUP BY collection_id"))
    conn.close()
    assert by_collection == {collection_id(store, "kept"): 10}
    assert reader.deleted_after(gone, 0) is None  # a reader that knew it loads again (and finds nothing)
    ingest(store, "gone", random_chunks(3))  # a new collection of the same name: a new id, a clean log
    assert collection_id(store, "gone") != gone and deleted_since(store, "gone", last) == ([], last)


def test_the_log_is_pruned_and_a_reader_behind_the_floor_is_told_to_reload(
    store: KnowledgeStore, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(changes, "TOMBSTONES_KEPT", 3)
    ingest(store, "kb", ChunkCollection(chunks=[chunk(f"c{i}", [1, i], source=f"s{i}") for i in range(10)]))
    ingest(store, "other", random_chunks(10))
    rows = rows_of(store, "kb")
    cid = collection_id(store, "kb")
    reader = read(store)
    for i in range(6):  # six tombstones: not more than twice three, nothing pruned
        store.delete_chunks("kb", [f"s{i}"])
    assert reader.deleted_after(cid, 0) == ([rows[f"c{i}"] for i in range(6)], 6)
    store.delete_chunks("other", ["doc-0"])  # another collection's tombstones count for it alone
    store.delete_chunks("kb", ["s6"])  # the seventh: pruned to the newest three
    with sqlite3.connect(store.path) as conn:
        (floor,) = conn.execute("SELECT tombstone_floor FROM collections WHERE id = ?", (cid,)).fetchone()
        kept = [
            r[0] for r in conn.execute("SELECT row_id FROM tombstones WHERE collection_id = ? ORDER BY seq", (cid,))
        ]
        (others,) = conn.execute("SELECT COUNT(*) FROM tombstones WHERE collection_id != ?", (cid,)).fetchone()
    conn.close()
    assert kept == [rows["c4"], rows["c5"], rows["c6"]] and others == 3  # "other" was pruned too
    assert floor == 4  # the seq of c3's tombstone
    assert reader.deleted_after(cid, 0) is None and reader.deleted_after(cid, floor - 1) is None
    assert reader.deleted_after(cid, floor) == (kept, 17)
    assert reader.deleted_after(cid, 16) == ([rows["c6"]], 17)


# -- schema 2 files ----------------------------------------------------------------------------------

_SCHEMA_2 = (
    """CREATE TABLE collections (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, uid TEXT NOT NULL
        UNIQUE, dimension INTEGER, embedding_model TEXT, version INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL)""",
    """CREATE TABLE chunks (id INTEGER PRIMARY KEY AUTOINCREMENT,
        collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE, chunk_id TEXT NOT NULL,
        source_id TEXT, source_type TEXT, human_readable_id TEXT NOT NULL, input_text TEXT NOT NULL,
        metadata TEXT NOT NULL, vector BLOB NOT NULL, UNIQUE (collection_id, chunk_id))""",
    "CREATE INDEX chunks_by_collection ON chunks (collection_id)",
    "CREATE INDEX chunks_by_source ON chunks (collection_id, source_id, chunk_id)",
    """CREATE TABLE metadata (chunk INTEGER NOT NULL REFERENCES chunks (id) ON DELETE CASCADE, key TEXT NOT NULL,
        value TEXT NOT NULL, number REAL, PRIMARY KEY (chunk, key)) WITHOUT ROWID""",
    "CREATE INDEX metadata_by_value ON metadata (key, value)",
    "CREATE INDEX metadata_by_number ON metadata (key, number)",
)


def test_a_schema_2_file_gets_the_change_log_and_keeps_its_rows(database: Path):
    database.parent.mkdir(parents=True)
    with sqlite3.connect(database) as conn:
        for statement in _SCHEMA_2:
            conn.execute(statement)
        conn.execute("INSERT INTO collections (name, uid, dimension, created) VALUES ('old', 'u1', 2, 0)")
        keywords.create(conn, 1)  # schema 2's keyword index, with its triggers, the one on insert too
        conn.execute(
            "CREATE TRIGGER chunks_fts_1_insert AFTER INSERT ON chunks WHEN new.collection_id = 1 BEGIN "
            "INSERT INTO chunks_fts_1 (rowid, input_text) VALUES (new.id, new.input_text); END"
        )
        conn.executemany(
            "INSERT INTO chunks (collection_id, chunk_id, source_id, human_readable_id, input_text, metadata, vector) "
            "VALUES (1, ?, 's', ?, ?, '[]', ?)",
            [(f"c{i}", f"s#{i}", f"apples {i}", np.array([1, i], dtype="<f4").tobytes()) for i in range(4)],
        )
        conn.execute("DELETE FROM chunks WHERE chunk_id = 'c3'")  # deleted before the log: no tombstone
        conn.execute("PRAGMA user_version = 2")
    conn.close()

    store = KnowledgeStore(database)
    try:
        with store.reading() as reader:
            assert reader is not None
            assert reader.last_tombstone() == 0 and reader.deleted_after(1, 0) == ([], 0)
            (ids, blob), *_ = reader.rows_after(1, 0)
        assert ids == [1, 2, 3] and np.frombuffer(blob, dtype="<f4").reshape(3, 2)[:, 1].tolist() == [0, 1, 2]
        assert ingest(store, "old", collection(chunk("c0", [1, 0], source="s")), "replace") == (1, 3, 0)
        assert deleted_since(store, "old", 0) == ([1, 2, 3], 3)
    finally:
        store.close()
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) == (4,)
        triggers = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert "chunks_fts_1_insert" not in triggers and "chunks_fts_1_delete" in triggers
        # the index matches the rows (rank 1: FTS5 checks it against the content table too)
        conn.execute("INSERT INTO chunks_fts_1 (chunks_fts_1, rank) VALUES ('integrity-check', 1)")
        assert conn.execute("SELECT tombstone_floor FROM collections").fetchall() == [(0,)]
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


# -- reading what changed ----------------------------------------------------------------------------


def test_rows_after_streams_one_collection_in_blocks_in_id_order(store: KnowledgeStore):
    vectors = {}
    for round_ in range(3):  # interleaved: red, blue, red, blue, ...
        for name in ("red", "blue"):
            chunks = random_chunks(5, 4, seed=round_ * 2 + (name == "blue"), prefix=f"{name}{round_}-")
            vectors.update({(name, c.chunk_id): np.asarray(c.vector, dtype="<f4") for c in chunks})
            ingest(store, name, chunks)
    red, red_rows = collection_id(store, "red"), rows_of(store, "red")
    by_row = {row: vectors["red", chunk_id] for chunk_id, row in red_rows.items()}
    with store.reading() as reader:
        assert reader is not None
        blocks = list(reader.rows_after(red, 0, block=4))
        assert [len(ids) for ids, _ in blocks] == [4, 4, 4, 3]
        ids = [i for block, _ in blocks for i in block]
        assert ids == sorted(red_rows.values())
        for block_ids, blob in blocks:
            matrix = np.frombuffer(blob, dtype="<f4").reshape(len(block_ids), 4)
            assert all(np.array_equal(matrix[k], by_row[i]) for k, i in enumerate(block_ids))
        middle = ids[7]
        assert [i for block, _ in reader.rows_after(red, middle) for i in block] == ids[8:]
        assert list(reader.rows_after(red, ids[-1])) == []
        assert reader.vectors(red, ids)[0] == ids  # the older method still answers


def test_metadata_between_reads_the_rows_of_an_id_range_in_order(store: KnowledgeStore):
    ingest(store, "kb", collection(*(chunk(f"c{i}", [1, i], metadata={"n": str(i), "tag": f"t{i}"}) for i in range(5))))
    ingest(store, "other", collection(chunk("x", [1, 0], metadata={"n": "1.5"})))
    rows = rows_of(store, "kb")
    with store.reading() as reader:
        assert reader is not None
        found = list(reader.metadata_between(rows["c1"], rows["c3"]))
        everything = list(reader.metadata_between(0, 10**9))
    assert found == [(rows["c2"], "n", "2", 2.0), (rows["c2"], "tag", "t2", None),
                     (rows["c3"], "n", "3", 3.0), (rows["c3"], "tag", "t3", None)]  # fmt: skip
    assert len(everything) == 11 and [r[0] for r in everything] == sorted(r[0] for r in everything)
    assert everything[-1][1:] == ("n", "1.5", 1.5)


# -- bounded write transactions ----------------------------------------------------------------------


def test_a_plan_keeps_each_source_that_fits_in_one_step():
    def rows(source: str | None, count: int) -> list[ChunkRow]:
        return chunk_rows(collection(*(chunk(f"{source}-{i}", [1.0], source=source) for i in range(count))))

    mixed = [*rows("a", 4), *rows("b", 5), *rows(None, 3), *rows("c", 12), *rows("d", 2)]
    mixed.insert(2, rows("b", 6)[5])  # a source's rows need not be contiguous
    steps = ingestion.plan(mixed, 10)
    assert [[r.chunk_id for r in step] for step in steps] == [
        ["a-0", "a-1", "a-2", "a-3", "b-5", "b-0", "b-1", "b-2", "b-3", "b-4"],  # grouped, first seen first
        ["None-0", "None-1", "None-2"],  # c does not fit beside them
        [f"c-{i}" for i in range(10)],  # larger than a step: cut
        ["c-10", "c-11", "d-0", "d-1"],
    ]
    assert ingestion.plan([], 10) == [[]]


class Observer:
    """Looks at the file from its own connection each time the store's writer begins a transaction
    (SQLite calls the trace callback in the writing thread, so every previous step is committed)."""

    def __init__(self, store: KnowledgeStore, name: str) -> None:
        self.path, self.name = store.path, name
        self.states: list[dict[str, set[str]]] = []
        with store._writing() as conn:  # opens the writer's connection
            conn.set_trace_callback(self.traced)

    def traced(self, statement: str) -> None:
        if statement == "BEGIN IMMEDIATE":
            self.states.append(self.sources())

    def sources(self) -> dict[str, set[str]]:
        """source -> its chunk ids, as another process would see them now."""
        conn = sqlite3.connect(self.path)
        try:
            cursor = conn.execute(
                "SELECT c.source_id, c.chunk_id, length(c.vector) FROM chunks c JOIN collections k "
                "ON k.id = c.collection_id WHERE k.name = ?",
                (self.name,),
            )
            found: dict[str, set[str]] = {}
            for source, chunk_id, size in cursor:
                found.setdefault(f"{source}/{size // 4}", set()).add(chunk_id)
            return found
        finally:
            conn.close()


def sources(count: int, per_source: int, *, prefix: str, dimension: int = 4) -> ChunkCollection:
    rng = np.random.default_rng(sum(map(ord, prefix)))
    return collection(*(
        chunk(f"{prefix}{s}-{i}", rng.standard_normal(dimension).tolist(), source=f"doc-{s}")
        for s in range(count) for i in range(per_source)
    ))  # fmt: skip


@pytest.mark.parametrize("mode", ["insert", "replace", "repopulate"])
def test_a_large_call_commits_in_steps_of_whole_sources_and_ends_as_one_call_would(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
):
    old, new = sources(9, 3, prefix="old"), sources(9, 3, prefix="new")  # 27 rows; 9 sources of 3
    whole = KnowledgeStore(tmp_path / "whole.db")  # the same calls, each in one transaction
    ingest(whole, "kb", old)
    expected = ingest(whole, "kb", new, mode)
    monkeypatch.setattr(ingestion, "TRANSACTION_ROWS", 10)
    store = KnowledgeStore(database)
    try:
        ingest(store, "kb", old)
        version = store.collection("kb").version
        observer = Observer(store, "kb")
        assert ingest(store, "kb", new, mode) == expected  # the same counts
        assert sorted(rows_of(store, "kb")) == sorted(rows_of(whole, "kb"))  # and the same chunks
        states = [*observer.states, observer.sources()]
        # Three steps of three sources (nine rows), then 27 deletions, ten a transaction, the
        # first ten in the last step's.
        assert len(states) == 1 + (3 if mode == "insert" else 5)
        for number, state in enumerate(states):
            news = [len({c for c in ids if c.startswith("new")}) for ids in state.values()]
            olds = sum(len({c for c in ids if c.startswith("old")}) for ids in state.values())
            assert set(news) <= {0, 3}  # a source is written whole or not at all
            assert sum(news) == 9 * min(number, 3)
            assert olds == 27 if number < 3 or mode == "insert" else olds == max(0, 27 - 10 * (number - 2))
        assert store.collection("kb").version == version + len(states) - 1
        gone, _ = deleted_since(store, "kb", 0)
        assert len(gone) == (0 if mode == "insert" else 27)
    finally:
        store.close()
        whole.close()


def test_a_call_that_fits_is_one_transaction(store: KnowledgeStore, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ingestion, "TRANSACTION_ROWS", 10)
    ingest(store, "kb", sources(3, 3, prefix="old"))
    observer = Observer(store, "kb")
    assert ingest(store, "kb", sources(2, 5, prefix="new"), "repopulate") == (10, 9, 0)
    assert len(observer.states) == 1


def test_a_repopulate_with_another_dimension_never_mixes_dimensions(
    store: KnowledgeStore, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(ingestion, "TRANSACTION_ROWS", 10)
    ingest(store, "kb", sources(8, 3, prefix="old", dimension=4))
    observer = Observer(store, "kb")
    assert ingest(store, "kb", sources(5, 3, prefix="new", dimension=6), "repopulate") == (15, 24, 0)
    states = [*observer.states, observer.sources()]
    dimensions = [{key.split("/")[1] for key in state} for state in states]
    # 24 deleted, ten a transaction, before anything is written; then 15 rows in steps of 9 and 6
    assert dimensions == [{"4"}, {"4"}, {"4"}, {"6"}, {"6"}]
    assert store.collection("kb").dimension == 6


def test_a_collection_dropped_between_steps_stops_the_call(store: KnowledgeStore, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ingestion, "TRANSACTION_ROWS", 3)
    ingest(store, "kb", collection(chunk("a", [1, 0], source="s")))
    other = KnowledgeStore(store.path)
    begun: list[str] = []

    def drop_after_the_first_step(statement: str) -> None:
        if statement == "BEGIN IMMEDIATE":
            begun.append(statement)
            if len(begun) == 2:
                other.drop("kb")

    with store._writing() as conn:
        conn.set_trace_callback(drop_after_the_first_step)
    with pytest.raises(ServiceUnavailableError, match=r"dropped by another process.*run the ingestion again"):
        ingest(store, "kb", sources(3, 3, prefix="new", dimension=2))
    other.close()


def test_a_process_killed_between_steps_leaves_old_chunks_and_whole_sources(database: Path, tmp_path: Path):
    store = KnowledgeStore(database)
    ingest(store, "kb", sources(6, 4, prefix="old"))
    store.close()
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from local_helpers import chunk, collection
        from test_local_changes import ingest, sources
        from genai_commons_local import ingestion
        from genai_commons_local.store import KnowledgeStore

        ingestion.TRANSACTION_ROWS = 8
        store = KnowledgeStore({str(database)!r})
        begun = []
        def die_in_the_third(statement):
            if statement == "BEGIN IMMEDIATE":
                begun.append(statement)
            elif len(begun) == 3 and statement.startswith("INSERT INTO chunks"):
                os._exit(9)
        with store._writing() as conn:
            conn.set_trace_callback(die_in_the_third)
        ingest(store, "kb", sources(6, 4, prefix="new"), "repopulate")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ}, timeout=120, check=False)
    assert done.returncode == 9
    store = KnowledgeStore(database)
    try:
        state = rows_of(store, "kb")
        assert {c for c in state if c.startswith("old")} == {f"old{s}-{i}" for s in range(6) for i in range(4)}
        assert {c for c in state if c.startswith("new")} == {f"new{s}-{i}" for s in range(4) for i in range(4)}
        assert ingest(store, "kb", sources(6, 4, prefix="new"), "repopulate") == (8, 24, 16)  # running it again
        assert sorted(rows_of(store, "kb")) == sorted(f"new{s}-{i}" for s in range(6) for i in range(4))
    finally:
        store.close()


def test_a_repopulate_that_keeps_most_chunks_looks_at_a_bounded_number_a_transaction(
    store: KnowledgeStore, monkeypatch: pytest.MonkeyPatch
):
    chunks = random_chunks(100, 2)
    ingest(store, "kb", chunks)
    ingest(store, "other", random_chunks(50, 2))  # rows of another collection in between
    ingest(store, "kb", random_chunks(20, 2, prefix="late"))
    monkeypatch.setattr(ingestion.Others, "SCAN", 5)
    kept = [(c.chunk_id,) for c in chunks.chunks[:99]] + [(f"late{i}",) for i in range(19)]
    with store._writing() as conn:
        conn.execute("DELETE FROM temp.batch_chunks")
        conn.executemany("INSERT INTO temp.batch_chunks (chunk_id) VALUES (?)", kept)
        others = ingestion.Others.of(conn, collection_id(store, "kb"), IngestMode.REPOPULATE, ())
    deleted = []
    while not others.done:
        with store._writing() as conn:
            deleted.append(others.delete(conn, 2))  # looks at 5 x 2 rows
    assert len(deleted) == 12 and sum(deleted) == 2 and deleted[9] == 1 and deleted[-1] == 1
    assert sorted(rows_of(store, "kb")) == sorted(c for (c,) in kept)
