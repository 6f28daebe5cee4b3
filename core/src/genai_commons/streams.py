"""Streamed chat on the host side: events pass through, and are assembled into a Response."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator

import attrs

from .errors import ServiceUnavailableError
from .model import (
    ChatStreamEvent,
    Message,
    Response,
    Role,
    StreamEnd,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)


class StreamAssembler:
    """Joins text deltas, and tool-call deltas by index, into one :class:`Response`."""

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._text: list[str] = []
        self._calls: dict[int, list[str]] = {}
        self._ids: dict[int, str] = {}
        self._names: dict[int, str] = {}
        self.end: StreamEnd | None = None

    def add(self, event: ChatStreamEvent) -> None:
        if isinstance(event, TextDelta):
            self._text.append(event.text)
        elif isinstance(event, ToolCallDelta):
            self._calls.setdefault(event.index, []).append(event.arguments)
            if event.id:
                self._ids[event.index] = event.id
            if event.name:
                self._names[event.index] = self._names.get(event.index, "") + event.name
        elif isinstance(event, StreamEnd):
            self.end = event

    def response(self, duration_ms: float) -> Response:
        if self.end is None:
            raise ServiceUnavailableError(
                "the stream ended before its final event; the response is incomplete, try again",
                provider=self._provider,
            )
        calls = tuple(
            ToolCall(id=self._ids.get(i) or f"call_{i}", name=self._names.get(i, ""), arguments="".join(parts) or "{}")
            for i, parts in sorted(self._calls.items())
        )
        text = "".join(self._text)
        message = Message(role=Role.ASSISTANT, content=text if text or not calls else None, tool_calls=calls)
        end = self.end
        return Response(
            message=message,
            input_tokens=end.input_tokens,
            output_tokens=end.output_tokens,
            total_tokens=end.total_tokens,
            cache_read_tokens=end.cache_read_tokens,
            cache_write_tokens=end.cache_write_tokens,
            reasoning_tokens=end.reasoning_tokens,
            duration_ms=duration_ms,
            stop_reason=end.stop_reason,
            provider_stop_reason=end.provider_stop_reason,
            model_id=end.model_id,
        )


class _AssembledStream:
    """What both stream kinds share: the assembler, and recording the response at the end."""

    #: Set by :func:`genai_commons.structured_output.shape_stream`: makes the final response.
    _shape: Callable[[Response], Response] | None = None

    def __init__(
        self,
        provider: str,
        started: float,
        on_done: Callable[[Response], None],
        assembler: StreamAssembler | None = None,
    ) -> None:
        self._assembler = assembler or StreamAssembler(provider)
        self._started = started
        self._on_done = on_done
        #: The assembled response, once the stream has ended.
        self.response: Response | None = None
        #: ``PROVIDER:MODEL`` of the target answering a stream opened through an alias of several
        #: targets (:mod:`genai_commons.fallbacks`); the response's ``model`` says it too.
        self.answered_by: str | None = None

    def _finish(self) -> Response:
        response = self._assembler.response((time.perf_counter() - self._started) * 1000)
        if self.answered_by is not None:
            response = attrs.evolve(response, model=self.answered_by)
        self.response = response
        self._on_done(self.response)
        if self._shape is not None:  # structured output: parsed after the usage is recorded
            self.response = self._shape(self.response)
        return self.response


class ChatStream(_AssembledStream):
    """A streamed chat: iterate for the events; :attr:`response` is set once the stream ends.

    Usage is recorded when the stream completes; a stream abandoned early records nothing.
    """

    def __init__(
        self,
        events: Iterator[ChatStreamEvent],
        provider: str,
        started: float,
        on_done: Callable[[Response], None],
        assembler: StreamAssembler | None = None,
    ) -> None:
        super().__init__(provider, started, on_done, assembler)
        self._events = events

    def __iter__(self) -> Iterator[ChatStreamEvent]:
        for event in self._events:
            self._assembler.add(event)
            yield event
        self._finish()

    def text(self) -> Iterator[str]:
        """Only the text, piece by piece."""
        for event in self:
            if isinstance(event, TextDelta):
                yield event.text

    def collect(self) -> Response:
        """Consume the stream and return the assembled response."""
        for _ in self:
            pass
        assert self.response is not None
        return self.response

    def close(self) -> None:
        close = getattr(self._events, "close", None)
        if close is not None:
            close()


class AsyncChatStream(_AssembledStream):
    """:class:`ChatStream` for ``async for``."""

    def __init__(
        self,
        events: AsyncIterator[ChatStreamEvent],
        provider: str,
        started: float,
        on_done: Callable[[Response], None],
        assembler: StreamAssembler | None = None,
    ) -> None:
        super().__init__(provider, started, on_done, assembler)
        self._events = events

    async def __aiter__(self) -> AsyncIterator[ChatStreamEvent]:
        async for event in self._events:
            self._assembler.add(event)
            yield event
        self._finish()

    async def text(self) -> AsyncIterator[str]:
        async for event in self:
            if isinstance(event, TextDelta):
                yield event.text

    async def collect(self) -> Response:
        async for _ in self:
            pass
        assert self.response is not None
        return self.response

    async def aclose(self) -> None:
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()
