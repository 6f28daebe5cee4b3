"""Answering a retrieval: the collection's snapshot, exact or HNSW search, the chunks found.

1. In one read transaction: the collection's row (NotFoundError when there is none) and its
   in-memory snapshot (:mod:`.segments`) brought up to the collection's version by reading only
   what changed (:mod:`.catchup`); the first query of a process loads the collection's base
   (:mod:`.basefile`, memory-mapped) and reads the rows written since from the store.
2. The search: a metadata filter is evaluated in memory, as boolean masks over each segment's
   columns (:mod:`.columns`). Exact search scores every segment (numpy); HNSW (when ``index =
   "hnsw"``, or ``"auto"`` and the collection holds more than ``ann_threshold`` chunks, and the
   base has a graph) walks the base's graph with the filter and the deleted rows as a selector and
   searches the rows written since the base exactly, then merges. A filter that keeps few rows is
   searched exactly; a walk that finds fewer results than there are falls back to exact.
3. The chunks of the best row ids, read back in the same read transaction, so that they are the
   chunks the search saw whatever other threads and processes write meanwhile (the store reads
   and writes through separate connections; WAL lets them work at once).

Nothing is built or saved on a query: when a collection's base is missing or out of date, the
query asks the maintainer (:mod:`.maintain`) to bring it up to date in the background and answers
from what it has; when another process (or the maintainer) writes a new generation, a background
thread loads it and swaps it in. A snapshot newer than the query's read transaction (swapped in
by that thread meanwhile) is never used for it: the query starts a new transaction.

That is a ``vector`` search (``query.search_type`` None or ``vector``). A ``keyword`` search runs
one FTS5 query instead (:func:`.keywords.ranking`: BM25 under the same filter, as SQL), reading no
vectors. A ``hybrid`` search runs both for the best :func:`~genai_commons.knowledge.fusion.candidates`
of each and fuses the two rankings (:func:`~genai_commons.knowledge.fusion.fuse`, the fusion every
client-side backend shares);
each chunk's similarity is the larger of its cosine similarity and its keyword similarity.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genai_commons import NotFoundError, RetrievalQuery, RetrievalResult, SearchType, ValidationError, get_logger
from genai_commons.knowledge.fusion import candidates, fuse, hybrid_similarity, keyword_similarity

from . import ann, basefile, catchup, keywords
from .maintain import TAIL_ROWS, TAIL_SHARE, Maintainer, wanted_kind
from .search import query_vector
from .segments import merge_results
from .settings import IndexKind, LocalSettings

if TYPE_CHECKING:
    from genai_commons import Filter

    from .segments import Ids, Matrix, Snapshot
    from .store import CollectionInfo, KnowledgeStore, Reader

log = get_logger(__name__)

#: Seconds between two looks at a collection's ``CURRENT`` file for a generation written by another process.
GENERATION_CHECK_SECONDS = 0.5
#: Seconds between two requests for maintenance from queries of one collection.
REQUEST_SECONDS = 5.0
#: A reader asks for maintenance when the rows changed since the base are this many times what
#: makes the maintainer extend it.
READER_LAG = 4
#: Read transactions a query tries before it gives up on a snapshot not newer than its own.
ATTEMPTS = 5


class _Newer(Exception):
    """The cached snapshot is newer than this read transaction: start another."""


@dataclass
class _State:
    """What a searcher holds for one collection (by uid)."""

    snapshot: Snapshot | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    checked: float = 0.0
    generation: int = 0
    loading: bool = False
    requested: float = float("-inf")


class Searcher:
    """The in-memory search structures of one store: a snapshot per collection, and the maintainer of their bases."""

    def __init__(self, store: KnowledgeStore, settings: LocalSettings, provider: str = "local") -> None:
        self.store = store
        self.settings = settings
        self.provider = provider
        self._states: dict[str, _State] = {}
        self._guard = threading.Lock()
        self._common = keywords.CommonWords()
        self.maintainer = Maintainer(store, settings, self.index_directory, self._written)

    @property
    def index_directory(self) -> Path:
        return self.store.path.with_name(self.store.path.name + "-index")

    def close(self) -> None:
        self.maintainer.close()

    def forget(self, info: CollectionInfo) -> None:
        """Drop a collection's cached structures and its base."""
        with self._guard:
            self._states.pop(info.uid, None)
        self._common.forget(info.id)
        basefile.remove(self.index_directory, info.uid)
        basefile.remove_legacy(self.index_directory, info.uid)

    def changed(self, collection: str) -> None:
        """This process wrote to the collection: bring its base up to date once writing stops."""
        self.maintainer.request(collection)

    def build_index(self, collection: str, *, force: bool = False) -> bool:
        """Bring the collection's base (HNSW graph or flat vectors) up to date now; whether one was written."""
        return self.maintainer.build(collection, force=force)

    def _state(self, uid: str) -> _State:
        with self._guard:
            return self._states.setdefault(uid, _State())

    def _written(self, uid: str) -> None:
        self._state(uid).checked = 0.0  # the next query looks for the new generation at once

    # -- answering -------------------------------------------------------------------------

    def retrieve(self, collection: str, query: RetrievalQuery) -> RetrievalResult:
        search_type = query.search_type or SearchType.VECTOR
        if search_type is not SearchType.KEYWORD and query.vector is None:
            raise ValidationError(
                f"the local store searches by vector for a {search_type.value} search: give the knowledge base an "
                "embedding model so that the host embeds the query text, pass RetrievalQuery(vector=...), or "
                "search by keywords (search_type='keyword')"
            )
        if search_type is not SearchType.VECTOR and query.text is None:
            raise ValidationError(f"a {search_type.value} search needs the query's text: give RetrievalQuery(text=...)")
        for attempt in range(ATTEMPTS):
            try:
                return self._retrieve(collection, query, search_type, fresh=attempt == ATTEMPTS - 1)
            except _Newer:
                continue
        raise AssertionError("unreachable: the last attempt builds its own snapshot")  # pragma: no cover

    def _retrieve(
        self, collection: str, query: RetrievalQuery, search_type: SearchType, *, fresh: bool
    ) -> RetrievalResult:
        # One read transaction throughout: the chunks read back are those the search saw.
        with self.store.reading() as reader:
            info = None if reader is None else reader.collection(collection)
            if info is None or reader is None:
                raise NotFoundError(
                    f"the local knowledge base has no collection {collection!r} (in {self.store.path}); "
                    f"create it with `genai kb ingest {collection} PATH`, or list the collections with `genai kb list`",
                    provider=self.provider,
                )
            if search_type is SearchType.KEYWORD:
                return self._keyword(reader, info, query)
            assert query.vector is not None
            q = query_vector(query.vector, info.dimension, collection)
            snapshot = self._snapshot(reader, info, fresh=fresh)
            if len(snapshot) == 0:
                return RetrievalResult(chunks=())
            if search_type is SearchType.HYBRID:
                return self._hybrid(reader, info, snapshot, q, query)
            ids, scores = self._search(snapshot, q, query.k, query.combined_filter())
            if query.min_similarity is not None:
                keep = scores >= query.min_similarity
                ids, scores = ids[keep], scores[keep]
            return RetrievalResult(chunks=reader.chunks_by_row(ids.tolist(), np.clip(scores, -1.0, 1.0).tolist()))

    def _keyword_ranking(
        self, reader: Reader, info: CollectionInfo, text: str, where: Filter | None, limit: int
    ) -> tuple[list[int], list[float]]:
        return keywords.ranking(reader.conn, info.id, text, where, limit, version=info.version, common=self._common)

    def _keyword(self, reader: Reader, info: CollectionInfo, query: RetrievalQuery) -> RetrievalResult:
        """BM25 over the collection's chunks, with no vector read."""
        assert query.text is not None
        ids, scores = self._keyword_ranking(reader, info, query.text, query.combined_filter(), query.k)
        similarities = [keyword_similarity(score) for score in scores]
        kept = [
            (row, similarity)
            for row, similarity in zip(ids, similarities, strict=True)
            if query.min_similarity is None or similarity >= query.min_similarity
        ]
        return RetrievalResult(chunks=reader.chunks_by_row([r for r, _ in kept], [s for _, s in kept]))

    def _hybrid(
        self, reader: Reader, info: CollectionInfo, snapshot: Snapshot, q: Matrix, query: RetrievalQuery
    ) -> RetrievalResult:
        """The vector and the keyword rankings, each of the best ``candidates(k)`` under the filter,
        fused (:func:`~genai_commons.knowledge.fusion.fuse`)."""
        assert query.text is not None
        where = query.combined_filter()
        wanted = candidates(query.k)
        vector_ids, vector_scores = self._search(snapshot, q, wanted, where)
        keyword_ids, keyword_scores = self._keyword_ranking(reader, info, query.text, where, wanted)
        cosines = dict(zip(vector_ids.tolist(), vector_scores.tolist(), strict=True))
        missing = np.asarray([row for row in keyword_ids if row not in cosines], dtype=np.int64)
        found_ids, found_scores = snapshot.cosines(missing, q)
        cosines.update(zip(found_ids.tolist(), found_scores.tolist(), strict=True))
        keyword = {row: keyword_similarity(score) for row, score in zip(keyword_ids, keyword_scores, strict=True)}
        rows: list[int] = []
        similarities: list[float] = []
        vector_ranking = list(zip(vector_ids.tolist(), vector_scores.tolist(), strict=True))
        for row, _ in fuse(vector_ranking, list(zip(keyword_ids, keyword_scores, strict=True))):
            cosine = cosines.get(row)
            similarity = hybrid_similarity(None if cosine is None else min(max(cosine, -1.0), 1.0), keyword.get(row))
            if similarity is None or (query.min_similarity is not None and similarity < query.min_similarity):
                continue
            rows.append(row)
            similarities.append(similarity)
            if len(rows) == query.k:
                break
        return RetrievalResult(chunks=reader.chunks_by_row(rows, similarities))

    # -- the snapshot ----------------------------------------------------------------------

    def _snapshot(self, reader: Reader, info: CollectionInfo, *, fresh: bool) -> Snapshot:
        """The collection's snapshot at this read transaction's state."""
        state = self._state(info.uid)
        with state.lock:  # one catch-up at a time; the others wait for it rather than repeat it
            current = state.snapshot
            if current is not None and current.version > info.version:
                if not fresh:
                    raise _Newer
                current = None  # the last attempt: a snapshot of its own, not kept
            generation = self._generation(state, info.uid)
            snapshot = None if current is None else catchup.catch_up(current, reader, info)
            if snapshot is None:
                base = basefile.load(self.index_directory, info.uid, info.dimension or 0) if generation else None
                if base is not None and base.version > info.version and not fresh:
                    raise _Newer
                snapshot = catchup.load(reader, info, base)
            elif generation > snapshot.generation and not state.loading:
                state.loading = True
                threading.Thread(
                    target=self._load_base, args=(info.name, info.uid, state), name="genai-local-load", daemon=True
                ).start()
            if not fresh or state.snapshot is None:
                state.snapshot = snapshot
        if time.monotonic() - state.requested >= REQUEST_SECONDS and self._maintenance_due(snapshot):
            state.requested = time.monotonic()
            self.maintainer.request(info.name, now=True)
        return snapshot

    def _generation(self, state: _State, uid: str) -> int:
        """The generation of the collection's base on disk, looked at every so often."""
        now = time.monotonic()
        if now - state.checked >= GENERATION_CHECK_SECONDS:
            state.generation = basefile.current(self.index_directory, uid)
            state.checked = now
        return state.generation

    def _load_base(self, name: str, uid: str, state: _State) -> None:
        """Load the newest generation of a collection's base and swap it in (a background thread)."""
        try:
            with self.store.reading(background=True) as reader:
                info = None if reader is None else reader.collection(name)
                if reader is None or info is None or info.uid != uid:
                    return
                base = basefile.load(self.index_directory, uid, info.dimension or 0)
                if base is None or base.version > info.version:
                    return
                snapshot = catchup.load(reader, info, base)
            with state.lock:
                state.snapshot = snapshot
            log.debug("index_loaded", collection=name, generation=base.generation, rows=len(snapshot))
        except Exception as exc:
            log.warning("index_load_failed", collection=name, error=str(exc))
        finally:
            state.loading = False

    def _maintenance_due(self, snapshot: Snapshot) -> bool:
        graph = snapshot.graph is not None
        kind = wanted_kind(self.settings, len(snapshot), basefile.HNSW if graph else None)
        if kind is None:
            return False
        if snapshot.generation == 0 or (kind == basefile.HNSW) != graph:
            return True
        base = snapshot.segments[0]
        changed = snapshot.rows - len(base) + (len(base) - base.live_count)
        # The writing process maintains the base once it stops writing; a reader steps in only
        # when the base lags far behind (a writer that never stops, or one that exited).
        return changed >= READER_LAG * max(TAIL_ROWS, TAIL_SHARE * len(base))

    # -- the search ------------------------------------------------------------------------

    def _use_hnsw(self, snapshot: Snapshot) -> bool:
        kind = self.settings.index
        return kind is IndexKind.HNSW or (kind is IndexKind.AUTO and len(snapshot) > self.settings.ann_threshold)

    def _search(self, snapshot: Snapshot, q: Matrix, k: int, where: Filter | None) -> tuple[Ids, Matrix]:
        masks = None if where is None else snapshot.masks(where)
        graph = snapshot.graph if self._use_hnsw(snapshot) else None
        if graph is None:
            return snapshot.top_k(q, k, masks)
        mask = graph.live if masks is None else masks[0]
        rows = len(graph)
        kept = rows if mask is None else int(np.count_nonzero(mask))
        if masks is not None and kept <= self.settings.exact_filter_limit:
            return snapshot.top_k(q, k, masks)
        ef = ann.ef_search(self.settings.hnsw_ef_search, k, rows, kept / max(rows, 1))
        ids, scores = ann.search(graph.graph, graph.ids, q, k, ef=ef, mask=mask)
        if ids.size < min(k, kept):  # the walk ran out (a narrow filter, many deleted rows)
            ids, scores = graph.top_k(q, k, mask)
        return merge_results([(ids, scores), snapshot.top_k(q, k, masks, start=1)], k)
