"""The approximate index: faiss HNSW over a collection's unit vectors (inner product = cosine).

Why faiss-cpu: binary wheels for every platform (hnswlib publishes only a source distribution
that needs a C++ compiler), maintained, and its HNSW search takes an ``IDSelector`` so deleted
rows and metadata filters are excluded during the graph walk, not after it.

faiss's HNSW cannot remove vectors, so the index keeps ``live`` flags: a row deleted from the
store is flagged dead and excluded from every search; when a quarter of the index is dead it is
rebuilt. Positions in the faiss index map to store row ids through ``rowids``; row ids are never
reused, so a flagged row never comes back. :meth:`HnswIndex.sync` brings the index to a
:class:`~.search.Snapshot` (adds the new rows, flags the deleted ones), which is how writes by
this process or any other keep it correct.

The index is saved next to the database (``<database>-hnsw/<collection uid>.npz``) so that a new
process does not rebuild it; whatever the file holds is synced against the store before use.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genai_commons import get_logger

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from .search import Ids, Matrix, Snapshot

log = get_logger(__name__)

#: Rebuild when this share of the index is deleted rows.
REBUILD_DEAD_SHARE = 0.25
#: Save again after this many changes since the last save (or 5 % of the index, if more).
SAVE_AFTER_CHANGES = 1000


def _faiss() -> Any:
    import faiss  # noqa: PLC0415 - heavy; only when an approximate index is used

    return faiss


class HnswIndex:
    """One collection's HNSW index; not thread-safe (the caller holds the collection's lock)."""

    def __init__(self, dimension: int, *, m: int = 32, ef_construction: int = 64) -> None:
        faiss = _faiss()
        self.dimension = dimension
        self.m = m
        self.ef_construction = ef_construction
        self.index = faiss.IndexHNSWFlat(dimension, m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = ef_construction
        #: Position in the index -> store row id.
        self.rowids: Ids = np.empty(0, dtype=np.int64)
        #: Position in the index -> whether the row still exists.
        self.live: NDArray[np.bool_] = np.empty(0, dtype=bool)
        self.version = -1
        self.unsaved = 0
        self._live_bits: NDArray[np.uint8] | None = None

    def __len__(self) -> int:
        return int(self.live.sum())

    @property
    def dead_share(self) -> float:
        total = self.live.shape[0]
        return 0.0 if total == 0 else 1.0 - float(self.live.sum()) / total

    # -- keeping up with the store ---------------------------------------------------------

    def add(self, row_ids: Ids, vectors: Matrix) -> None:
        if row_ids.size:
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
            self.rowids = np.concatenate([self.rowids, row_ids])
            self.live = np.concatenate([self.live, np.ones(row_ids.size, dtype=bool)])
            self._live_bits = None
            self.unsaved += int(row_ids.size)

    def sync(self, snapshot: Snapshot) -> int:
        """Flag the rows the snapshot no longer holds, add the ones it holds and the index does not;
        how many rows changed."""
        if snapshot.version <= self.version:  # versions only grow: this index is as new or newer
            return 0
        alive = np.isin(self.rowids, snapshot.ids, assume_unique=True)
        gone = int((self.live & ~alive).sum())
        if gone:
            self.live &= alive
            self._live_bits = None
            self.unsaved += gone
        new = np.isin(snapshot.ids, self.rowids, assume_unique=True, invert=True)
        self.add(snapshot.ids[new], snapshot.matrix[new])
        self.version = snapshot.version
        return gone + int(new.sum())

    @classmethod
    def build(cls, snapshot: Snapshot, *, m: int, ef_construction: int) -> HnswIndex:
        index = cls(snapshot.matrix.shape[1], m=m, ef_construction=ef_construction)
        index.add(snapshot.ids, snapshot.matrix)
        index.version = snapshot.version
        log.info("hnsw_index_built", rows=len(snapshot), dimension=index.dimension, m=m)
        return index

    # -- search ----------------------------------------------------------------------------

    def search(self, q: Matrix, k: int, *, ef_search: int, allowed: Ids | None = None) -> tuple[Ids, Matrix]:
        """Approximate nearest neighbours among the live rows (and among ``allowed`` row ids when
        given): row ids and cosine similarities, most similar first; fewer than ``k`` when the
        graph walk found fewer."""
        faiss = _faiss()
        total = self.live.shape[0]
        if total == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        bits: NDArray[np.uint8] | None = None
        if allowed is not None:
            mask = self.live & np.isin(self.rowids, allowed, assume_unique=True)
            bits = np.packbits(mask, bitorder="little")
        elif not bool(self.live.all()):
            if self._live_bits is None:
                self._live_bits = np.packbits(self.live, bitorder="little")
            bits = self._live_bits
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(ef_search, k)
        if bits is not None:
            selector = faiss.IDSelectorBitmap(total, faiss.swig_ptr(bits))
            params.sel = selector
        scores, positions = self.index.search(q.reshape(1, -1), min(k, total), params=params)
        found = positions[0] >= 0
        return self.rowids[positions[0][found]], scores[0][found]

    # -- persistence -----------------------------------------------------------------------

    def due_for_save(self) -> bool:
        return self.unsaved >= max(SAVE_AFTER_CHANGES, int(self.live.shape[0]) // 20)

    def save(self, path: Path, uid: str) -> None:
        """Write the index atomically (a temporary file, then a rename)."""
        faiss = _faiss()
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with temporary.open("wb") as file:
            np.savez(
                file,
                uid=np.array(uid),
                index=faiss.serialize_index(self.index),
                rowids=self.rowids,
                params=np.array([self.dimension, self.m, self.ef_construction], dtype=np.int64),
            )
        os.replace(temporary, path)
        self.unsaved = 0
        log.debug("hnsw_index_saved", path=str(path), rows=int(self.rowids.size))

    @classmethod
    def load(cls, path: Path, uid: str, dimension: int) -> HnswIndex | None:
        """The index saved at ``path`` for this collection, or None (no file, another collection's,
        another dimension, or unreadable). Every row is taken as live until :meth:`sync`."""
        if not path.is_file():
            return None
        faiss = _faiss()
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["uid"]) != uid:
                    return None
                stored_dimension, m, ef_construction = (int(x) for x in data["params"])
                if stored_dimension != dimension:
                    return None
                index = cls.__new__(cls)
                index.index = faiss.deserialize_index(data["index"])
                index.rowids = np.asarray(data["rowids"], dtype=np.int64)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            log.warning("hnsw_index_unreadable", path=str(path), error=str(exc))
            return None
        if index.index.ntotal != index.rowids.size or index.index.d != dimension:
            log.warning("hnsw_index_unreadable", path=str(path), error="size mismatch")
            return None
        index.dimension, index.m, index.ef_construction = dimension, m, ef_construction
        index.live = np.ones(index.rowids.size, dtype=bool)
        index.version = -1
        index.unsaved = 0
        index._live_bits = None
        return index
