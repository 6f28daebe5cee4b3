"""Answering a retrieval: the collection's snapshot, exact or HNSW search, the chunks found.

1. In one read transaction: the collection's row (NotFoundError when there is none), its snapshot
   brought up to the collection's version, and — when the query has a filter — the row ids whose
   metadata matches: each leaf of the filter an SQL query, combined over the snapshot's row ids.
2. The search: exact (numpy over the whole matrix, or over the rows the filter kept) or HNSW
   (when ``index = "hnsw"``, or ``"auto"`` and the collection holds more than ``ann_threshold``
   chunks). A filter that keeps few rows is searched exactly; a wider one walks the graph with the
   filter as a selector, and falls back to exact when the walk finds fewer results than there are.
3. The chunks of the best row ids, read back in the same read transaction, so that they are the
   chunks the search saw whatever other threads and processes write meanwhile (the store reads
   and writes through separate connections; WAL lets them work at once).

That is a ``vector`` search (``query.search_type`` None or ``vector``). A ``keyword`` search runs
one FTS5 query instead (:func:`.keywords.ranking`: BM25 under the same filter, as SQL), reading no
vectors. A ``hybrid`` search runs both for the best :func:`~genai_commons.knowledge.fusion.candidates`
of each and fuses the two rankings (:func:`~genai_commons.knowledge.fusion.fuse`, the fusion every
client-side backend shares);
each chunk's similarity is the larger of its cosine similarity and its keyword similarity.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genai_commons import NotFoundError, RetrievalQuery, RetrievalResult, SearchType, ValidationError, get_logger
from genai_commons.knowledge.fusion import candidates, fuse, hybrid_similarity, keyword_similarity

from . import keywords
from .ann import REBUILD_DEAD_SHARE, HnswIndex
from .search import Snapshot, matching, query_vector, refresh
from .settings import IndexKind, LocalSettings

if TYPE_CHECKING:
    from genai_commons import Filter

    from .search import Ids, Matrix
    from .store import CollectionInfo, KnowledgeStore, Reader

log = get_logger(__name__)

#: A filter keeping at most this share of the collection (or ``exact_filter_limit`` rows) is searched exactly.
EXACT_SUBSET_SHARE = 0.1


class Searcher:
    """The in-memory search structures of one store: a snapshot and maybe an HNSW index per collection."""

    def __init__(self, store: KnowledgeStore, settings: LocalSettings, provider: str = "local") -> None:
        self.store = store
        self.settings = settings
        self.provider = provider
        self._snapshots: dict[str, Snapshot] = {}
        self._indexes: dict[str, HnswIndex] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._common = keywords.CommonWords()

    @property
    def index_directory(self) -> Path:
        return self.store.path.with_name(self.store.path.name + "-hnsw")

    def index_path(self, uid: str) -> Path:
        return self.index_directory / f"{uid}.npz"

    def forget(self, info: CollectionInfo) -> None:
        """Drop a collection's cached structures and its saved index."""
        with self._guard:
            self._snapshots.pop(info.uid, None)
            self._indexes.pop(info.uid, None)
        self._common.forget(info.id)
        self.index_path(info.uid).unlink(missing_ok=True)

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
            snapshot = self._snapshot(reader, info)
            if len(snapshot) == 0:
                return RetrievalResult(chunks=())
            if search_type is SearchType.HYBRID:
                return self._hybrid(reader, info, snapshot, q, query)
            where = query.combined_filter()
            allowed = None if where is None else matching(where, snapshot.ids, reader.leaf_ids)
            ids, scores = self._search(snapshot, q, query.k, allowed)
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
        allowed = None if where is None else matching(where, snapshot.ids, reader.leaf_ids)
        vector_ids, vector_scores = self._search(snapshot, q, wanted, allowed)
        keyword_ids, keyword_scores = self._keyword_ranking(reader, info, query.text, where, wanted)
        cosines = dict(zip(vector_ids.tolist(), vector_scores.tolist(), strict=True))
        missing = np.asarray([row for row in keyword_ids if row not in cosines], dtype=np.int64)
        positions = snapshot.positions(missing)
        cosines.update(zip(snapshot.ids[positions].tolist(), (snapshot.matrix[positions] @ q).tolist(), strict=True))
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

    def _snapshot(self, reader: Reader, info: CollectionInfo) -> Snapshot:
        previous = self._snapshots.get(info.uid)
        snapshot = refresh(previous, reader, info)
        if snapshot is not previous:
            with self._guard:
                current = self._snapshots.get(info.uid)
                if current is None or current.version <= snapshot.version:
                    self._snapshots[info.uid] = snapshot
        return snapshot

    def _lock(self, uid: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(uid, threading.Lock())

    def _use_hnsw(self, snapshot: Snapshot) -> bool:
        kind = self.settings.index
        return kind is IndexKind.HNSW or (kind is IndexKind.AUTO and len(snapshot) > self.settings.ann_threshold)

    def _search(self, snapshot: Snapshot, q: Matrix, k: int, allowed: Ids | None) -> tuple[Ids, Matrix]:
        positions = None if allowed is None else snapshot.positions(allowed)
        if not self._use_hnsw(snapshot):
            return snapshot.top_k(q, k, positions)
        if positions is not None and positions.size <= max(
            self.settings.exact_filter_limit, EXACT_SUBSET_SHARE * len(snapshot)
        ):
            return snapshot.top_k(q, k, positions)
        with self._lock(snapshot.uid):
            index = self._hnsw(snapshot)
            if index.version > snapshot.version:  # newer than this read transaction: it may hold rows we cannot see
                return snapshot.top_k(q, k, positions)
            ids, scores = index.search(q, k, ef_search=self.settings.hnsw_ef_search, allowed=allowed)
        wanted = min(k, len(snapshot) if positions is None else int(positions.size))
        if ids.size < wanted:  # the graph walk ran out (a narrow filter, many deleted rows)
            return snapshot.top_k(q, k, positions)
        return ids, scores

    def _hnsw(self, snapshot: Snapshot) -> HnswIndex:
        """The collection's HNSW index, brought up to the snapshot (loaded, built or synced)."""
        dimension = snapshot.matrix.shape[1]
        path = self.index_path(snapshot.uid)
        index = self._indexes.get(snapshot.uid)
        if index is None or index.dimension != dimension:
            index = HnswIndex.load(path, snapshot.uid, dimension)
        if index is not None:
            index.sync(snapshot)
        built = index is None or index.dead_share > REBUILD_DEAD_SHARE
        if built:
            index = HnswIndex.build(
                snapshot, m=self.settings.hnsw_m, ef_construction=self.settings.hnsw_ef_construction
            )
        assert index is not None
        if built or index.due_for_save():
            try:
                index.save(path, snapshot.uid)
            except OSError as exc:  # the index still works from memory
                log.warning("hnsw_index_not_saved", path=str(path), error=str(exc))
        with self._guard:
            self._indexes[snapshot.uid] = index
        return index
