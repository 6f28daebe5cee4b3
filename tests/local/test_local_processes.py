"""Several processes on one store: a process killed mid-ingest leaves it consistent, and
processes writing at the same time all succeed (WAL and a busy timeout)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from local_helpers import MakeProvider, random_chunks

from genai_commons import IngestMode, KnowledgeBase, RetrievalQuery
from genai_commons_local import LocalProvider

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from genai_commons import ChunkCollection, IngestMode, KnowledgeBase, KnowledgeBaseChunk, MetadataCollection
    from genai_commons_local import LocalProvider
    from genai_commons_local.settings import LocalSettings

    database, collection, prefix = sys.argv[1], sys.argv[2], sys.argv[5]
    count, rounds = int(sys.argv[3]), int(sys.argv[4])
    provider = LocalProvider(LocalSettings(database=Path(database), busy_timeout=60.0))
    kb = KnowledgeBase(provider="local", name=collection)
    for round_ in range(rounds):
        chunks = ChunkCollection(chunks=[
            KnowledgeBaseChunk(
                chunk_id=f"{prefix}{round_}-{i}", input_text=f"chunk {i} of round {round_} " * 50,
                source_id=f"{prefix}doc-{i // 100}", metadata=MetadataCollection.of(n=str(i)),
                vector=[float((i * 7 + j) % 13) for j in range(32)],
            )
            for i in range(count)
        ])
        print("ingesting", flush=True)
        provider.ingest(kb, chunks, IngestMode.INSERT)
        print("done", flush=True)
    provider.close()
    """
)


def child(tmp_path: Path, database: Path, collection: str, count: int, rounds: int, prefix: str) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return subprocess.Popen(
        [sys.executable, str(script), str(database), collection, str(count), str(rounds), prefix],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wal_size(database: Path) -> int:
    wal = database.with_name(database.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_process_killed_mid_ingest_leaves_the_store_consistent(
    tmp_path: Path, database: Path, provider: LocalProvider, kb: KnowledgeBase, make_provider: MakeProvider
):
    provider.ingest(kb, random_chunks(100, dimension=32), IngestMode.INSERT)
    before = sorted(c.chunk_id for c in provider.list_chunks(kb, None, 0, 1000))
    provider.close()
    base = wal_size(database)

    process = child(tmp_path, database, "notes", 30_000, 1, "big-")
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ingesting"
    deadline = time.monotonic() + 120
    while wal_size(database) < base + 2_000_000:  # the transaction is writing pages into the WAL
        assert process.poll() is None, f"the child ended before it was killed: {process.stderr.read()}"  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the child never started writing"
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    out, _ = process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert "done" not in out, "killed after the commit: the test proved nothing"

    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        orphans = conn.execute("SELECT COUNT(*) FROM metadata WHERE chunk NOT IN (SELECT id FROM chunks)").fetchone()
        assert orphans[0] == 0
    after = make_provider()
    assert sorted(c.chunk_id for c in after.list_chunks(kb, None, 0, 1000_000)) == before
    assert len(after.retrieve(kb, RetrievalQuery(vector=[1.0] * 32, k=500))) == 100
    result = after.ingest(kb, random_chunks(500, dimension=32, prefix="next-"), IngestMode.INSERT)
    assert result.inserted == 500
    assert len(after.list_chunks(kb, None, 0, 1000_000)) == 600


def test_processes_writing_at_the_same_time_all_succeed(tmp_path: Path, database: Path, make_provider: MakeProvider):
    make_provider().ingest(KnowledgeBase(provider="local", name="shared"), random_chunks(1, 32), IngestMode.INSERT)
    processes = [
        child(tmp_path, database, "shared", 200, 8, "a-"),
        child(tmp_path, database, "shared", 200, 8, "b-"),
        child(tmp_path, database, "own", 200, 8, "c-"),
    ]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert out.count("done") == 8
    provider = make_provider()
    shared = provider.list_chunks(KnowledgeBase(provider="local", name="shared"), None, 0, 1_000_000)
    assert len(shared) == 1 + 2 * 200 * 8
    assert len(provider.list_chunks(KnowledgeBase(provider="local", name="own"), None, 0, 1_000_000)) == 200 * 8
