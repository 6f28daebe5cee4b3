"""The other processes of ``bench_local_store.py``: a reader started fresh, and a writer.

python _local_store_children.py first-query DATABASE SEED QUERIES K DIMENSION LATENT
    a new process: opens the store, times its first query, then QUERIES more (HNSW and
    filtered), and prints one JSON line: first-query seconds, the process's peak RSS
python _local_store_children.py writer DATABASE SECONDS RATE DIMENSION LATENT
    adds RATE chunks a second (vectors given, in 10 batches a second) for SECONDS, then
    prints one JSON line: chunks written, seconds
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from bench_local_store import vectors

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

KB = KnowledgeBase(provider="local", name="bench")


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM, which starts afresh at exec (``ru_maxrss`` keeps the high
    mark of the parent this process was forked from, the benchmark's own 9 GB at a million rows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def first_query(database: str, seed: int, count: int, k: int, dimension: int, latent: int) -> None:
    queries = vectors(count + 1, dimension, latent, seed=seed)
    started = time.perf_counter()
    provider = LocalProvider(LocalSettings(database=Path(database), index=IndexKind.HNSW))
    provider.retrieve(KB, RetrievalQuery(vector=queries[0], k=k))
    first = time.perf_counter() - started
    for number, q in enumerate(queries[1:]):
        where = Range(key="n", lt=50) if number % 2 else None
        provider.retrieve(KB, RetrievalQuery(vector=q, k=k, filter=where))
    provider.close()
    print(json.dumps({"first_query_s": first, "peak_rss_mb": peak_rss_mb()}), flush=True)


def writer(database: str, seconds: float, rate: int, dimension: int, latent: int) -> None:
    provider = LocalProvider(LocalSettings(database=Path(database), index=IndexKind.EXACT, busy_timeout=60.0))
    batch = max(1, rate // 10)
    matrix = vectors(int(seconds * rate) + batch, dimension, latent, seed=77)
    written, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        tick = time.perf_counter()
        chunks = ChunkCollection(
            chunks=[
                KnowledgeBaseChunk(
                    chunk_id=f"written-{written + i}",
                    input_text=f"a chunk written while readers search, number {written + i}",
                    source_id=f"written-{(written + i) // 100}",
                    metadata=MetadataCollection.of(n=str((written + i) % 100)),
                    vector=matrix[(written + i) % matrix.shape[0]],
                )
                for i in range(batch)
            ]
        )
        provider.ingest(KB, chunks, IngestMode.INSERT)
        written += batch
        time.sleep(max(0.0, 0.1 - (time.perf_counter() - tick)))
    elapsed = time.perf_counter() - started
    provider.close()
    print(json.dumps({"written": written, "seconds": elapsed}), flush=True)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "first-query":
        first_query(args[0], *(int(a) for a in args[1:]))  # type: ignore[arg-type]
    elif command == "writer":
        writer(args[0], float(args[1]), *(int(a) for a in args[2:]))  # type: ignore[arg-type]
    else:
        raise SystemExit(f"unknown command {command!r}")
