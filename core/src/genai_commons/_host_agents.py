"""Agent calls of the host: one turn with a hosted agent, streamed or assembled."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import attrs

from ._host_base import HostBase
from ._host_chat import abounded_events, bounded_events
from .model.enums import Capability

if TYPE_CHECKING:
    from .model import Agent, AgentEvent, AgentRequest, AgentResponse


class AgentCalls(HostBase):
    """``invoke_agent``, ``stream_agent`` and their async twins."""

    def _agent_finished(
        self, target: Agent, request: AgentRequest, events: Iterator[AgentEvent], started: float
    ) -> AgentResponse:
        response = _assemble_agent(events, request, started)
        self._record(
            target.provider, target.display_name, target.agent_id, "agent",
            input_tokens=None, output_tokens=None, total_tokens=None, duration_ms=response.duration_ms or 0.0,
        )  # fmt: skip
        return response

    def stream_agent(self, agent: Agent | str, request: AgentRequest | str) -> Iterator[AgentEvent]:
        """One turn with a hosted agent, as its events arrive."""
        target = self.agent(agent)
        req = _agent_request(request)
        with self._deadline(target.provider) as bound:
            events = self._call(
                target.provider, Capability.AGENT, lambda: self._hook.genai_invoke_agent(agent=target, request=req)
            )
        return bounded_events(iter(events), bound)

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
        with self._deadline(target.provider) as bound:
            events = self._hook.genai_invoke_agent_async(agent=target, request=req)
        if events is None:
            raise self._no_answer(target.provider, Capability.AGENT)
        async for event in abounded_events(aiter(events), bound):
            yield event

    async def ainvoke_agent(self, agent: Agent | str, request: AgentRequest | str) -> AgentResponse:
        """:meth:`invoke_agent`, async."""
        target = self.agent(agent)
        req = _agent_request(request)
        started = time.perf_counter()
        events = [event async for event in self.astream_agent(target, req)]
        return self._agent_finished(target, req, iter(events), started)


def _agent_request(request: AgentRequest | str) -> AgentRequest:
    """The request, with a new session id when it has none (agents need one to continue)."""
    import uuid  # noqa: PLC0415

    from .model.agents import AgentRequest  # noqa: PLC0415

    if isinstance(request, str):
        return AgentRequest(input_text=request, session_id=uuid.uuid4().hex)
    return request if request.session_id else attrs.evolve(request, session_id=uuid.uuid4().hex)


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
