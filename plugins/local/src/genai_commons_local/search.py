"""Exact cosine search with numpy over an in-memory snapshot of a collection's vectors.

A :class:`Snapshot` holds a collection's row ids (ascending) and its unit-length vectors as one
float32 matrix, at one version of the collection. It is immutable: catching up with a newer
version (:func:`refresh`) builds a new snapshot, reading only the rows added since and dropping
the rows deleted, so searches running on the old one are never disturbed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from genai_commons import ValidationError
from genai_commons.model.retrieval import And, Eq, Filter, In, Not, Or, Range

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from .filters import Leaf
    from .store import CollectionInfo, Reader

    Matrix = NDArray[np.float32]
    Ids = NDArray[np.int64]


def normalise(matrix: Matrix) -> Matrix:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(matrix / norms, dtype=np.float32)


def query_vector(vector: Sequence[float], dimension: int | None, collection: str) -> Matrix:
    """The query as a unit float32 vector, checked against the collection's dimension."""
    q = np.asarray(vector, dtype=np.float32)
    if dimension is not None and q.shape != (dimension,):
        raise ValidationError(
            f"the query vector has {q.size} dimensions but collection {collection!r} holds {dimension}-dimension "
            "vectors: embed the query with the collection's embedding model"
        )
    if not np.isfinite(q).all():
        raise ValidationError("the query vector has NaN or infinite numbers")
    return normalise(q)


@dataclass(frozen=True, eq=False)
class Snapshot:
    """A collection's vectors at one version."""

    uid: str
    version: int
    ids: Ids
    matrix: Matrix

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def positions(self, row_ids: Ids) -> Ids:
        """The positions of these row ids in the snapshot (ids it does not hold are left out)."""
        if len(self) == 0 or row_ids.size == 0:
            return np.empty(0, dtype=np.int64)
        where: Ids = np.minimum(np.searchsorted(self.ids, row_ids), len(self) - 1)
        found: Ids = where[self.ids[where] == row_ids]
        return found

    def top_k(self, q: Matrix, k: int, positions: Ids | None = None) -> tuple[Ids, Matrix]:
        """Exact nearest neighbours (among ``positions`` when given): row ids and cosine
        similarities, most similar first."""
        if positions is None:
            scores = self.matrix @ q
        elif positions.size * 5 > len(self):  # scoring every row beats copying a large subset
            scores = (self.matrix @ q)[positions]
        else:
            scores = self.matrix[positions] @ q
        if scores.shape[0] == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        best = np.argpartition(-scores, k - 1)[:k] if k < scores.shape[0] else np.arange(scores.shape[0])
        best = best[np.argsort(-scores[best], kind="stable")]
        ids = self.ids[best] if positions is None else self.ids[positions[best]]
        return ids, scores[best]


def empty(uid: str, version: int, dimension: int | None) -> Snapshot:
    return Snapshot(
        uid=uid,
        version=version,
        ids=np.empty(0, dtype=np.int64),
        matrix=np.empty((0, dimension or 0), dtype=np.float32),
    )


def refresh(previous: Snapshot | None, reader: Reader, info: CollectionInfo) -> Snapshot:
    """The collection's snapshot at its current version: ``previous`` when it is current, else
    built from ``previous`` plus the rows added since (or from scratch)."""
    if previous is not None and previous.uid == info.uid and previous.version == info.version:
        return previous
    live = np.asarray(reader.row_ids(info.id), dtype=np.int64)
    dimension = info.dimension or 0
    if previous is None or previous.uid != info.uid or previous.matrix.shape[1] != dimension:
        previous = empty(info.uid, info.version, dimension)
    keep = np.isin(previous.ids, live, assume_unique=True)
    added = np.setdiff1d(live, previous.ids, assume_unique=True)
    ids, blob = reader.vectors(info.id, added.tolist())
    vectors = np.frombuffer(blob, dtype="<f4").reshape(len(ids), dimension)
    all_ids = np.concatenate([previous.ids[keep], np.asarray(ids, dtype=np.int64)])
    matrix = np.concatenate([previous.matrix[keep], normalise(vectors)]) if len(ids) else previous.matrix[keep]
    if all_ids.size > 1 and not bool((all_ids[1:] > all_ids[:-1]).all()):
        order = np.argsort(all_ids, kind="stable")
        all_ids, matrix = all_ids[order], matrix[order]
    return Snapshot(uid=info.uid, version=info.version, ids=all_ids, matrix=np.ascontiguousarray(matrix))


def matching(filter: Filter, universe: Ids, leaf_ids: Callable[[Leaf], Iterable[tuple[int]]]) -> Ids:
    """The row ids of ``universe`` (ascending, unique) whose metadata matches ``filter``, from the
    row ids each leaf matches (``leaf_ids``, one SQL query a leaf), combined with set operations."""
    match filter:
        case Eq() | In() | Range():
            rows = np.fromiter((r[0] for r in leaf_ids(filter)), dtype=np.int64)
            found: Ids = np.intersect1d(universe, rows, assume_unique=True)
            return found
        case And(filters=filters):
            for part in filters:
                universe = matching(part, universe, leaf_ids)
            return universe
        case Or(filters=filters):
            union: Ids = np.empty(0, dtype=np.int64)
            for part in filters:
                union = np.union1d(union, matching(part, universe, leaf_ids))
            return union
        case Not(filter=inner):
            rest: Ids = np.setdiff1d(universe, matching(inner, universe, leaf_ids), assume_unique=True)
            return rest
    raise ValidationError(f"not a metadata filter: {filter!r}; use Eq, In, Range, And, Or or Not")
