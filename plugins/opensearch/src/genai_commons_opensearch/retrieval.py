"""Retrieval from a collection's index, by search type.

* ``vector`` (and a query naming none): one ``knn`` search, the filter inside it, the minimum
  similarity as ``min_score``.
* ``keyword``: one BM25 search (``match`` on the text field, the filter as a ``filter`` clause).
  A hit's similarity is :func:`~genai_commons.knowledge.fusion.keyword_similarity` of its score
  times 2.2: Lucene's BM25 leaves out the ``k1 + 1`` factor of the textbook formula that SQLite
  FTS5 (the local store) keeps, so a match gets about the same similarity on both backends.
* ``hybrid``: both searches, each for the best :func:`~genai_commons.knowledge.fusion.candidates`
  under the filter, fused in the client by :func:`~genai_commons.knowledge.fusion.fuse` (the
  fusion the local store uses too: scores normalised and combined as OpenSearch's normalization
  processor does). OpenSearch's own ``hybrid``
  query needs a search pipeline with a normalization processor (neural-search plugin, and a
  pipeline created on the cluster); fusing here needs neither, and works alike on every cluster and
  on Amazon OpenSearch Serverless. A chunk's similarity is the larger of its cosine similarity
  (when the k-NN search found it) and its keyword similarity (when the BM25 search did).

``min_similarity`` applies to those similarities, after the fusion for ``hybrid``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from genai_commons import KnowledgeBaseChunk, RetrievalQuery, SearchType
from genai_commons.knowledge.fusion import candidates, fuse, hybrid_similarity, keyword_similarity

from .documents import similarity_from_score, to_chunk
from .queries import keyword_search, knn_search

#: Lucene's BM25 is the textbook score divided by ``k1 + 1`` (k1 = 1.2).
LUCENE_BM25_FACTOR = 2.2
#: Tolerance of the minimum similarity against the scores' float rounding.
SIMILARITY_SLACK = 1e-6

#: Runs one search body against the collection's index and returns its hits.
Search = Callable[[dict[str, Any]], Sequence[dict[str, Any]]]


def retrieve(search: Search, query: RetrievalQuery) -> list[KnowledgeBaseChunk]:
    """The chunks for the query's search type, best first, at most ``k``."""
    search_type = query.search_type or SearchType.VECTOR
    if search_type is SearchType.VECTOR:
        found = [_chunk(hit, vector=True) for hit in search(knn_search(query))]
        found.sort(key=lambda c: -(c.similarity or 0.0))
        return _above(found, query)[: query.k]
    if search_type is SearchType.KEYWORD:
        return _above([_chunk(hit, vector=False) for hit in search(keyword_search(query, query.k))], query)
    size = candidates(query.k)
    by_vector = {hit["_source"]["chunk_id"]: hit for hit in search(knn_search(query, size))}
    by_keyword = {hit["_source"]["chunk_id"]: hit for hit in search(keyword_search(query, size))}
    vector_order = sorted(by_vector, key=lambda chunk_id: -float(by_vector[chunk_id]["_score"]))
    fused: list[KnowledgeBaseChunk] = []
    vector_ranking = [(chunk_id, float(by_vector[chunk_id]["_score"])) for chunk_id in vector_order]
    keyword_ranking = [(chunk_id, float(hit["_score"])) for chunk_id, hit in by_keyword.items()]
    for chunk_id, _ in fuse(vector_ranking, keyword_ranking):
        vector_hit, keyword_hit = by_vector.get(chunk_id), by_keyword.get(chunk_id)
        similarity = hybrid_similarity(
            None if vector_hit is None else similarity_from_score(float(vector_hit["_score"])),
            None if keyword_hit is None else _keyword_similarity(keyword_hit),
        )
        hit = vector_hit if vector_hit is not None else keyword_hit
        assert hit is not None
        fused.append(to_chunk(hit["_source"], similarity=similarity))
    return _above(fused, query)[: query.k]


def _keyword_similarity(hit: dict[str, Any]) -> float:
    return keyword_similarity(LUCENE_BM25_FACTOR * float(hit["_score"]))


def _chunk(hit: dict[str, Any], *, vector: bool) -> KnowledgeBaseChunk:
    similarity = similarity_from_score(float(hit["_score"])) if vector else _keyword_similarity(hit)
    return to_chunk(hit["_source"], similarity=similarity)


def _above(chunks: list[KnowledgeBaseChunk], query: RetrievalQuery) -> list[KnowledgeBaseChunk]:
    least = query.min_similarity
    if least is None:
        return chunks
    return [c for c in chunks if c.similarity is not None and c.similarity >= least - SIMILARITY_SLACK]
