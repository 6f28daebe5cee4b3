"""The host's tool loop for streamed chat, as :meth:`Host.chat` runs it for whole answers.

Every step's events stream through (its text, its tool-call pieces, its :class:`StreamEnd`); when
the model calls functions the request offers, the host runs them, yields one
:class:`ToolExecution` per call, and streams the next step. The stream's ``response`` is the last
step's answer with the usage of every step summed, and one usage event is recorded.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence

from .model import ChatStreamEvent, Message, Request, Response, ToolExecution
from .streams import StreamAssembler
from .toolloop import aggregate, next_step, run_calls, run_calls_async, runnable_calls

__all__ = ["StepAssembler", "aloop_events", "loop_events"]


class StepAssembler(StreamAssembler):
    """Assembles each step of a tool loop into its own response; :meth:`response` aggregates them."""

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        #: The response of every step ended so far.
        self.steps: list[Response] = []
        self._step_started = time.perf_counter()

    def add(self, event: ChatStreamEvent) -> None:
        if not isinstance(event, ToolExecution):
            super().add(event)

    def end_step(self) -> Response:
        """The response of the step whose events were added, and a fresh start for the next."""
        now = time.perf_counter()
        response = super().response((now - self._step_started) * 1000)
        self.steps.append(response)
        steps = self.steps
        StreamAssembler.__init__(self, self._provider)
        self.steps, self._step_started = steps, now
        return response

    def response(self, duration_ms: float) -> Response:
        """Every step summed (the tools' own time is not the model's, so durations are the steps')."""
        return aggregate(self.steps) if self.steps else super().response(duration_ms)


def _executions(response: Response, messages: Sequence[Message]) -> Iterator[ToolExecution]:
    results = {m.tool_call_id: m for m in messages[1:]}
    for call in response.tool_calls:
        result = results.get(call.id)
        if result is not None:
            yield ToolExecution(call=call, result=result.content or "", is_error=result.is_error)


def _close(events: object) -> None:
    close = getattr(events, "close", None)
    if close is not None:
        close()


async def _aclose(events: object) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()


def loop_events(
    events: Iterator[ChatStreamEvent],
    request: Request,
    open_step: Callable[[Request], Iterator[ChatStreamEvent]],
    assembler: StepAssembler,
    limit: int,
    too_many: Callable[[list[Response]], Exception],
) -> Iterator[ChatStreamEvent]:
    """The events of every step: ``events`` first, then one stream per step from ``open_step``.
    The caller's stream adds each event to ``assembler`` before this generator resumes."""
    current = request
    try:
        while True:
            yield from events
            response = assembler.end_step()
            if not runnable_calls(current, response):
                return
            if len(assembler.steps) >= limit:
                raise too_many(assembler.steps)
            messages = run_calls(current, response)
            yield from _executions(response, messages)
            current = next_step(current, messages)
            events = open_step(current)
    finally:
        _close(events)


async def aloop_events(
    events: AsyncIterator[ChatStreamEvent],
    request: Request,
    open_step: Callable[[Request], Awaitable[AsyncIterator[ChatStreamEvent]]],
    assembler: StepAssembler,
    limit: int,
    too_many: Callable[[list[Response]], Exception],
) -> AsyncIterator[ChatStreamEvent]:
    """:func:`loop_events` for ``async for``; coroutine tool functions run concurrently."""
    current = request
    try:
        while True:
            async for event in events:
                yield event
            response = assembler.end_step()
            if not runnable_calls(current, response):
                return
            if len(assembler.steps) >= limit:
                raise too_many(assembler.steps)
            messages = await run_calls_async(current, response)
            for execution in _executions(response, messages):
                yield execution
            current = next_step(current, messages)
            events = await open_step(current)
    finally:
        await _aclose(events)
