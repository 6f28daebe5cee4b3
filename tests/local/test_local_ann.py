"""The HNSW index: recall against exact search, deletions and filters honoured, saved and reloaded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from local_helpers import MakeProvider, chunk, clustered, collection

from genai_commons import ChunkCollection, Eq, In, IngestMode, KnowledgeBase, Range, RetrievalQuery
from genai_commons_local import LocalProvider

ROWS = 2000


def dataset(rows: int = ROWS, *, seed: int = 0, prefix: str = "c") -> tuple[ChunkCollection, np.ndarray]:
    vectors = clustered(rows, seed=seed)
    chunks = collection(
        *(chunk(f"{prefix}{i}", vectors[i], source=f"doc-{i // 10}", metadata={"n": str(i % 100)}) for i in range(rows))
    )
    return chunks, vectors


def top(provider: LocalProvider, kb: KnowledgeBase, vector, k: int = 10, **extra) -> list[str]:
    return [c.chunk_id for c in provider.retrieve(kb, RetrievalQuery(vector=vector, k=k, **extra))]


def index_files(database: Path) -> list[Path]:
    directory = database.with_name(database.name + "-hnsw")
    return sorted(directory.glob("*.npz")) if directory.is_dir() else []


@pytest.fixture
def filled(make_provider: MakeProvider, kb: KnowledgeBase) -> tuple[LocalProvider, LocalProvider, np.ndarray]:
    """An exact and an HNSW provider over the same store of ROWS clustered vectors."""
    exact, hnsw = make_provider(index="exact"), make_provider(index="hnsw", hnsw_m=16, hnsw_ef_search=64)
    chunks, vectors = dataset()
    exact.ingest(kb, chunks, IngestMode.INSERT)
    return exact, hnsw, vectors


def test_recall_at_10_against_exact_search(filled, kb: KnowledgeBase):
    exact, hnsw, _ = filled
    queries = clustered(40, seed=99)
    hits = sum(len(set(top(hnsw, kb, q)) & set(top(exact, kb, q))) for q in queries)
    assert hits / (10 * len(queries)) >= 0.95
    result = hnsw.retrieve(kb, RetrievalQuery(vector=queries[0], k=10))
    similarities = [c.similarity or 0.0 for c in result]
    assert similarities == sorted(similarities, reverse=True)


def test_deleted_chunks_are_never_returned(filled, kb: KnowledgeBase, database: Path):
    exact, hnsw, vectors = filled
    top(hnsw, kb, vectors[0])  # builds the index
    deleted = [f"doc-{i}" for i in range(0, ROWS // 10, 10)]  # 10 % of the chunks: flagged, not rebuilt
    exact.delete_chunks(kb, deleted)
    gone = {f"c{i}" for d in deleted for i in range(int(d[4:]) * 10, int(d[4:]) * 10 + 10)}
    for i in range(0, ROWS, 37):
        found = top(hnsw, kb, vectors[i], k=20)
        assert len(found) == 20 and not gone & set(found)
    assert f"c{0}" not in top(hnsw, kb, vectors[0], k=50)
    # Past a quarter of the rows deleted, the index is rebuilt (and saved again).
    (saved,) = index_files(database)
    os.utime(saved, ns=(0, 0))
    exact.delete_chunks(kb, [f"doc-{i}" for i in range(ROWS // 10) if i % 10 in (1, 2, 3)])
    found = top(hnsw, kb, vectors[15], k=10)
    assert all(int(i[1:]) // 10 % 10 not in (0, 1, 2, 3) for i in found)
    assert saved.stat().st_mtime_ns > 0


def test_changed_and_new_chunks_are_found(filled, kb: KnowledgeBase):
    exact, hnsw, _ = filled
    target = clustered(1, seed=1234)[0]
    assert "c5" not in top(hnsw, kb, target, k=3)
    exact.ingest(kb, collection(chunk("c5", target, source="doc-0", metadata={"n": "5"})), IngestMode.INSERT)
    exact.ingest(kb, collection(chunk("fresh", -target)), IngestMode.INSERT)
    assert top(hnsw, kb, target, k=1) == ["c5"]
    assert top(hnsw, kb, -target, k=1) == ["fresh"]


def test_filters_are_honoured_wide_and_narrow(filled, make_provider: MakeProvider, kb: KnowledgeBase):
    exact, _, vectors = filled
    # A wide filter walks the graph with a selector; a narrow one is searched exactly.
    hnsw = make_provider(index="hnsw", hnsw_m=16, hnsw_ef_search=64, exact_filter_limit=100)
    for where in (Range(key="n", lt=60), In(key="n", values=["7"]), Eq(key="n", value="nothing")):
        for i in (3, 1500):
            got = hnsw.retrieve(kb, RetrievalQuery(vector=vectors[i], k=10, filter=where))
            assert all(where.matches(c.metadata.as_dict()) for c in got)
            expected = top(exact, kb, vectors[i], filter=where)
            assert len(got) == len(expected)
            assert len({c.chunk_id for c in got} & set(expected)) >= min(8, len(expected))


def test_the_index_is_saved_and_reloaded_by_a_new_instance(
    filled, make_provider: MakeProvider, kb: KnowledgeBase, database: Path
):
    exact, hnsw, vectors = filled
    first = top(hnsw, kb, vectors[42])
    (saved,) = index_files(database)
    os.utime(saved, ns=(1, 1))
    again = make_provider(index="hnsw", hnsw_m=16, hnsw_ef_search=64)
    assert top(again, kb, vectors[42]) == first
    assert saved.stat().st_mtime_ns == 1, "loaded, not rebuilt and saved again"
    exact.delete_chunks(kb, ["doc-4"])  # c40 … c49: written while the saved file is older
    third = make_provider(index="hnsw", hnsw_m=16, hnsw_ef_search=64)
    assert not {f"c{i}" for i in range(40, 50)} & set(top(third, kb, vectors[42], k=30))


def test_an_unreadable_index_file_is_rebuilt(filled, make_provider: MakeProvider, kb: KnowledgeBase, database: Path):
    _, hnsw, vectors = filled
    expected = top(hnsw, kb, vectors[7])
    (saved,) = index_files(database)
    saved.write_bytes(b"not an index")
    fresh = make_provider(index="hnsw", hnsw_m=16, hnsw_ef_search=64)
    assert top(fresh, kb, vectors[7])[:5] == expected[:5]
    assert saved.stat().st_size > 1000


def test_dropping_a_collection_removes_its_index(filled, kb: KnowledgeBase, database: Path):
    _, hnsw, vectors = filled
    top(hnsw, kb, vectors[0])
    assert len(index_files(database)) == 1
    assert hnsw.drop_collection(kb) is True
    assert index_files(database) == []


def test_auto_uses_hnsw_above_the_threshold_only(make_provider: MakeProvider, database: Path):
    auto = make_provider(index="auto", ann_threshold=500)
    small, large = KnowledgeBase(provider="local", name="small"), KnowledgeBase(provider="local", name="large")
    small_chunks, small_vectors = dataset(200)
    large_chunks, large_vectors = dataset(800, seed=5)
    auto.ingest(small, small_chunks, IngestMode.INSERT)
    auto.ingest(large, large_chunks, IngestMode.INSERT)
    assert top(auto, small, small_vectors[3], k=1) == ["c3"]
    assert index_files(database) == []
    assert top(auto, large, large_vectors[3], k=1) == ["c3"]
    assert len(index_files(database)) == 1
