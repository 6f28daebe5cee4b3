"""Streamed chat completions: server-sent events of ``chat.completion.chunk`` objects become
``TextDelta``, ``ToolCallDelta`` and one closing ``StreamEnd``.

Each chunk's ``choices[0].delta`` carries text (``content``, or ``refusal``) and tool-call pieces
(``tool_calls[i]`` with ``index``, the ``id`` and ``function.name`` on the first piece of a call and
``function.arguments`` in fragments). ``finish_reason`` arrives on the last chunk with choices; with
``stream_options.include_usage`` a final chunk with no choices carries ``usage``; ``data: [DONE]``
ends the stream. A stream cut before it finished is an error, never a short answer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from genai_commons import ChatStreamEvent, StopReason, StreamEnd, TextDelta, ToolCallDelta

from .errors import ErrorEvent, MalformedAnswer, TruncatedStream
from .wire import chat_response, stop_reason

if TYPE_CHECKING:
    import httpx

__all__ = ["ChunkReader", "aiter_events", "iter_events"]

_DONE = "[DONE]"


class ChunkReader:
    """Turns the chunks of one stream into events, remembering what the end event needs."""

    __slots__ = ("finish", "input_tokens", "model", "output_tokens", "refused", "total_tokens")

    def __init__(self) -> None:
        self.finish: str | None = None
        self.model: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.total_tokens: int | None = None
        self.refused = False

    def feed(self, chunk: dict[str, Any]) -> list[ChatStreamEvent]:
        if chunk.get("error"):
            raise ErrorEvent(chunk["error"])
        usage = chunk.get("usage")
        if usage:
            self.input_tokens = usage.get("prompt_tokens")
            self.output_tokens = usage.get("completion_tokens")
            self.total_tokens = usage.get("total_tokens")
        if chunk.get("model"):
            self.model = chunk["model"]
        choices = chunk.get("choices")
        if not choices:  # the usage chunk, or Azure's prompt-filter results
            return []
        choice = choices[0]
        if choice.get("finish_reason"):
            self.finish = choice["finish_reason"]
        delta = choice.get("delta") or {}
        events: list[ChatStreamEvent] = []
        text = delta.get("content")
        if text:
            events.append(TextDelta(text=_text(text)))
        elif delta.get("refusal"):
            self.refused = True
            events.append(TextDelta(text=_text(delta["refusal"])))
        for call in delta.get("tool_calls") or ():
            function = call.get("function") or {}
            events.append(
                ToolCallDelta(
                    index=call.get("index", 0),
                    id=call.get("id"),
                    name=function.get("name"),
                    arguments=_text(function.get("arguments") or ""),
                )
            )
        return events

    def end(self) -> StreamEnd:
        reason = StopReason.CONTENT_FILTERED if self.refused else stop_reason(self.finish)
        return StreamEnd(
            stop_reason=reason,
            provider_stop_reason=self.finish,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            total_tokens=self.total_tokens,
            model_id=self.model,
        )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise MalformedAnswer(f"a stream event carries {type(value).__name__} where text belongs")
    return value


def _events(reader: ChunkReader, data: str) -> list[ChatStreamEvent]:
    """The events of one SSE ``data`` field; anything but a well-formed chunk is malformed."""
    try:
        chunk = json.loads(data)
    except ValueError as exc:
        raise MalformedAnswer(f"a stream event is not JSON: {data[:80]!r}") from exc
    if not isinstance(chunk, dict):
        raise MalformedAnswer(f"a stream event is not a JSON object: {data[:80]!r}")
    try:
        return reader.feed(chunk)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        raise MalformedAnswer(f"unexpected stream event ({type(exc).__name__}: {exc}): {data[:80]!r}") from exc


def _whole_answer(body: bytes) -> list[ChatStreamEvent]:
    """A server that ignored ``stream: true`` and answered in one JSON body."""
    try:
        response = chat_response(json.loads(body))
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise MalformedAnswer("the answer is neither an event stream nor a chat completion") from exc
    events: list[ChatStreamEvent] = []
    if response.text:
        events.append(TextDelta(text=response.text))
    for index, call in enumerate(response.tool_calls):
        events.append(ToolCallDelta(index=index, id=call.id, name=call.name, arguments=call.arguments))
    events.append(
        StreamEnd(
            stop_reason=response.stop_reason,
            provider_stop_reason=response.provider_stop_reason,
            input_tokens=response.input_tokens,
            output_tokens=response.output_tokens,
            total_tokens=response.total_tokens,
            model_id=response.model_id,
        )
    )
    return events


def _is_event_stream(response: httpx.Response) -> bool:
    return "text/event-stream" in response.headers.get("content-type", "")


def iter_events(response: httpx.Response) -> Iterator[ChatStreamEvent]:
    """The events of a streamed answer whose status was checked (sync)."""
    if not _is_event_stream(response):
        yield from _whole_answer(response.read())
        return
    from httpx_sse import EventSource  # noqa: PLC0415

    reader = ChunkReader()
    done = False
    for sse in EventSource(response).iter_sse():  # read to the end, so that the connection is reused
        if sse.data == _DONE:
            done = True
        elif sse.data and not done:
            yield from _events(reader, sse.data)
    if not done and reader.finish is None:
        raise TruncatedStream("the stream ended before its last chunk")
    yield reader.end()  # after [DONE], or finished without one


async def aiter_events(response: httpx.Response) -> AsyncIterator[ChatStreamEvent]:
    """:func:`iter_events` for an async response."""
    if not _is_event_stream(response):
        for event in _whole_answer(await response.aread()):
            yield event
        return
    from httpx_sse import EventSource  # noqa: PLC0415

    reader = ChunkReader()
    done = False
    async for sse in EventSource(response).aiter_sse():
        if sse.data == _DONE:
            done = True
        elif sse.data and not done:
            for event in _events(reader, sse.data):
                yield event
    if not done and reader.finish is None:
        raise TruncatedStream("the stream ended before its last chunk")
    yield reader.end()
