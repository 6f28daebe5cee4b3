"""SQLite files shared by processes: the connection settings the core's stores use, for plugins too.

:func:`open_database` opens (creating its folder) a database for several processes and threads at
once: autocommit mode (transactions are explicit ``BEGIN IMMEDIATE``), write-ahead logging so that
readers and a writer work at once, a busy timeout instead of "database is locked" errors, and
``synchronous = NORMAL`` (durable at each checkpoint; a crash loses no committed transaction's
consistency). :func:`ensure_schema` creates a schema and :func:`migration` runs one step of a
migration, each once however many processes open the file at the same time.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def open_database(path: str | Path, *, timeout: float = 30.0, page_size: int | None = None) -> sqlite3.Connection:
    """A connection to the SQLite file at ``path``, set up for concurrent processes.

    :param page_size: the page size in bytes of a file this call creates (a power of two from 512
        to 65,536); a file that exists keeps its own (in write-ahead logging it cannot change).
    """
    if page_size is not None and (page_size < 512 or page_size > 65_536 or page_size & (page_size - 1)):
        raise ValueError(f"page_size must be a power of two from 512 to 65536, not {page_size}")
    file = Path(path).expanduser()
    file.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(file, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if page_size is not None:
            # Takes effect only while the file is still empty: before the switch to WAL below.
            conn.execute(f"PRAGMA page_size = {int(page_size)}")
        _write_ahead_logging(conn, timeout)
        conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _write_ahead_logging(conn: sqlite3.Connection, timeout: float) -> None:
    """Turn WAL on, waiting up to ``timeout`` for the write lock. On a file that is not in WAL mode
    yet (a new one that another process is setting up at the same moment), SQLite answers "database
    is locked" at once instead of calling its busy handler: the switch upgrades a read lock, and
    waiting could deadlock. So this connection retries itself."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version the file records (``PRAGMA user_version``; 0 for a new file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def ensure_schema(conn: sqlite3.Connection, version: int, statements: Iterable[str]) -> None:
    """Create the schema when the file records an older version: one process runs ``statements``
    and records ``version``, the others wait for it (``BEGIN IMMEDIATE``) and then find it done."""
    if schema_version(conn) >= version:
        return
    with write_transaction(conn):
        if schema_version(conn) < version:
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {int(version)}")


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the write lock up front (``BEGIN IMMEDIATE``: no deadlock
    when a read would have to be upgraded), committed when the block ends, rolled back when it
    raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def migration(conn: sqlite3.Connection, from_version: int, to_version: int) -> Iterator[bool]:
    """One step of a schema migration, in one transaction: yields whether the file still records
    ``from_version`` (this process makes the step; another process made it meanwhile otherwise,
    and it waited, ``BEGIN IMMEDIATE``), and records ``to_version`` when it did."""
    with write_transaction(conn):
        due = schema_version(conn) == from_version
        yield due
        if due:
            conn.execute(f"PRAGMA user_version = {int(to_version)}")
