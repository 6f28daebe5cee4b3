"""Bringing a collection's in-memory snapshot up to the store: loading it, then reading only what changed.

- :func:`load` builds a snapshot from the collection's base (when there is one: its rows come from
  the memory-mapped index file) or from the store alone, then catches up.
- :func:`catch_up` reads what changed since a snapshot's state: the rows deleted since its newest
  tombstone (flagged dead in the segments that hold them) and the rows added since its highest row
  id (one new segment per block read, with their metadata as columns). It reads nothing else, so a
  reader following a busy writer pays for the writer's new rows only. When the tombstones it needs
  were pruned it answers None and the caller loads again.

Each runs inside the caller's read transaction, so the snapshot matches one state of the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from .columns import Columns, Values
from .segments import Segment, Snapshot, normalise

if TYPE_CHECKING:
    from .basefile import Base
    from .segments import Ids
    from .store import CollectionInfo, Reader


def load(reader: Reader, info: CollectionInfo, base: Base | None) -> Snapshot:
    """The collection's snapshot at the reader's state: from ``base`` when it is usable, else from the store."""
    dimension = info.dimension or 0
    if base is not None and base.version <= info.version and base.segment.matrix.shape[1] == dimension:
        start = Snapshot(
            uid=info.uid,
            version=base.version,
            dimension=dimension,
            last_row=base.last_row,
            last_tombstone=base.last_tombstone,
            values=base.values,
            segments=(base.segment,),
            generation=base.generation,
        )
        caught_up = catch_up(start, reader, info)
        if caught_up is not None:
            return caught_up
    return _from_store(reader, info)


def catch_up(snapshot: Snapshot, reader: Reader, info: CollectionInfo) -> Snapshot | None:
    """``snapshot`` brought to the reader's state by reading what changed; None when it cannot be
    (tombstones it needs were pruned, or the collection's dimension changed)."""
    if snapshot.version == info.version:
        return snapshot
    if snapshot.uid != info.uid or snapshot.dimension != (info.dimension or 0):
        return None
    deleted = reader.deleted_after(info.id, snapshot.last_tombstone)
    if deleted is None:
        return None
    gone, last_tombstone = deleted
    current = snapshot.without(np.asarray(gone, dtype=np.int64))
    last_row = snapshot.last_row
    for ids, blob in reader.rows_after(info.id, snapshot.last_row):
        segment = _segment(reader, ids, blob, snapshot.dimension, current.values)
        current = current.appended(segment)
        last_row = max(last_row, ids[-1])
    return current.at(version=info.version, last_row=last_row, last_tombstone=last_tombstone)


def _from_store(reader: Reader, info: CollectionInfo) -> Snapshot:
    """Every row of the collection read from the store, into one preallocated matrix."""
    dimension = info.dimension or 0
    last_tombstone = reader.last_tombstone()
    count = reader.count(info.id)
    ids = np.empty(count, dtype=np.int64)
    matrix = np.empty((count, dimension), dtype=np.float32)
    filled = 0
    for block_ids, blob in reader.rows_after(info.id, 0):
        end = filled + len(block_ids)
        ids[filled:end] = block_ids
        matrix[filled:end] = normalise(np.frombuffer(blob, dtype="<f4").reshape(len(block_ids), dimension))
        filled = end
    ids, matrix = ids[:filled], matrix[:filled]
    values = Values()
    segment = Segment(ids=ids, matrix=matrix, columns=columns_of(reader, ids, values))
    return Snapshot(
        uid=info.uid,
        version=info.version,
        dimension=dimension,
        last_row=int(ids[-1]) if ids.size else 0,
        last_tombstone=last_tombstone,
        values=values,
        segments=(segment,) if ids.size else (),
    )


def _segment(reader: Reader, ids: list[int], blob: bytes, dimension: int, values: Values) -> Segment:
    row_ids = np.asarray(ids, dtype=np.int64)
    vectors = normalise(np.frombuffer(blob, dtype="<f4").reshape(len(ids), dimension))
    return Segment(ids=row_ids, matrix=vectors, columns=columns_of(reader, row_ids, values))


def columns_of(reader: Reader, ids: Ids, values: Values) -> Columns:
    """The metadata of these rows (ascending row ids) as columns."""
    if ids.size == 0:
        return Columns.empty(0)
    return Columns.build(int(ids.size), _entries(reader, ids), values)


def _entries(reader: Reader, ids: Ids) -> Iterator[tuple[int, str, str, float | None]]:
    """(position, key, value, number) for each metadata row of these rows; the store answers the
    row ids in a range (other collections' rows among them are skipped)."""
    wanted = ids.tolist()
    position = 0
    size = len(wanted)
    for row, key, value, number in reader.metadata_between(wanted[0] - 1, wanted[-1]):
        while position < size and wanted[position] < row:
            position += 1
        if position == size:
            return
        if wanted[position] == row:
            yield position, key, value, number
