"""The knowledge-base store: one SQLite file, its schema and its transactions.

Safe between threads (a connection for reads and one for writes, each behind a lock) and between
processes (WAL journal, a busy timeout for writers). Every write is one transaction (``BEGIN
IMMEDIATE`` … ``COMMIT``), so a process killed in the middle of it leaves the file as it was before
it began — except a large ingestion call, which commits in bounded steps so that no writer holds
the lock for more than a second or two (:mod:`.ingestion`: at most ``TRANSACTION_ROWS`` chunks a
step, whole sources, the deletions it makes besides last). A process killed in the middle of one
leaves every chunk that was there before plus the whole sources of the steps that completed;
running it again finishes the job.

Opening is lazy: the file and its directory are created by the first write; reading a store whose
file does not exist yet answers "nothing" and creates nothing.

Chunk row ids are ``AUTOINCREMENT``: never reused, and a changed chunk is deleted and inserted
again under a new id, so a row id always names the same vector. Each collection has a ``version``
that every write changing its chunks increments; the in-memory search structures compare it to
know when to catch up (see :mod:`.searcher`).

Schema 2 adds a keyword index per collection (:mod:`.keywords`), created and dropped with its
collection and kept by triggers in the same transactions as the chunk rows; a file of schema 1
gets them, built from the stored texts, when it is first opened. Schema 3 adds the change log
(:mod:`.changes`): a tombstone for every chunk row deleted, so that a reading process catches up by
reading only the rows added (ids above the last it saw) and the rows deleted (tombstones after the
last it saw) — :meth:`Reader.rows_after`, :meth:`Reader.deleted_after`; a file of schema 1 or 2
gets it when first opened.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from genai_commons import (
    ConfigurationError,
    DeployedModel,
    Filter,
    IngestMode,
    IngestResult,
    KnowledgeBaseChunk,
    ValidationError,
    get_logger,
)
from genai_commons.storage import ensure_schema, open_database, schema_version, write_transaction

from . import changes, ingestion, keywords, removal
from .catalog import SELECT_COLLECTION as _COLLECTION
from .catalog import CollectionInfo
from .catalog import collection_info as _collection
from .filters import condition
from .wire import CHUNK_COLUMNS, ChunkRow, chunk_from_row

__all__ = ["SCHEMA_VERSION", "CollectionInfo", "KnowledgeStore", "Reader"]

log = get_logger(__name__)

SCHEMA_VERSION = 4
#: The schema before the keyword index.
_WITHOUT_KEYWORDS = 1
#: The schema before the change log (:mod:`.changes`).
_WITHOUT_CHANGES = 2
#: The schema whose keyword indexes had a trigger on insert (:func:`.keywords.index_rows` since).
_INSERT_TRIGGERS = 3

_SCHEMA = (
    """CREATE TABLE collections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        uid TEXT NOT NULL UNIQUE,
        dimension INTEGER,
        embedding_model TEXT,
        version INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        tombstone_floor INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE chunks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
        chunk_id TEXT NOT NULL,
        source_id TEXT,
        source_type TEXT,
        human_readable_id TEXT NOT NULL,
        input_text TEXT NOT NULL,
        metadata TEXT NOT NULL,
        vector BLOB NOT NULL,
        UNIQUE (collection_id, chunk_id)
    )""",
    "CREATE INDEX chunks_by_collection ON chunks (collection_id)",
    "CREATE INDEX chunks_by_source ON chunks (collection_id, source_id, chunk_id)",
    """CREATE TABLE metadata (
        chunk INTEGER NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        number REAL,
        PRIMARY KEY (chunk, key)
    ) WITHOUT ROWID""",
    "CREATE INDEX metadata_by_value ON metadata (key, value)",
    "CREATE INDEX metadata_by_number ON metadata (key, number)",
    *changes.STATEMENTS,
)
#: SQLite's page cache per connection, in KiB.
CACHE_KIB = 65_536
#: The page size of a new file. A chunk's row at 384 dimensions (a 1.5 KB vector, ~100 words of
#: text) is about 2.3 KB: a 4 KB page (SQLite's default) holds one and wastes the rest, a 16 KB
#: page holds seven. Ingestion at a million chunks: 4 % faster, the file a third smaller.
PAGE_SIZE = 16_384
#: Parameters per ``IN (…)`` list.
_BATCH = 500
#: Connections inherited through fork, kept alive so that closing them cannot disturb the parent.
_INHERITED: list[sqlite3.Connection] = []


class Reader:
    """Reads inside one transaction: every answer comes from the same state of the file."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def collection(self, name: str) -> CollectionInfo | None:
        row = self.conn.execute(f"{_COLLECTION} WHERE name = ?", (name,)).fetchone()
        return None if row is None or removal.retired(name) else _collection(row)

    def collections(self) -> list[CollectionInfo]:
        rows = self.conn.execute(f"{_COLLECTION} ORDER BY name")
        return [_collection(r) for r in rows if not removal.retired(str(r[1]))]

    def counts(self) -> dict[int, int]:
        """The number of chunks of each collection that has any."""
        return dict(self.conn.execute("SELECT collection_id, COUNT(*) FROM chunks GROUP BY collection_id"))

    def vectors(self, collection_id: int, row_ids: Sequence[int]) -> tuple[list[int], bytes]:
        """The vectors of these rows as one float32 blob, with their row ids (ascending)."""
        ids: list[int] = []
        blobs: list[bytes] = []
        if row_ids and list(row_ids) == list(range(row_ids[0], row_ids[-1] + 1)):
            cursor = self.conn.execute(
                # "+collection_id": walk the table by row id rather than an index, then sort
                "SELECT id, vector FROM chunks WHERE +collection_id = ? AND id BETWEEN ? AND ? ORDER BY id",
                (collection_id, row_ids[0], row_ids[-1]),
            )
            parts = [cursor]
        else:
            parts = [
                self.conn.execute(
                    f"SELECT id, vector FROM chunks WHERE id IN ({_marks(len(batch))}) ORDER BY id",  # noqa: S608
                    batch,
                )
                for batch in _batches(row_ids)
            ]
        for cursor in parts:
            for row_id, blob in cursor:
                ids.append(row_id)
                blobs.append(blob)
        return ids, b"".join(blobs)

    def chunks_by_row(self, row_ids: Sequence[int], similarities: Sequence[float]) -> list[KnowledgeBaseChunk]:
        """The chunks (without vectors) of these row ids, in that order, with their similarities."""
        rows: dict[int, Sequence[object]] = {}
        for batch in _batches(row_ids):
            cursor = self.conn.execute(
                f"SELECT c.id, {CHUNK_COLUMNS} FROM chunks c WHERE c.id IN ({_marks(len(batch))})",  # noqa: S608
                batch,
            )
            rows.update((row[0], row[1:]) for row in cursor)
        return [chunk_from_row(rows[i], s) for i, s in zip(row_ids, similarities, strict=True)]

    # -- catching up with other processes' writes (see :mod:`.changes`) --------------------

    def last_tombstone(self) -> int:
        """The newest tombstone seq of the whole file (0 when none): a reader that loads everything
        now has seen every deletion up to it."""
        return changes.last_tombstone(self.conn)

    def deleted_after(self, collection_id: int, seq: int) -> tuple[list[int], int] | None:
        """The row ids of the collection's chunks deleted after tombstone ``seq`` (ascending seq
        order) and the newest tombstone seq of the file; None when tombstones after ``seq`` were
        pruned, or the collection is gone (the caller must load the collection again)."""
        return changes.deleted_after(self.conn, collection_id, seq)

    def rows_after(self, collection_id: int, after: int, *, block: int = 16_384) -> Iterator[tuple[list[int], bytes]]:
        """The collection's rows with id > after, ascending, in blocks of at most ``block`` rows:
        their ids and their vectors as one float32 blob (little-endian, as stored). Streams: never
        holds more than a block in Python objects."""
        return changes.rows_after(self.conn, collection_id, after, block)

    def metadata_between(self, low: int, high: int) -> Iterator[tuple[int, str, str, float | None]]:
        """(row id, key, value, number) of the metadata rows of the chunks with low < id <= high
        (every collection; the caller keeps the ids it knows), ordered by row id."""
        return changes.metadata_between(self.conn, low, high)

    def count(self, collection_id: int) -> int:
        """The number of chunks the collection holds."""
        (count,) = self.conn.execute("SELECT COUNT(*) FROM chunks WHERE collection_id = ?", (collection_id,)).fetchone()
        return int(count)

    def last_row(self, collection_id: int) -> int:
        """The highest row id of the collection's chunks (0 when it has none)."""
        row = self.conn.execute("SELECT MAX(id) FROM chunks WHERE collection_id = ?", (collection_id,)).fetchone()
        return int(row[0] or 0)


class _Slot:
    """One connection of the store, opened on first use, and its lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.conn: sqlite3.Connection | None = None
        self.pid = 0


class KnowledgeStore:
    """One knowledge-base SQLite file.

    :param path: the file (``config.home / "knowledge.db"`` by default).
    :param timeout: seconds a write waits for another process's write before it fails.
    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path).expanduser()
        self.timeout = timeout
        # Two connections, so that reads (searches) and writes of one process never wait for
        # each other: WAL lets a reader and a writer work at once.
        self._reader = _Slot()
        self._writer = _Slot()
        self._background = _Slot()

    def __repr__(self) -> str:
        return f"KnowledgeStore({str(self.path)!r})"

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    # -- connection ------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        conn = open_database(self.path, timeout=self.timeout, page_size=PAGE_SIZE)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            # 64 MB of pages (SQLite's default is 2 MB): the indexes an ingestion writes into stay
            # in memory at a million chunks, about 10 % faster; taken only as pages are read.
            conn.execute(f"PRAGMA cache_size = {-CACHE_KIB}")
            version = schema_version(conn)
            if version > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"{self.path} was written by a newer genai-commons-local (schema {version}); upgrade it "
                    "(pip install -U genai-commons-local) or point [providers.local] database at another file"
                )
            if version == _WITHOUT_KEYWORDS:
                keywords.migrate(conn, _WITHOUT_KEYWORDS, _WITHOUT_CHANGES)
            if version in (_WITHOUT_KEYWORDS, _WITHOUT_CHANGES):
                changes.migrate(conn, _WITHOUT_CHANGES, _INSERT_TRIGGERS)
            if version in (_WITHOUT_KEYWORDS, _WITHOUT_CHANGES, _INSERT_TRIGGERS):
                keywords.drop_insert_triggers(conn, _INSERT_TRIGGERS, SCHEMA_VERSION)
            ensure_schema(conn, SCHEMA_VERSION, _SCHEMA)
            for statement in ingestion.TEMP_TABLES:
                conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _connection(self, slot: _Slot) -> Iterator[sqlite3.Connection]:
        with slot.lock:
            if slot.conn is None or slot.pid != os.getpid():
                if slot.conn is not None:  # forked: the parent's connection is neither used nor closed here
                    _INHERITED.append(slot.conn)
                slot.conn = self._open()
                slot.pid = os.getpid()
            yield slot.conn

    @contextmanager
    def reading(self, *, background: bool = False) -> Iterator[Reader | None]:
        """A :class:`Reader` inside one read transaction (one state of the file throughout), or
        None when the file does not exist. ``background`` work (loading a new index generation)
        reads through a connection of its own, so that it never holds up a query."""
        slot = self._background if background else self._reader
        with slot.lock:
            if slot.conn is None and not self.exists:
                yield None
                return
            with self._connection(slot) as conn:
                conn.execute("BEGIN")
                try:
                    yield Reader(conn)
                finally:
                    conn.execute("COMMIT")

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction."""
        with self._connection(self._writer) as conn, write_transaction(conn):
            yield conn

    def close(self) -> None:
        for slot in (self._reader, self._writer, self._background):
            with slot.lock:
                if slot.conn is not None and slot.pid == os.getpid():
                    slot.conn.close()
                slot.conn = None

    # -- reads -----------------------------------------------------------------------------

    def collection(self, name: str) -> CollectionInfo | None:
        with self.reading() as reader:
            return None if reader is None else reader.collection(name)

    def collections(self) -> list[CollectionInfo]:
        with self.reading() as reader:
            return [] if reader is None else reader.collections()

    def collections_with_counts(self) -> list[tuple[CollectionInfo, int]]:
        with self.reading() as reader:
            if reader is None:
                return []
            counts = reader.counts()
            return [(info, counts.get(info.id, 0)) for info in reader.collections()]

    def stored_chunk_ids(self, name: str, source_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        found: dict[str, set[str]] = {}
        with self.reading() as reader:
            info = None if reader is None else reader.collection(name)
            if info is None:
                return {}
            assert reader is not None
            for batch in _batches(sorted(set(source_ids))):
                cursor = reader.conn.execute(
                    "SELECT source_id, chunk_id FROM chunks "  # noqa: S608 - placeholders only
                    f"WHERE collection_id = ? AND source_id IN ({_marks(len(batch))})",
                    [info.id, *batch],
                )
                for source_id, chunk_id in cursor:
                    found.setdefault(source_id, set()).add(chunk_id)
        return {source: frozenset(ids) for source, ids in found.items()}

    def list_chunks(self, name: str, filter: Filter | None, offset: int, limit: int) -> list[KnowledgeBaseChunk]:
        if offset < 0 or limit < 0:
            raise ValidationError(f"list_chunks needs offset >= 0 and limit >= 0, got offset={offset} limit={limit}")
        where, params = ("1", []) if filter is None else condition(filter)
        with self.reading() as reader:
            info = None if reader is None else reader.collection(name)
            if info is None or limit == 0:
                return []
            assert reader is not None
            cursor = reader.conn.execute(
                f"SELECT {CHUNK_COLUMNS} FROM chunks c WHERE c.collection_id = ? AND {where} "  # noqa: S608
                "ORDER BY c.source_id, c.chunk_id LIMIT ? OFFSET ?",
                [info.id, *params, limit, offset],
            )
            return [chunk_from_row(row) for row in cursor]

    # -- writes ----------------------------------------------------------------------------

    def ingest(
        self, name: str, model: DeployedModel | None, rows: Sequence[ChunkRow], mode: IngestMode
    ) -> IngestResult:
        """Store the rows: upsert by chunk id; ``replace`` also deletes the other chunks of the rows'
        sources, ``repopulate`` every other chunk of the collection. One transaction for at most
        ``ingestion.TRANSACTION_ROWS`` rows, bounded steps beyond (see :mod:`.ingestion`)."""
        if removal.retired(name):
            raise ValidationError(
                f"collection {name!r}: a local collection's name cannot start with {removal.RETIRED!r}"
            )
        started = time.perf_counter()
        with self._connection(self._writer) as conn:  # held throughout: the temp tables are this call's
            job = ingestion.Ingestion(conn, lambda: write_transaction(conn), name, model, rows, mode)
            job.run(ingestion.TRANSACTION_ROWS)
        result = IngestResult(
            inserted=job.inserted,
            deleted=job.deleted,
            unchanged=job.unchanged,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        log.debug(
            "chunks_ingested",
            collection=name,
            mode=mode.value,
            inserted=result.inserted,
            deleted=result.deleted,
            unchanged=result.unchanged,
            transactions=job.transactions,
        )
        return result

    def delete_chunks(self, name: str, source_ids: Sequence[str] | None) -> tuple[int, CollectionInfo | None]:
        """Delete the chunks of these sources (every chunk when None), in bounded transactions
        (:mod:`.removal`); how many went, and the collection retired to empty it, if one was."""
        if not self.exists:
            return 0, None
        if source_ids is None:
            deleted, retired = removal.empty(self._writing, name)
        else:
            deleted, retired = removal.delete_sources(self._writing, name, source_ids), None
        log.debug("chunks_deleted", collection=name, deleted=deleted)
        return deleted, retired

    def drop(self, name: str) -> CollectionInfo | None:
        """Delete the collection and its chunks (:mod:`.removal`); the collection that was, or None."""
        if not self.exists:
            return None
        info = removal.drop(self._writing, name)
        if info is not None:
            log.debug("collection_dropped", collection=name)
        return info


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _batches(values: Sequence[object]) -> Iterator[list[object]]:
    values = list(values)
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]
