"""A collection in memory: immutable segments of rows, searched exactly and, for the first, through a graph.

A :class:`Snapshot` is a collection at one version: a tuple of :class:`Segment` objects, each a
block of rows (row ids ascending, unit float32 vectors, the rows' metadata as
:class:`~.columns.Columns`, and which rows are still live). Nothing is ever changed in place:

- rows added by any process become a new segment at the end (:meth:`Snapshot.appended`), joined
  to the segment before it while the two hold at most :data:`MERGE_ROWS` rows. That segment's
  matrix is a prefix of a preallocated block (:class:`Room`) and the new rows are written after
  it, so a catch-up copies the new rows only: a snapshot still using the shorter prefix never
  sees the rows written after its end, and only one segment may extend a prefix (a claim);
- rows deleted flag themselves dead in a new live mask of the segment holding them
  (:meth:`Segment.without`); the vectors stay until the segment is rebuilt;
- the first segment may be a *base* read from the index file the maintainer writes
  (:mod:`.basefile`): its matrix is then a view of the memory-mapped vectors of a faiss index
  (one copy of the vectors, shared with the page cache) and, for HNSW, its graph.

So readers running on an older snapshot are never disturbed, and a new snapshot shares every
unchanged array with the one before.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from . import products

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from genai_commons import Filter

    from .columns import Columns, Values

    Matrix = NDArray[np.float32]
    Ids = NDArray[np.int64]
    Mask = NDArray[np.bool_]

#: Segments at the end are joined while the joined segment holds at most this many rows (the
#: size of a :class:`Room`: 12 MB at 384 dimensions, its pages touched only when written).
MERGE_ROWS = 8_192
#: Score every row of a segment, then pick, when a mask keeps more than this share of it.
SCORE_ALL_SHARE = 0.2


def normalise(matrix: Matrix) -> Matrix:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(matrix / norms, dtype=np.float32)


@dataclass(frozen=True, eq=False)
class Segment:
    """A block of a collection's rows."""

    ids: Ids
    matrix: Matrix
    columns: Columns
    #: Which rows are still live; None when every row is.
    live: Mask | None = None
    #: The HNSW graph over this segment's rows (a faiss index; position = row), or None.
    graph: Any = None
    #: Keeps the memory ``matrix`` views alive (the faiss index it was read from), or None.
    owner: Any = None
    #: The block whose prefix ``matrix`` is, with room for rows after it; None when it has none.
    room: Room | None = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def live_count(self) -> int:
        return len(self) if self.live is None else int(self.live.sum())

    def positions(self, row_ids: Ids) -> tuple[Ids, Ids]:
        """The positions in this segment of those of ``row_ids`` it holds, and which of
        ``row_ids`` (their indexes) those are."""
        if len(self) == 0 or row_ids.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        where = np.minimum(np.searchsorted(self.ids, row_ids), len(self) - 1)
        found = np.flatnonzero(self.ids[where] == row_ids)
        return where[found].astype(np.int64), found.astype(np.int64)

    def without(self, row_ids: Ids) -> Segment:
        """This segment with these rows flagged dead (itself when it holds none of them)."""
        positions, _ = self.positions(row_ids)
        if positions.size == 0:
            return self
        live = np.ones(len(self), dtype=bool) if self.live is None else self.live.copy()
        live[positions] = False
        return replace(self, live=live)

    def mask(self, filter: Filter | None, values: Values) -> Mask | None:
        """The rows that are live and match ``filter``; None when that is every row."""
        if filter is None:
            return self.live
        matched = self.columns.mask(filter, values)
        return matched if self.live is None else matched & self.live

    def compacted(self) -> Segment:
        """The live rows only, in memory of their own (no graph)."""
        if self.live is None and self.graph is None and self.owner is None:
            return self
        keep = np.arange(len(self)) if self.live is None else np.flatnonzero(self.live)
        return Segment(
            ids=self.ids[keep], matrix=np.ascontiguousarray(self.matrix[keep]), columns=self.columns.take(keep)
        )

    def joined(self, after: Segment) -> Segment:
        """This segment's rows followed by ``after``'s (newer rows), the vectors written after its
        own in its room when it has one and nobody wrote there yet, else into a new room (the
        caller keeps the two within :data:`MERGE_ROWS` rows)."""
        from .columns import Columns  # noqa: PLC0415 - columns imports this module's types only

        before, room = self, self.room
        matrix = None if room is None else room.extend(len(before), after.matrix)
        if matrix is None:
            before, room = self.compacted(), Room(MERGE_ROWS, self.matrix.shape[1])
            room.extend(0, before.matrix)
            matrix = room.extend(len(before), after.matrix)
            assert matrix is not None
        live = None
        if before.live is not None or after.live is not None:
            live = np.concatenate([before.live_mask(), after.live_mask()])
        return Segment(
            ids=np.concatenate([before.ids, after.ids]),
            matrix=matrix,
            columns=Columns.concat([before.columns, after.columns]),
            live=live,
            room=room,
        )

    def live_mask(self) -> Mask:
        """Which rows are live, as a mask even when every row is."""
        return np.ones(len(self), dtype=np.bool_) if self.live is None else self.live

    def top_k(self, q: Matrix, k: int, mask: Mask | None) -> tuple[Ids, Matrix]:
        """Exact nearest neighbours among the rows ``mask`` keeps (every row when None): row ids
        and cosine similarities, most similar first."""
        if mask is None:
            return _best(self.ids, products.scores(self.matrix, q), k)
        kept = np.flatnonzero(mask)
        if kept.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        # Scoring every row (on every thread), then picking, beats scoring a large subset where it lies.
        if kept.size > SCORE_ALL_SHARE * len(self):
            scores = products.scores(self.matrix, q)[kept]
        else:
            scores = products.scores_at(self.matrix, q, kept)
        return _best(self.ids[kept], scores, k)


def _best(ids: Ids, scores: Matrix, k: int) -> tuple[Ids, Matrix]:
    if scores.shape[0] == 0 or k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    best = np.argpartition(-scores, k - 1)[:k] if k < scores.shape[0] else np.arange(scores.shape[0])
    best = best[np.argsort(-scores[best], kind="stable")]
    return ids[best], scores[best]


def merge_results(parts: list[tuple[Ids, Matrix]], k: int) -> tuple[Ids, Matrix]:
    """The best ``k`` of several rankings (each most similar first)."""
    parts = [part for part in parts if part[0].size]
    if not parts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    if len(parts) == 1:
        return parts[0][0][:k], parts[0][1][:k]
    return _best(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), k)


class Room:
    """A preallocated block of rows that successive segments fill, each a longer prefix of it."""

    def __init__(self, capacity: int, dimension: int) -> None:
        self.matrix: Matrix = np.empty((capacity, dimension), dtype=np.float32)
        self.used = 0
        self._lock = threading.Lock()

    def extend(self, start: int, rows: Matrix) -> Matrix | None:
        """The prefix of ``start + len(rows)`` rows, ``rows`` written at ``start``; None when
        another segment already wrote there or there is no room."""
        end = start + rows.shape[0]
        with self._lock:
            if self.used != start or end > self.matrix.shape[0]:
                return None
            self.used = end
        self.matrix[start:end] = rows
        return self.matrix[:end]


@dataclass(frozen=True, eq=False)
class Snapshot:
    """A collection's rows at one version of the store."""

    uid: str
    version: int
    dimension: int
    #: The highest row id seen (rows added later have higher ids).
    last_row: int
    #: The newest tombstone seen (rows deleted later have newer ones).
    last_tombstone: int
    #: The metadata values' codes, shared by every segment's columns.
    values: Values
    segments: tuple[Segment, ...]
    #: The base's generation (0: no base; segments built from the store alone).
    generation: int = 0

    def __len__(self) -> int:
        return sum(segment.live_count for segment in self.segments)

    @property
    def rows(self) -> int:
        """Rows held, live or dead."""
        return sum(len(segment) for segment in self.segments)

    @property
    def graph(self) -> Segment | None:
        """The segment with an HNSW graph (the base), if any."""
        first = self.segments[0] if self.segments else None
        return first if first is not None and first.graph is not None else None

    def masks(self, filter: Filter | None) -> list[Mask | None]:
        return [segment.mask(filter, self.values) for segment in self.segments]

    def top_k(self, q: Matrix, k: int, masks: list[Mask | None] | None = None, *, start: int = 0) -> tuple[Ids, Matrix]:
        """Exact search over the segments from ``start`` on, under their masks."""
        chosen = masks if masks is not None else [segment.live for segment in self.segments]
        return merge_results(
            [segment.top_k(q, k, mask) for segment, mask in zip(self.segments[start:], chosen[start:], strict=True)], k
        )

    def cosines(self, row_ids: Ids, q: Matrix) -> tuple[Ids, Matrix]:
        """The cosine similarities of those of ``row_ids`` this snapshot holds live."""
        found_ids: list[Ids] = []
        found_scores: list[Matrix] = []
        for segment in self.segments:
            positions, _ = segment.positions(row_ids)
            if segment.live is not None:
                positions = positions[segment.live[positions]]
            if positions.size:
                found_ids.append(segment.ids[positions])
                found_scores.append(products.scores(segment.matrix[positions], q))
        if not found_ids:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        return np.concatenate(found_ids), np.concatenate(found_scores)

    def without(self, row_ids: Ids) -> Snapshot:
        if row_ids.size == 0:
            return self
        ordered = np.unique(row_ids)
        return replace(self, segments=tuple(segment.without(ordered) for segment in self.segments))

    def appended(self, segment: Segment) -> Snapshot:
        """This snapshot with ``segment`` (rows newer than every row held) at the end, joined to
        the small segment before it."""
        segments = [*self.segments, segment] if len(segment) else list(self.segments)
        protected = 1 if self.generation else 0  # the base is never merged into
        while len(segments) - protected >= 2:
            last, before = segments[-1], segments[-2]
            if before.graph is not None or before.owner is not None:
                break
            if len(last) + len(before) > MERGE_ROWS:
                break
            segments[-2:] = [before.joined(last)]
        return replace(self, segments=tuple(segments))

    def at(self, *, version: int, last_row: int, last_tombstone: int) -> Snapshot:
        return replace(self, version=version, last_row=last_row, last_tombstone=last_tombstone)
