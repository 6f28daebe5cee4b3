"""Readers in this process follow a writer in another process: new chunks are found, deleted ones
never come back once the writer said they were gone, and the answers stay right, exact and HNSW.
The writer waits after each step until the readers have looked (a writer that ran two rounds
ahead would have deleted what they look for)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from local_helpers import MakeProvider

from genai_commons import ChunkCollection, IngestMode, KnowledgeBase, KnowledgeBaseChunk, RetrievalQuery

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")

ROUNDS, PER_ROUND, DIMENSION = 12, 300, 32

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from genai_commons import ChunkCollection, IngestMode, KnowledgeBase, KnowledgeBaseChunk, MetadataCollection
    from genai_commons_local import LocalProvider
    from genai_commons_local.settings import LocalSettings

    database, rounds, per_round, dimension = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    provider = LocalProvider(LocalSettings(database=Path(database), busy_timeout=60.0))
    kb = KnowledgeBase(provider="local", name="shared")
    for round_ in range(1, rounds + 1):
        provider.ingest(kb, ChunkCollection(chunks=[
            KnowledgeBaseChunk(
                chunk_id=f"r{round_}-{i}", input_text=f"chunk {i} of round {round_}", source_id=f"round-{round_}",
                metadata=MetadataCollection.of(round=str(round_)),
                vector=np.random.default_rng([round_, i]).standard_normal(dimension).tolist(),
            )
            for i in range(per_round)
        ]), IngestMode.INSERT)
        print(f"added {round_}", flush=True)
        sys.stdin.readline()  # the reader has looked: go on (lockstep, so that what it checks is still there)
        if round_ >= 3:
            provider.delete_chunks(kb, [f"round-{round_ - 2}"])
            print(f"deleted {round_ - 2}", flush=True)
            sys.stdin.readline()
    provider.close()
    print("finished", flush=True)
    """
)


def vector(round_: int, i: int) -> list[float]:
    return np.random.default_rng([round_, i]).standard_normal(DIMENSION).tolist()


def seed(provider, kb: KnowledgeBase) -> None:
    """Round 0: 2,000 chunks that stay, so that the HNSW reader has a graph to start from."""
    chunks = [
        KnowledgeBaseChunk(chunk_id=f"r0-{i}", input_text=f"chunk {i}", source_id="round-0", vector=vector(0, i))
        for i in range(2000)
    ]
    provider.ingest(kb, ChunkCollection(chunks=chunks), IngestMode.INSERT)


def test_readers_follow_a_writer_in_another_process(tmp_path: Path, database: Path, make_provider: MakeProvider):
    kb = KnowledgeBase(provider="local", name="shared")
    exact = make_provider(index="exact")
    hnsw = make_provider(index="hnsw", hnsw_m=16)
    seed(exact, kb)
    assert hnsw.ingest_from_source(kb, None, True).succeeded
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen(
        [sys.executable, str(script), str(database), str(ROUNDS), str(PER_ROUND), str(DIMENSION)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    added, deleted = 0, 0
    queries = 0
    assert writer.stdout is not None
    for line in writer.stdout:
        word, _, number = line.strip().partition(" ")
        if word == "added":
            added = int(number)
        elif word == "deleted":
            deleted = int(number)
        # After each line: the chunks the writer has committed are found at rank 1, the deleted never.
        for provider in (exact, hnsw):
            for i in (0, PER_ROUND // 2, PER_ROUND - 1):
                if added > deleted:
                    found = provider.retrieve(kb, RetrievalQuery(vector=vector(added, i), k=3))
                    assert found.chunks[0].chunk_id == f"r{added}-{i}"
                if deleted:
                    found = provider.retrieve(kb, RetrievalQuery(vector=vector(deleted, i), k=5))
                    assert all(not c.chunk_id.startswith(f"r{deleted}-") for c in found)
                queries += 1
        if word in ("added", "deleted"):
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
    assert writer.wait(timeout=60) == 0, writer.stderr.read() if writer.stderr else ""
    assert added == ROUNDS and deleted == ROUNDS - 2 and queries > 0
    for provider in (exact, hnsw):
        for round_ in range(ROUNDS + 1):
            found = provider.retrieve(kb, RetrievalQuery(vector=vector(round_, 7), k=1)).chunks
            expected_live = round_ == 0 or round_ > ROUNDS - 2
            assert (found[0].chunk_id == f"r{round_}-7") is expected_live
