"""Knowledge-base calls of the host: retrieval, ingestion, management, and the sync of a knowledge
base that ingests from its own data source (retrieve-and-generate: :mod:`._host_rag`).

The host embeds for stores that keep vectors (a knowledge base with an ``embedding_model``): a
text query gets its vector before ``genai_retrieve`` (unless it is a keyword search), chunks
without vectors get theirs before ``genai_ingest`` (in batches, see
:mod:`genai_commons.knowledge.embedding`). Those embedding calls are recorded as ``embed`` usage
of the embedding model. Each retrieval's search type is settled first (see :mod:`._host_search`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import attrs

from . import _host_search as search
from ._host_base import HostBase
from .errors import UnknownModelError, UnsupportedCapabilityError, ValidationError
from .model.enums import Capability, SearchType
from .retry import call_with_retry, call_with_retry_async

if TYPE_CHECKING:
    from ._host_rerank import RerankChoice
    from .host import Host
    from .model import (
        ChunkCollection,
        DeployedModel,
        IngestMode,
        IngestResult,
        KnowledgeBase,
        KnowledgeBaseChunk,
        RetrievalQuery,
        RetrievalResult,
        SyncResult,
    )
    from .model.retrieval import Filter

_QUERY = None  # EmbeddingsOptions for queries, built on first use


def _query_options() -> Any:
    global _QUERY  # noqa: PLW0603 - a constant built lazily, so the model loads on first use
    if _QUERY is None:
        from .model.embeddings import EmbeddingsOptions  # noqa: PLC0415
        from .model.enums import EmbeddingPurpose  # noqa: PLC0415

        _QUERY = EmbeddingsOptions(purpose=EmbeddingPurpose.QUERY)
    return _QUERY


class KnowledgeCalls(HostBase):
    """``retrieve``, ``ingest``, chunk management, ``ingest_from_source``, and async twins."""

    def _kb_usage(
        self, kb: KnowledgeBase, operation: str, result: RetrievalResult | IngestResult, started: float
    ) -> None:
        model_id = kb.embedding_model.model_id if kb.embedding_model is not None else kb.collection
        duration_ms = result.duration_ms or (time.perf_counter() - started) * 1000
        tokens = result.input_tokens
        self._record(
            kb.provider, kb.name, model_id, operation,
            input_tokens=tokens, output_tokens=0, total_tokens=tokens, duration_ms=duration_ms,
        )  # fmt: skip

    @staticmethod
    def _query(query: RetrievalQuery | str, k: int | None, search_type: SearchType | str | None) -> RetrievalQuery:
        from .model.retrieval import RetrievalQuery  # noqa: PLC0415

        if isinstance(query, str):
            query = RetrievalQuery(text=query)
        changes: dict[str, Any] = {"k": k, "search_type": search_type}
        changes = {name: value for name, value in changes.items() if value is not None}
        return attrs.evolve(query, **changes) if changes else query

    def _search_type(self, kb: KnowledgeBase, query: RetrievalQuery) -> tuple[RetrievalQuery, bool]:
        """The query with its search type settled (see :func:`._host_search.resolve`)."""
        info = self.provider(kb.provider)
        return search.resolve(query, kb, info, self.config.knowledge.search_type, self._search_refusals)

    def _fall_back(self, kb: KnowledgeBase, query: RetrievalQuery, exc: UnsupportedCapabilityError) -> RetrievalQuery:
        """A defaulted search type the provider refused: remember it, and search by vector."""
        assert query.search_type is not None
        self._search_refusals.add(kb, query.search_type)
        self._log.info(
            "search_type_fell_back",
            knowledge_base=kb.ref,
            search_type=query.search_type.value,
            reason=str(exc),
        )
        return search.as_vector_search(query)

    def _as_host(self) -> Host:
        return cast("Host", self)

    def _existing_kb(self, knowledge_base: KnowledgeBase | str) -> KnowledgeBase:
        """A knowledge base to read from: one not created yet fails before anything is embedded."""
        kb, exists = self._resolve_knowledge_base(knowledge_base)
        self._route(kb.provider, Capability.RETRIEVE)
        if not exists:

            def known() -> list[str]:
                return [*(k.name for k in self.knowledge_bases(kb.provider)), *self.config.knowledge_bases]

            # Not an answer of the provider (none was asked): the host's own lookup error.
            raise UnknownModelError(
                f"knowledge base {kb.ref} holds nothing yet{self._near(kb.name, known)}: ingest into it first, "
                f"for example `genai kb ingest {kb.name} PATH`"
            )
        return kb

    def _kb(self, knowledge_base: KnowledgeBase | str, capability: Capability) -> KnowledgeBase:
        kb = self.knowledge_base(knowledge_base)
        self._route(kb.provider, capability)
        return kb

    # -- retrieval ------------------------------------------------------------------------------

    def retrieve(
        self,
        knowledge_base: KnowledgeBase | str,
        query: RetrievalQuery | str,
        *,
        k: int | None = None,
        search_type: SearchType | str | None = None,
        rerank: RerankChoice = None,
        rerank_candidates: int | None = None,
    ) -> RetrievalResult:
        """The chunks most relevant to the query, best first.

        :param search_type: ``vector``, ``keyword`` or ``hybrid`` (overrides the query's); by
            default ``[knowledge] search_type`` where the knowledge base offers it, else vector.
        :param rerank: a rerank model or chat model that re-scores the candidates (by default
            ``[knowledge] rerank_model``; False: no reranking). The chunks' ``similarity`` is then
            the rerank score, ``retrieval_similarity`` the retrieval's.
        :param rerank_candidates: how many chunks to retrieve for the reranker to keep ``k``
            (default ``[knowledge] rerank_candidates``, else ``max(4 * k, 20)``).
        """
        kb = self._existing_kb(knowledge_base)
        q, reranker, keep = self._rerank_setup(self._query(query, k, search_type), rerank, rerank_candidates)
        q, defaulted = self._search_type(kb, q)
        result = self._retrieve_resolved(kb, q, defaulted)
        if reranker is None:
            return result
        return self._as_host()._rerank_retrieved(reranker, q.text, result, keep)

    def _rerank_setup(
        self, query: RetrievalQuery, rerank: RerankChoice, rerank_candidates: int | None
    ) -> tuple[RetrievalQuery, DeployedModel | None, int]:
        """The query widened to the reranker's candidates, the reranker (None: no reranking), and
        how many chunks to keep."""
        reranker, wanted = self._as_host()._rerank_plan(rerank, rerank_candidates, query.k)
        if reranker is None:
            return query, None, query.k
        if query.text is None:
            raise ValidationError("reranking needs the query's text, not only a vector: give RetrievalQuery(text=...)")
        return attrs.evolve(query, k=wanted), reranker, query.k

    def _retrieve_resolved(self, kb: KnowledgeBase, q: RetrievalQuery, defaulted: bool) -> RetrievalResult:
        try:
            return self._retrieve_once(kb, q)
        except UnsupportedCapabilityError as exc:
            if not search.refused_by(exc, q, defaulted):
                raise
            return self._retrieve_once(kb, self._fall_back(kb, q, exc))

    def _retrieve_once(self, kb: KnowledgeBase, q: RetrievalQuery) -> RetrievalResult:
        if search.needs_vector(q, kb):
            assert kb.embedding_model is not None and q.text is not None
            q = attrs.evolve(
                q, vector=self._as_host().embed(kb.embedding_model, q.text, _query_options()).first_vector()
            )
        started = time.perf_counter()
        result: RetrievalResult = self._call(
            kb.provider, Capability.RETRIEVE, lambda: self._hook.genai_retrieve(knowledge_base=kb, query=q)
        )
        self._kb_usage(kb, "retrieve", result, started)
        return result

    async def aretrieve(
        self,
        knowledge_base: KnowledgeBase | str,
        query: RetrievalQuery | str,
        *,
        k: int | None = None,
        search_type: SearchType | str | None = None,
        rerank: RerankChoice = None,
        rerank_candidates: int | None = None,
    ) -> RetrievalResult:
        """:meth:`retrieve`, async."""
        kb = self._existing_kb(knowledge_base)
        q, reranker, keep = self._rerank_setup(self._query(query, k, search_type), rerank, rerank_candidates)
        q, defaulted = self._search_type(kb, q)
        result = await self._aretrieve_resolved(kb, q, defaulted)
        if reranker is None:
            return result
        return await self._as_host()._arerank_retrieved(reranker, q.text, result, keep)

    async def _aretrieve_resolved(self, kb: KnowledgeBase, q: RetrievalQuery, defaulted: bool) -> RetrievalResult:
        try:
            return await self._aretrieve_once(kb, q)
        except UnsupportedCapabilityError as exc:
            if not search.refused_by(exc, q, defaulted):
                raise
            return await self._aretrieve_once(kb, self._fall_back(kb, q, exc))

    async def _aretrieve_once(self, kb: KnowledgeBase, q: RetrievalQuery) -> RetrievalResult:
        if search.needs_vector(q, kb):
            assert kb.embedding_model is not None and q.text is not None
            embedded = await self._as_host().aembed(kb.embedding_model, q.text, _query_options())
            q = attrs.evolve(q, vector=embedded.first_vector())
        started = time.perf_counter()
        result: RetrievalResult = await self._call_async(
            kb.provider, Capability.RETRIEVE, lambda: self._hook.genai_retrieve_async(knowledge_base=kb, query=q)
        )
        self._kb_usage(kb, "retrieve", result, started)
        return result

    # -- ingestion ------------------------------------------------------------------------------

    def ingest(
        self, knowledge_base: KnowledgeBase | str, chunks: ChunkCollection, mode: IngestMode | str = "insert"
    ) -> IngestResult:
        """Store knowledge-base chunks: insert, replace by source object, or repopulate.

        Chunks without a vector are embedded first with the knowledge base's embedding model; the
        result's ``input_tokens`` include those embedding tokens.
        """
        from .model.retrieval import IngestMode  # noqa: PLC0415

        kb = self._kb(knowledge_base, Capability.INGEST)
        ingest_mode = IngestMode(mode)
        tokens = None
        if kb.embedding_model is not None:
            from .knowledge.embedding import embed_missing  # noqa: PLC0415

            chunks, tokens = embed_missing(self._as_host(), kb.embedding_model, chunks)
        started = time.perf_counter()
        result: IngestResult = self._call(
            kb.provider,
            Capability.INGEST,
            lambda: self._hook.genai_ingest(knowledge_base=kb, chunks=chunks, mode=ingest_mode),
        )
        self._kb_usage(kb, "ingest", result, started)
        return _with_embedding_tokens(result, tokens)

    async def aingest(
        self, knowledge_base: KnowledgeBase | str, chunks: ChunkCollection, mode: IngestMode | str = "insert"
    ) -> IngestResult:
        """:meth:`ingest`, async."""
        from .model.retrieval import IngestMode  # noqa: PLC0415

        kb = self._kb(knowledge_base, Capability.INGEST)
        ingest_mode = IngestMode(mode)
        tokens = None
        if kb.embedding_model is not None:
            from .knowledge.embedding import aembed_missing  # noqa: PLC0415

            chunks, tokens = await aembed_missing(self._as_host(), kb.embedding_model, chunks)
        started = time.perf_counter()
        result: IngestResult = await self._call_async(
            kb.provider,
            Capability.INGEST,
            lambda: self._hook.genai_ingest_async(knowledge_base=kb, chunks=chunks, mode=ingest_mode),
        )
        self._kb_usage(kb, "ingest", result, started)
        return _with_embedding_tokens(result, tokens)

    # -- management (offered by providers that ingest) --------------------------------------------

    def stored_chunk_ids(
        self, knowledge_base: KnowledgeBase | str, source_ids: Sequence[str]
    ) -> Mapping[str, frozenset[str]]:
        """The ids of the chunks stored for each source object; sources with none are left out."""
        kb = self._kb(knowledge_base, Capability.INGEST)
        ids = list(source_ids)
        return cast(
            "Mapping[str, frozenset[str]]",
            self._call(
                kb.provider,
                Capability.INGEST,
                lambda: self._hook.genai_stored_chunk_ids(knowledge_base=kb, source_ids=ids),
            ),
        )

    async def astored_chunk_ids(
        self, knowledge_base: KnowledgeBase | str, source_ids: Sequence[str]
    ) -> Mapping[str, frozenset[str]]:
        """:meth:`stored_chunk_ids`, async."""
        kb = self._kb(knowledge_base, Capability.INGEST)
        ids = list(source_ids)
        return cast(
            "Mapping[str, frozenset[str]]",
            await self._call_async(
                kb.provider,
                Capability.INGEST,
                lambda: self._hook.genai_stored_chunk_ids_async(knowledge_base=kb, source_ids=ids),
            ),
        )

    def delete_chunks(self, knowledge_base: KnowledgeBase | str, source_ids: Sequence[str] | None = None) -> int:
        """Delete the chunks of these source objects, or every chunk when ``source_ids`` is None."""
        kb = self._kb(knowledge_base, Capability.INGEST)
        ids = None if source_ids is None else _source_list(source_ids)
        return cast(
            int,
            self._call(
                kb.provider,
                Capability.INGEST,
                lambda: self._hook.genai_delete_chunks(knowledge_base=kb, source_ids=ids),
            ),
        )

    async def adelete_chunks(self, knowledge_base: KnowledgeBase | str, source_ids: Sequence[str] | None = None) -> int:
        """:meth:`delete_chunks`, async."""
        kb = self._kb(knowledge_base, Capability.INGEST)
        ids = None if source_ids is None else _source_list(source_ids)
        return cast(
            int,
            await self._call_async(
                kb.provider,
                Capability.INGEST,
                lambda: self._hook.genai_delete_chunks_async(knowledge_base=kb, source_ids=ids),
            ),
        )

    def drop_collection(self, knowledge_base: KnowledgeBase | str) -> bool:
        """Delete the knowledge base's collection; whether it existed."""
        kb = self._kb(knowledge_base, Capability.INGEST)
        return cast(
            bool,
            self._call(kb.provider, Capability.INGEST, lambda: self._hook.genai_drop_collection(knowledge_base=kb)),
        )

    async def adrop_collection(self, knowledge_base: KnowledgeBase | str) -> bool:
        """:meth:`drop_collection`, async."""
        kb = self._kb(knowledge_base, Capability.INGEST)
        return cast(
            bool,
            await self._call_async(
                kb.provider, Capability.INGEST, lambda: self._hook.genai_drop_collection_async(knowledge_base=kb)
            ),
        )

    def list_chunks(
        self, knowledge_base: KnowledgeBase | str, filter: Filter | None = None, *, offset: int = 0, limit: int = 100
    ) -> list[KnowledgeBaseChunk]:
        """One page of stored chunks (no vectors), ordered by source object, then chunk id."""
        kb = self._kb(knowledge_base, Capability.INGEST)
        _check_page(offset, limit)
        page = self._call(
            kb.provider,
            Capability.INGEST,
            lambda: self._hook.genai_list_chunks(knowledge_base=kb, filter=filter, offset=offset, limit=limit),
        )
        return list(page)

    async def alist_chunks(
        self, knowledge_base: KnowledgeBase | str, filter: Filter | None = None, *, offset: int = 0, limit: int = 100
    ) -> list[KnowledgeBaseChunk]:
        """:meth:`list_chunks`, async."""
        kb = self._kb(knowledge_base, Capability.INGEST)
        _check_page(offset, limit)
        page = await self._call_async(
            kb.provider,
            Capability.INGEST,
            lambda: self._hook.genai_list_chunks_async(knowledge_base=kb, filter=filter, offset=offset, limit=limit),
        )
        return list(page)

    # -- sync from the knowledge base's own data source ------------------------------------------

    def _synced(self, kb: KnowledgeBase, result: SyncResult | None, started: float) -> SyncResult:
        if result is None:
            raise UnsupportedCapabilityError(
                f"knowledge base {kb.ref} has no data source of its own to ingest from: give it the files, "
                f"`genai kb ingest {kb.name} PATH...`",
                target=kb.ref,
                capability="sync",
            )
        duration_ms = result.duration_ms or (time.perf_counter() - started) * 1000
        self._record(
            kb.provider, kb.name, kb.collection, "sync",
            input_tokens=None, output_tokens=None, total_tokens=None, duration_ms=duration_ms,
        )  # fmt: skip
        return result if result.duration_ms is not None else attrs.evolve(result, duration_ms=duration_ms)

    def ingest_from_source(
        self, knowledge_base: KnowledgeBase | str, data_source_id: str | None = None, *, wait: bool = True
    ) -> SyncResult:
        """Have the provider ingest the knowledge base from its own data source (Bedrock: one
        ingestion job per data source), and by default wait until the jobs finish.

        For knowledge bases that read their documents themselves (a bucket, a site) instead of
        taking chunks through :meth:`ingest`; others raise :class:`UnsupportedCapabilityError`.
        """

        kb = self.knowledge_base(knowledge_base)
        started = time.perf_counter()
        result = call_with_retry(
            self.config.retry,
            "sync",
            lambda: self._hook.genai_ingest_from_source(knowledge_base=kb, data_source_id=data_source_id, wait=wait),
        )
        return self._synced(kb, result, started)

    async def aingest_from_source(
        self, knowledge_base: KnowledgeBase | str, data_source_id: str | None = None, *, wait: bool = True
    ) -> SyncResult:
        """:meth:`ingest_from_source`, async."""

        kb = self.knowledge_base(knowledge_base)
        started = time.perf_counter()

        async def attempt() -> SyncResult | None:
            awaitable = self._hook.genai_ingest_from_source_async(
                knowledge_base=kb, data_source_id=data_source_id, wait=wait
            )
            return None if awaitable is None else await awaitable

        result = await call_with_retry_async(self.config.retry, "sync", attempt)
        return self._synced(kb, result, started)


def _with_embedding_tokens(result: IngestResult, tokens: int | None) -> IngestResult:
    """The result as the caller sees it: embedding tokens added to what the store reported. (The
    usage records keep them apart: ``embed`` records for the embedding calls, ``ingest`` for the store.)"""
    if tokens is None:
        return result
    return attrs.evolve(result, input_tokens=(result.input_tokens or 0) + tokens)


def _source_list(source_ids: Sequence[str]) -> list[str]:

    if isinstance(source_ids, str):
        raise ValidationError("source_ids takes a list of source object ids, not a single string")
    ids = list(source_ids)
    if not ids:
        raise ValidationError("give at least one source object id, or None to delete every chunk")
    return ids


def _check_page(offset: int, limit: int) -> None:

    if offset < 0 or not 1 <= limit <= 10_000:
        raise ValidationError(f"a page needs offset >= 0 and limit between 1 and 10000, got {offset} and {limit}")
