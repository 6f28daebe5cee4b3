"""Removing many chunks at once without holding the write lock for long.

Deleting a chunk costs its keyword-index entry, its metadata rows and its tombstone: about 100 µs,
so a million in one transaction would keep every other writer waiting for minutes. Each removal
here is therefore cut into transactions of at most ``TRANSACTION_ROWS`` deletions (the bound
ingestion keeps, :mod:`.ingestion`); a removal that fits in one is one transaction, atomic, as it
always was.

- :func:`delete_sources` deletes the chunks of a list of sources, in their order: a reader may
  see some sources gone and others not yet, and a source whose chunks straddle two transactions
  partly gone.
- :func:`empty` (every chunk) and :func:`drop` (the collection) of a larger collection first
  *retire* it, in one short transaction: its keyword index goes, its row is renamed out of reach
  (:data:`RETIRED` and its uid), and for :func:`empty` a new collection of the same name, model
  and dimension takes its place. From that moment every reader and writer sees the result; the
  retired chunks are then deleted in steps (:func:`purge`) and its row last. A process killed
  in between leaves a retired collection that no one sees, purged by the next :func:`empty` or
  :func:`drop` of the store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from . import changes, ingestion, keywords
from .catalog import SELECT_COLLECTION, CollectionInfo, collection_info

if TYPE_CHECKING:
    import sqlite3

#: A function that opens one write transaction.
Writing = Callable[[], AbstractContextManager["sqlite3.Connection"]]

#: The name a retired collection takes (followed by its uid): no name a user gives starts so.
RETIRED = "\x00retired:"
_AFTER_RETIRED = RETIRED[:-1] + chr(ord(RETIRED[-1]) + 1)
#: Source ids per ``IN (…)`` list.
_BATCH = 500


def retired(name: str) -> bool:
    return name.startswith(RETIRED)


def delete_sources(writing: Writing, name: str, source_ids: Sequence[str]) -> int:
    """Delete the chunks of these sources; how many went."""
    unique = sorted(set(source_ids))
    pending = [unique[i : i + _BATCH] for i in range(0, len(unique), _BATCH)]
    deleted = 0
    while pending:
        with writing() as conn:
            row = conn.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
            if row is None:
                return deleted
            step = 0
            while pending and step < ingestion.TRANSACTION_ROWS:
                batch, room = pending[0], ingestion.TRANSACTION_ROWS - step
                gone = conn.execute(
                    "DELETE FROM chunks WHERE id IN (SELECT id FROM chunks "  # noqa: S608 - placeholders only
                    f"WHERE collection_id = ? AND source_id IN ({', '.join('?' * len(batch))}) LIMIT ?)",
                    [row[0], *batch, room],
                ).rowcount
                step += gone
                if gone < room:  # the batch's chunks are all gone
                    pending.pop(0)
            if step:
                _changed(conn, row[0])
            deleted += step
    return deleted


def empty(writing: Writing, name: str) -> tuple[int, CollectionInfo | None]:
    """Delete every chunk of the collection; how many went, and the collection it retired to do so
    (None when it deleted them in one transaction, keeping the collection)."""
    with writing() as conn:
        info, count = _collection(conn, name)
        if info is None or count == 0:
            return 0, None
        if count <= ingestion.TRANSACTION_ROWS:
            conn.execute("DELETE FROM chunks WHERE collection_id = ?", (info.id,))
            _changed(conn, info.id)
            return count, None
        _retire(conn, info)
        conn.execute(
            "INSERT INTO collections (name, uid, dimension, embedding_model, created, version) "
            "SELECT ?, ?, dimension, embedding_model, ?, version + 1 FROM collections WHERE id = ?",
            (name, uuid.uuid4().hex, time.time(), info.id),
        )
        (new_id,) = conn.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        keywords.create(conn, new_id)
    purge(writing)
    return count, info


def drop(writing: Writing, name: str) -> CollectionInfo | None:
    """Delete the collection and its chunks; the collection that was, or None."""
    with writing() as conn:
        info, count = _collection(conn, name)
        if info is None:
            return None
        if count <= ingestion.TRANSACTION_ROWS:
            _delete_collection(conn, info.id)
            return info
        _retire(conn, info)
    purge(writing)
    return info


def purge(writing: Writing) -> None:
    """Delete the retired collections of the store, ``TRANSACTION_ROWS`` chunks per transaction."""
    while True:
        with writing() as conn:
            row = conn.execute(  # names of the prefix sort between it and the prefix's successor
                "SELECT id FROM collections WHERE name >= ? AND name < ? LIMIT 1", (RETIRED, _AFTER_RETIRED)
            ).fetchone()
            if row is None:
                return
            gone = conn.execute(
                "DELETE FROM chunks WHERE id IN (SELECT id FROM chunks WHERE collection_id = ? LIMIT ?)",
                (row[0], ingestion.TRANSACTION_ROWS),
            ).rowcount
            changes.forget(conn, row[0])  # no one reads a retired collection's change log
            if gone < ingestion.TRANSACTION_ROWS:
                _delete_collection(conn, row[0])


def _collection(conn: sqlite3.Connection, name: str) -> tuple[CollectionInfo | None, int]:
    row = conn.execute(f"{SELECT_COLLECTION} WHERE name = ?", (name,)).fetchone()
    if row is None or retired(name):
        return None, 0
    info = collection_info(row)
    (count,) = conn.execute("SELECT COUNT(*) FROM chunks WHERE collection_id = ?", (info.id,)).fetchone()
    return info, int(count)


def _retire(conn: sqlite3.Connection, info: CollectionInfo) -> None:
    keywords.drop(conn, info.id)
    conn.execute("UPDATE collections SET name = ? WHERE id = ?", (RETIRED + info.uid, info.id))


def _delete_collection(conn: sqlite3.Connection, collection_id: int) -> None:
    keywords.drop(conn, collection_id)
    conn.execute("DELETE FROM collections WHERE id = ?", (collection_id,))  # the chunks cascade, unlogged
    changes.forget(conn, collection_id)


def _changed(conn: sqlite3.Connection, collection_id: int) -> None:
    conn.execute("UPDATE collections SET version = version + 1 WHERE id = ?", (collection_id,))
    changes.prune(conn, collection_id)
