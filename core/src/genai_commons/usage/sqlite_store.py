"""The default usage store: one SQLite file, shared safely by threads and processes.

:class:`UsageDatabase` owns the file (schema, WAL journal, busy timeout, inserts, queries and
clean-up); :class:`SQLiteUsageStore` is the plugin that writes one row per ``genai_usage_recorded``
event when ``[usage] store`` (``GENAI_STORE_USAGE_METRICS``) is on. Rows hold metadata only —
provider, model, operation, token counts, duration, time and number of calls — never prompt or
response text. Timestamps are stored as UTC seconds since the epoch.

Import-light on purpose: the stdlib's ``sqlite3`` and nothing else heavy.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .._log import get_logger
from ..errors import ValidationError
from ..hookspecs import hookimpl
from ..model.usage import Usage
from ..storage import ensure_schema, migration, open_database, schema_version, write_transaction

if TYPE_CHECKING:
    from ..config import Config

_log = get_logger(__name__)

#: Version 1: tokens, duration and calls; version 2 adds cache and reasoning tokens and the cost.
SCHEMA_VERSION = 2
#: Automatic clean-up runs at most this often (the seed's daily ``ScE_Usage_Cleanup``).
CLEANUP_INTERVAL_S = 24 * 60 * 60
_DAY_S = 24 * 60 * 60

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS usage (
        id INTEGER PRIMARY KEY,
        timestamp REAL NOT NULL,
        provider TEXT NOT NULL,
        deployed_model_display_name TEXT NOT NULL,
        model_id TEXT NOT NULL,
        operation TEXT NOT NULL,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        total_tokens INTEGER NOT NULL DEFAULT 0,
        duration_ms REAL NOT NULL DEFAULT 0,
        calls INTEGER NOT NULL DEFAULT 1
    )""",
    "CREATE INDEX IF NOT EXISTS usage_timestamp ON usage (timestamp)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
#: From version 1 to 2, in place: existing rows keep every value, with no cache or reasoning
#: tokens and no cost (NULL: unknown, not zero).
_MIGRATE_TO_2 = (
    "ALTER TABLE usage ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE usage ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE usage ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE usage ADD COLUMN cost REAL",
)
_COLUMNS = (
    "timestamp, provider, deployed_model_display_name, model_id, operation, "
    "input_tokens, output_tokens, total_tokens, duration_ms, calls, "
    "cache_read_tokens, cache_write_tokens, reasoning_tokens, cost"
)
_INSERT = f"INSERT INTO usage ({_COLUMNS}) VALUES ({', '.join('?' * 14)})"  # noqa: S608 - constant
#: The sums :meth:`UsageDatabase.totals` returns after a group's keys, in this order.
SUMS = (
    "SUM(calls)",
    "SUM(input_tokens)",
    "SUM(output_tokens)",
    "SUM(total_tokens)",
    "SUM(duration_ms)",
    "SUM(cache_read_tokens)",
    "SUM(cache_write_tokens)",
    "SUM(reasoning_tokens)",
    "SUM(cost)",
    "COUNT(*) - COUNT(cost)",
)
_LAST_CLEANUP = "last_automatic_cleanup"
#: Connections inherited through fork, kept alive so that closing them cannot disturb the parent.
_INHERITED: list[sqlite3.Connection] = []

#: Columns a query may filter on, and the group keys :meth:`UsageDatabase.totals` accepts.
FILTERS = ("provider", "model_id", "deployed_model_display_name", "operation")
GROUP_KEYS: dict[str, str] = {
    "provider": "provider",
    "model_id": "model_id",
    "deployed_model_display_name": "deployed_model_display_name",
    "operation": "operation",
    "day": "date(timestamp, 'unixepoch')",
}


def _epoch(value: datetime | float | None) -> float | None:
    if value is None or isinstance(value, int | float):
        return value
    if value.tzinfo is None:
        raise ValidationError("usage query times must be timezone-aware")
    return value.timestamp()


def _row(usage: Usage) -> tuple[Any, ...]:
    return (
        usage.timestamp.timestamp(),
        usage.provider,
        usage.deployed_model_display_name,
        usage.model_id,
        usage.operation,
        usage.input_tokens,
        usage.output_tokens,
        usage.total_tokens,
        usage.duration_ms,
        usage.calls,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.reasoning_tokens,
        usage.cost,
    )


class UsageDatabase:
    """One usage SQLite file. Safe to share between threads (one connection behind a lock) and
    between processes (WAL journal, busy timeout). Opening is lazy: the file and its parent
    directories are created on the first write; reading a file that does not exist returns
    nothing and creates nothing.

    :param path: the SQLite file, usually ``config.usage_database``.
    :param timeout: seconds to wait for another writer before a write fails.
    """

    def __init__(self, path: str | Path, *, timeout: float = 5.0) -> None:
        self.path = Path(path).expanduser()
        self.timeout = timeout
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    def __repr__(self) -> str:
        return f"UsageDatabase({str(self.path)!r})"

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    # -- connection ------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        conn = open_database(self.path, timeout=self.timeout)
        try:
            ensure_schema(conn, 1, _SCHEMA)
            if schema_version(conn) < SCHEMA_VERSION:
                with migration(conn, 1, 2) as due:
                    if due:
                        for statement in _MIGRATE_TO_2:
                            conn.execute(statement)
                        _log.info("usage_database_migrated", database=str(self.path), schema=2)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """The connection, opened (and the file created) on first use, under the lock."""
        with self._lock:
            if self._conn is None or self._pid != os.getpid():
                if self._conn is not None:
                    # Forked: the parent's connection must be neither used nor closed here.
                    _INHERITED.append(self._conn)
                self._conn = self._open()
                self._pid = os.getpid()
            yield self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock up front (no deadlock on upgrade)."""
        with self._connection() as conn, write_transaction(conn):
            yield conn

    def close(self) -> None:
        """Close the connection; the next call opens a new one."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None and self._pid == os.getpid():
                conn.close()

    def __enter__(self) -> UsageDatabase:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def insert(self, usage: Usage) -> None:
        """Store one record (a transaction of its own)."""
        with self._connection() as conn:
            conn.execute(_INSERT, _row(usage))

    def insert_many(self, records: Sequence[Usage]) -> None:
        """Store several records in one transaction."""
        with self._transaction() as conn:
            conn.executemany(_INSERT, [_row(u) for u in records])

    def cleanup(self, older_than_days: int | None, *, now: datetime | None = None) -> int:
        """Delete the records older than ``older_than_days`` days; returns how many. ``None`` or
        ``0`` keeps everything. A database that does not exist is left uncreated."""
        if older_than_days is not None and older_than_days < 0:
            raise ValidationError("older_than_days must be 0 (keep everything) or more")
        if not older_than_days or not self.exists:
            return 0
        cutoff = (now or datetime.now(UTC)).timestamp() - older_than_days * _DAY_S
        with self._connection() as conn:
            return conn.execute("DELETE FROM usage WHERE timestamp < ?", (cutoff,)).rowcount

    def auto_cleanup(self, older_than_days: int | None, *, now: datetime | None = None) -> int | None:
        """The daily automatic clean-up: delete records older than ``older_than_days`` unless one
        already ran (in any process) less than a day ago. Returns how many were deleted, or None
        when it did not run."""
        if not older_than_days or older_than_days < 0:
            return None
        current = (now or datetime.now(UTC)).timestamp()
        with self._transaction() as conn:
            found = conn.execute("SELECT value FROM meta WHERE key = ?", (_LAST_CLEANUP,)).fetchone()
            if found is not None and current - float(found[0]) < CLEANUP_INTERVAL_S:
                return None
            cutoff = current - older_than_days * _DAY_S
            deleted: int = conn.execute("DELETE FROM usage WHERE timestamp < ?", (cutoff,)).rowcount
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_LAST_CLEANUP, repr(current)))
        return deleted

    def last_automatic_cleanup(self) -> datetime | None:
        """When the automatic clean-up last ran, if ever."""
        if not self.exists:
            return None
        with self._connection() as conn:
            found = conn.execute("SELECT value FROM meta WHERE key = ?", (_LAST_CLEANUP,)).fetchone()
        return None if found is None else datetime.fromtimestamp(float(found[0]), UTC)

    # -- reading ---------------------------------------------------------------------------

    @staticmethod
    def _where(since: datetime | None, until: datetime | None, filters: dict[str, str | None]) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if since is not None:
            clauses.append("timestamp >= ?")
            params.append(_epoch(since))
        if until is not None:
            clauses.append("timestamp < ?")
            params.append(_epoch(until))
        for column, value in filters.items():
            if column not in FILTERS:
                raise ValidationError(f"cannot filter usage on {column!r}; use one of {', '.join(FILTERS)}")
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def records(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        **filters: str | None,
    ) -> list[Usage]:
        """Records with ``since <= timestamp < until``, oldest first, optionally filtered on
        ``provider``, ``model_id``, ``deployed_model_display_name`` or ``operation``."""
        if not self.exists:
            return []
        where, params = self._where(since, until, filters)
        sql = f"SELECT {_COLUMNS} FROM usage{where} ORDER BY timestamp, id"  # noqa: S608 - columns are constants
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [
            Usage(
                timestamp=datetime.fromtimestamp(r[0], UTC),
                provider=r[1],
                deployed_model_display_name=r[2],
                model_id=r[3],
                operation=r[4],
                input_tokens=r[5],
                output_tokens=r[6],
                total_tokens=r[7],
                duration_ms=r[8],
                calls=r[9],
                cache_read_tokens=r[10],
                cache_write_tokens=r[11],
                reasoning_tokens=r[12],
                cost=r[13],
            )
            for r in rows
        ]

    def count(self, *, since: datetime | None = None, until: datetime | None = None, **filters: str | None) -> int:
        """How many records match (rows, not calls)."""
        if not self.exists:
            return 0
        where, params = self._where(since, until, filters)
        with self._connection() as conn:
            found = conn.execute(f"SELECT COUNT(*) FROM usage{where}", params).fetchone()  # noqa: S608
        return int(found[0])

    def totals(
        self,
        group_by: Sequence[str],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        **filters: str | None,
    ) -> list[tuple[Any, ...]]:
        """Sums per group: one tuple per group of its keys (in ``group_by`` order; ``day`` as
        ``YYYY-MM-DD`` in UTC), then the sums of :data:`SUMS` — calls, input, output and total
        tokens, duration (ms), cache read, cache write and reasoning tokens, the cost (None when
        no record of the group has one) and the number of records without a cost — ordered by
        the keys."""
        unknown = [key for key in group_by if key not in GROUP_KEYS]
        if unknown:
            raise ValidationError(f"cannot group usage by {unknown[0]!r}; use one of {', '.join(GROUP_KEYS)}")
        if not self.exists:
            return []
        keys = [GROUP_KEYS[key] for key in group_by]
        where, params = self._where(since, until, filters)
        sums = ", ".join(SUMS)
        sql = f"SELECT {', '.join([*keys, sums])} FROM usage{where}"  # noqa: S608 - expressions are constants
        if keys:
            positions = ", ".join(str(i + 1) for i in range(len(keys)))
            sql += f" GROUP BY {positions} ORDER BY {positions}"
        with self._connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [tuple(row) for row in rows if row[len(keys)] is not None]


class SQLiteUsageStore:
    """The default usage store plugin: one row per successful call in ``config.usage_database``
    when ``[usage] store`` is on, with the daily automatic clean-up when
    ``[usage] cleanup_after_days`` is set. A failed write is logged (``usage_store_failed``)
    and never fails the user's call."""

    name: ClassVar[str] = "usage_sqlite"
    #: Seconds a write waits for other writers before it is given up (and logged).
    timeout: float = 5.0
    #: Repeated write failures are logged at most this often.
    warn_interval_s: float = 60.0

    def __init__(self) -> None:
        self.enabled = False
        self.cleanup_after_days: int | None = None
        self.path: Path | None = None
        self._db: UsageDatabase | None = None
        self._next_cleanup = 0.0
        self._last_warning = float("-inf")
        self._suppressed = 0

    @hookimpl
    def genai_configure(self, config: Config) -> None:
        self.close()
        self.enabled = config.usage.store
        self.cleanup_after_days = config.usage.cleanup_after_days or None
        self.path = config.usage_database
        self._next_cleanup = 0.0

    @hookimpl
    def genai_usage_recorded(self, usage: Usage) -> None:
        if not self.enabled:
            return
        try:
            db = self.database
            if self.cleanup_after_days and time.monotonic() >= self._next_cleanup:
                self._next_cleanup = time.monotonic() + CLEANUP_INTERVAL_S
                deleted = db.auto_cleanup(self.cleanup_after_days)
                if deleted is not None:
                    _log.info("usage_cleaned_up", deleted=deleted, older_than_days=self.cleanup_after_days)
            db.insert(usage)
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)

    @property
    def database(self) -> UsageDatabase:
        """The store's database (opened on the first write)."""
        if self._db is None:
            if self.path is None:
                raise RuntimeError("the usage store has not been configured")
            self._db = UsageDatabase(self.path, timeout=self.timeout)
        return self._db

    def _failed(self, exc: BaseException) -> None:
        if self._db is not None:
            self._db.close()  # a broken connection is reopened on the next write
        now = time.monotonic()
        if now - self._last_warning < self.warn_interval_s:
            self._suppressed += 1
            return
        _log.warning(
            "usage_store_failed",
            error_type=type(exc).__name__,
            error=str(exc),
            database=str(self.path),
            suppressed=self._suppressed,
        )
        self._last_warning = now
        self._suppressed = 0

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
