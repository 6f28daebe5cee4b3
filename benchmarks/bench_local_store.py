"""The local knowledge-base store with 100,000 chunks x 384 dimensions: top-10 query latency of
exact search and of the HNSW index (with its recall@10 against exact), next to plain numpy brute
force over the same vectors in the same run.

Targets (issue 5): exact <= 20 ms p50 (numpy alone: about 16 ms on the reference machine); HNSW
<= 2 ms p50 at recall@10 >= 0.95. Issue 13: keyword search (SQLite FTS5, BM25) and hybrid search
(both rankings fused) p50 within 2 x the vector search's, over the same chunks.

The vectors are synthetic but shaped like sentence embeddings: a random 32-dimension latent
vector projected to 384 dimensions, plus noise, normalised (``--latent`` changes the intrinsic
dimension; uniform random vectors, which no approximate index handles well, are not what
embedding models produce). Queries come from the same distribution. Each query goes through
``LocalProvider.retrieve``: the version check in SQLite, the search and reading back the 10 chunks.

The chunks' texts, for keyword search, are about 100 words each: sentences of this project's
``docs/`` drawn at random (seeded), so that words have the frequencies of real prose. The keyword
and hybrid queries are the labelled questions of ``bench_retrieval_quality.py`` (a hybrid query
carries the same random vector as the vector query it is timed against).

    .venv/bin/python benchmarks/bench_local_store.py [--rows 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

import _results as results
import numpy as np
from _retrieval_corpora import read_questions

from genai_commons import (
    ChunkCollection,
    IngestMode,
    KnowledgeBase,
    KnowledgeBaseChunk,
    MetadataCollection,
    Range,
    RetrievalQuery,
)
from genai_commons_local import LocalProvider
from genai_commons_local.settings import IndexKind, LocalSettings

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: The collection size the keyword and hybrid targets are set for (issue 13).
SEARCH_TYPES_ROWS = 100_000


def sentences() -> list[str]:
    """The sentences of docs/ (prose lines, code fences left out), the word pool of the chunk texts."""
    found: list[str] = []
    for page in sorted(DOCS.rglob("*.md")):
        prose = re.sub(r"```.*?```", " ", page.read_text(encoding="utf-8"), flags=re.DOTALL)
        found.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", prose) if len(s.split()) >= 4)
    return found


def chunk_text(pool: list[str], i: int) -> str:
    """About 100 words of docs/ sentences, the same for the same ``i``."""
    rng = random.Random(i)
    words: list[str] = []
    while len(words) < 100:
        words.extend(rng.choice(pool).split())
    return " ".join(words)


def vectors(rows: int, dimension: int, latent: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    projection = np.random.default_rng(0).standard_normal((latent, dimension)).astype(np.float32)
    out = rng.standard_normal((rows, latent)).astype(np.float32) @ projection
    out += 0.3 * np.sqrt(latent) * 0.1 * rng.standard_normal((rows, dimension)).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def ingest(provider: LocalProvider, kb: KnowledgeBase, matrix: np.ndarray, batch: int) -> float:
    pool = sentences()
    started = time.perf_counter()
    for start in range(0, matrix.shape[0], batch):
        chunks = ChunkCollection(
            chunks=[
                KnowledgeBaseChunk(
                    chunk_id=f"chunk-{i}",
                    input_text=chunk_text(pool, i),
                    human_readable_id=f"doc-{i // 10}#{i % 10}",
                    source_id=f"doc-{i // 10}",
                    metadata=MetadataCollection.of(n=str(i % 100)),
                    vector=matrix[i],
                )
                for i in range(start, min(start + batch, matrix.shape[0]))
            ]
        )
        provider.ingest(kb, chunks, IngestMode.INSERT)
    return matrix.shape[0] / (time.perf_counter() - started)


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn, queries: np.ndarray, samples: list[float] | None = None) -> tuple[float, list]:  # type: ignore[no-untyped-def]
    samples, answers = [] if samples is None else samples, []
    for q in queries:
        started = time.perf_counter()
        answers.append(fn(q))
        samples.append(time.perf_counter() - started)
    return p50_ms(samples), answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--latent", type=int, default=32)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    results.add_argument(parser)
    args = parser.parse_args()
    results.start(args.json)
    matrix = vectors(args.rows, args.dimension, args.latent, seed=1)
    queries = vectors(args.queries, args.dimension, args.latent, seed=2)
    k = args.k

    with tempfile.TemporaryDirectory() as home:
        database = Path(home) / "knowledge.db"
        exact = LocalProvider(LocalSettings(database=database, index=IndexKind.EXACT))
        kb = KnowledgeBase(provider="local", name="bench")
        rate = ingest(exact, kb, matrix, batch=10_000)
        print(f"rows x dimensions                      {args.rows} x {args.dimension} (latent {args.latent})")
        print(f"ingest (vectors given, 10k per call)   {rate:10,.0f} chunks/s")

        # Baseline: numpy brute force over an in-memory normalised matrix.
        def brute(q: np.ndarray) -> np.ndarray:
            scores = matrix @ q
            best = np.argpartition(-scores, k - 1)[:k]
            return best[np.argsort(-scores[best])]

        def query(provider: LocalProvider, **extra):  # type: ignore[no-untyped-def]
            return lambda q: provider.retrieve(kb, RetrievalQuery(vector=q, k=k, **extra))

        started = time.perf_counter()
        exact.retrieve(kb, RetrievalQuery(vector=queries[0], k=k))
        load = time.perf_counter() - started
        # Interleaved, query by query, so that both see the same machine load.
        baseline_s, exact_s, truth, exact_answers = [], [], [], []
        for q in queries:
            started = time.perf_counter()
            truth.append(brute(q))
            baseline_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            exact_answers.append(query(exact)(q))
            exact_s.append(time.perf_counter() - started)
        baseline, exact_p50 = p50_ms(baseline_s), p50_ms(exact_s)
        truth_ids = [{f"chunk-{i}" for i in best} for best in truth]
        exact_recall = recall(exact_answers, truth_ids)

        # Vector, keyword and hybrid, interleaved query by query (a question cycles for each vector).
        questions = [question.text for question in read_questions()[1]]
        typed_s: dict[str, list[float]] = {"vector": [], "keyword": [], "hybrid": []}
        for number, q in enumerate(queries):
            text = questions[number % len(questions)]
            for search_type, samples in typed_s.items():
                retrieval = RetrievalQuery(
                    text=text, vector=None if search_type == "keyword" else q, k=k, search_type=search_type
                )
                started = time.perf_counter()
                exact.retrieve(kb, retrieval)
                samples.append(time.perf_counter() - started)
        typed_p50 = {name: p50_ms(samples) for name, samples in typed_s.items()}
        # The first pass over the questions: each word is counted (common or not) for the first time.
        first_pass = {name: p50_ms(samples[: len(questions)]) for name, samples in typed_s.items()}

        hnsw = LocalProvider(LocalSettings(database=database, index=IndexKind.HNSW))
        started = time.perf_counter()
        hnsw.retrieve(kb, RetrievalQuery(vector=queries[0], k=k))
        build = time.perf_counter() - started
        hnsw_s: list[float] = []
        hnsw_p50, hnsw_answers = timed(query(hnsw), queries, hnsw_s)
        hnsw_recall = recall(hnsw_answers, truth_ids)
        hybrid_hnsw_s: list[float] = []
        for number, q in enumerate(queries):
            text = questions[number % len(questions)]
            started = time.perf_counter()
            hnsw.retrieve(kb, RetrievalQuery(text=text, vector=q, k=k, search_type="hybrid"))
            hybrid_hnsw_s.append(time.perf_counter() - started)
        hybrid_hnsw_p50 = p50_ms(hybrid_hnsw_s)

        reloaded = LocalProvider(LocalSettings(database=database, index=IndexKind.HNSW))
        started = time.perf_counter()
        reloaded.retrieve(kb, RetrievalQuery(vector=queries[0], k=k))
        reload = time.perf_counter() - started

        wide = Range(key="n", lt=50)  # half the collection
        filtered_exact_s: list[float] = []
        filtered_hnsw_s: list[float] = []
        filtered_exact_p50, _ = timed(query(exact, filter=wide), queries, filtered_exact_s)
        filtered_hnsw_p50, _ = timed(query(hnsw, filter=wide), queries, filtered_hnsw_s)
        exact.close()
        hnsw.close()
        reloaded.close()

    print(f"numpy brute force (baseline)           {baseline:8.2f} ms p50")
    print(f"exact via LocalProvider.retrieve       {exact_p50:8.2f} ms p50   recall@{k} {exact_recall:.3f}")
    print(f"hnsw via LocalProvider.retrieve        {hnsw_p50:8.2f} ms p50   recall@{k} {hnsw_recall:.3f}")
    print(f"filtered (half the rows), exact        {filtered_exact_p50:8.2f} ms p50")
    for name, p50 in typed_p50.items():
        print(f"{name + ' search (exact vectors)':<38} {p50:8.2f} ms p50   {p50 / typed_p50['vector']:.2f} x vector")
    hnsw_ratio = hybrid_hnsw_p50 / hnsw_p50
    print(f"hybrid search (hnsw vectors)           {hybrid_hnsw_p50:8.2f} ms p50   {hnsw_ratio:.2f} x hnsw")
    for name in ("keyword", "hybrid"):
        ratio = first_pass[name] / first_pass["vector"]
        print(f"{name + ', first pass over the questions':<38} {first_pass[name]:8.2f} ms p50   {ratio:.2f} x vector")
    print(f"filtered (half the rows), hnsw         {filtered_hnsw_p50:8.2f} ms p50")
    print(f"first exact query (loads the vectors)  {load:8.2f} s")
    print(f"first hnsw query (builds, saves index) {build:8.2f} s")
    print(f"first hnsw query, new process (loads)  {reload:8.2f} s")
    print(f"target exact <= 20 ms p50: {'met' if exact_p50 <= 20 else 'NOT met'}")
    met = hnsw_p50 <= 2 and hnsw_recall >= 0.95
    print(f"target hnsw <= 2 ms p50 at recall@{k} >= 0.95: {'met' if met else 'NOT met'}")
    # The target is set for 100,000 chunks: in a small collection, the vector search takes well under
    # a millisecond, and the SQL statements' fixed cost alone is more than twice that.
    at_scale = args.rows >= SEARCH_TYPES_ROWS
    for name in ("keyword", "hybrid"):
        within = typed_p50[name] <= 2 * typed_p50["vector"]
        verdict = ("met" if within else "NOT met") if at_scale else f"set for {SEARCH_TYPES_ROWS:,} chunks"
        print(f"target {name} <= 2 x vector search p50: {verdict}")
    size = f"{args.rows:,} x {args.dimension}"
    results.measure(
        "exact",
        f"top-{k} query, exact search over {size}: p50",
        "ms",
        ("LocalProvider.retrieve, exact", exact_p50),
        [("numpy brute force in memory", baseline)],
        goal=results.target("<= 20 ms p50", exact_p50, "<=", 20, unit="ms", figure="p50"),
        note=f"recall@{k} {exact_recall:.3f}",
    )
    results.measure(
        "hnsw",
        f"top-{k} query, HNSW index over {size}: p50",
        "ms",
        ("LocalProvider.retrieve, hnsw", hnsw_p50),
        [("numpy brute force in memory", baseline), ("LocalProvider.retrieve, exact", exact_p50)],
        goal=results.target("<= 2 ms p50 at recall@10 >= 0.95", hnsw_p50, "<=", 2, unit="ms", figure="p50"),
        met=met,
        note=f"recall@{k} {hnsw_recall:.3f} against exact",
    )
    results.measure("hnsw", f"HNSW recall@{k} against exact", "recall", ("hnsw", hnsw_recall), [("exact", 1.0)])
    results.measure(
        "filtered",
        "top-10 query with a filter keeping half the rows: p50",
        "ms",
        ("hnsw, filtered", filtered_hnsw_p50),
        [("exact, filtered", filtered_exact_p50)],
    )
    results.measure(
        "index",
        "first queries: loading the vectors, building / loading the HNSW index",
        "s",
        ("first hnsw query, new process (loads the index)", reload),
        [("first hnsw query (builds and saves the index)", build), ("first exact query (loads the vectors)", load)],
    )
    for name in ("keyword", "hybrid"):
        results.measure(
            "search_types",
            f"top-{k} {name} search over {size} chunks of ~100 words: p50",
            "ms",
            (f"{name} search", typed_p50[name]),
            [("vector search (exact)", typed_p50["vector"])],
            goal=results.target(
                "<= 2 x vector search p50", typed_p50[name], "<=", 2 * typed_p50["vector"], unit="ms", figure="p50"
            )
            if at_scale
            else None,
            note="" if at_scale else f"the target is set for {SEARCH_TYPES_ROWS:,} chunks",
        )
    latencies = {
        "numpy brute force": baseline_s,
        "exact": exact_s,
        "hnsw": hnsw_s,
        "exact, filtered": filtered_exact_s,
        "hnsw, filtered": filtered_hnsw_s,
        "vector (exact), with text": typed_s["vector"],
        "keyword": typed_s["keyword"],
        "hybrid (exact vectors)": typed_s["hybrid"],
        "hybrid (hnsw vectors)": hybrid_hnsw_s,
    }
    results.series(
        "local_store_latency",
        f"top-{k} query latency over {size} (p50 and p99)",
        "ms",
        "samples",
        {name: [value * 1000 for value in samples] for name, samples in latencies.items()},
    )


def recall(answers: list, truth: list[set[str]]) -> float:
    hits = sum(len({c.chunk_id for c in answer} & expected) for answer, expected in zip(answers, truth, strict=True))
    return hits / sum(len(expected) for expected in truth)


if __name__ == "__main__":
    main()
