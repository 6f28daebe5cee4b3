"""Retrieve-and-generate, the host's answer from a knowledge base: a provider's native operation
(Bedrock's RetrieveAndGenerate) in one call, or retrieval (reranked when a reranker is chosen)
followed by a grounded chat call whose ``[n]`` markers become the references.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from . import _host_search as search
from ._host_base import ModelRef
from ._host_knowledge import KnowledgeCalls
from .errors import UnsupportedCapabilityError, ValidationError
from .model.enums import Capability, SearchType
from .retry import call_with_retry, call_with_retry_async

if TYPE_CHECKING:
    from ._host_rerank import RerankChoice
    from .model import KnowledgeBase, Request, Response, RetrievalQuery
    from .model.retrieval import Filter


class RagCalls(KnowledgeCalls):
    """``retrieve_and_generate`` and ``aretrieve_and_generate``."""

    def _rag_inputs(
        self,
        knowledge_base: KnowledgeBase | str,
        question: str | Request,
        model: ModelRef | None,
        query: dict[str, Any],
    ) -> tuple[KnowledgeBase, Request, RetrievalQuery, bool, Any]:
        """The knowledge base, the request, the retrieval query (search type settled) and whether
        its search type is the default, and the model."""
        from .knowledge.rag import as_request, question_of  # noqa: PLC0415
        from .model.retrieval import RetrievalQuery  # noqa: PLC0415

        kb = self._kb(knowledge_base, Capability.RETRIEVE)
        request = as_request(question)
        q = RetrievalQuery(text=question_of(request), **{k: v for k, v in query.items() if v is not None})
        q, defaulted = self._search_type(kb, q)
        return kb, request, q, defaulted, self.model(model) if model is not None else None

    def _rag_native_call(self, kb: KnowledgeBase, deployed: Any, request: Request, q: RetrievalQuery) -> Any:

        with self._deadline(kb.provider):
            return call_with_retry(
                self.config.retry,
                "retrieve_and_generate",
                lambda: self._hook.genai_retrieve_and_generate(
                    knowledge_base=kb, model=deployed, request=request, query=q
                ),
            )

    async def _arag_native_call(self, kb: KnowledgeBase, deployed: Any, request: Request, q: RetrievalQuery) -> Any:

        async def attempt() -> Response | None:
            awaitable = self._hook.genai_retrieve_and_generate_async(
                knowledge_base=kb, model=deployed, request=request, query=q
            )
            return None if awaitable is None else await awaitable

        with self._deadline(kb.provider):
            return await call_with_retry_async(self.config.retry, "retrieve_and_generate", attempt)

    def _rag_native(self, kb: KnowledgeBase, model: Any, response: Response, started: float) -> Response:
        response = self._timed(response, started)
        self._record(
            kb.provider, kb.name, model.model_id if model is not None else kb.collection, "retrieve_and_generate",
            input_tokens=response.input_tokens, output_tokens=response.output_tokens,
            total_tokens=response.total_tokens, duration_ms=response.duration_ms or 0.0,
        )  # fmt: skip
        return response

    @staticmethod
    def _rag_model(kb: KnowledgeBase, model: Any) -> Any:
        if model is None:
            raise ValidationError(
                f"knowledge base {kb.ref} cannot answer by itself: give a chat model, e.g. model='openai:gpt-4o-mini'"
            )
        return model

    def retrieve_and_generate(
        self,
        knowledge_base: KnowledgeBase | str,
        question: str | Request,
        *,
        model: ModelRef | None = None,
        k: int | None = None,
        min_similarity: float | None = None,
        filter: Filter | None = None,
        search_type: SearchType | str | None = None,
        rerank: RerankChoice = None,
        rerank_candidates: int | None = None,
    ) -> Response:
        """Answer ``question`` from the knowledge base: retrieve, then generate with references.

        A provider with a native operation (Bedrock's RetrieveAndGenerate) answers in one call;
        otherwise the host retrieves the ``k`` best chunks (``search_type`` as in
        :meth:`retrieve`), puts them as numbered sources in the system prompt and calls ``model``;
        citations come from the ``[n]`` markers it writes. With a reranker (``rerank`` as in
        :meth:`retrieve`) the host always retrieves, reranks and generates itself, with ``model``.
        """
        from .knowledge.rag import grounded_request, with_references  # noqa: PLC0415

        query = {"k": k, "min_similarity": min_similarity, "filter": filter, "search_type": search_type}
        kb, request, q, defaulted, deployed = self._rag_inputs(knowledge_base, question, model, query)
        q, reranker, keep = self._rerank_setup(q, rerank, rerank_candidates)
        started = time.perf_counter()
        try:
            native = None if reranker is not None else self._rag_native_call(kb, deployed, request, q)
        except UnsupportedCapabilityError as exc:
            if not search.refused_by(exc, q, defaulted):
                raise
            q, defaulted = self._fall_back(kb, q, exc), False
            native = self._rag_native_call(kb, deployed, request, q)
        if native is not None:
            return self._rag_native(kb, deployed, native, started)
        chat_model = self._rag_model(kb, deployed)
        retrieved = self._retrieve_resolved(kb, q, defaulted)
        if reranker is not None:
            retrieved = self._as_host()._rerank_retrieved(reranker, q.text, retrieved, keep)
        chunks = retrieved.chunks
        return with_references(self._as_host().chat(chat_model, grounded_request(request, chunks)), chunks)

    async def aretrieve_and_generate(
        self,
        knowledge_base: KnowledgeBase | str,
        question: str | Request,
        *,
        model: ModelRef | None = None,
        k: int | None = None,
        min_similarity: float | None = None,
        filter: Filter | None = None,
        search_type: SearchType | str | None = None,
        rerank: RerankChoice = None,
        rerank_candidates: int | None = None,
    ) -> Response:
        """:meth:`retrieve_and_generate`, async."""
        from .knowledge.rag import grounded_request, with_references  # noqa: PLC0415

        query = {"k": k, "min_similarity": min_similarity, "filter": filter, "search_type": search_type}
        kb, request, q, defaulted, deployed = self._rag_inputs(knowledge_base, question, model, query)
        q, reranker, keep = self._rerank_setup(q, rerank, rerank_candidates)
        started = time.perf_counter()
        try:
            native = None if reranker is not None else await self._arag_native_call(kb, deployed, request, q)
        except UnsupportedCapabilityError as exc:
            if not search.refused_by(exc, q, defaulted):
                raise
            q, defaulted = self._fall_back(kb, q, exc), False
            native = await self._arag_native_call(kb, deployed, request, q)
        if native is not None:
            return self._rag_native(kb, deployed, native, started)
        chat_model = self._rag_model(kb, deployed)
        retrieved = await self._aretrieve_resolved(kb, q, defaulted)
        if reranker is not None:
            retrieved = await self._as_host()._arerank_retrieved(reranker, q.text, retrieved, keep)
        chunks = retrieved.chunks
        response = await self._as_host().achat(chat_model, grounded_request(request, chunks))
        return with_references(response, chunks)
