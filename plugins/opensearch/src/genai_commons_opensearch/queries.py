"""The portable metadata filter and the plugin's searches as OpenSearch query DSL; pure functions.

Every key and value travels as data: an exact match is a ``term`` (or ``terms``) on the indexed
pair (see :func:`~genai_commons_opensearch.documents.pair`), a range is a ``range`` on the numeric
copy inside a ``nested`` query that also pins the key with a ``term``. No key ever becomes a field
name, and nothing is ever written into a query string or a script, so ``*``, ``?``, quotes,
``OR`` or a JSON fragment in a key or a value match only themselves.

The same translation serves the filter of a k-NN query (efficient filtering: the filter runs
inside the nearest-neighbour search, so ``k`` hits come back when ``k`` documents match), the
filter of a keyword search (a ``bool`` query: BM25 ``match`` on the text, the filter as a
non-scoring ``filter`` clause) and the query of list and delete requests. The query's text goes
into ``match`` as data: it is analysed into words, never parsed as query syntax.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from genai_commons import And, Eq, Filter, In, Not, Or, Range, RetrievalQuery

from .documents import finite, pair, score_from_similarity, vector_values
from .mapping import NUMBERS_FIELD, PAIRS_FIELD, SOURCE_FIELDS, TEXT_FIELD, VECTOR_FIELD

MATCH_ALL: dict[str, Any] = {"match_all": {}}
MATCH_NONE: dict[str, Any] = {"match_none": {}}
#: Order of listed chunks and of the pages of id scans (chunk ids are unique in a collection).
#: A chunk without a source object sorts as source ``""``, first, as ``None`` does in the core's
#: stores; a custom ``missing`` value (not ``_first``) keeps ``null`` out of ``search_after``.
CHUNK_ORDER: list[dict[str, Any]] = [
    {"source_id": {"order": "asc", "missing": ""}},
    {"chunk_id": {"order": "asc"}},
]


def filter_query(where: Filter | None) -> dict[str, Any]:
    """The query DSL for a portable filter (``match_all`` for None)."""
    if where is None:
        return MATCH_ALL
    return _translate(where)


def _translate(where: Filter) -> dict[str, Any]:
    if isinstance(where, Eq):
        return {"term": {PAIRS_FIELD: pair(where.key, where.value)}}
    if isinstance(where, In):
        return {"terms": {PAIRS_FIELD: [pair(where.key, value) for value in dict.fromkeys(where.values)]}}
    if isinstance(where, Range):
        return _range(where)
    if isinstance(where, And):
        if not where.filters:
            return MATCH_ALL
        return {"bool": {"filter": [_translate(f) for f in where.filters]}}
    if isinstance(where, Or):
        return {"bool": {"should": [_translate(f) for f in where.filters], "minimum_should_match": 1}}
    if isinstance(where, Not):
        return {"bool": {"must_not": [_translate(where.filter)]}}
    raise TypeError(f"not a portable filter: {where!r}")


def _range(where: Range) -> dict[str, Any]:
    """A numeric range on one key, inside a ``nested`` query that pins the key. Infinite bounds
    become the largest double, as infinite values are stored; a NaN bound matches nothing, as in
    :meth:`Range.matches`."""
    bounds: dict[str, float] = {}
    for name in ("gt", "gte", "lt", "lte"):
        value = getattr(where, name)
        if value is None:
            continue
        if math.isnan(value):
            return MATCH_NONE
        bounds[name] = finite(value)
    clauses = [{"term": {f"{NUMBERS_FIELD}.key": where.key}}, {"range": {f"{NUMBERS_FIELD}.value": bounds}}]
    return {"nested": {"path": NUMBERS_FIELD, "query": {"bool": {"filter": clauses}}}}


def sources_query(source_ids: Sequence[str] | None) -> dict[str, Any]:
    """Every chunk of these source objects (every chunk at all when None)."""
    if source_ids is None:
        return MATCH_ALL
    return {"terms": {"source_id": list(dict.fromkeys(source_ids))}}


def knn_search(query: RetrievalQuery, size: int | None = None) -> dict[str, Any]:
    """The search body of a vector retrieval: a ``knn`` query with the filter inside, ``size``
    hits (``k`` by default), and ``min_score`` for a minimum similarity (cosine ``s`` is score
    ``(1 + s) / 2``) unless ``size`` is given (the candidates of a hybrid search: their minimum
    applies after the fusion)."""
    if query.vector is None:
        raise ValueError("a k-NN search needs the query's vector")
    hits = query.k if size is None else size
    clause: dict[str, Any] = {"vector": vector_values(query.vector), "k": hits}
    where = query.combined_filter()
    if where is not None:
        clause["filter"] = filter_query(where)
    body: dict[str, Any] = {
        "size": hits,
        "_source": list(SOURCE_FIELDS),
        "query": {"knn": {VECTOR_FIELD: clause}},
    }
    if query.min_similarity is not None and size is None:
        body["min_score"] = score_from_similarity(query.min_similarity)
    return body


def keyword_search(query: RetrievalQuery, size: int) -> dict[str, Any]:
    """The search body of a keyword retrieval: BM25 ``match`` of the query's text on the text field
    (any of its words; more of them, and rarer ones, rank higher), the filter as a ``filter``
    clause, ``size`` hits."""
    if query.text is None:
        raise ValueError("a keyword search needs the query's text")
    clauses: dict[str, Any] = {"must": [{"match": {TEXT_FIELD: {"query": query.text}}}]}
    where = query.combined_filter()
    if where is not None:
        clauses["filter"] = [filter_query(where)]
    return {"size": size, "_source": list(SOURCE_FIELDS), "query": {"bool": clauses}}


def list_search(where: Filter | None, offset: int, size: int) -> dict[str, Any]:
    """One page of chunks in :data:`CHUNK_ORDER`, by ``from``/``size``."""
    return {
        "from": offset,
        "size": size,
        "sort": CHUNK_ORDER,
        "_source": list(SOURCE_FIELDS),
        "query": filter_query(where),
        "track_total_hits": False,
    }


def scan_search(query: dict[str, Any], fields: Sequence[str], size: int, after: list[Any] | None) -> dict[str, Any]:
    """One page of a walk over every match, in :data:`CHUNK_ORDER`, continued with ``search_after``."""
    body: dict[str, Any] = {
        "size": size,
        "sort": CHUNK_ORDER,
        "_source": list(fields),
        "query": query,
        "track_total_hits": False,
    }
    if after is not None:
        body["search_after"] = after
    return body
