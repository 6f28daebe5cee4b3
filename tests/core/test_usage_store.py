"""The default usage store: the SQLite database, the plugin, concurrency, retention, failures."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from genai_commons import DeployedModel, Host, Provider, Request, Response, Usage, ValidationError
from genai_commons.config import Config, UsageSettings
from genai_commons.usage import SQLiteUsageStore, UsageDatabase

CANARY = "canary-7f3a9c-do-not-store"


def make_usage(
    *,
    provider: str = "echo",
    model_id: str = "echo-1",
    display_name: str = "Echo One",
    operation: str = "chat",
    tokens: tuple[int, int] = (7, 3),
    timestamp: datetime | None = None,
    calls: int = 1,
) -> Usage:
    return Usage(
        provider=provider,
        deployed_model_display_name=display_name,
        model_id=model_id,
        operation=operation,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        total_tokens=sum(tokens),
        duration_ms=12.5,
        timestamp=timestamp or datetime.now(UTC),
        calls=calls,
    )


class EchoProvider(Provider):
    """A tiny in-test provider: one chat model that echoes the prompt."""

    name = "echo"

    def models(self) -> list[DeployedModel]:
        return [DeployedModel(provider="echo", model_id="echo-1", display_name="Echo One")]

    def chat(self, model: DeployedModel, request: Request) -> Response:
        prompt = request.messages[-1].content or ""
        return Response.of_text(f"you said: {prompt}", input_tokens=7, output_tokens=3)


def configured_store(home: Path, **settings: Any) -> SQLiteUsageStore:
    store = SQLiteUsageStore()
    store.genai_configure(Config.defaults(home, usage=UsageSettings(**settings)))
    return store


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    was_configured = structlog.is_configured()
    with capture_logs() as entries:
        yield entries
    if not was_configured:
        structlog.reset_defaults()


# -- UsageDatabase -------------------------------------------------------------------------


def test_first_write_creates_parent_directories_schema_and_wal(tmp_path: Path) -> None:
    db = UsageDatabase(tmp_path / "a" / "b" / "usage.db")
    assert not db.exists
    db.insert(make_usage())
    assert db.exists
    with db._connection() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        columns = {row[1] for row in conn.execute("PRAGMA table_info(usage)")}
    assert columns == {
        "id", "timestamp", "provider", "deployed_model_display_name", "model_id", "operation",
        "input_tokens", "output_tokens", "total_tokens", "duration_ms", "calls",
        "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost",
    }  # fmt: skip
    db.close()


def test_open_database_sets_the_page_size_of_a_new_file_only(tmp_path: Path) -> None:
    from genai_commons.storage import open_database

    path = tmp_path / "pages.db"
    conn = open_database(path, page_size=16_384)
    conn.execute("CREATE TABLE t (x)")
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 16_384
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    again = open_database(path, page_size=1024)  # a file that exists keeps its own
    assert again.execute("PRAGMA page_size").fetchone()[0] == 16_384
    again.close()
    with pytest.raises(ValueError, match="power of two"):
        open_database(tmp_path / "odd.db", page_size=3000)
    assert not (tmp_path / "odd.db").exists()


def test_records_round_trip_and_filters(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with UsageDatabase(tmp_path / "usage.db") as db:
        first = make_usage(timestamp=now - timedelta(hours=2), calls=3)
        db.insert(first)
        db.insert_many(
            [
                make_usage(provider="other", model_id="m2", timestamp=now - timedelta(hours=1)),
                make_usage(operation="embed", tokens=(5, 0), timestamp=now),
            ]
        )
        records = db.records()
        assert [r.provider for r in records] == ["echo", "other", "echo"]
        assert records[0] == first
        assert db.count() == 3
        assert db.count(provider="echo") == 2
        assert db.count(operation="embed") == 1
        assert db.count(since=now - timedelta(hours=1)) == 2
        assert db.count(until=now - timedelta(hours=1)) == 1
        assert [r.model_id for r in db.records(provider="other")] == ["m2"]
        assert len(db.records(limit=2)) == 2
        with pytest.raises(ValidationError, match="cannot filter"):
            db.records(prompt="x")
        with pytest.raises(ValidationError, match="timezone-aware"):
            db.count(since=datetime(2024, 1, 1))


def test_reading_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "usage.db"
    db = UsageDatabase(path)
    assert db.records() == []
    assert db.count() == 0
    assert db.totals(["provider"]) == []
    assert db.cleanup(1) == 0
    assert db.last_automatic_cleanup() is None
    assert not path.parent.exists()


def test_totals_group_by_day_in_utc(tmp_path: Path) -> None:
    with UsageDatabase(tmp_path / "usage.db") as db:
        db.insert_many(
            [
                make_usage(timestamp=datetime(2024, 5, 1, 23, 30, tzinfo=UTC)),
                make_usage(timestamp=datetime(2024, 5, 2, 0, 30, tzinfo=UTC), calls=2),
                make_usage(provider="b", timestamp=datetime(2024, 5, 2, 12, 0, tzinfo=UTC)),
            ]
        )
        rows = db.totals(["day"])
        assert [row[:2] for row in rows] == [("2024-05-01", 1), ("2024-05-02", 3)]
        assert rows[1][1:5] == (3, 14, 6, 20)
        with pytest.raises(ValidationError, match="cannot group"):
            db.totals(["prompt"])


# -- retention -----------------------------------------------------------------------------


def test_cleanup_deletes_only_older_records(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with UsageDatabase(tmp_path / "usage.db") as db:
        db.insert_many([make_usage(timestamp=now - timedelta(days=d)) for d in (0, 5, 29, 31, 100)])
        assert db.cleanup(None) == 0
        assert db.cleanup(0) == 0
        assert db.count() == 5
        assert db.cleanup(30, now=now) == 2
        assert db.count() == 3
        with pytest.raises(ValidationError):
            db.cleanup(-1)


def test_automatic_cleanup_runs_at_most_once_a_day_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    now = datetime.now(UTC)
    with UsageDatabase(path) as db:
        db.insert_many([make_usage(timestamp=now - timedelta(days=d)) for d in (1, 40, 50)])
        assert db.auto_cleanup(30, now=now) == 2
        assert db.last_automatic_cleanup() == datetime.fromtimestamp(now.timestamp(), UTC)
        db.insert(make_usage(timestamp=now - timedelta(days=45)))
        assert db.auto_cleanup(30, now=now + timedelta(hours=23)) is None
    with UsageDatabase(path) as other:  # another process opening the file later the same day
        assert other.auto_cleanup(30, now=now + timedelta(hours=1)) is None
        assert other.count() == 2
        assert other.auto_cleanup(30, now=now + timedelta(hours=25)) == 1
        assert other.auto_cleanup(None) is None


def test_store_cleans_up_when_it_first_opens_then_daily(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    db = UsageDatabase(tmp_path / "usage.db")
    db.insert_many([make_usage(timestamp=now - timedelta(days=d)) for d in (2, 40)])
    store = configured_store(tmp_path, store=True, cleanup_after_days=30)
    store.genai_usage_recorded(make_usage())
    assert db.count() == 2  # the 40-day-old record is gone, the new one is in
    assert db.last_automatic_cleanup() is not None
    db.insert(make_usage(timestamp=now - timedelta(days=60)))
    store.genai_usage_recorded(make_usage())
    assert db.count() == 4  # not again within the day
    store._next_cleanup = 0.0  # a day later (monotonic clock); the file says less than a day
    store.genai_usage_recorded(make_usage())
    assert db.count() == 5
    store.close()
    db.close()


def test_store_without_retention_keeps_everything(tmp_path: Path) -> None:
    db = UsageDatabase(tmp_path / "usage.db")
    db.insert(make_usage(timestamp=datetime.now(UTC) - timedelta(days=3650)))
    store = configured_store(tmp_path, store=True, cleanup_after_days=0)
    store.genai_usage_recorded(make_usage())
    assert db.count() == 2
    assert db.last_automatic_cleanup() is None
    store.close()
    db.close()


# -- the plugin ----------------------------------------------------------------------------


def test_configure_does_not_create_the_database(tmp_path: Path) -> None:
    store = configured_store(tmp_path, store=True, database="sub/usage.db")
    assert store.path == tmp_path / "sub" / "usage.db"
    assert not (tmp_path / "sub").exists()
    store.genai_usage_recorded(make_usage())
    assert UsageDatabase(tmp_path / "sub" / "usage.db").count() == 1
    store.close()


def test_disabled_store_writes_nothing_and_is_cheap(tmp_path: Path) -> None:
    store = configured_store(tmp_path)
    usage = make_usage()
    n = 50_000
    started = time.perf_counter()
    for _ in range(n):
        store.genai_usage_recorded(usage)
    per_call = (time.perf_counter() - started) / n
    assert per_call < 5e-6, f"{per_call * 1e6:.2f} µs per call"
    assert list(tmp_path.iterdir()) == []


def test_many_threads_lose_no_write(tmp_path: Path) -> None:
    store = configured_store(tmp_path, store=True)
    shared_db_writers = [UsageDatabase(tmp_path / "usage.db") for _ in range(4)]

    def via_store() -> None:
        for _ in range(100):
            store.genai_usage_recorded(make_usage())

    def via_own_connection(db: UsageDatabase) -> None:
        for _ in range(100):
            db.insert(make_usage(provider="direct"))

    threads = [threading.Thread(target=via_store) for _ in range(12)]
    threads += [threading.Thread(target=via_own_connection, args=(db,)) for db in shared_db_writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with UsageDatabase(tmp_path / "usage.db") as db:
        assert db.count(provider="echo") == 1200
        assert db.count(provider="direct") == 400
    store.close()
    for db in shared_db_writers:
        db.close()


def _write_from_process(home: str, index: int, count: int) -> None:
    store = configured_store(Path(home), store=True)
    for _ in range(count):
        store.genai_usage_recorded(make_usage(provider=f"proc{index}"))
    store.close()


def test_many_processes_lose_no_write(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    processes = [ctx.Process(target=_write_from_process, args=(str(tmp_path), i, 200)) for i in range(8)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0] * 8
    with UsageDatabase(tmp_path / "usage.db") as db:
        assert db.count() == 1600
        assert db.count(provider="proc3") == 200


def test_locked_database_logs_a_warning_and_the_call_goes_on(tmp_path: Path, logs: list[dict[str, Any]]) -> None:
    store = configured_store(tmp_path, store=True)
    store.timeout = 0.05
    store.genai_usage_recorded(make_usage())
    blocker = sqlite3.connect(tmp_path / "usage.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        store.genai_usage_recorded(make_usage())  # must not raise
        store.genai_usage_recorded(make_usage())  # within the warning interval: counted, not logged
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    failures = [e for e in logs if e["event"] == "usage_store_failed"]
    assert len(failures) == 1
    assert failures[0]["log_level"] == "warning"
    assert failures[0]["error_type"] == "OperationalError"
    assert "locked" in failures[0]["error"]
    store.genai_usage_recorded(make_usage())  # the store recovers once the lock is gone
    assert UsageDatabase(tmp_path / "usage.db").count() == 2
    store.warn_interval_s = 0
    store.path = tmp_path / "usage.db" / "not-a-dir.db"
    store._db = None
    store.genai_usage_recorded(make_usage())
    assert logs[-1]["event"] == "usage_store_failed"
    assert logs[-1]["suppressed"] == 1
    assert logs[-1]["error_type"] in {"FileExistsError", "NotADirectoryError", "OperationalError"}
    store.close()


# -- end to end through a Host -------------------------------------------------------------


def make_host(home: Path, *, store: bool, database: str = "usage.db") -> Host:
    config = Config.defaults(home, usage=UsageSettings(store=store, database=database))
    return Host(config, load_entry_points=False, plugins=[SQLiteUsageStore, EchoProvider])


def test_host_chat_records_one_row_and_no_text(tmp_path: Path) -> None:
    with make_host(tmp_path, store=True) as host:
        response = host.chat("echo:echo-1", f"please remember {CANARY}")
        assert CANARY in response.text
        (usage,) = UsageDatabase(host.config.usage_database).records()
    assert (usage.provider, usage.model_id, usage.deployed_model_display_name) == ("echo", "echo-1", "Echo One")
    assert (usage.operation, usage.input_tokens, usage.output_tokens, usage.total_tokens) == ("chat", 7, 3, 10)
    assert usage.calls == 1
    assert abs(usage.timestamp - datetime.now(UTC)) < timedelta(minutes=1)
    files = list(tmp_path.glob("usage.db*"))
    assert files
    for file in files:
        assert CANARY.encode() not in file.read_bytes()
        assert b"you said" not in file.read_bytes()


async def test_host_achat_records_a_row(tmp_path: Path) -> None:
    with make_host(tmp_path, store=True) as host:
        await host.achat("echo:echo-1", "hello")
        await host.achat("echo:echo-1", "again")
        assert UsageDatabase(host.config.usage_database).count(operation="chat") == 2


def test_host_with_storing_disabled_writes_nothing(tmp_path: Path) -> None:
    with make_host(tmp_path, store=False) as host:
        host.chat("echo:echo-1", "hello")
    assert not (tmp_path / "usage.db").exists()


def test_host_call_survives_an_unwritable_database(tmp_path: Path, logs: list[dict[str, Any]]) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be")
    with make_host(tmp_path, store=True, database="blocker/usage.db") as host:
        assert host.chat("echo:echo-1", "hello").text == "you said: hello"
    (event,) = [e for e in logs if e["event"] == "usage_store_failed"]
    assert event["error_type"] in {"FileExistsError", "NotADirectoryError"}
    assert "hello" not in repr(event)
