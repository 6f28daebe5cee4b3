"""Rerank calls of the host, and the reranking stage of retrievals.

A model whose output modality is ``rerank`` (Bedrock's ``amazon.rerank-v1:0``) is called through
``genai_rerank``; a chat model (output ``text``) serves as a reranker through the prompt of
:mod:`genai_commons.knowledge.rerank_prompt`, in one ``genai_chat`` call. Both go through the
host's retries and deadline, and each rerank call is recorded as one ``rerank`` usage record of
the model that scored (for a chat model, its tokens; the call is not also recorded as ``chat``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import attrs

from ._host_base import HostBase, ModelRef
from .capabilities import check_chat, check_model
from .errors import UnsupportedCapabilityError, ValidationError
from .model.enums import Capability, Modality

if TYPE_CHECKING:
    from .model import Chunk, ChunkCollection, DeployedModel, RerankRequest, RerankResponse, RetrievalResult

#: What ``rerank=`` of a retrieval takes: a model, None (``[knowledge] rerank_model``) or False (none).
RerankChoice = ModelRef | Literal[False] | None


class RerankCalls(HostBase):
    """``rerank``, ``arerank``, and the reranking of retrieved chunks."""

    def _rerank_input(
        self, model: ModelRef, query: str, documents: Iterable[str | Chunk] | ChunkCollection, top_n: int | None
    ) -> tuple[DeployedModel, RerankRequest]:
        from .model.knowledge import Chunk, ChunkCollection  # noqa: PLC0415
        from .model.rerank import RerankRequest  # noqa: PLC0415

        deployed = self._reranker(model)
        if isinstance(documents, str):
            raise ValidationError("documents takes a list of texts or chunks, not a single string")
        items = documents.chunks if isinstance(documents, ChunkCollection) else tuple(documents)
        texts = [d.input_text if isinstance(d, Chunk) else d for d in items]
        return deployed, RerankRequest(query=query, documents=texts, top_n=top_n)

    def _reranker(self, model: ModelRef) -> DeployedModel:
        """The model, checked to rerank: a rerank model of a provider that offers reranking, or a
        chat model of a provider that offers chat."""
        deployed = self.model(model)
        if deployed.output_modality is Modality.RERANK:
            check_model(deployed, Modality.RERANK, "reranking")
            self._route(deployed.provider, Capability.RERANK, deployed.model_id)
        elif deployed.output_modality is Modality.TEXT:
            check_model(deployed, Modality.TEXT, "reranking")
            self._route(deployed.provider, Capability.CHAT, deployed.model_id)
        else:
            raise UnsupportedCapabilityError(
                f"model {deployed.ref} produces {deployed.output_modality.value}, so it cannot rerank; choose a rerank "
                "model (output rerank, for example bedrock:amazon.rerank-v1:0) or a chat model (see `genai models`)",
                target=deployed.ref,
                capability="reranking",
            )
        return deployed

    def _reranked_by(
        self, deployed: DeployedModel, request: RerankRequest, result: RerankResponse, started: float
    ) -> RerankResponse:
        from .knowledge.reranking import checked  # noqa: PLC0415

        result = checked(result, len(request.documents), request.wanted, deployed.provider)
        if result.duration_ms is None:
            result = attrs.evolve(result, duration_ms=(time.perf_counter() - started) * 1000)
        self._record(
            deployed.provider, deployed.display_name, deployed.model_id, "rerank",
            input_tokens=result.input_tokens, output_tokens=result.output_tokens,
            total_tokens=result.total_tokens, duration_ms=result.duration_ms or 0.0,
        )  # fmt: skip
        return result

    def rerank(
        self,
        model: ModelRef,
        query: str,
        documents: Iterable[str | Chunk] | ChunkCollection,
        *,
        top_n: int | None = None,
    ) -> RerankResponse:
        """Score how relevant each document (a text or a chunk) is to ``query``; the results name
        the documents by index, most relevant first, scored 0 to 1, at most ``top_n`` of them.

        ``model`` is a rerank model, or a chat model prompted to score (see ``docs/knowledge-bases.md``).
        """
        deployed, request = self._rerank_input(model, query, documents, top_n)
        started = time.perf_counter()
        if deployed.output_modality is Modality.RERANK:
            result = self._call(
                deployed.provider, Capability.RERANK, lambda: self._hook.genai_rerank(model=deployed, request=request)
            )
        else:
            from .knowledge.rerank_prompt import rerank_request, response_from  # noqa: PLC0415

            chat = rerank_request(request.query, request.documents)
            check_chat(deployed, chat)
            answer = self._call(
                deployed.provider, Capability.CHAT, lambda: self._hook.genai_chat(model=deployed, request=chat)
            )
            result = response_from(answer, len(request.documents), request.wanted, deployed)
        return self._reranked_by(deployed, request, result, started)

    async def arerank(
        self,
        model: ModelRef,
        query: str,
        documents: Iterable[str | Chunk] | ChunkCollection,
        *,
        top_n: int | None = None,
    ) -> RerankResponse:
        """:meth:`rerank`, async."""
        deployed, request = self._rerank_input(model, query, documents, top_n)
        started = time.perf_counter()
        if deployed.output_modality is Modality.RERANK:
            result = await self._call_async(
                deployed.provider,
                Capability.RERANK,
                lambda: self._hook.genai_rerank_async(model=deployed, request=request),
            )
        else:
            from .knowledge.rerank_prompt import rerank_request, response_from  # noqa: PLC0415

            chat = rerank_request(request.query, request.documents)
            check_chat(deployed, chat)
            answer = await self._call_async(
                deployed.provider, Capability.CHAT, lambda: self._hook.genai_chat_async(model=deployed, request=chat)
            )
            result = response_from(answer, len(request.documents), request.wanted, deployed)
        return self._reranked_by(deployed, request, result, started)

    # -- the reranking stage of retrievals ---------------------------------------------------------

    def _rerank_plan(self, rerank: RerankChoice, given: int | None, k: int) -> tuple[DeployedModel | None, int]:
        """The reranker of a retrieval (None: no reranking) and how many candidates to fetch."""
        from .knowledge.reranking import candidates  # noqa: PLC0415

        choice = self.config.knowledge.rerank_model if rerank is None else rerank
        if choice is False or choice is None or choice == "":
            if given is not None:
                raise ValidationError(
                    "rerank_candidates needs a rerank model: give rerank=... (--rerank) or [knowledge] rerank_model"
                )
            return None, k
        return self._reranker(choice), candidates(k, given, self.config.knowledge.rerank_candidates)

    def _rerank_retrieved(
        self, model: DeployedModel, text: str | None, result: RetrievalResult, k: int
    ) -> RetrievalResult:
        from .knowledge.reranking import rerank_text, reranked  # noqa: PLC0415

        if not result.chunks:
            return result
        scores = self.rerank(model, _query_text(text), [rerank_text(c) for c in result.chunks], top_n=k)
        return attrs.evolve(result, chunks=reranked(result.chunks, scores, k))

    async def _arerank_retrieved(
        self, model: DeployedModel, text: str | None, result: RetrievalResult, k: int
    ) -> RetrievalResult:
        from .knowledge.reranking import rerank_text, reranked  # noqa: PLC0415

        if not result.chunks:
            return result
        scores = await self.arerank(model, _query_text(text), [rerank_text(c) for c in result.chunks], top_n=k)
        return attrs.evolve(result, chunks=reranked(result.chunks, scores, k))


def _query_text(text: str | None) -> str:
    if text is None:
        raise ValidationError("reranking needs the query's text, not only a vector: give RetrievalQuery(text=...)")
    return text
