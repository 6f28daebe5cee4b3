"""An in-memory vector store for the fake providers: one dict of chunks per collection.

It honours :class:`SearchType`: ``vector`` ranks by cosine similarity; ``keyword`` by term
overlap (the share of the query's distinct words a chunk holds, which is also its similarity;
chunks holding none are left out); ``hybrid`` fuses the two rankings as the backends do
(:func:`..knowledge.fusion.fuse`), with the larger of the two similarities — the shapes real
backends return, with simpler scores.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import attrs

from ..knowledge.fusion import fuse, hybrid_similarity
from ..model import (
    ChunkCollection,
    IngestMode,
    IngestResult,
    KnowledgeBaseChunk,
    RetrievalQuery,
    RetrievalResult,
)
from ..model.enums import SearchType
from ..model.retrieval import Filter
from ._data import DEFAULT_DIMENSIONS, cosine, count_words, hash_vector, words


class MemoryStore:
    """Chunks by collection and chunk id; vectors come with the chunks or from :func:`hash_vector`."""

    def __init__(self) -> None:
        self._collections: dict[str, dict[str, KnowledgeBaseChunk]] = {}
        self._lock = threading.Lock()

    def chunks(self, collection: str) -> list[KnowledgeBaseChunk]:
        """What the collection holds, in insertion order."""
        with self._lock:
            return list(self._collections.get(collection, {}).values())

    def collections(self) -> list[str]:
        """The names of the collections that exist (created by a first ingestion), sorted."""
        with self._lock:
            return sorted(self._collections)

    def stored_ids(self, collection: str, source_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        """The chunk ids stored for each of the source ids; sources without chunks left out."""
        wanted = set(source_ids)
        found: dict[str, set[str]] = {}
        with self._lock:
            for chunk_id, chunk in self._collections.get(collection, {}).items():
                if chunk.source_id in wanted:
                    found.setdefault(chunk.source_id, set()).add(chunk_id)
        return {source: frozenset(ids) for source, ids in found.items()}

    def delete(self, collection: str, source_ids: Sequence[str] | None) -> int:
        """Delete the chunks of these sources (every chunk when None); how many went."""
        with self._lock:
            stored = self._collections.get(collection)
            if stored is None:
                return 0
            if source_ids is None:
                count = len(stored)
                stored.clear()
                return count
            wanted = set(source_ids)
            doomed = [cid for cid, chunk in stored.items() if chunk.source_id in wanted]
            for cid in doomed:
                del stored[cid]
            return len(doomed)

    def drop(self, collection: str) -> bool:
        """Remove the collection itself; whether it existed."""
        with self._lock:
            return self._collections.pop(collection, None) is not None

    def page(self, collection: str, where: Filter | None, offset: int, limit: int) -> list[KnowledgeBaseChunk]:
        """Stored chunks without vectors, ordered by source id then chunk id, ``where`` matched."""
        with self._lock:
            stored = list(self._collections.get(collection, {}).values())
        if where is not None:
            stored = [c for c in stored if where.matches(c.metadata.as_dict())]
        stored.sort(key=lambda c: (c.source_id or "", c.chunk_id))
        return [attrs.evolve(c, vector=None, similarity=None) for c in stored[offset : offset + limit]]

    def _dimensions(self, stored: dict[str, KnowledgeBaseChunk]) -> int:
        for chunk in stored.values():
            if chunk.vector is not None:
                return len(chunk.vector)
        return DEFAULT_DIMENSIONS

    def ingest(self, collection: str, chunks: ChunkCollection, mode: IngestMode) -> IngestResult:
        """Insert (same chunk id replaces), replace by source id, or repopulate the collection."""
        embedded_words = 0
        prepared: list[KnowledgeBaseChunk] = []
        for chunk in chunks:
            if isinstance(chunk, KnowledgeBaseChunk):
                kb_chunk = chunk
            else:
                kb_chunk = KnowledgeBaseChunk(input_text=chunk.input_text, vector=chunk.vector)
            if kb_chunk.vector is None:
                embedded_words += count_words(kb_chunk.input_text)
                kb_chunk = attrs.evolve(kb_chunk, vector=hash_vector(kb_chunk.input_text))
            prepared.append(attrs.evolve(kb_chunk, similarity=None))
        deleted = inserted = unchanged = 0
        with self._lock:
            stored = self._collections.setdefault(collection, {})
            if mode is IngestMode.REPOPULATE:
                deleted += len(stored)
                stored.clear()
            elif mode is IngestMode.REPLACE:
                sources = {c.source_id for c in prepared if c.source_id is not None}
                doomed = [cid for cid, c in stored.items() if c.source_id in sources]
                for cid in doomed:
                    del stored[cid]
                deleted += len(doomed)
            for chunk in prepared:
                previous = stored.get(chunk.chunk_id)
                if previous == chunk:
                    unchanged += 1
                    continue
                if previous is not None:
                    deleted += 1
                stored[chunk.chunk_id] = chunk
                inserted += 1
        return IngestResult(
            inserted=inserted,
            deleted=deleted,
            unchanged=unchanged,
            input_tokens=embedded_words or None,
        )

    def retrieve(self, collection: str, query: RetrievalQuery) -> RetrievalResult:
        """The best chunks for the query's search type (vector when None), filtered by
        ``query.combined_filter()``, best first."""
        with self._lock:
            stored = dict(self._collections.get(collection, {}))
        where = query.combined_filter()
        chunks = [c for c in stored.values() if where is None or where.matches(c.metadata.as_dict())]
        search_type = query.search_type or SearchType.VECTOR
        tokens = None
        vector_scores: dict[str, float] = {}
        if search_type is not SearchType.KEYWORD:
            if query.vector is not None:
                vector: list[float] = list(query.vector)
            else:
                text = query.text or ""
                vector = hash_vector(text, self._dimensions(stored))
                tokens = count_words(text)
            vector_scores = {c.chunk_id: cosine(vector, list(c.vector or ())) for c in chunks}
        keyword_scores: dict[str, float] = {}
        if search_type is not SearchType.VECTOR:
            wanted = set(words(query.text or ""))
            for chunk in chunks:
                overlap = len(wanted & set(words(chunk.input_text)))
                if overlap:
                    keyword_scores[chunk.chunk_id] = overlap / len(wanted)
        vector_ranking, keyword_ranking = (
            sorted(scores.items(), key=lambda pair: -pair[1]) for scores in (vector_scores, keyword_scores)
        )
        found: list[KnowledgeBaseChunk] = []
        for chunk_id, _ in fuse(vector_ranking, keyword_ranking):
            similarity = hybrid_similarity(vector_scores.get(chunk_id), keyword_scores.get(chunk_id))
            if similarity is None or (query.min_similarity is not None and similarity < query.min_similarity):
                continue
            found.append(attrs.evolve(stored[chunk_id], similarity=similarity))
        return RetrievalResult(chunks=found[: query.k], input_tokens=tokens)
