"""One ingestion call, written in bounded transactions so that no writer holds the lock for long.

A call of at most ``TRANSACTION_ROWS`` rows is one transaction, as it always was: atomic. A larger
call is cut into *steps* of at most ``TRANSACTION_ROWS`` rows (:func:`plan`), each its own
transaction: the rows are grouped by source, in the order their sources first appear, and a
source that fits in a step is never cut, so that a reader sees each such source whole, old or new.
A step writes its rows as a small call does: unchanged chunks are left alone, a changed chunk's
old row is deleted and its new row inserted in the same transaction.

The chunks the call deletes besides (:class:`Others`: ``replace``, the other chunks of the call's
sources; ``repopulate``, every chunk the call does not hold) go *after* every row is written, in
transactions of at most ``TRANSACTION_ROWS`` deletions: a reader, or a process killed in between,
sees old and new chunks side by side, never a source missing. The first deletions ride in the
transaction of the last step, so a small call stays one transaction when they are few.

A ``repopulate`` that changes the collection's dimension or embedding model cannot leave old
vectors beside new ones: it deletes every chunk first (same bounds), and only then starts over.

Each transaction that changes chunks increments the collection's version and prunes its change log
(:func:`.changes.prune`). Another process may write between two steps; one that drops the
collection meanwhile stops the call with :class:`~genai_commons.ServiceUnavailableError` (run it
again).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from genai_commons import DeployedModel, IngestMode, ServiceUnavailableError

from . import changes, keywords
from .catalog import SELECT_COLLECTION, CollectionInfo, check_compatible, collection_info, replaces_vectors
from .wire import CHUNK_COLUMNS, ChunkRow, model_json

#: The most rows a transaction writes, and the most chunks it deletes besides. Measured at 384
#: dimensions, texts of ~100 words (keyword index), 3 metadata keys, on 2 busy shared cores, while
#: a store grew to 1.2 million chunks: 1.8 s a transaction (median; 2.5 s typically at most, 5 s
#: under the heaviest load); 10,000 deletions took 0.9 to 1.4 s.
TRANSACTION_ROWS = 10_000

#: Temporary tables of the writing connection (each connection has its own).
TEMP_TABLES = (
    "CREATE TEMP TABLE IF NOT EXISTS batch_chunks (chunk_id TEXT PRIMARY KEY)",
    "CREATE TEMP TABLE IF NOT EXISTS step_chunks (chunk_id TEXT PRIMARY KEY)",
)

Transaction = Callable[[], AbstractContextManager[object]]


def plan(rows: Sequence[ChunkRow], limit: int) -> list[list[ChunkRow]]:
    """The rows in steps of at most ``limit``, grouped by source (first appearance first); a source
    of at most ``limit`` rows lies in one step. Always at least one step (maybe empty)."""
    groups: dict[object, list[ChunkRow]] = {}
    for index, row in enumerate(rows):
        key: object = ("source", row.source_id) if row.source_id is not None else ("loose", index)
        groups.setdefault(key, []).append(row)
    steps: list[list[ChunkRow]] = []
    current: list[ChunkRow] = []
    for group in groups.values():
        if current and len(current) + len(group) > limit:
            steps.append(current)
            current = []
        rest = group
        while len(rest) > limit:  # a source larger than a step: cut, in steps of its own
            steps.append(rest[:limit])
            rest = rest[limit:]
        current.extend(rest)
    if current or not steps:
        steps.append(current)
    return steps


class Others:
    """The chunks a call deletes besides its upserts, a bounded number per transaction.

    ``replace`` looks for them source by source (an index); ``repopulate`` walks the collection's
    rows that were there when the call began (ids up to ``last``) in id order, looking at no more
    than ``SCAN`` rows per deletion allowed in a transaction, so that a call keeping most chunks
    does not hold the lock for a walk over the whole collection.

    :param everything: every chunk of the collection (a ``repopulate`` that starts over), not only
        those ``temp.batch_chunks`` does not hold.
    """

    #: Rows a ``repopulate`` transaction looks at, per deletion allowed.
    SCAN = 10

    def __init__(
        self, collection_id: int, mode: IngestMode, sources: Sequence[str], *, last: int, everything: bool = False
    ) -> None:
        self.collection_id = collection_id
        self.repopulate = mode is IngestMode.REPOPULATE or everything
        self.everything = everything
        self.done = (mode is IngestMode.INSERT and not everything) or (self.repopulate and last == 0)
        self._pending = list(sources)
        self._after = 0
        self._last = last

    @classmethod
    def of(
        cls, conn: sqlite3.Connection, collection_id: int, mode: IngestMode, sources: Sequence[str], **kw: bool
    ) -> Others:
        """The collection's, as it is now (inside the call's first transaction)."""
        (last,) = conn.execute(
            "SELECT COALESCE(MAX(id), 0) FROM chunks WHERE collection_id = ?", (collection_id,)
        ).fetchone()
        return cls(collection_id, mode, sources, last=int(last), **kw)

    def delete(self, conn: sqlite3.Connection, budget: int) -> int:
        """Delete at most ``budget`` of them (inside the caller's transaction); how many went."""
        if self.done:
            return 0
        kept = "" if self.everything else " AND chunk_id NOT IN (SELECT chunk_id FROM temp.batch_chunks)"
        ids: list[int] = []
        if self.repopulate:
            # The end of the next SCAN x budget rows of the collection (its index holds the row ids).
            end = conn.execute(
                "SELECT id FROM chunks WHERE collection_id = ? AND id > ? ORDER BY id LIMIT 1 OFFSET ?",
                (self.collection_id, self._after, self.SCAN * budget - 1),
            ).fetchone()
            high = self._last if end is None else min(self._last, int(end[0]))
            cursor = conn.execute(
                "SELECT id FROM chunks WHERE collection_id = ? AND id > ? AND id <= ?"  # noqa: S608 - constants
                f"{kept} ORDER BY id LIMIT ?",
                (self.collection_id, self._after, high, budget),
            )
            ids = [r[0] for r in cursor]
            self._after = ids[-1] if len(ids) == budget else high
            self.done = self._after >= self._last
        else:
            while self._pending and len(ids) < budget:
                room = budget - len(ids)
                cursor = conn.execute(
                    f"SELECT id FROM chunks WHERE collection_id = ? AND source_id = ?{kept} LIMIT ?",  # noqa: S608
                    (self.collection_id, self._pending[0], room),
                )
                found = [r[0] for r in cursor]
                ids.extend(found)
                if len(found) < room:
                    self._pending.pop(0)
            self.done = not self._pending
        conn.executemany("DELETE FROM chunks WHERE id = ?", [(i,) for i in ids])
        return len(ids)


class Ingestion:
    """One call's writes on ``conn``, each step inside ``transaction()`` (a context manager: ``BEGIN
    IMMEDIATE`` … ``COMMIT`` on ``conn``). Counts what it did in ``inserted``, ``deleted``,
    ``unchanged`` and ``transactions``."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        transaction: Transaction,
        name: str,
        model: DeployedModel | None,
        rows: Sequence[ChunkRow],
        mode: IngestMode,
    ) -> None:
        self.conn = conn
        self.transaction = transaction
        self.name = name
        self.model = model
        self.rows = rows
        self.mode = mode
        self.dimension = len(rows[0].vector) // 4 if rows else None
        self.inserted = self.deleted = self.unchanged = self.transactions = 0
        self._collection_id = 0
        self._clear: Others | None = None

    def run(self, limit: int) -> None:
        """Write the call, at most ``limit`` rows (and ``limit`` other deletions) a transaction."""
        conn = self.conn
        steps = plan(self.rows, limit)
        # The call's chunk ids, for "the chunks the call does not hold": a temporary table is the
        # connection's own, so filling it takes no lock on the file.
        conn.execute("DELETE FROM temp.batch_chunks")
        conn.executemany("INSERT INTO temp.batch_chunks (chunk_id) VALUES (?)", [(r.chunk_id,) for r in self.rows])
        sources = list(dict.fromkeys(r.source_id for r in self.rows if r.source_id is not None))
        while True:  # the first step; a repopulate that changes the vectors may first need a few to empty
            with self._transaction():
                if self._start(conn, limit):
                    others = Others.of(conn, self._collection_id, self.mode, sources)
                    self._step(conn, steps[0], others if len(steps) == 1 else None, limit)
                    break
        for number, step in enumerate(steps[1:], start=2):
            with self._transaction():
                self._still_there(conn)
                self._step(conn, step, others if number == len(steps) else None, limit)
        while not others.done:
            with self._transaction():
                self._still_there(conn)
                self._step(conn, [], others, limit)

    # -- inside a transaction ------------------------------------------------------------------

    def _transaction(self) -> AbstractContextManager[object]:
        self.transactions += 1
        return self.transaction()

    def _start(self, conn: sqlite3.Connection, limit: int) -> bool:
        """The collection, created or checked; False while a ``repopulate`` that changes its
        dimension or model is still emptying it (at most ``limit`` deletions a transaction)."""
        row = conn.execute(f"{SELECT_COLLECTION} WHERE name = ?", (self.name,)).fetchone()
        info = None if row is None else collection_info(row)
        if (
            info is not None
            and self.mode is IngestMode.REPOPULATE
            and replaces_vectors(info, self.model, self.dimension)
        ):
            self._collection_id = info.id
            if self._clear is None:
                self._clear = Others.of(conn, info.id, self.mode, (), everything=True)
            self._step(conn, [], self._clear, limit)
            if not self._clear.done:
                return False
        self._collection_id = self._collection(conn, info)
        return True

    def _still_there(self, conn: sqlite3.Connection) -> None:
        """Between steps, another process may have written: the collection must be the same one,
        and still fit the rows."""
        row = conn.execute(f"{SELECT_COLLECTION} WHERE name = ?", (self.name,)).fetchone()
        if row is None or int(row[0]) != self._collection_id:
            raise ServiceUnavailableError(
                f"collection {self.name!r} was dropped by another process while this ingestion wrote it in steps "
                f"({self.inserted} chunks written): run the ingestion again",
                provider="local",
                code="COLLECTION_DROPPED",
            )
        check_compatible(collection_info(row), self.model, self.dimension)

    def _collection(self, conn: sqlite3.Connection, info: CollectionInfo | None) -> int:
        """Create the collection, or check that the rows fit it (a ``repopulate``, or an empty
        collection, starts over with the rows' dimension and model); its id."""
        if info is None:
            conn.execute(
                "INSERT INTO collections (name, uid, dimension, embedding_model, created) VALUES (?, ?, ?, ?, ?)",
                (self.name, uuid.uuid4().hex, self.dimension, model_json(self.model), time.time()),
            )
            (collection_id,) = conn.execute("SELECT id FROM collections WHERE name = ?", (self.name,)).fetchone()
            keywords.create(conn, collection_id)
            return int(collection_id)
        empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM chunks WHERE collection_id = ?)", (info.id,)).fetchone()
        if self.mode is IngestMode.REPOPULATE or bool(empty[0]):
            # Starting over: the chunks' dimension and model become the collection's. A model kept
            # from before must still fit the (perhaps new) dimension.
            new_dimension = info.dimension if self.dimension is None else self.dimension
            new_model: DeployedModel | None
            if self.model is not None:
                new_model = self.model
            elif new_dimension == info.dimension:
                new_model = info.embedding_model
            else:
                new_model = None
        else:
            check_compatible(info, self.model, self.dimension)
            new_dimension = info.dimension if info.dimension is not None else self.dimension
            new_model = info.embedding_model if info.embedding_model is not None else self.model
        if new_dimension != info.dimension or new_model != info.embedding_model:
            conn.execute(
                "UPDATE collections SET dimension = ?, embedding_model = ? WHERE id = ?",
                (new_dimension, model_json(new_model), info.id),
            )
        return info.id

    def _step(self, conn: sqlite3.Connection, rows: Sequence[ChunkRow], others: Others | None, limit: int) -> None:
        """One transaction's work: upsert the rows (an unchanged one is left, a changed one's old
        row replaced), then delete up to ``limit`` of ``others``; the version and change log follow."""
        stored = _stored(conn, self._collection_id, rows)
        changed: list[ChunkRow] = []
        for row in rows:
            previous = stored.get(row.chunk_id)
            if previous is not None and row.same_as(previous[1:]):
                self.unchanged += 1
            else:
                changed.append(row)
        replaced = [(stored[r.chunk_id][0],) for r in changed if r.chunk_id in stored]
        conn.executemany("DELETE FROM chunks WHERE id = ?", replaced)
        insert_rows(conn, self._collection_id, changed)
        deleted = len(replaced) + (0 if others is None else others.delete(conn, limit))
        self.inserted += len(changed)
        self.deleted += deleted
        if deleted or changed:
            conn.execute("UPDATE collections SET version = version + 1 WHERE id = ?", (self._collection_id,))
        if deleted:
            changes.prune(conn, self._collection_id)


def _stored(conn: sqlite3.Connection, collection_id: int, rows: Sequence[ChunkRow]) -> dict[str, tuple[object, ...]]:
    """The stored rows of these chunk ids: row id, the columns of CHUNK_COLUMNS, vector."""
    if not rows:
        return {}
    conn.execute("DELETE FROM temp.step_chunks")
    conn.executemany("INSERT INTO temp.step_chunks (chunk_id) VALUES (?)", [(r.chunk_id,) for r in rows])
    cursor = conn.execute(
        f"SELECT c.id, {CHUNK_COLUMNS}, c.vector FROM chunks c "  # noqa: S608 - constant
        "WHERE c.collection_id = ? AND c.chunk_id IN (SELECT chunk_id FROM temp.step_chunks)",
        (collection_id,),
    )
    return {row[1]: tuple(row) for row in cursor}


def insert_rows(conn: sqlite3.Connection, collection_id: int, rows: Sequence[ChunkRow]) -> None:
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
    keywords.index_rows(conn, collection_id, ids.start, ids.stop - 1)
