"""Knowledge-base and agent calls of the host."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import attrs

from ._host_base import HostBase
from .model.enums import Capability

if TYPE_CHECKING:
    from .model import (
        Agent,
        AgentEvent,
        AgentRequest,
        AgentResponse,
        ChunkCollection,
        IngestMode,
        IngestResult,
        KnowledgeBase,
        RetrievalQuery,
        RetrievalResult,
    )


class KnowledgeCalls(HostBase):
    """``retrieve``, ``ingest``, agents, and their async twins."""

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

    def _agent_finished(
        self, target: Agent, request: AgentRequest, events: Iterator[AgentEvent], started: float
    ) -> AgentResponse:
        response = _assemble_agent(events, request, started)
        self._record(
            target.provider, target.display_name, target.agent_id, "agent",
            input_tokens=None, output_tokens=None, total_tokens=None, duration_ms=response.duration_ms or 0.0,
        )  # fmt: skip
        return response

    @staticmethod
    def _query(query: RetrievalQuery | str, k: int | None) -> RetrievalQuery:
        from .model.retrieval import RetrievalQuery  # noqa: PLC0415

        if isinstance(query, str):
            return RetrievalQuery(text=query) if k is None else RetrievalQuery(text=query, k=k)
        return query if k is None else attrs.evolve(query, k=k)

    def retrieve(
        self, knowledge_base: KnowledgeBase | str, query: RetrievalQuery | str, *, k: int | None = None
    ) -> RetrievalResult:
        """The chunks nearest to the query, most similar first."""
        kb = self.knowledge_base(knowledge_base)
        self._route(kb.provider, Capability.RETRIEVE)
        q = self._query(query, k)
        started = time.perf_counter()
        result: RetrievalResult = self._call(
            kb.provider, Capability.RETRIEVE, lambda: self._hook.genai_retrieve(knowledge_base=kb, query=q)
        )
        self._kb_usage(kb, "retrieve", result, started)
        return result

    async def aretrieve(
        self, knowledge_base: KnowledgeBase | str, query: RetrievalQuery | str, *, k: int | None = None
    ) -> RetrievalResult:
        """:meth:`retrieve`, async."""
        kb = self.knowledge_base(knowledge_base)
        self._route(kb.provider, Capability.RETRIEVE)
        q = self._query(query, k)
        started = time.perf_counter()
        result: RetrievalResult = await self._call_async(
            kb.provider, Capability.RETRIEVE, lambda: self._hook.genai_retrieve_async(knowledge_base=kb, query=q)
        )
        self._kb_usage(kb, "retrieve", result, started)
        return result

    def ingest(
        self, knowledge_base: KnowledgeBase | str, chunks: ChunkCollection, mode: IngestMode | str = "insert"
    ) -> IngestResult:
        """Store knowledge-base chunks: insert, replace by source object, or repopulate."""
        kb = self.knowledge_base(knowledge_base)
        self._route(kb.provider, Capability.INGEST)
        from .model.retrieval import IngestMode  # noqa: PLC0415

        ingest_mode = IngestMode(mode)
        started = time.perf_counter()
        result: IngestResult = self._call(
            kb.provider,
            Capability.INGEST,
            lambda: self._hook.genai_ingest(knowledge_base=kb, chunks=chunks, mode=ingest_mode),
        )
        self._kb_usage(kb, "ingest", result, started)
        return result

    async def aingest(
        self, knowledge_base: KnowledgeBase | str, chunks: ChunkCollection, mode: IngestMode | str = "insert"
    ) -> IngestResult:
        """:meth:`ingest`, async."""
        kb = self.knowledge_base(knowledge_base)
        self._route(kb.provider, Capability.INGEST)
        from .model.retrieval import IngestMode  # noqa: PLC0415

        ingest_mode = IngestMode(mode)
        started = time.perf_counter()
        result: IngestResult = await self._call_async(
            kb.provider,
            Capability.INGEST,
            lambda: self._hook.genai_ingest_async(knowledge_base=kb, chunks=chunks, mode=ingest_mode),
        )
        self._kb_usage(kb, "ingest", result, started)
        return result

    def stream_agent(self, agent: Agent | str, request: AgentRequest | str) -> Iterator[AgentEvent]:
        """One turn with a hosted agent, as its events arrive."""
        target = self.agent(agent)
        req = _agent_request(request)
        events = self._call(
            target.provider, Capability.AGENT, lambda: self._hook.genai_invoke_agent(agent=target, request=req)
        )
        return iter(events)

    def invoke_agent(self, agent: Agent | str, request: AgentRequest | str) -> AgentResponse:
        """One turn with a hosted agent, assembled: text, references and traces."""
        target = self.agent(agent)
        req = _agent_request(request)
        started = time.perf_counter()
        return self._agent_finished(target, req, self.stream_agent(target, req), started)

    async def astream_agent(self, agent: Agent | str, request: AgentRequest | str) -> AsyncIterator[AgentEvent]:
        """:meth:`stream_agent`, as an async iterator."""
        target = self.agent(agent)
        req = _agent_request(request)
        events = self._hook.genai_invoke_agent_async(agent=target, request=req)
        if events is None:
            raise self._no_answer(target.provider, Capability.AGENT)
        async for event in events:
            yield event

    async def ainvoke_agent(self, agent: Agent | str, request: AgentRequest | str) -> AgentResponse:
        """:meth:`invoke_agent`, async."""
        target = self.agent(agent)
        req = _agent_request(request)
        started = time.perf_counter()
        events = [event async for event in self.astream_agent(target, req)]
        return self._agent_finished(target, req, iter(events), started)


def _agent_request(request: AgentRequest | str) -> AgentRequest:
    from .model.agents import AgentRequest  # noqa: PLC0415

    return AgentRequest(input_text=request) if isinstance(request, str) else request


def _assemble_agent(events: Iterator[AgentEvent], request: AgentRequest, started: float) -> AgentResponse:
    from .model.agents import AgentResponse, AgentTextChunk, AgentTrace  # noqa: PLC0415
    from .model.chat import Reference  # noqa: PLC0415

    text: list[str] = []
    references: list[Reference] = []
    traces: list[AgentTrace] = []
    for event in events:
        if isinstance(event, AgentTextChunk):
            text.append(event.text)
            references.extend(event.references)
        elif isinstance(event, AgentTrace):
            traces.append(event)
    return AgentResponse(
        text="".join(text),
        session_id=request.session_id,
        references=references,
        traces=traces,
        duration_ms=(time.perf_counter() - started) * 1000,
    )
