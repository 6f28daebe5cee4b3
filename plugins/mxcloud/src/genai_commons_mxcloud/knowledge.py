"""Knowledge bases through the ``/knowledge-bases`` endpoints, as operations (:mod:`.calls`).

* retrieve: ``POST …/similarity`` with ``k``, the query vector and exact-match metadata filters;
  the minimum similarity is applied to the answer. Vector search only: the protocol has no text
  search, so a ``keyword`` or ``hybrid`` query is refused before any request. A portable filter
  that is not a conjunction of exact-match pairs is evaluated with ``Filter.matches`` on an over-fetched answer
  (``filter_overfetch`` times ``k`` neighbours; its exact-match part still goes to the service), so a
  very selective filter may return fewer than ``k`` chunks.
* ingest: chunks checked first (a vector each, text at most 2048 characters), then inserted in
  batches of 100, several batches in flight; ``replace`` first deletes the chunks of the chunks'
  source objects, ``repopulate`` first deletes the collection (which the first insert creates
  again). The service has no transactions: a failed run leaves the batches already inserted, and
  running it again completes it (inserting a chunk id again replaces that chunk).
* management: stored chunk ids and listing read the paged chunk listing; deleting by source object
  uses ``DELETE …/chunks?mxObjectId=``; deleting every chunk deletes the collection (the next insert
  creates it again, as the vendor's "repopulate" does).

Chunks become searchable 60 to 120 seconds after they are inserted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from genai_commons import (
    And,
    ChunkCollection,
    Eq,
    Filter,
    IngestMode,
    IngestResult,
    KnowledgeBaseChunk,
    RetrievalQuery,
    RetrievalResult,
    SearchType,
    UnsupportedCapabilityError,
    ValidationError,
)
from genai_commons.http import Answer, Call, Operation, run_all

from .limits import INSERT_BATCH, check_chunks
from .wire import (
    FIRST_PAGE,
    Page,
    chunk_from_json,
    chunk_json,
    chunks_path,
    collection_path,
    page,
    page_params,
    similarity_body,
    similarity_chunks,
)

__all__ = [
    "LIST_PAGE",
    "delete_chunks",
    "drop_collection",
    "ingest",
    "list_chunks",
    "list_collections",
    "retrieve",
    "split_filter",
    "stored_chunk_ids",
]

#: Chunks per page when listing.
LIST_PAGE = 500
#: The most neighbours one similarity call asks for.
MAX_K = 1000


# -- filters ------------------------------------------------------------------------------------


def split_filter(filter: Filter | None) -> tuple[list[tuple[str, str]], Filter | None]:
    """The exact-match pairs the service can apply, and what is left to evaluate in memory."""
    if filter is None:
        return [], None
    if isinstance(filter, Eq):
        return [(filter.key, filter.value)], None
    if isinstance(filter, And):
        pairs: list[tuple[str, str]] = []
        rest: list[Filter] = []
        for part in filter.filters:
            part_pairs, part_rest = split_filter(part)
            pairs += part_pairs
            if part_rest is not None:
                rest.append(part_rest)
        if not rest:
            return pairs, None
        return pairs, rest[0] if len(rest) == 1 else And(filters=rest)
    return [], filter


# -- retrieval ----------------------------------------------------------------------------------


def retrieve(collection: str, query: RetrievalQuery, overfetch: int) -> Operation[RetrievalResult]:
    if query.search_type not in (None, SearchType.VECTOR):
        assert query.search_type is not None
        raise UnsupportedCapabilityError(
            f"a Mendix Cloud knowledge base (collection {collection!r}) searches by vector only: its protocol has no "
            f"text search, so a {query.search_type.value} search cannot run; use search_type='vector' "
            "(--search-type vector), or leave it out",
            target="mxcloud",
            capability=query.search_type.capability,
        )
    if query.vector is None:
        raise ValidationError(
            "a Mendix Cloud knowledge base searches by vector: retrieve through the host with a knowledge base "
            "that has an embedding model (host.knowledge_base('mxcloud:KEY/COLLECTION')), or give query.vector"
        )
    pairs, rest = split_filter(query.combined_filter())
    k = query.k if rest is None else min(max(query.k * overfetch, query.k), MAX_K)
    answer = yield Call(
        method="POST",
        path=f"{collection_path(collection)}/similarity",
        body=similarity_body(query.vector.tolist(), k, pairs),
        about=collection,
    )
    chunks = similarity_chunks(answer.data)
    if rest is not None:
        chunks = [c for c in chunks if rest.matches(c.metadata.as_dict())]
    if query.min_similarity is not None:
        floor = query.min_similarity
        chunks = [c for c in chunks if c.similarity is not None and c.similarity >= floor]
    return RetrievalResult(chunks=chunks[: query.k])


# -- listing ------------------------------------------------------------------------------------


def _page_call(path: str, number: int, source_id: str | None, collection: str | None) -> Call:
    return Call(
        method="GET",
        path=path,
        params=page_params(number, LIST_PAGE, source_id),
        missing_ok=True,
        about=collection,
    )


def _rest_of(path: str, first: Page, source_id: str | None, collection: str | None) -> Operation[list[Any]]:
    """The items of the pages after ``first``: concurrently when the total is known."""
    items = list(first.items)
    if first.last:
        return items
    if first.total is not None:
        pages = math.ceil(first.total / LIST_PAGE)
        calls = [_page_call(path, FIRST_PAGE + n, source_id, collection) for n in range(1, pages)]
        for answer in (yield from run_all(calls)):
            items += page(answer.data, LIST_PAGE).items
        return items
    number = FIRST_PAGE + 1
    while True:
        answer = yield _page_call(path, number, source_id, collection)
        current = page(answer.data, LIST_PAGE)
        items += current.items
        if current.last or not current.items:
            return items
        number += 1


def _all_chunks(collection: str, source_id: str | None = None) -> Operation[list[Any]]:
    """Every stored chunk (of one source object, when given) as JSON; none for a missing collection."""
    path = chunks_path(collection)
    answer = yield _page_call(path, FIRST_PAGE, source_id, collection)
    if answer.status == 404:
        return []
    return (yield from _rest_of(path, page(answer.data, LIST_PAGE), source_id, collection))


def _chunks_by_source(collection: str, source_ids: Sequence[str]) -> Operation[dict[str, list[Any]]]:
    """The stored chunks of each source object, listing per source or the whole collection,
    whichever takes fewer calls."""
    path = chunks_path(collection)
    first = yield _page_call(path, FIRST_PAGE, None, collection)
    if first.status == 404:
        return {}
    whole = page(first.data, LIST_PAGE)
    pages = 1 if whole.last else (math.ceil(whole.total / LIST_PAGE) if whole.total is not None else None)
    wanted = set(source_ids)
    grouped: dict[str, list[Any]] = {}
    if pages is not None and pages <= len(wanted):
        for item in (yield from _rest_of(path, whole, None, collection)):
            source = item.get("mxObjectId")
            if source in wanted:
                grouped.setdefault(source, []).append(item)
        return grouped
    ordered = sorted(wanted)
    answers: list[Answer] = yield from run_all([_page_call(path, FIRST_PAGE, s, collection) for s in ordered])
    for source, answer in zip(ordered, answers, strict=True):
        items = yield from _rest_of(path, page(answer.data, LIST_PAGE), source, collection)
        if items:
            grouped[source] = items
    return grouped


def stored_chunk_ids(collection: str, source_ids: Sequence[str]) -> Operation[Mapping[str, frozenset[str]]]:
    grouped = yield from _chunks_by_source(collection, source_ids)
    return {source: frozenset(str(item.get("chunkId")) for item in items) for source, items in grouped.items()}


def list_chunks(collection: str, filter: Filter | None, offset: int, limit: int) -> Operation[list[KnowledgeBaseChunk]]:
    """One page, ordered by source object then chunk id (the whole collection is read to order it)."""
    chunks = [chunk_from_json(item) for item in (yield from _all_chunks(collection))]
    if filter is not None:
        chunks = [c for c in chunks if filter.matches(c.metadata.as_dict())]
    chunks.sort(key=lambda c: (c.source_id or "", c.chunk_id))
    return chunks[offset : offset + limit]


def list_collections() -> Operation[list[str]]:
    """The names of the knowledge-base resource's collections."""
    answer = yield _page_call("/knowledge-bases", FIRST_PAGE, None, None)
    if answer.status == 404:
        return []
    items = yield from _rest_of("/knowledge-bases", page(answer.data, LIST_PAGE), None, None)
    return sorted({str(item.get("name") or item.get("collectionName")) for item in items if isinstance(item, dict)})


# -- deletion -----------------------------------------------------------------------------------


def _delete_sources(collection: str, source_ids: Sequence[str]) -> Operation[int]:
    grouped = yield from _chunks_by_source(collection, source_ids)
    path = chunks_path(collection)
    calls = [Call(method="DELETE", path=path, params=[("mxObjectId", s)], missing_ok=True) for s in sorted(grouped)]
    yield from run_all(calls)
    return sum(len(items) for items in grouped.values())


def _drop(collection: str) -> Operation[tuple[bool, int]]:
    """Delete the collection; whether it existed, and how many chunks it held."""
    first = yield _page_call(chunks_path(collection), FIRST_PAGE, None, collection)
    held = 0
    if first.status != 404:
        listed = page(first.data, LIST_PAGE)
        held = listed.total if listed.total is not None else len(listed.items)
    answer = yield Call(method="DELETE", path=collection_path(collection), missing_ok=True)
    return answer.status != 404, held


def delete_chunks(collection: str, source_ids: Sequence[str] | None) -> Operation[int]:
    if source_ids is None:
        _existed, held = yield from _drop(collection)
        return held
    return (yield from _delete_sources(collection, source_ids))


def drop_collection(collection: str) -> Operation[bool]:
    existed, _held = yield from _drop(collection)
    return existed


# -- ingestion ----------------------------------------------------------------------------------


class _Batch:
    """An insert body built when the call is sent, so that only batches in flight hold their JSON."""

    __slots__ = ("chunks",)

    def __init__(self, chunks: Sequence[Any]) -> None:
        self.chunks = chunks

    def __call__(self) -> dict[str, Any]:
        return {"chunks": [chunk_json(c) for c in self.chunks]}


def ingest(collection: str, chunks: ChunkCollection, mode: IngestMode) -> Operation[IngestResult]:
    items = chunks.chunks
    check_chunks(items)
    deleted = 0
    if mode is IngestMode.REPLACE:
        sources = sorted({c.source_id for c in items if isinstance(c, KnowledgeBaseChunk) and c.source_id})
        if sources:
            deleted = yield from _delete_sources(collection, sources)
    elif mode is IngestMode.REPOPULATE:
        _existed, deleted = yield from _drop(collection)
    path = chunks_path(collection)
    calls = [
        Call(method="POST", path=path, body=_Batch(items[i : i + INSERT_BATCH]), about=collection)
        for i in range(0, len(items), INSERT_BATCH)
    ]
    yield from run_all(calls)
    return IngestResult(inserted=len(items), deleted=deleted)
