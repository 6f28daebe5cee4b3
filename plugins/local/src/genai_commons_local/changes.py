"""The store's change log: what a reading process needs to catch up with other processes' writes.

Chunk row ids are ``AUTOINCREMENT``, handed out under the write lock and never reused, so the rows
*added* since a reader last looked are those with a higher id (:func:`rows_after`,
:func:`metadata_between`). The rows *deleted* are logged: every deletion of a chunk row writes a
*tombstone* ``(seq, collection_id, row_id)`` (a trigger ``AFTER DELETE ON chunks``, so deletions
by replacement, ``replace``, ``repopulate`` and :meth:`~.store.KnowledgeStore.delete_chunks` are
all caught, in the transaction that deletes the row). ``seq`` is ``AUTOINCREMENT`` too: a reader
remembers the newest seq it has seen (:func:`last_tombstone`) and later asks for the deletions
after it (:func:`deleted_after`).

Dropping a collection logs nothing: the trigger writes a tombstone only while the chunk's
collection row exists, and SQLite's foreign-key cascade deletes the chunks after their collection
row; :func:`forget` then deletes the collection's tombstones. (Collection ids are never reused
either, so a reader asking about a dropped collection is told to load it again.)

The log is kept short: at the end of a write transaction that deleted rows, a collection with more
than ``2 x TOMBSTONES_KEPT`` tombstones loses its oldest so that ``TOMBSTONES_KEPT`` remain, and
its ``tombstone_floor`` records the newest seq pruned (:func:`prune`). A reader that saw less than
the floor has missed deletions and must load the collection again.

Schema 3 added the log; a file of schema 2 gets it when first opened (:func:`migrate`), with no
tombstones for what was deleted before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from genai_commons import get_logger
from genai_commons.storage import migration

log = get_logger(__name__)

#: Tombstones a collection keeps after pruning (pruned when it has more than twice this many).
TOMBSTONES_KEPT = 100_000

#: The log's table, index and trigger; ``IF NOT EXISTS``, so that :func:`migrate` may run them on a
#: file that has some of them already.
STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS tombstones (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        collection_id INTEGER NOT NULL,
        row_id INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS tombstones_by_collection ON tombstones (collection_id, seq)",
    # Only while the collection row exists: a dropped collection's cascade logs nothing.
    """CREATE TRIGGER IF NOT EXISTS chunks_tombstone AFTER DELETE ON chunks
    WHEN EXISTS (SELECT 1 FROM collections WHERE id = old.collection_id) BEGIN
        INSERT INTO tombstones (collection_id, row_id) VALUES (old.collection_id, old.id);
    END""",
)
#: The column of ``collections`` that records the newest pruned seq.
FLOOR_COLUMN = "tombstone_floor INTEGER NOT NULL DEFAULT 0"


# -- writes (inside the caller's write transaction) ----------------------------------------------


def prune(conn: sqlite3.Connection, collection_id: int) -> int:
    """Keep ``TOMBSTONES_KEPT`` of the collection's tombstones when it has more than twice as many;
    how many were deleted."""
    newest = "SELECT seq FROM tombstones WHERE collection_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?"
    if conn.execute(newest, (collection_id, 2 * TOMBSTONES_KEPT)).fetchone() is None:
        return 0
    (floor,) = conn.execute(newest, (collection_id, TOMBSTONES_KEPT)).fetchone()
    pruned = conn.execute("DELETE FROM tombstones WHERE collection_id = ? AND seq <= ?", (collection_id, floor))
    conn.execute("UPDATE collections SET tombstone_floor = ? WHERE id = ?", (floor, collection_id))
    log.debug("tombstones_pruned", collection_id=collection_id, pruned=pruned.rowcount, floor=floor)
    return int(pruned.rowcount)


def forget(conn: sqlite3.Connection, collection_id: int) -> None:
    """Delete a collection's tombstones (it is being dropped)."""
    conn.execute("DELETE FROM tombstones WHERE collection_id = ?", (collection_id,))


# -- reads (inside the caller's read transaction) ------------------------------------------------


def last_tombstone(conn: sqlite3.Connection) -> int:
    """The newest tombstone seq ever written to the file (0 when none): it never goes back, even
    when the newest tombstones are deleted with their collection."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'tombstones'").fetchone()
    return 0 if row is None else int(row[0])


def deleted_after(conn: sqlite3.Connection, collection_id: int, seq: int) -> tuple[list[int], int] | None:
    """The row ids of the collection's chunks deleted after tombstone ``seq``, in the order of their
    deletion, and :func:`last_tombstone`; None when some of those tombstones were pruned, or the
    collection no longer exists."""
    row = conn.execute("SELECT tombstone_floor FROM collections WHERE id = ?", (collection_id,)).fetchone()
    if row is None or seq < int(row[0]):
        return None
    cursor = conn.execute(
        "SELECT row_id FROM tombstones WHERE collection_id = ? AND seq > ? ORDER BY seq", (collection_id, seq)
    )
    return [r[0] for r in cursor], last_tombstone(conn)


def rows_after(
    conn: sqlite3.Connection, collection_id: int, after: int, block: int
) -> Iterator[tuple[list[int], bytes]]:
    """The collection's rows with id > ``after``, ascending, ``block`` rows at a time: their ids and
    their vectors joined into one blob."""
    if block < 1:
        raise ValueError(f"block must be at least 1, got {block}")
    # By the collection's index: it holds (collection_id, row id), so the rows come in id order
    # without a sort, and another collection's rows are never read.
    cursor = conn.execute(
        "SELECT id, vector FROM chunks WHERE collection_id = ? AND id > ? ORDER BY id", (collection_id, after)
    )
    while rows := cursor.fetchmany(block):
        yield [r[0] for r in rows], b"".join([r[1] for r in rows])


def metadata_between(conn: sqlite3.Connection, low: int, high: int) -> Iterator[tuple[int, str, str, float | None]]:
    """``(row id, key, value, number)`` of the metadata rows of the chunks with ``low < id <= high``,
    of every collection, by row id (then key)."""
    cursor: Iterator[tuple[int, str, str, float | None]] = conn.execute(
        "SELECT chunk, key, value, number FROM metadata WHERE chunk > ? AND chunk <= ? ORDER BY chunk, key",
        (low, high),
    )
    return cursor


# -- schema --------------------------------------------------------------------------------------


def migrate(conn: sqlite3.Connection, from_version: int, to_version: int) -> None:
    """Bring a store file from ``from_version`` (no change log) to ``to_version``: the table, its
    index and trigger, and the collections' floor column, in one transaction; rows deleted before
    left no tombstones. A process that opens the file at the same time waits for it (``BEGIN
    IMMEDIATE``) and then finds it done."""
    with migration(conn, from_version, to_version) as due:
        if due:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(collections)")}
            if "tombstone_floor" not in columns:
                conn.execute(f"ALTER TABLE collections ADD COLUMN {FLOOR_COLUMN}")
            for statement in STATEMENTS:
                conn.execute(statement)
            log.info("change_log_added", schema=to_version)
