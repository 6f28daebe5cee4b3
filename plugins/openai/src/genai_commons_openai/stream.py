"""Streamed chat completions: server-sent events of ``chat.completion.chunk`` objects become
``TextDelta``, ``ToolCallDelta`` and one closing ``StreamEnd``.

Each chunk's ``choices[0].delta`` carries text (``content``, or ``refusal``) and tool-call pieces
(``tool_calls[i]`` with ``index``, the ``id`` and ``function.name`` on the first piece of a call and
``function.arguments`` in fragments). ``finish_reason`` arrives on the last chunk with choices; with
``stream_options.include_usage`` a final chunk with no choices carries ``usage``; ``data: [DONE]``
ends the stream.

A stream is complete only when ``data: [DONE]`` came, and — when usage was asked for — the usage
chunk before it: one that ends without them, even after its finish reason, is incomplete
(:class:`TruncatedStream`), never a short answer or an answer without its tokens. Its bytes must
be valid UTF-8 (:mod:`genai_commons.formats.sse`), as those of a plain answer must: damaged bytes
are a :class:`MalformedAnswer`, never text with U+FFFD in it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from genai_commons import ChatStreamEvent, StopReason, StreamEnd, TextDelta, ToolCallDelta
from genai_commons.formats.sse import Event, EventDecoder, InvalidUTF8
from genai_commons.jsonparse import loads

from .chat_wire import chat_response, stop_reason, usage_detail
from .errors import ErrorEvent, MalformedAnswer, TruncatedStream

if TYPE_CHECKING:
    import httpx

__all__ = ["ChunkReader", "aiter_events", "iter_events"]

_DONE = "[DONE]"


class ChunkReader:
    """Turns the chunks of one stream into events, remembering what the end event needs."""

    __slots__ = (
        "detail",
        "finish",
        "input_tokens",
        "model",
        "output_tokens",
        "refused",
        "total_tokens",
        "usage_seen",
    )

    def __init__(self) -> None:
        self.finish: str | None = None
        self.model: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.total_tokens: int | None = None
        #: Cached prompt and reasoning tokens (see :func:`usage_detail`).
        self.detail: dict[str, Any] = {}
        self.refused = False
        self.usage_seen = False

    def feed(self, chunk: dict[str, Any]) -> list[ChatStreamEvent]:
        if chunk.get("error"):
            raise ErrorEvent(chunk["error"])
        usage = chunk.get("usage")
        if usage:
            self.usage_seen = True
            self.input_tokens = usage.get("prompt_tokens")
            self.output_tokens = usage.get("completion_tokens")
            self.total_tokens = usage.get("total_tokens")
            self.detail = usage_detail(usage)
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
            **self.detail,
            model_id=self.model,
        )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise MalformedAnswer(f"a stream event carries {type(value).__name__} where text belongs")
    return value


def _events(reader: ChunkReader, data: str) -> list[ChatStreamEvent]:
    """The events of one SSE ``data`` field; anything but a well-formed chunk is malformed."""
    try:
        chunk = loads(data)
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
        response = chat_response(loads(body.decode("utf-8")))
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
            cache_read_tokens=response.cache_read_tokens,
            reasoning_tokens=response.reasoning_tokens,
            model_id=response.model_id,
        )
    )
    return events


def _is_event_stream(response: httpx.Response) -> bool:
    return "text/event-stream" in response.headers.get("content-type", "")


class _Stream:
    """One event stream as it is read: server-sent events decoded from its bytes, their chunks
    read, and the end checked (see the module docstring)."""

    __slots__ = ("decoder", "done", "reader", "usage")

    def __init__(self, usage: bool) -> None:
        self.decoder = EventDecoder()
        self.reader = ChunkReader()
        self.done = False
        #: Whether the request asked for the usage chunk.
        self.usage = usage

    def feed(self, chunk: bytes) -> list[ChatStreamEvent]:
        """The events of the server-sent events that ``chunk`` completes."""
        return self._take(self.decoder.feed, chunk)

    def end(self) -> list[ChatStreamEvent]:
        """The last events, once the answer has ended, closed by the :class:`StreamEnd`;
        :class:`TruncatedStream` when it ended before ``[DONE]``, or without the usage chunk that
        was asked for."""
        events = self._take(lambda _: self.decoder.close(), b"")
        return [*events, self._complete()]

    def _take(self, decode: Callable[[bytes], list[Event]], chunk: bytes) -> list[ChatStreamEvent]:
        try:
            found = decode(chunk)
        except InvalidUTF8 as exc:
            raise MalformedAnswer(str(exc)) from exc
        events: list[ChatStreamEvent] = []
        for sse in found:
            if sse.data == _DONE:
                self.done = True
            elif sse.data and not self.done:  # what follows [DONE] is read, so that the connection is reused
                events += _events(self.reader, sse.data)
        return events

    def _complete(self) -> StreamEnd:
        if not self.done:
            after = "after its finish reason " if self.reader.finish is not None else ""
            raise TruncatedStream(f"it ended {after}without data: [DONE]")
        if self.usage and not self.reader.usage_seen:
            raise TruncatedStream(
                "no usage chunk came before data: [DONE], though stream_options.include_usage asked for one "
                "(for a server that never sends it, set stream_usage = false)"
            )
        return self.reader.end()


def iter_events(response: httpx.Response, *, usage: bool = False) -> Iterator[ChatStreamEvent]:
    """The events of a streamed answer whose status was checked (sync); ``usage``: whether the
    request asked for the usage chunk."""
    if not _is_event_stream(response):
        yield from _whole_answer(response.read())
        return
    stream = _Stream(usage)
    for chunk in response.iter_bytes():
        yield from stream.feed(chunk)
    yield from stream.end()


async def aiter_events(response: httpx.Response, *, usage: bool = False) -> AsyncIterator[ChatStreamEvent]:
    """:func:`iter_events` for an async response."""
    if not _is_event_stream(response):
        for event in _whole_answer(await response.aread()):
            yield event
        return
    stream = _Stream(usage)
    async for chunk in response.aiter_bytes():
        for event in stream.feed(chunk):
            yield event
    for event in stream.end():
        yield event
