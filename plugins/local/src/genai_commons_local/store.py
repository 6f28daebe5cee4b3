"""The knowledge-base store: one SQLite file, its schema and its transactions.

Safe between threads (a connection for reads and one for writes, each behind a lock) and between
processes (WAL journal, a busy timeout for writers). Every write is one transaction (``BEGIN
IMMEDIATE`` … ``COMMIT``), so a process killed in the middle of an ingestion leaves the file as it
was before it began.

Opening is lazy: the file and its directory are created by the first write; reading a store whose
file does not exist yet answers "nothing" and creates nothing.

Chunk row ids are ``AUTOINCREMENT``: never reused, and a changed chunk is deleted and inserted
again under a new id, so a row id always names the same vector. Each collection has a ``version``
that every write changing its chunks increments; the in-memory search structures compare it to
know when to catch up (see :mod:`.searcher`).

Schema 2 adds a keyword index per collection (:mod:`.keywords`), created and dropped with its
collection and kept by triggers in the same transactions as the chunk rows; a file of schema 1
gets them, built from the stored texts, when it is first opened.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from attrs import frozen

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
from genai_commons.storage import ensure_schema, open_database, schema_version

from . import keywords
from .filters import Leaf, condition, leaf_query
from .wire import CHUNK_COLUMNS, ChunkRow, chunk_from_row, model_from_json, model_json

log = get_logger(__name__)

SCHEMA_VERSION = 2
#: The schema before the keyword index.
_WITHOUT_KEYWORDS = 1

_SCHEMA = (
    """CREATE TABLE collections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        uid TEXT NOT NULL UNIQUE,
        dimension INTEGER,
        embedding_model TEXT,
        version INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL
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
)
_TEMP = (
    "CREATE TEMP TABLE IF NOT EXISTS batch_chunks (chunk_id TEXT PRIMARY KEY)",
    "CREATE TEMP TABLE IF NOT EXISTS batch_sources (source_id TEXT PRIMARY KEY)",
)
#: Parameters per ``IN (…)`` list.
_BATCH = 500
#: Connections inherited through fork, kept alive so that closing them cannot disturb the parent.
_INHERITED: list[sqlite3.Connection] = []


@frozen(kw_only=True)
class CollectionInfo:
    """A collection's row."""

    id: int
    name: str
    #: Random; names the collection's files (a collection dropped and created again gets a new one).
    uid: str
    dimension: int | None
    embedding_model: DeployedModel | None
    version: int


def _collection(row: Sequence[object]) -> CollectionInfo:
    id_, name, uid, dimension, model, version = row
    return CollectionInfo(
        id=int(id_),  # type: ignore[call-overload]
        name=str(name),
        uid=str(uid),
        dimension=None if dimension is None else int(dimension),  # type: ignore[call-overload]
        embedding_model=model_from_json(None if model is None else str(model)),
        version=int(version),  # type: ignore[call-overload]
    )


_COLLECTION = "SELECT id, name, uid, dimension, embedding_model, version FROM collections"


class Reader:
    """Reads inside one transaction: every answer comes from the same state of the file."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def collection(self, name: str) -> CollectionInfo | None:
        row = self.conn.execute(f"{_COLLECTION} WHERE name = ?", (name,)).fetchone()
        return None if row is None else _collection(row)

    def collections(self) -> list[CollectionInfo]:
        return [_collection(r) for r in self.conn.execute(f"{_COLLECTION} ORDER BY name")]

    def counts(self) -> dict[int, int]:
        """The number of chunks of each collection that has any."""
        return dict(self.conn.execute("SELECT collection_id, COUNT(*) FROM chunks GROUP BY collection_id"))

    def row_ids(self, collection_id: int) -> list[int]:
        """Every chunk row id of the collection, ascending."""
        cursor = self.conn.execute("SELECT id FROM chunks WHERE collection_id = ? ORDER BY id", (collection_id,))
        return [r[0] for r in cursor]

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

    def leaf_ids(self, leaf: Leaf) -> Iterator[tuple[int]]:
        """The row ids of the chunks, of any collection, that match one filter leaf (unordered)."""
        sql, params = leaf_query(leaf)
        return self.conn.execute(sql, params)

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

    def __repr__(self) -> str:
        return f"KnowledgeStore({str(self.path)!r})"

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    # -- connection ------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        conn = open_database(self.path, timeout=self.timeout)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            version = schema_version(conn)
            if version > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"{self.path} was written by a newer genai-commons-local (schema {version}); upgrade it "
                    "(pip install -U genai-commons-local) or point [providers.local] database at another file"
                )
            if version == _WITHOUT_KEYWORDS:
                keywords.migrate(conn, _WITHOUT_KEYWORDS, SCHEMA_VERSION)
            ensure_schema(conn, SCHEMA_VERSION, _SCHEMA)
            for statement in _TEMP:
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
    def reading(self) -> Iterator[Reader | None]:
        """A :class:`Reader` inside one read transaction (one state of the file throughout), or
        None when the file does not exist."""
        with self._reader.lock:
            if self._reader.conn is None and not self.exists:
                yield None
                return
            with self._connection(self._reader) as conn:
                conn.execute("BEGIN")
                try:
                    yield Reader(conn)
                finally:
                    conn.execute("COMMIT")

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._connection(self._writer) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        for slot in (self._reader, self._writer):
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
        """Store the rows in one transaction: upsert by chunk id; ``replace`` first deletes the
        other chunks of the rows' sources, ``repopulate`` every other chunk of the collection."""
        started = time.perf_counter()
        dimension = len(rows[0].vector) // 4 if rows else None
        with self._writing() as conn:
            info = self._collection_for_ingest(conn, name, model, dimension, mode)
            conn.execute("DELETE FROM temp.batch_chunks")
            conn.executemany("INSERT INTO temp.batch_chunks (chunk_id) VALUES (?)", [(r.chunk_id,) for r in rows])
            deleted = self._delete_others(conn, info.id, rows, mode)
            stored = self._stored(conn, info.id)
            unchanged = 0
            changed: list[ChunkRow] = []
            for row in rows:
                previous = stored.get(row.chunk_id)
                if previous is not None and row.same_as(previous[1:]):
                    unchanged += 1
                    continue
                changed.append(row)
            replaced = [(stored[r.chunk_id][0],) for r in changed if r.chunk_id in stored]
            conn.executemany("DELETE FROM chunks WHERE id = ?", replaced)
            self._insert(conn, info.id, changed)
            deleted += len(replaced)
            if deleted or changed:
                conn.execute("UPDATE collections SET version = version + 1 WHERE id = ?", (info.id,))
        result = IngestResult(
            inserted=len(changed),
            deleted=deleted,
            unchanged=unchanged,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        log.debug(
            "chunks_ingested",
            collection=name,
            mode=mode.value,
            inserted=result.inserted,
            deleted=result.deleted,
            unchanged=result.unchanged,
        )
        return result

    def delete_chunks(self, name: str, source_ids: Sequence[str] | None) -> int:
        """Delete the chunks of these sources (every chunk when None); how many went."""
        if not self.exists:
            return 0
        with self._writing() as conn:
            row = conn.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
            if row is None:
                return 0
            if source_ids is None:
                deleted = conn.execute("DELETE FROM chunks WHERE collection_id = ?", (row[0],)).rowcount
            else:
                deleted = 0
                for batch in _batches(sorted(set(source_ids))):
                    deleted += conn.execute(
                        f"DELETE FROM chunks WHERE collection_id = ? AND source_id IN ({_marks(len(batch))})",  # noqa: S608
                        [row[0], *batch],
                    ).rowcount
            if deleted:
                conn.execute("UPDATE collections SET version = version + 1 WHERE id = ?", (row[0],))
        log.debug("chunks_deleted", collection=name, deleted=deleted)
        return int(deleted)

    def drop(self, name: str) -> CollectionInfo | None:
        """Delete the collection and its chunks; the collection that was, or None."""
        if not self.exists:
            return None
        with self._writing() as conn:
            row = conn.execute(f"{_COLLECTION} WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            keywords.drop(conn, row[0])
            conn.execute("DELETE FROM collections WHERE id = ?", (row[0],))
        log.debug("collection_dropped", collection=name)
        return _collection(row)

    # -- ingestion steps (inside the write transaction) ------------------------------------

    def _collection_for_ingest(
        self, conn: sqlite3.Connection, name: str, model: DeployedModel | None, dimension: int | None, mode: IngestMode
    ) -> CollectionInfo:
        row = conn.execute(f"{_COLLECTION} WHERE name = ?", (name,)).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO collections (name, uid, dimension, embedding_model, created) VALUES (?, ?, ?, ?, ?)",
                (name, uuid.uuid4().hex, dimension, model_json(model), time.time()),
            )
            row = conn.execute(f"{_COLLECTION} WHERE name = ?", (name,)).fetchone()
            keywords.create(conn, row[0])
            return _collection(row)
        info = _collection(row)
        empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM chunks WHERE collection_id = ?)", (info.id,)).fetchone()
        if mode is IngestMode.REPOPULATE or bool(empty[0]):
            # Starting over: the chunks' dimension and model become the collection's. A model kept
            # from before must still fit the (perhaps new) dimension.
            new_dimension = info.dimension if dimension is None else dimension
            new_model: DeployedModel | None
            if model is not None:
                new_model = model
            elif new_dimension == info.dimension:
                new_model = info.embedding_model
            else:
                new_model = None
        else:
            _check_compatible(info, model, dimension)
            new_dimension = info.dimension if info.dimension is not None else dimension
            new_model = info.embedding_model if info.embedding_model is not None else model
        if new_dimension != info.dimension or new_model != info.embedding_model:
            conn.execute(
                "UPDATE collections SET dimension = ?, embedding_model = ? WHERE id = ?",
                (new_dimension, model_json(new_model), info.id),
            )
        return info

    @staticmethod
    def _delete_others(conn: sqlite3.Connection, collection_id: int, rows: Sequence[ChunkRow], mode: IngestMode) -> int:
        """Replace and repopulate: delete the chunks the batch (in temp.batch_chunks) does not hold again."""
        if mode is IngestMode.INSERT:
            return 0
        keep = "chunk_id NOT IN (SELECT chunk_id FROM temp.batch_chunks)"
        if mode is IngestMode.REPOPULATE:
            sql = f"DELETE FROM chunks WHERE collection_id = ? AND {keep}"  # noqa: S608 - constant
        else:
            conn.execute("DELETE FROM temp.batch_sources")
            sources = {r.source_id for r in rows if r.source_id is not None}
            conn.executemany("INSERT INTO temp.batch_sources (source_id) VALUES (?)", [(s,) for s in sources])
            sql = (
                "DELETE FROM chunks WHERE collection_id = ? AND source_id IN "  # noqa: S608 - constant
                f"(SELECT source_id FROM temp.batch_sources) AND {keep}"
            )
        return int(conn.execute(sql, (collection_id,)).rowcount)

    @staticmethod
    def _stored(conn: sqlite3.Connection, collection_id: int) -> dict[str, tuple[object, ...]]:
        """The stored rows of the batch's chunk ids: row id, the columns of CHUNK_COLUMNS, vector."""
        cursor = conn.execute(
            f"SELECT c.id, {CHUNK_COLUMNS}, c.vector FROM chunks c "  # noqa: S608 - constant
            "WHERE c.collection_id = ? AND c.chunk_id IN (SELECT chunk_id FROM temp.batch_chunks)",
            (collection_id,),
        )
        return {row[1]: tuple(row) for row in cursor}

    @staticmethod
    def _insert(conn: sqlite3.Connection, collection_id: int, rows: Sequence[ChunkRow]) -> None:
        if not rows:
            return
        # Row ids are handed out here, under the write lock, so that metadata rows can be
        # inserted in bulk too; AUTOINCREMENT's sequence follows the highest id inserted.
        (last,) = conn.execute(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'chunks'), 0), "
            "COALESCE((SELECT MAX(id) FROM chunks), 0))"
        ).fetchone()
        ids = range(last + 1, last + 1 + len(rows))
        conn.executemany(
            "INSERT INTO chunks (id, collection_id, chunk_id, source_id, source_type, human_readable_id, "
            "input_text, metadata, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (i, collection_id, r.chunk_id, r.source_id, r.source_type, r.human_readable_id, r.input_text,
                 r.metadata, r.vector)
                for i, r in zip(ids, rows, strict=True)
            ],
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO metadata (chunk, key, value, number) VALUES (?, ?, ?, ?)",
            [(i, *pair) for i, r in zip(ids, rows, strict=True) for pair in r.pairs],
        )


def _check_compatible(info: CollectionInfo, model: DeployedModel | None, dimension: int | None) -> None:
    stored = info.embedding_model
    if dimension is not None and info.dimension is not None and dimension != info.dimension:
        made_by = f" (embedding model {stored.ref})" if stored is not None else ""
        raise ValidationError(
            f"collection {info.name!r} holds {info.dimension}-dimension vectors{made_by}; these chunks have "
            f"{dimension} dimensions: embed them with the collection's model, ingest into another collection, "
            "or use mode 'repopulate' to replace the whole collection"
        )
    if model is not None and stored is not None and model.ref != stored.ref:
        raise ValidationError(
            f"collection {info.name!r} was embedded with {stored.ref}, not {model.ref}: use the collection's "
            "model, ingest into another collection, or use mode 'repopulate' to re-embed it all"
        )


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _batches(values: Sequence[object]) -> Iterator[list[object]]:
    values = list(values)
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]
