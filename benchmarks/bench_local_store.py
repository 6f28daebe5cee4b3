"""The local knowledge-base store at scale (100,000 and 1,000,000 chunks x 384 dimensions): exact,
HNSW and filtered query latency and recall, next to numpy and faiss over the same vectors in the
same run; the index build and the first queries; a new process's first query and peak memory;
readers while another process writes; keyword and hybrid search.

Targets: see ``_local_store_report.py`` (issue 14's are set for 1,000,000 rows; issue 5's
exact <= 20 ms and HNSW <= 2 ms at 100,000 were met before and are printed as information).

The vectors are synthetic but shaped like sentence embeddings: a random 32-dimension latent
vector projected to 384 dimensions, plus noise, normalised (``--latent`` changes the intrinsic
dimension; uniform random vectors, which no approximate index handles well, are not what
embedding models produce). Queries come from the same distribution. Each query goes through
``LocalProvider.retrieve``: the version check in SQLite, the search and reading back the 10 chunks.
Each chunk has metadata ``n`` = its number modulo 100, so ``Range(n < p)`` keeps p % of the rows.

The chunks' texts, for keyword search, are about 100 words each: sentences of this project's
``docs/`` drawn at random (seeded), so that words have the frequencies of real prose. The keyword
and hybrid queries are the labelled questions of ``bench_retrieval_quality.py`` (a hybrid query
carries the same random vector as the vector query it is timed against).

    .venv/bin/python benchmarks/bench_local_store.py [--rows 1000000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _results as results
import numpy as np
from _local_store_report import Report
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
from genai_commons_local import LocalProvider, ann, basefile, products
from genai_commons_local.settings import IndexKind, LocalSettings

DOCS = Path(__file__).resolve().parents[1] / "docs"


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
    """Chunks a second in ``provider.ingest`` (making up the chunks' texts is not timed)."""
    pool = sentences()
    spent = 0.0
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
        started = time.perf_counter()
        provider.ingest(kb, chunks, IngestMode.INSERT)
        spent += time.perf_counter() - started
    return matrix.shape[0] / spent


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(*args: object) -> dict:  # type: ignore[type-arg]
    """Run ``_local_store_children.py`` with these arguments; its JSON line."""
    script = Path(__file__).with_name("_local_store_children.py")
    done = subprocess.run(
        [sys.executable, str(script), *map(str, args)], capture_output=True, text=True, check=True, timeout=3600
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--latent", type=int, default=32)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--writer-seconds", type=float, default=8.0, help="per reader kind, with the writer")
    parser.add_argument("--writer-rate", type=int, default=2000, help="chunks a second")
    results.add_argument(parser)
    args = parser.parse_args()
    results.start(args.json)
    matrix = vectors(args.rows, args.dimension, args.latent, seed=1)
    queries = vectors(args.queries, args.dimension, args.latent, seed=2)
    k = args.k
    vectors_mb = matrix.nbytes / 2**20
    report = Report(args.rows)

    with tempfile.TemporaryDirectory() as home:
        database = Path(home) / "knowledge.db"
        exact = LocalProvider(LocalSettings(database=database, index=IndexKind.EXACT))
        kb = KnowledgeBase(provider="local", name="bench")
        rate = ingest(exact, kb, matrix, batch=10_000)
        exact.close()  # its maintainer owes nothing more: the benchmark builds the index itself
        exact = LocalProvider(LocalSettings(database=database, index=IndexKind.EXACT))
        print(f"rows x dimensions                      {args.rows} x {args.dimension} (latent {args.latent})")
        print(f"ingest (vectors given, 10k per call)   {rate:10,.0f} chunks/s")
        report.ingest(rate)

        # Exact: numpy and faiss flat over the same in-memory matrix, interleaved query by query.
        faiss = products.faiss()
        flat = faiss.IndexFlatIP(args.dimension)
        flat.add(matrix)

        def brute(q: np.ndarray) -> np.ndarray:
            scores = matrix @ q
            best = np.argpartition(-scores, k - 1)[:k]
            return best[np.argsort(-scores[best])]

        started = time.perf_counter()
        exact.retrieve(kb, RetrievalQuery(vector=queries[0], k=k))
        load = time.perf_counter() - started
        numpy_s, faiss_flat_s, exact_s, truth, exact_answers = [], [], [], [], []
        for q in queries:
            started = time.perf_counter()
            truth.append(brute(q))
            numpy_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            flat.search(q.reshape(1, -1), k)
            faiss_flat_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            exact_answers.append(exact.retrieve(kb, RetrievalQuery(vector=q, k=k)))
            exact_s.append(time.perf_counter() - started)
        del flat
        truth_ids = [{f"chunk-{i}" for i in best} for best in truth]
        report.exact(numpy_s, faiss_flat_s, exact_s, recall(exact_answers, truth_ids), load)

        # Vector, keyword and hybrid over exact vectors, interleaved (a question cycles for each vector).
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
        report.search_types(typed_s, len(questions))

        # HNSW: built once (as `genai kb sync` does), then loaded by the querying provider.
        hnsw = LocalProvider(LocalSettings(database=database, index=IndexKind.HNSW))
        started = time.perf_counter()
        hnsw.ingest_from_source(kb, None, True)
        build = time.perf_counter() - started
        started = time.perf_counter()
        hnsw.retrieve(kb, RetrievalQuery(vector=queries[0], k=k))
        first_hnsw = time.perf_counter() - started
        folder = next(Path(str(database) + "-index").glob("*/CURRENT")).parent
        base = basefile.load(folder.parent, folder.name, args.dimension)
        assert base is not None and base.segment.graph is not None
        raw = base.segment.graph  # the same graph, searched by faiss alone
        graph_file = folder / str(base.generation) / "graph.faiss"
        # graph.faiss holds the graph and its own copy of the vectors (see basefile): the graph is the rest
        index_mb = vectors_mb + max(0, graph_file.stat().st_size - matrix.nbytes) / 2**20
        ef = ann.ef_search(hnsw.local_settings.hnsw_ef_search, k, args.rows)
        raw_s, hnsw_s, hnsw_answers = [], [], []
        for q in queries:
            params = faiss.SearchParametersHNSW()
            params.efSearch = ef
            started = time.perf_counter()
            raw.search(q.reshape(1, -1), k, params=params)
            raw_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            hnsw_answers.append(hnsw.retrieve(kb, RetrievalQuery(vector=q, k=k)))
            hnsw_s.append(time.perf_counter() - started)
        hybrid_hnsw_s: list[float] = []
        for number, q in enumerate(queries):
            started = time.perf_counter()
            hnsw.retrieve(
                kb, RetrievalQuery(text=questions[number % len(questions)], vector=q, k=k, search_type="hybrid")
            )
            hybrid_hnsw_s.append(time.perf_counter() - started)
        report.hnsw(raw_s, hnsw_s, recall(hnsw_answers, truth_ids), hybrid_hnsw_s, build, first_hnsw, ef)

        # Filters keeping 1 to 50 % of the rows (metadata n = row % 100), exact truth from numpy.
        labels = np.arange(args.rows) % 100
        for percent in (1, 11, 20, 50):
            keep = labels < percent
            where = Range(key="n", lt=percent)
            kept_ids = np.flatnonzero(keep)
            chosen = queries[: max(20, args.queries // 2)]
            # The exact answers first, in a pass of their own: scoring the kept rows reads up to the
            # whole matrix, which would leave the timed query that follows it a cold cache (the
            # unfiltered queries above are timed without such a scan between them).
            expected = []
            for q in chosen:
                scores = (matrix @ q)[kept_ids]
                expected.append({f"chunk-{i}" for i in kept_ids[np.argsort(-scores)[:k]]})
            filtered_s, answers = [], []
            for q in chosen:
                started = time.perf_counter()
                answers.append(hnsw.retrieve(kb, RetrievalQuery(vector=q, k=k, filter=where)))
                filtered_s.append(time.perf_counter() - started)
            report.filtered(percent, filtered_s, recall(answers, expected), statistics.median(hnsw_s))
        del raw, base
        hnsw.close()

        fresh = child("first-query", database, 3, 50, k, args.dimension, args.latent)
        report.new_process(fresh, vectors_mb, index_mb)

        # Readers with a writer adding chunks in another process: idle p99 first, then while it writes.
        hnsw = LocalProvider(LocalSettings(database=database, index=IndexKind.HNSW))
        readers = {"exact": exact, "hnsw": hnsw}
        idle = {name: reads(provider, kb, queries, k, args.writer_seconds) for name, provider in readers.items()}
        script = Path(__file__).with_name("_local_store_children.py")
        seconds = args.writer_seconds * len(readers) + 2
        writer = subprocess.Popen(
            [sys.executable, str(script), "writer", str(database), str(seconds), str(args.writer_rate),
             str(args.dimension), str(args.latent)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(1.0)
        busy = {name: reads(provider, kb, queries, k, args.writer_seconds) for name, provider in readers.items()}
        written = json.loads((writer.communicate(timeout=600)[0] or "{}").strip().splitlines()[-1])
        report.with_writer(idle, busy, written)
        exact.close()
        hnsw.close()
    report.peak(rss_mb(), vectors_mb, index_mb)


def reads(provider: LocalProvider, kb: KnowledgeBase, queries: np.ndarray, k: int, seconds: float) -> list[float]:
    """Query after query for ``seconds``: each one's latency."""
    samples: list[float] = []
    end = time.perf_counter() + seconds
    number = 0
    while time.perf_counter() < end:
        q = queries[number % len(queries)]
        number += 1
        started = time.perf_counter()
        provider.retrieve(kb, RetrievalQuery(vector=q, k=k))
        samples.append(time.perf_counter() - started)
    return samples


def recall(answers: list, truth: list[set[str]]) -> float:
    hits = sum(len({c.chunk_id for c in answer} & expected) for answer, expected in zip(answers, truth, strict=True))
    return hits / sum(len(expected) for expected in truth)


if __name__ == "__main__":
    main()
