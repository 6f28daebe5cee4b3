"""Keeping each large collection's base (:mod:`.basefile`) up to date, off the query path.

The maintainer writes a new generation of a collection's base when it is due (:func:`plan`):

- *build* — no base yet, or one of the wrong kind (HNSW wanted and a flat one exists, or the
  reverse), other HNSW parameters, more than :data:`~.ann.REBUILD_DEAD_SHARE` of it deleted, or
  tombstones it needs pruned: every live row, read from the store;
- *extend* — rows added since the base (more than :data:`TAIL_ROWS` or :data:`TAIL_SHARE` of it),
  or enough deleted: the current generation read into memory, the new rows added, deletions
  flagged.

Rows are read in blocks, each in its own short read transaction (so no transaction stays open
for the minutes an HNSW build of a million rows takes, and writers are never held up): the base
records the state of the first (its version, highest row id and newest tombstone); rows added
after it wait for the next generation, rows deleted after it are flagged by every reader's catch-up.

One process at a time maintains a collection (``.lock`` in its folder, :mod:`filelock`); another
that finds it held skips the work, and every process loads what the holder wrote. In the
background (:meth:`Maintainer.request`, after each ingestion, or from a query that found the base
out of date) one daemon thread per store does the work once the collection has been quiet for
:data:`QUIET_SECONDS` (or, under a steady stream of ingestions and when a graph may be wanted,
:data:`BUSY_SECONDS` after the first), with faiss limited to one thread so that queries keep the
other cores; :meth:`Maintainer.build` does it now (``genai kb sync``, the end of ``genai kb ingest``). Whether
anything is due is decided from the base's header (:func:`.basefile.header`: row ids and state,
not the vectors), so a check that finds nothing to do costs milliseconds, not a load.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock, Timeout

from genai_commons import get_logger

from . import basefile, products
from .ann import REBUILD_DEAD_SHARE, new_index
from .catchup import columns_of
from .columns import Columns, Values
from .segments import normalise
from .settings import IndexKind

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .basefile import Base, Header
    from .settings import LocalSettings
    from .store import CollectionInfo, KnowledgeStore

log = get_logger(__name__)

#: A collection of at least this many rows gets a flat base (below the HNSW threshold), so that
#: a new process maps its vectors instead of reading them from the store.
FLAT_ROWS = 50_000
#: Extend the base when this many rows were added since (or deleted from it)...
TAIL_ROWS = 5_000
#: ... or this share of the base, whichever is more.
TAIL_SHARE = 0.05
#: Background work waits until the collection had no ingestion from this process for this long...
QUIET_SECONDS = 2.0
#: ... or, under a steady stream of ingestions, this long after the first one it has not served:
#: a graph is worth building meanwhile (a reader searches the rows outside it exactly), a flat
#: base is not (an ``index = "exact"`` store waits for a quiet moment, or the end of the process):
#: it is rewritten whole each time and only spares a new process reading rows from the store. At
#: a million chunks those rewrites took a tenth of the ingestion's time.
BUSY_SECONDS = 30.0
#: Rows read from the store per read transaction.
BLOCK_ROWS = 16_384


@dataclass(frozen=True)
class Built:
    """A generation ready to write."""

    graph: Any
    matrix: Any
    ids: Any
    live: Any
    columns: Columns
    values: Values


@dataclass(frozen=True)
class Plan:
    kind: str
    #: Extend the current base rather than build a new one.
    extend: bool


def wanted_kind(settings: LocalSettings, rows: int, existing: str | None = None) -> str | None:
    """The base a collection of ``rows`` live rows should have (None: none). A process that does
    not search by graph itself (``index = "exact"``) keeps a graph that another process built."""
    if settings.index is IndexKind.HNSW or (settings.index is IndexKind.AUTO and rows > settings.ann_threshold):
        return basefile.HNSW
    if existing == basefile.HNSW and settings.index is IndexKind.EXACT:
        return basefile.HNSW
    return basefile.FLAT if rows >= FLAT_ROWS else None


class Maintainer:
    """The maintenance of one store's collection bases; ``written(uid)`` is called after each new generation."""

    def __init__(self, store: KnowledgeStore, settings: LocalSettings, root: Path, written: Callable[[str], None]):
        self.store = store
        self.settings = settings
        self.root = root
        self.written = written
        #: Collection name -> (first unserved request, when it is due), monotonic seconds.
        self._requests: dict[str, tuple[float, float]] = {}
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        #: Collections this process ingested into whose base is not brought up to date yet: done at exit.
        self._owed: set[str] = set()

    # -- scheduling ------------------------------------------------------------------------

    def request(self, name: str, *, now: bool = False) -> None:
        """Check the collection in the background once it has been quiet for a moment (``now``:
        as soon as the thread is free, unless an ingestion asked to wait)."""
        with self._wake:
            if self._closed:
                return
            moment = time.monotonic()
            if now:
                self._requests.setdefault(name, (moment, moment))
            else:
                first = self._requests.get(name, (moment, moment))[0]
                due = moment + QUIET_SECONDS
                if self.settings.index is not IndexKind.EXACT:  # see BUSY_SECONDS
                    due = min(due, first + BUSY_SECONDS)
                self._requests[name] = (first, due)
                self._owed.add(name)
                _MAINTAINERS.add(self)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="genai-local-index", daemon=True)
                self._thread.start()
            self._wake.notify()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._requests.clear()
            self._owed.clear()
            self._wake.notify()

    def finish(self) -> None:
        """Bring the bases this process owes up to date now (at exit: an ingestion's index is
        built before its process ends, not left to the next query)."""
        with self._wake:
            owed, self._owed = sorted(self._owed), set()
        for name in owed:
            log.info("index_finishing_before_exit", collection=name)
            try:
                self.build(name)
            except KeyboardInterrupt:
                log.warning("index_left_for_later", collection=name)
                return
            except Exception as exc:
                log.warning("index_maintenance_failed", collection=name, error=str(exc))

    def _work(self) -> None:
        try:
            faiss = products.faiss()
            faiss.omp_set_num_threads(1)  # this thread's parallel regions only: queries keep the cores
        except ImportError:  # pragma: no cover - faiss is a dependency
            return
        while True:
            with self._wake:
                while not self._closed and not self._due():
                    self._wake.wait(timeout=self._wait_time())
                if self._closed:
                    return
                name = self._due()
                assert name is not None
                del self._requests[name]
            try:
                self.build(name, wait=False)
                with self._wake:
                    if name not in self._requests:
                        self._owed.discard(name)
            except Exception as exc:
                log.warning("index_maintenance_failed", collection=name, error=str(exc))

    def _due(self) -> str | None:
        now = time.monotonic()
        return next((n for n, (_, due) in self._requests.items() if due <= now), None)

    def _wait_time(self) -> float | None:
        if not self._requests:
            return None
        return max(0.01, min(due for _, due in self._requests.values()) - time.monotonic())

    # -- the work --------------------------------------------------------------------------

    def build(self, name: str, *, wait: bool = True, force: bool = False) -> bool:
        """Bring the collection's base up to date now; whether a generation was written. With
        ``wait`` False, give up at once when another process holds the collection's lock."""
        if not self.store.exists:
            return False
        with self.store.reading() as reader:
            info = None if reader is None else reader.collection(name)
            rows = 0 if reader is None or info is None else reader.count(info.id)
        if info is None:
            return False
        folder = basefile.folder(self.root, info.uid)
        if wanted_kind(self.settings, rows) is None and not folder.is_dir():
            return False
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(folder / ".lock"), timeout=-1 if wait else 0):
                return self._build(info, force=force)
        except Timeout:
            log.debug("index_maintained_elsewhere", collection=name)
            return False

    def _build(self, info: CollectionInfo, *, force: bool) -> bool:
        dimension = info.dimension or 0
        head = basefile.header(self.root, info.uid, dimension)
        with self.store.reading() as reader:
            assert reader is not None
            fresh = reader.collection(info.name)
            if fresh is None or fresh.uid != info.uid:
                return False
            info = fresh
            rows = reader.count(info.id)
            state = {
                "version": info.version,
                "last_row": reader.last_row(info.id),
                "last_tombstone": reader.last_tombstone(),
            }
            deleted = None if head is None else reader.deleted_after(info.id, head.last_tombstone)
        plan = self.plan(head, deleted, rows, force=force)
        if plan is None or dimension == 0:
            return False
        started = time.perf_counter()
        # the lock is held: the generation read is the one the header described
        base = basefile.load(self.root, info.uid, dimension, writable=True) if plan.extend else None
        if base is not None and deleted is not None:
            built = self._extended(base, deleted[0], info, state["last_row"])
        else:
            built = self._fresh(plan.kind, info, rows, state["last_row"])
        del base  # its memory, before the next generation is read by anyone
        state.update(dimension=dimension, m=self.settings.hnsw_m, ef_construction=self.settings.hnsw_ef_construction)
        basefile.write(
            self.root, info.uid, kind=plan.kind, graph=built.graph, matrix=built.matrix, ids=built.ids,
            live=built.live, columns=built.columns, values=built.values, state=state,
        )  # fmt: skip
        live = built.live
        log.info(
            "index_maintained",
            collection=info.name,
            kind=plan.kind,
            extended=plan.extend,
            rows=int(live.sum()),
            seconds=round(time.perf_counter() - started, 2),
        )
        self.written(info.uid)
        return True

    def plan(
        self, head: Header | None, deleted: tuple[list[int], int] | None, rows: int, *, force: bool
    ) -> Plan | None:
        """What the collection's base needs (None: nothing), from the header of the current one,
        the rows deleted since it and the collection's live rows."""
        kind = wanted_kind(self.settings, rows, None if head is None else head.kind)
        if kind is None:
            return None
        if head is None or deleted is None or head.kind != kind or force:
            return Plan(kind, extend=False)
        if kind == basefile.HNSW and (head.m, head.ef_construction) != (
            self.settings.hnsw_m,
            self.settings.hnsw_ef_construction,
        ):
            return Plan(kind, extend=False)
        size = head.ids.size
        live_before = int(head.live.sum())
        live_now = int((head.live & ~np.isin(head.ids, np.asarray(deleted[0], dtype=np.int64))).sum())
        if size - live_now > REBUILD_DEAD_SHARE * max(size, 1):
            return Plan(kind, extend=False)
        added = max(0, rows - live_now)
        due = max(TAIL_ROWS, TAIL_SHARE * size)
        return Plan(kind, extend=True) if added + live_before - live_now >= due else None

    def _fresh(self, kind: str, info: CollectionInfo, rows: int, last_row: int) -> Built:
        dimension = info.dimension or 0
        values = Values()
        if kind == basefile.HNSW:
            graph = new_index(dimension, m=self.settings.hnsw_m, ef_construction=self.settings.hnsw_ef_construction)
            ids, columns = self._add_rows(graph.add, info, 0, last_row, values)
            matrix = basefile.vectors_of(graph)
        else:
            graph = None
            matrix = np.empty((rows, dimension), dtype=np.float32)  # rows at the first read: an upper bound
            filled = [0]

            def fill(block: Any) -> None:
                matrix[filled[0] : filled[0] + len(block)] = block
                filled[0] += len(block)

            ids, columns = self._add_rows(fill, info, 0, last_row, values)
            matrix = matrix[: filled[0]]
        return Built(graph, matrix, ids, np.ones(ids.size, dtype=bool), columns, values)

    def _extended(self, base: Base, deleted: list[int], info: CollectionInfo, last_row: int) -> Built:
        segment = base.segment.without(np.asarray(deleted, dtype=np.int64))
        live = np.ones(len(segment), dtype=bool) if segment.live is None else segment.live
        values = base.values
        if base.kind == basefile.HNSW:
            graph = segment.graph  # read into this load's own memory: growing it disturbs no reader
            ids, columns = self._add_rows(graph.add, info, base.last_row, last_row, values)
            matrix = basefile.vectors_of(graph)
        else:
            graph = None
            blocks: list[Any] = []
            ids, columns = self._add_rows(blocks.append, info, base.last_row, last_row, values)
            matrix = np.concatenate([segment.matrix, *blocks]) if blocks else segment.matrix
        return Built(
            graph,
            matrix,
            np.concatenate([segment.ids, ids]),
            np.concatenate([live, np.ones(ids.size, dtype=bool)]),
            Columns.concat([segment.columns, columns]),
            values,
        )

    def _add_rows(
        self, add: Callable[[Any], object], info: CollectionInfo, after: int, last_row: int, values: Values
    ) -> tuple[Any, Columns]:
        """Hand the collection's rows with after < id <= last_row to ``add`` (unit vectors), block
        by block, each block read in its own read transaction; their ids and metadata columns."""
        dimension = info.dimension or 0
        all_ids: list[Any] = []
        parts: list[Columns] = []
        position = after
        while position < last_row:
            with self.store.reading() as reader:
                assert reader is not None
                block = next(iter(reader.rows_after(info.id, position, block=BLOCK_ROWS)), None)
                if block is None:
                    break
                ids = np.asarray(block[0], dtype=np.int64)
                keep = ids <= last_row
                ids = ids[keep]
                if ids.size:
                    parts.append(columns_of(reader, ids, values))
            if ids.size == 0:
                break
            vectors = np.frombuffer(block[1], dtype="<f4").reshape(len(block[0]), dimension)[keep]
            add(normalise(vectors))
            all_ids.append(ids)
            position = int(block[0][-1])
        ids_out = np.concatenate(all_ids) if all_ids else np.empty(0, dtype=np.int64)
        return ids_out, Columns.concat(parts) if parts else Columns.empty(0)


_MAINTAINERS: weakref.WeakSet[Maintainer] = weakref.WeakSet()


@atexit.register
def _finish_at_exit() -> None:
    for maintainer in list(_MAINTAINERS):
        maintainer.finish()
