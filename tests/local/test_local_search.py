"""Exact cosine search: correct neighbours, k and min_similarity, and a cache that follows every write."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
from local_helpers import MakeProvider, chunk, collection, random_chunks

from genai_commons import IngestMode, KnowledgeBase, RetrievalQuery, ValidationError
from genai_commons_local import LocalProvider


def brute_force(chunks, query: np.ndarray, k: int) -> list[tuple[str, float]]:
    matrix = np.asarray([list(c.vector) for c in chunks], dtype=np.float64)
    scores = matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    order = np.argsort(-scores)[:k]
    return [(chunks.chunks[i].chunk_id, float(scores[i])) for i in order]


def search(provider: LocalProvider, kb: KnowledgeBase, vector, k: int = 5, **extra) -> list[tuple[str, float]]:
    result = provider.retrieve(kb, RetrievalQuery(vector=vector, k=k, **extra))
    return [(c.chunk_id, c.similarity) for c in result]


def test_exact_search_returns_the_true_neighbours_in_order(provider: LocalProvider, kb: KnowledgeBase):
    chunks = random_chunks(500, dimension=24, seed=3)
    provider.ingest(kb, chunks, IngestMode.INSERT)
    rng = np.random.default_rng(9)
    for _ in range(10):
        query = rng.standard_normal(24)
        got = search(provider, kb, query, k=7)
        expected = brute_force(chunks, query, 7)
        assert [i for i, _ in got] == [i for i, _ in expected]
        assert [s for _, s in got] == pytest.approx([s for _, s in expected], abs=1e-5)
        assert all(a >= b for (_, a), (_, b) in itertools.pairwise(got))


def test_k_and_min_similarity(provider: LocalProvider, kb: KnowledgeBase):
    provider.ingest(
        kb,
        collection(chunk("same", [1, 0]), chunk("close", [1, 0.2]), chunk("right", [0, 1]), chunk("opposite", [-1, 0])),
        IngestMode.INSERT,
    )
    assert [i for i, _ in search(provider, kb, [1, 0], k=10)] == ["same", "close", "right", "opposite"]
    assert [i for i, _ in search(provider, kb, [1, 0], k=2)] == ["same", "close"]
    assert [i for i, _ in search(provider, kb, [1, 0], k=10, min_similarity=0.5)] == ["same", "close"]
    assert search(provider, kb, [1, 0], k=10, min_similarity=0.0)[-1] == ("right", pytest.approx(0.0, abs=1e-6))
    assert search(provider, kb, [1, 0], k=10)[-1] == ("opposite", pytest.approx(-1.0))
    assert search(provider, kb, [-1, 0], k=1, min_similarity=0.99) == [("opposite", pytest.approx(1.0))]


def test_zero_vectors_score_zero(provider: LocalProvider, kb: KnowledgeBase):
    provider.ingest(kb, collection(chunk("zero", [0.0, 0.0]), chunk("x", [1.0, 0.0])), IngestMode.INSERT)
    assert dict(search(provider, kb, [1.0, 0.0], k=5)) == {"x": pytest.approx(1.0), "zero": 0.0}
    assert {s for _, s in search(provider, kb, [0.0, 0.0], k=5)} == {0.0}


def test_a_query_needs_a_vector(provider: LocalProvider, kb: KnowledgeBase):
    provider.ingest(kb, random_chunks(3), IngestMode.INSERT)
    with pytest.raises(ValidationError, match="searches by vector"):
        provider.retrieve(kb, RetrievalQuery(text="what?"))
    with pytest.raises(ValidationError, match="NaN"):
        provider.retrieve(kb, RetrievalQuery(vector=[float("inf")] * 16))


def test_the_cached_vectors_follow_inserts_updates_and_deletes(provider: LocalProvider, kb: KnowledgeBase):
    provider.ingest(kb, collection(chunk("a", [1, 0, 0], source="s"), chunk("b", [0, 1, 0], source="t")), "insert")
    assert search(provider, kb, [0, 0, 1], k=1)[0][0] in {"a", "b"}  # cached now
    provider.ingest(kb, collection(chunk("c", [0, 0, 1], source="u")), IngestMode.INSERT)
    assert search(provider, kb, [0, 0, 1], k=1)[0][0] == "c"
    provider.ingest(kb, collection(chunk("a", [0, 0.1, 1], source="s")), IngestMode.INSERT)  # moved next to c
    assert [i for i, _ in search(provider, kb, [0, 0, 1], k=2)] == ["c", "a"]
    provider.delete_chunks(kb, ["u"])
    assert [i for i, _ in search(provider, kb, [0, 0, 1], k=5)] == ["a", "b"]
    provider.delete_chunks(kb, None)
    assert search(provider, kb, [0, 0, 1], k=5) == []


def test_writes_by_another_instance_are_seen(make_provider: MakeProvider, kb: KnowledgeBase):
    reader, writer = make_provider(), make_provider()  # two instances: as two processes would be
    writer.ingest(kb, collection(chunk("a", [1, 0])), IngestMode.INSERT)
    assert [i for i, _ in search(reader, kb, [0, 1])] == ["a"]
    writer.ingest(kb, collection(chunk("b", [0, 1])), IngestMode.INSERT)
    assert [i for i, _ in search(reader, kb, [0, 1])] == ["b", "a"]
    writer.drop_collection(kb)
    writer.ingest(kb, collection(chunk("new", [0, 1, 0])), IngestMode.INSERT)  # same name, new collection
    assert search(reader, kb, [0, 1, 0]) == [("new", pytest.approx(1.0))]


def test_concurrent_searches_and_writes_in_threads(provider: LocalProvider, kb: KnowledgeBase):
    provider.ingest(kb, random_chunks(200, seed=1), IngestMode.INSERT)
    errors: list[BaseException] = []
    stop = threading.Event()

    def searching() -> None:
        rng = np.random.default_rng()
        while not stop.is_set():
            try:
                found = provider.retrieve(kb, RetrievalQuery(vector=rng.standard_normal(16), k=5))
                assert 1 <= len(found) <= 5
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=searching) for _ in range(3)]
    for thread in threads:
        thread.start()
    for round_ in range(15):
        provider.ingest(kb, random_chunks(20, seed=round_ + 10, prefix=f"r{round_}-"), IngestMode.INSERT)
        provider.delete_chunks(kb, [f"doc-{round_}"])
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    final = provider.retrieve(kb, RetrievalQuery(vector=[1.0] * 16, k=10_000))
    assert len(final) == len(provider.list_chunks(kb, None, 0, 10_000))
