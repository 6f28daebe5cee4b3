"""The collection's base (HNSW graph or flat vectors): built off the query path, recall against exact
search, deletions and filters honoured, extended, loaded by new instances, rebuilt when damaged."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from local_helpers import MakeProvider, chunk, clustered, collection

from genai_commons import ChunkCollection, Eq, In, IngestMode, KnowledgeBase, Range, RetrievalQuery
from genai_commons_local import LocalProvider, ann, basefile, maintain, products

ROWS = 2000
HNSW = {"index": "hnsw", "hnsw_m": 16, "hnsw_ef_search": 64}


def dataset(
    rows: int = ROWS, *, seed: int = 0, prefix: str = "c", start: int = 0
) -> tuple[ChunkCollection, np.ndarray]:
    vectors = clustered(rows, seed=seed)
    chunks = collection(
        *(
            chunk(f"{prefix}{i}", vectors[i - start], source=f"doc-{i // 10}", metadata={"n": str(i % 100)})
            for i in range(start, start + rows)
        )
    )
    return chunks, vectors


def top(provider: LocalProvider, kb: KnowledgeBase, vector, k: int = 10, **extra) -> list[str]:
    return [c.chunk_id for c in provider.retrieve(kb, RetrievalQuery(vector=vector, k=k, **extra))]


def folders(database: Path) -> list[Path]:
    root = database.with_name(database.name + "-index")
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def base_of(database: Path, dimension: int = 64) -> basefile.Base | None:
    (folder,) = folders(database)
    return basefile.load(folder.parent, folder.name, dimension)


def build(provider: LocalProvider, kb: KnowledgeBase) -> None:
    result = provider.ingest_from_source(kb, None, True)
    assert result.succeeded


@pytest.fixture
def filled(
    make_provider: MakeProvider, kb: KnowledgeBase, database: Path
) -> tuple[LocalProvider, LocalProvider, np.ndarray]:
    """An exact and an HNSW provider over the same store of ROWS clustered vectors, the graph built."""
    exact, hnsw = make_provider(index="exact"), make_provider(**HNSW)
    chunks, vectors = dataset()
    exact.ingest(kb, chunks, IngestMode.INSERT)
    build(hnsw, kb)
    return exact, hnsw, vectors


def test_recall_at_10_against_exact_search(filled, kb: KnowledgeBase, database: Path):
    exact, hnsw, _ = filled
    base = base_of(database)
    assert base is not None and base.kind == basefile.HNSW and len(base.segment) == ROWS
    queries = clustered(40, seed=99)
    hits = sum(len(set(top(hnsw, kb, q)) & set(top(exact, kb, q))) for q in queries)
    assert hits / (10 * len(queries)) >= 0.95
    result = hnsw.retrieve(kb, RetrievalQuery(vector=queries[0], k=10))
    similarities = [c.similarity or 0.0 for c in result]
    assert similarities == sorted(similarities, reverse=True)


def test_a_query_never_builds_the_graph(make_provider: MakeProvider, kb: KnowledgeBase, database: Path, monkeypatch):
    monkeypatch.setattr(maintain, "QUIET_SECONDS", 0.0)
    writer, hnsw = make_provider(index="exact"), make_provider(**HNSW)
    chunks, vectors = dataset(500)
    writer.ingest(kb, chunks, IngestMode.INSERT)
    # No graph yet: answered exactly at once; the graph is built by the maintainer's thread.
    assert top(hnsw, kb, vectors[3], k=1) == ["c3"]
    deadline = time.monotonic() + 20
    while not folders(database) or basefile.current(folders(database)[0].parent, folders(database)[0].name) == 0:
        assert time.monotonic() < deadline, "the background maintainer wrote no base"
        time.sleep(0.05)
    assert base_of(database).kind == basefile.HNSW


def test_a_steady_stream_of_ingestions_still_gets_its_graph(
    make_provider: MakeProvider, kb: KnowledgeBase, database: Path, monkeypatch
):
    monkeypatch.setattr(maintain, "QUIET_SECONDS", 3600.0)  # never quiet...
    monkeypatch.setattr(maintain, "BUSY_SECONDS", 0.3)  # ... but served this long after the first request
    writer = make_provider(**HNSW)
    deadline = time.monotonic() + 20
    batch = 0
    while not folders(database) or basefile.current(folders(database)[0].parent, folders(database)[0].name) == 0:
        assert time.monotonic() < deadline, "the background maintainer wrote no base while ingestion went on"
        chunks, _ = dataset(50, seed=batch, start=batch * 50)
        writer.ingest(kb, chunks, IngestMode.INSERT)
        batch += 1
        time.sleep(0.05)
    assert base_of(database).kind == basefile.HNSW


def test_an_exact_store_writes_its_flat_base_once_ingestion_pauses(
    make_provider: MakeProvider, kb: KnowledgeBase, database: Path, monkeypatch
):
    # A flat base is rewritten whole: not worth doing while a writer goes on (see BUSY_SECONDS).
    monkeypatch.setattr(maintain, "FLAT_ROWS", 20)
    monkeypatch.setattr(maintain, "QUIET_SECONDS", 1.0)
    monkeypatch.setattr(maintain, "BUSY_SECONDS", 0.1)
    writer = make_provider(index="exact")
    until = time.monotonic() + 1.5
    batch = 0
    while time.monotonic() < until:
        chunks, _ = dataset(50, seed=batch, start=batch * 50)
        writer.ingest(kb, chunks, IngestMode.INSERT)
        batch += 1
        time.sleep(0.05)
    assert not folders(database) or basefile.current(folders(database)[0].parent, folders(database)[0].name) == 0
    deadline = time.monotonic() + 20
    while not folders(database) or basefile.current(folders(database)[0].parent, folders(database)[0].name) == 0:
        assert time.monotonic() < deadline, "the maintainer wrote no base once the writer paused"
        time.sleep(0.05)
    assert base_of(database).kind == basefile.FLAT


def test_deleted_chunks_are_never_returned(filled, kb: KnowledgeBase, database: Path):
    exact, hnsw, vectors = filled
    deleted = [f"doc-{i}" for i in range(0, ROWS // 10, 10)]  # 10 % of the chunks: flagged, not rebuilt
    exact.delete_chunks(kb, deleted)
    gone = {f"c{i}" for d in deleted for i in range(int(d[4:]) * 10, int(d[4:]) * 10 + 10)}
    for i in range(0, ROWS, 37):
        found = top(hnsw, kb, vectors[i], k=20)
        assert len(found) == 20 and not gone & set(found)
    assert "c0" not in top(hnsw, kb, vectors[0], k=50)
    # Past a quarter of the rows deleted, the next build makes a new graph without them.
    exact.delete_chunks(kb, [f"doc-{i}" for i in range(ROWS // 10) if i % 10 in (1, 2, 3)])
    build(hnsw, kb)
    base = base_of(database)
    assert base is not None and base.segment.live is None and len(base.segment) == ROWS * 6 // 10
    found = top(hnsw, kb, vectors[15], k=10)
    assert all(int(i[1:]) // 10 % 10 not in (0, 1, 2, 3) for i in found)


def test_changed_and_new_chunks_are_found_before_the_graph_has_them(filled, kb: KnowledgeBase):
    exact, hnsw, _ = filled
    target = clustered(1, seed=1234)[0]
    assert "c5" not in top(hnsw, kb, target, k=3)
    exact.ingest(kb, collection(chunk("c5", target, source="doc-0", metadata={"n": "5"})), IngestMode.INSERT)
    exact.ingest(kb, collection(chunk("fresh", -target)), IngestMode.INSERT)
    assert top(hnsw, kb, target, k=1) == ["c5"]
    assert top(hnsw, kb, -target, k=1) == ["fresh"]


def test_the_graph_is_extended_with_rows_added_since(
    filled, make_provider, kb: KnowledgeBase, database: Path, monkeypatch
):
    monkeypatch.setattr(maintain, "TAIL_ROWS", 100)
    exact, hnsw, _ = filled
    first = base_of(database)
    more, vectors = dataset(300, seed=7, start=ROWS)
    exact.ingest(kb, more, IngestMode.INSERT)
    exact.delete_chunks(kb, ["doc-0"])
    build(hnsw, kb)
    second = base_of(database)
    assert second is not None and first is not None and second.generation == first.generation + 1
    assert len(second.segment) == ROWS + 300 and second.segment.live_count == ROWS + 290
    assert second.last_row > first.last_row
    fresh = make_provider(**HNSW)
    assert top(fresh, kb, vectors[5], k=1) == [f"c{ROWS + 5}"]
    assert not {f"c{i}" for i in range(10)} & set(top(fresh, kb, vectors[5], k=50))


def test_filters_are_honoured_wide_and_narrow(filled, make_provider: MakeProvider, kb: KnowledgeBase):
    exact, _, vectors = filled
    # A wide filter walks the graph with a selector; a narrow one is searched exactly.
    hnsw = make_provider(**HNSW, exact_filter_limit=100)
    for where in (Range(key="n", lt=60), In(key="n", values=["7"]), Eq(key="n", value="nothing")):
        for i in (3, 1500):
            got = hnsw.retrieve(kb, RetrievalQuery(vector=vectors[i], k=10, filter=where))
            assert all(where.matches(c.metadata.as_dict()) for c in got)
            expected = top(exact, kb, vectors[i], filter=where)
            assert len(got) == len(expected)
            assert len({c.chunk_id for c in got} & set(expected)) >= min(8, len(expected))


def test_a_new_instance_loads_the_base_and_catches_up(
    filled, make_provider: MakeProvider, kb: KnowledgeBase, database: Path
):
    exact, hnsw, vectors = filled
    first = top(hnsw, kb, vectors[42])
    generation = base_of(database).generation
    again = make_provider(**HNSW)
    assert top(again, kb, vectors[42]) == first
    exact.delete_chunks(kb, ["doc-4"])  # c40 … c49: deleted after the base was written
    third = make_provider(**HNSW)
    assert not {f"c{i}" for i in range(40, 50)} & set(top(third, kb, vectors[42], k=30))
    assert base_of(database).generation == generation, "loaded, not rebuilt"


def test_the_index_file_of_earlier_versions_is_removed_when_a_base_replaces_it(
    make_provider: MakeProvider, kb: KnowledgeBase, database: Path
):
    writer = make_provider(index="exact")
    writer.ingest(kb, dataset(300)[0], IngestMode.INSERT)
    with sqlite3.connect(database) as conn:
        ((uid,),) = conn.execute("SELECT uid FROM collections").fetchall()
    conn.close()
    legacy = database.with_name(database.name + "-hnsw")  # earlier versions: <database>-hnsw/<uid>.npz
    legacy.mkdir()
    (legacy / f"{uid}.npz").write_bytes(b"an index written by an earlier version")
    (legacy / "other.npz").write_bytes(b"another collection's")
    build(make_provider(**HNSW), kb)
    assert [p.name for p in legacy.iterdir()] == ["other.npz"]
    (legacy / "other.npz").unlink()
    writer.drop_collection(kb)  # the last one: the folder goes too
    assert not legacy.exists()


@pytest.mark.parametrize("damage", ["vectors", "graph", "graph without vectors"])
def test_a_damaged_base_costs_time_not_answers(
    filled, make_provider: MakeProvider, kb: KnowledgeBase, database: Path, damage: str
):
    _, hnsw, vectors = filled
    expected = top(hnsw, kb, vectors[7])
    base = base_of(database)
    generation = folders(database)[0] / str(base.generation)
    damaged = generation / "damaged"  # renamed into place: the files in use are mapped, never rewritten
    if damage == "vectors":
        damaged.write_bytes(b"not an index")
        damaged.replace(generation / "vectors.npy")
    elif damage == "graph":
        damaged.write_bytes((generation / "graph.faiss").read_bytes()[:1000])
        damaged.replace(generation / "graph.faiss")
    else:  # the layout of an earlier version: the graph written without its vectors, six numbers of state
        faiss = products.faiss()
        faiss.write_index(base.segment.graph, str(damaged), faiss.IO_FLAG_SKIP_STORAGE)
        damaged.replace(generation / "graph.faiss")
        with np.load(generation / "rows.npz") as data:
            arrays = {name: data[name] for name in data.files}
        arrays["state"] = arrays["state"][:6]
        with damaged.open("wb") as file:
            np.savez(file, **arrays)
        damaged.replace(generation / "rows.npz")
    fresh = make_provider(**HNSW)
    assert top(fresh, kb, vectors[7])[:5] == expected[:5]  # from the store, exactly
    build(fresh, kb)
    assert base_of(database).generation == base.generation + 1


def test_dropping_a_collection_removes_its_base(filled, kb: KnowledgeBase, database: Path):
    _, hnsw, _ = filled
    assert len(folders(database)) == 1
    assert hnsw.drop_collection(kb) is True
    assert folders(database) == []


def test_auto_builds_a_graph_above_the_threshold_only(make_provider: MakeProvider, database: Path):
    auto = make_provider(index="auto", ann_threshold=500)
    small, large = KnowledgeBase(provider="local", name="small"), KnowledgeBase(provider="local", name="large")
    small_chunks, small_vectors = dataset(200)
    large_chunks, large_vectors = dataset(800, seed=5)
    auto.ingest(small, small_chunks, IngestMode.INSERT)
    auto.ingest(large, large_chunks, IngestMode.INSERT)
    build(auto, small)
    assert folders(database) == []
    assert top(auto, small, small_vectors[3], k=1) == ["c3"]
    build(auto, large)
    assert base_of(database).kind == basefile.HNSW
    assert top(auto, large, large_vectors[3], k=1) == ["c3"]


def test_a_large_exact_collection_gets_flat_vectors_a_new_process_maps(
    make_provider: MakeProvider, kb: KnowledgeBase, database: Path, monkeypatch
):
    monkeypatch.setattr(maintain, "FLAT_ROWS", 300)
    exact = make_provider(index="exact")
    chunks, vectors = dataset(400)
    exact.ingest(
        kb,
        chunks,
        IngestMode.INSERT,
    )
    build(exact, kb)
    base = base_of(database)
    assert base is not None and base.kind == basefile.FLAT and base.segment.graph is None
    assert isinstance(base.segment.matrix, np.memmap), "the vectors are mapped, not read"
    assert base.segment.matrix.flags.aligned
    assert top(make_provider(index="exact"), kb, vectors[17], k=1) == ["c17"]


def test_the_walk_widens_with_the_graph_and_under_narrow_filters():
    assert ann.ef_search(128, 10, 50_000) == 128  # at most 100,000 rows: as configured
    assert ann.ef_search(128, 10, 100_000) == 128
    assert ann.ef_search(128, 10, 1_000_000) == 255  # x 10 ** 0.3
    assert ann.ef_search(128, 500, 100_000) == 500  # never narrower than k
    widths = [ann.ef_search(128, 10, 1_000_000, share) for share in (1.0, 0.5, 0.2, 0.11, 0.02)]
    assert widths == sorted(widths) and widths[1] == 303 and widths[-1] == 679  # x share ** -0.25
    assert ann.ef_search(128, 10, 10**9, 1e-6) == ann.MAX_EF_SEARCH
