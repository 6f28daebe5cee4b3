"""Load: 8 processes x 1,000 chat calls each, all recording usage into one SQLite usage store at the
same time (released together by a barrier), through the real plugin path. No write is lost or
doubled: exactly 8,000 rows with ids 1..8,000, each writer's calls all there, and the totals exact.

The race that once lost a record (``bench_load.py --only usage``) is also reproduced on purpose:
the first connections to a new file switch it to WAL while others write to it."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections import Counter
from pathlib import Path

import pytest
from load_usage_writer import expected_totals, write_usage

from genai_commons import Usage
from genai_commons.config import Config, UsageSettings
from genai_commons.usage import SQLiteUsageStore, UsageDatabase

WRITERS = 8
CALLS = 1000


@pytest.mark.timeout(120)
def test_processes_writing_usage_at_once_lose_no_record(tmp_path: Path):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    writers = [
        ctx.Process(target=write_usage, args=(str(tmp_path), index, CALLS, barrier), name=f"usage-writer-{index}")
        for index in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=100)
    for writer in writers:
        if writer.is_alive():
            writer.kill()
            writer.join()
    assert [w.exitcode for w in writers] == [0] * WRITERS

    database = tmp_path / "usage.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM usage ORDER BY id")]
        pairs = Counter(conn.execute("SELECT model_id, input_tokens FROM usage"))
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert ids == list(range(1, WRITERS * CALLS + 1))
    assert len(pairs) == WRITERS * CALLS and set(pairs.values()) == {1}, "a call was recorded twice"
    assert set(pairs) == {(f"m{i}", n + 1) for i in range(WRITERS) for n in range(CALLS)}

    with UsageDatabase(database) as db:
        assert db.count() == WRITERS * CALLS
        per_writer = {row[0]: row[1:5] for row in db.totals(["model_id"])}
        overall = db.totals([])[0][:4]
    assert per_writer == {f"m{i}": expected_totals(i, CALLS) for i in range(WRITERS)}
    assert overall == tuple(sum(column) for column in zip(*per_writer.values(), strict=True))


def test_a_store_opening_a_new_file_while_another_process_writes_to_it_waits_instead_of_dropping(tmp_path: Path):
    """Switching a file that is not in WAL mode yet to WAL takes the write lock, and SQLite answers
    "database is locked" at once, without waiting, while another connection holds it (as one does
    that sets up the same new file). The store must wait its turn like any writer, not lose the record."""
    path = tmp_path / "usage.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE unrelated (a)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO unrelated VALUES (1)")
    release = threading.Timer(0.3, other.execute, args=("COMMIT",))
    release.start()
    store = SQLiteUsageStore()
    store.genai_configure(Config.defaults(tmp_path, usage=UsageSettings(store=True)))
    try:
        store.genai_usage_recorded(
            Usage(
                provider="p", deployed_model_display_name="P", model_id="m", operation="chat",
                input_tokens=3, output_tokens=4, total_tokens=7, duration_ms=1.0,
            )
        )  # fmt: skip
    finally:
        release.join(timeout=10)
        store.close()
        other.close()
    with UsageDatabase(path) as db:
        assert db.count() == 1
