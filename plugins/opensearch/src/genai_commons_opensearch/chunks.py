"""Chunks in a collection's index: ingest, retrieval (see :mod:`.retrieval`), id scans, deletes and listing.

Two ways of writing, chosen by the ``serverless`` setting:

* a cluster (self-managed, Amazon OpenSearch Service): a chunk's document id is its chunk id, so
  an ``index`` action upserts it; deletes are ``_delete_by_query``; writes carry ``refresh``;
* Amazon OpenSearch Serverless, which allows none of these in vector collections: documents get
  generated ids, an upsert deletes the chunk's earlier documents (found by a ``terms`` search on
  ``chunk_id``) in the same bulk request, and a delete by query is a search for the ids followed by
  bulk deletes.

Re-ingesting a chunk whose document is unchanged (same fingerprint) writes nothing. ``replace``
writes the new chunks first and then deletes the sources' chunks that are not among them, so a
failure midway never leaves a source without chunks and running the same call again finishes it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from attrs import frozen

from genai_commons import (
    ChunkCollection,
    Filter,
    IngestMode,
    IngestResult,
    KnowledgeBase,
    KnowledgeBaseChunk,
    NotFoundError,
    ProviderError,
    RetrievalQuery,
    RetrievalResult,
    SearchType,
    ValidationError,
    get_logger,
)

from . import bulk
from .documents import as_kb_chunk, to_chunk, to_document
from .errors import translated_errors
from .mapping import FINGERPRINT_FIELD, SOURCE_FIELDS
from .queries import MATCH_ALL, filter_query, list_search, scan_search, sources_query

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

    from .client import LazyClient
    from .indices import Indices
    from .mapping import IndexInfo

log = get_logger(__name__)

#: Ids per ``terms`` clause.
_TERMS_BATCH = 1000


@frozen(kw_only=True)
class _Stored:
    doc_id: str
    fingerprint: str | None


class ChunkStore:
    """Chunk operations of one provider instance."""

    def __init__(self, client: LazyClient, indices: Indices, provider: str) -> None:
        self._client = client
        self._indices = indices
        self._provider = provider
        settings = client.settings
        self._serverless = settings.serverless
        self._page = settings.scan_page_size
        self._window = settings.max_result_window
        self._url = settings.url
        self._bulk = bulk.BulkOptions(
            batch_size=settings.bulk_batch_size,
            max_bytes=settings.bulk_max_bytes,
            retries=settings.bulk_retries,
            backoff=settings.bulk_backoff,
            refresh=settings.refresh_param,
        )

    def _os(self) -> OpenSearch:
        return self._client.get()

    # -- ingestion --------------------------------------------------------------------------------

    def ingest(self, knowledge_base: KnowledgeBase, chunks: ChunkCollection, mode: IngestMode) -> IngestResult:
        started = time.perf_counter()
        mode = IngestMode(mode)
        prepared = _prepare(chunks)
        info: IndexInfo | None
        if prepared:
            dimension = len(next(iter(prepared.values()))[0].vector or ())
            info = self._indices.ensure(knowledge_base, dimension)
        else:
            info = self._indices.describe(knowledge_base.collection)
        if info is None:  # nothing to write and nothing stored
            return IngestResult(duration_ms=_ms(started))
        index = info.index
        deleted = 0
        if mode is IngestMode.REPOPULATE:
            deleted += self._delete_where(index, MATCH_ALL)
        stored = {} if mode is IngestMode.REPOPULATE else self._stored_by_chunk(index, list(prepared))
        actions: list[bulk.Action] = []
        unchanged = 0
        for chunk_id, (_, document) in prepared.items():
            old = stored.get(chunk_id, [])
            if len(old) == 1 and old[0].fingerprint == document[FINGERPRINT_FIELD]:
                unchanged += 1
                continue
            if self._serverless:  # generated ids: the earlier documents go in the same request
                actions.extend(bulk.Action(op="delete", index=index, chunk_id=chunk_id, doc_id=e.doc_id) for e in old)
            doc_id = None if self._serverless else chunk_id
            actions.append(bulk.Action(op="index", index=index, chunk_id=chunk_id, doc_id=doc_id, document=document))
        outcome = self._write(actions)
        deleted += outcome.updated + outcome.deleted
        if mode is IngestMode.REPLACE:
            deleted += self._delete_stale(index, prepared)
        log.info(
            "chunks_ingested",
            index=index,
            mode=mode.value,
            inserted=outcome.created + outcome.updated,
            deleted=deleted,
            unchanged=unchanged,
        )
        return IngestResult(
            inserted=outcome.created + outcome.updated,
            deleted=deleted,
            unchanged=unchanged,
            duration_ms=_ms(started),
        )

    def _write(self, actions: list[bulk.Action]) -> bulk.BulkOutcome:
        if not actions:
            return bulk.BulkOutcome()
        return bulk.write(self._os(), actions, self._bulk, provider=self._provider, url=self._url)

    def _delete_stale(self, index: str, prepared: Mapping[str, tuple[KnowledgeBaseChunk, dict[str, Any]]]) -> int:
        """Delete the chunks of the ingested chunks' sources that this ingestion did not bring."""
        sources = sorted({c.source_id for c, _ in prepared.values() if c.source_id is not None})
        if not sources:
            return 0
        kept = set(prepared)
        stale = sorted(
            {
                hit["_source"]["chunk_id"]
                for batch in _batched(sources, _TERMS_BATCH)
                for hit in self._scan(index, sources_query(batch), ["chunk_id"])
            }
            - kept
        )
        return sum(self._delete_where(index, {"terms": {"chunk_id": batch}}) for batch in _batched(stale, _TERMS_BATCH))

    def _stored_by_chunk(self, index: str, chunk_ids: Sequence[str]) -> dict[str, list[_Stored]]:
        """The documents already stored for these chunk ids, with their fingerprints."""
        stored: dict[str, list[_Stored]] = {}
        for batch in _batched(chunk_ids, _TERMS_BATCH):
            for hit in self._scan(index, {"terms": {"chunk_id": batch}}, ["chunk_id", FINGERPRINT_FIELD]):
                source = hit["_source"]
                stored.setdefault(source["chunk_id"], []).append(
                    _Stored(doc_id=hit["_id"], fingerprint=source.get(FINGERPRINT_FIELD))
                )
        return stored

    # -- reading ----------------------------------------------------------------------------------

    def _scan(self, index: str, query: dict[str, Any], fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Every hit of the query, page by page with ``search_after``."""
        after: list[Any] | None = None
        while True:
            body = scan_search(query, fields, self._page, after)
            with translated_errors(self._provider, self._url, f"searching {index}"):
                hits = self._os().search(index=index, body=body)["hits"]["hits"]
            yield from hits
            if len(hits) < self._page:
                return
            after = hits[-1]["sort"]

    def retrieve(self, knowledge_base: KnowledgeBase, query: RetrievalQuery) -> RetrievalResult:
        from opensearchpy.exceptions import NotFoundError as IndexMissing  # noqa: PLC0415

        from .retrieval import retrieve  # noqa: PLC0415

        started = time.perf_counter()
        search_type = query.search_type or SearchType.VECTOR
        if search_type is not SearchType.KEYWORD and query.vector is None:
            raise ValidationError(
                f"the OpenSearch knowledge base {knowledge_base.name!r} searches by vector for a {search_type.value} "
                "search: give it an embedding model (embedding_model in [knowledge_bases.NAME]) so that the host "
                "embeds the query, or search by keywords (search_type='keyword')"
            )
        if search_type is not SearchType.VECTOR and query.text is None:
            raise ValidationError(f"a {search_type.value} search needs the query's text: give RetrievalQuery(text=...)")
        index = self._indices.name(knowledge_base.collection)

        def search(body: dict[str, Any]) -> list[dict[str, Any]]:
            try:
                return list(self._os().search(index=index, body=body)["hits"]["hits"])
            except IndexMissing as exc:
                if exc.error != "index_not_found_exception":
                    raise
                raise _missing(knowledge_base, index) from exc

        with translated_errors(self._provider, self._url, f"searching {index}"):
            found = retrieve(search, query)
        return RetrievalResult(chunks=found, duration_ms=_ms(started))

    def stored_chunk_ids(self, knowledge_base: KnowledgeBase, source_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        index = self._existing_index(knowledge_base)
        if index is None or not source_ids:
            return {}
        found: dict[str, set[str]] = {}
        for batch in _batched(list(dict.fromkeys(source_ids)), _TERMS_BATCH):
            for hit in self._scan(index, sources_query(batch), ["source_id", "chunk_id"]):
                source = hit["_source"]
                found.setdefault(source["source_id"], set()).add(source["chunk_id"])
        return {source: frozenset(ids) for source, ids in found.items()}

    def list_chunks(
        self, knowledge_base: KnowledgeBase, where: Filter | None, offset: int, limit: int
    ) -> list[KnowledgeBaseChunk]:
        index = self._existing_index(knowledge_base)
        if index is None or limit <= 0:
            return []
        if offset + limit <= self._window:
            with translated_errors(self._provider, self._url, f"listing {index}"):
                hits = self._os().search(index=index, body=list_search(where, offset, limit))["hits"]["hits"]
                return [to_chunk(hit["_source"]) for hit in hits]
        page: list[KnowledgeBaseChunk] = []
        for position, hit in enumerate(self._scan(index, filter_query(where), SOURCE_FIELDS)):
            if position >= offset:
                page.append(to_chunk(hit["_source"]))
                if len(page) == limit:
                    break
        return page

    def _existing_index(self, knowledge_base: KnowledgeBase) -> str | None:
        info = self._indices.describe(knowledge_base.collection)
        return None if info is None else info.index

    # -- deleting ---------------------------------------------------------------------------------

    def delete_chunks(self, knowledge_base: KnowledgeBase, source_ids: Sequence[str] | None) -> int:
        index = self._existing_index(knowledge_base)
        if index is None:
            return 0
        if source_ids is None:
            return self._delete_where(index, MATCH_ALL)
        return sum(
            self._delete_where(index, sources_query(batch))
            for batch in _batched(list(dict.fromkeys(source_ids)), _TERMS_BATCH)
        )

    def _delete_where(self, index: str, query: dict[str, Any]) -> int:
        """Delete every document the query matches; how many went."""
        if self._serverless:
            actions = [
                bulk.Action(op="delete", index=index, chunk_id=hit["_source"]["chunk_id"], doc_id=hit["_id"])
                for hit in self._scan(index, query, ["chunk_id"])
            ]
            return self._write(actions).deleted
        refresh = self._client.settings.refresh != "false"
        with translated_errors(self._provider, self._url, f"deleting from {index}"):
            answer = self._os().delete_by_query(
                index=index, body={"query": query}, refresh=refresh, conflicts="proceed"
            )
            failures = answer.get("failures") or []
            deleted = int(answer.get("deleted", 0))
        if failures:
            raise ProviderError(
                f"OpenSearch deleted {deleted} documents from {index} but failed on {len(failures)}; "
                "run the operation again",
                provider=self._provider,
                body=str(failures[:5]),
            )
        return deleted


def _prepare(chunks: ChunkCollection) -> dict[str, tuple[KnowledgeBaseChunk, dict[str, Any]]]:
    """Chunk id -> (chunk, document), the last chunk of an id winning; every chunk needs a vector,
    all of one dimension."""
    prepared: dict[str, tuple[KnowledgeBaseChunk, dict[str, Any]]] = {}
    dimension: int | None = None
    for raw in chunks:
        chunk = as_kb_chunk(raw)
        if chunk.vector is None:
            raise ValidationError(
                f"chunk {chunk.chunk_id!r} has no vector: OpenSearch stores the vectors the host computes, so give "
                "the knowledge base an embedding model (embedding_model in [knowledge_bases.NAME])"
            )
        if dimension is None:
            dimension = len(chunk.vector)
        elif len(chunk.vector) != dimension:
            raise ValidationError(
                f"chunk {chunk.chunk_id!r} has a {len(chunk.vector)}-dimensional vector and earlier chunks "
                f"{dimension}; one collection holds vectors of one embedding model"
            )
        prepared.pop(chunk.chunk_id, None)
        prepared[chunk.chunk_id] = (chunk, to_document(chunk))
    return prepared


def _missing(knowledge_base: KnowledgeBase, index: str) -> NotFoundError:
    return NotFoundError(
        f"knowledge base {knowledge_base.name!r} has no collection in OpenSearch yet (index {index!r}): create it "
        f"by ingesting, for example `genai kb ingest {knowledge_base.name} PATH`",
        provider=knowledge_base.provider,
        status=404,
        code="index_not_found_exception",
    )


def _batched(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
