"""An in-memory vector store for the fake providers: one dict of chunks per collection."""

from __future__ import annotations

import threading

import attrs

from ..model import (
    ChunkCollection,
    IngestMode,
    IngestResult,
    KnowledgeBaseChunk,
    RetrievalQuery,
    RetrievalResult,
)
from ._data import DEFAULT_DIMENSIONS, cosine, count_words, hash_vector


class MemoryStore:
    """Chunks by collection and chunk id; vectors come with the chunks or from :func:`hash_vector`."""

    def __init__(self) -> None:
        self._collections: dict[str, dict[str, KnowledgeBaseChunk]] = {}
        self._lock = threading.Lock()

    def chunks(self, collection: str) -> list[KnowledgeBaseChunk]:
        """What the collection holds, in insertion order."""
        with self._lock:
            return list(self._collections.get(collection, {}).values())

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
        """Cosine nearest neighbours, filtered by ``query.combined_filter()``, best first."""
        with self._lock:
            stored = dict(self._collections.get(collection, {}))
        if query.vector is not None:
            vector: list[float] = list(query.vector)
            tokens = None
        else:
            text = query.text or ""
            vector = hash_vector(text, self._dimensions(stored))
            tokens = count_words(text)
        where = query.combined_filter()
        scored: list[KnowledgeBaseChunk] = []
        for chunk in stored.values():
            if where is not None and not where.matches(chunk.metadata.as_dict()):
                continue
            similarity = cosine(vector, list(chunk.vector or ()))
            if query.min_similarity is not None and similarity < query.min_similarity:
                continue
            scored.append(attrs.evolve(chunk, similarity=similarity))
        scored.sort(key=lambda c: c.similarity or 0.0, reverse=True)
        return RetrievalResult(chunks=scored[: query.k], input_tokens=tokens)
