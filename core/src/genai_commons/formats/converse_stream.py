"""ConverseStream events as the core's stream events: pure functions, no I/O.

Each event is a dict with one key naming its kind, as boto3 yields them and as JSON carries them:
``messageStart``, ``contentBlockStart``, ``contentBlockDelta``, ``contentBlockStop``,
``messageStop`` and ``metadata`` (the last carries the usage). They become :class:`TextDelta`
for text, :class:`ToolCallDelta` for tool use (numbered 0, 1, … in the order the tool-use blocks
start; the id and name come with the first piece, the input JSON in fragments), and one closing
:class:`StreamEnd` with the stop reason of ``messageStop`` and the usage of ``metadata``.

An exception event (``throttlingException``, ``modelStreamErrorException``, …) raises the core
error of its kind. A stream is complete when ``metadata``, its last event, has come after
``messageStop``: one that ends without either — even right after ``messageStop`` — is incomplete
and raises :class:`ServiceUnavailableError` (retryable), never a short answer or an answer
without its usage. An event of an unexpected shape raises :class:`ServiceUnavailableError` too.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

from ..errors import (
    BadRequestError,
    ContextLengthError,
    ProviderError,
    QuotaExceededError,
    RateLimitError,
    ServiceUnavailableError,
)
from ..model.streaming import ChatStreamEvent, StreamEnd, TextDelta, ToolCallDelta
from .converse import converse_usage, stop_reason

__all__ = ["EVENT_KINDS", "ConverseStreamReader", "StreamExceptionEvent", "astream_events", "stream_events"]

#: The event kinds of a ConverseStream answer, in the order they come.
EVENT_KINDS = (
    "messageStart",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStop",
    "metadata",
)

_EXCEPTIONS: Mapping[str, type[ProviderError]] = {
    "throttlingexception": RateLimitError,
    "servicequotaexceededexception": QuotaExceededError,
    "serviceunavailableexception": ServiceUnavailableError,
    "internalserverexception": ServiceUnavailableError,
    "modeltimeoutexception": ServiceUnavailableError,
    "validationexception": BadRequestError,
    "modelstreamerrorexception": ProviderError,
}


class StreamExceptionEvent(Exception):
    """An exception event inside the stream; the ``__cause__`` of the core error raised for it."""

    def __init__(self, kind: str, body: Mapping[str, Any]) -> None:
        super().__init__(f"{kind}: {body.get('message') or body.get('Message') or ''}".rstrip(": "))
        self.kind = kind
        self.body = dict(body)


class ConverseStreamReader:
    """Turns the events of one stream into core events, remembering what the end event needs.

    :param provider: the provider's name, for errors.
    :param model_id: the model id the closing :class:`StreamEnd` reports.
    :param service: the service's name, for messages.
    """

    __slots__ = ("_tools", "ended", "model_id", "provider", "provider_stop", "service", "stopped", "usage")

    def __init__(self, *, provider: str, model_id: str | None = None, service: str = "Amazon Bedrock") -> None:
        self.provider = provider
        self.model_id = model_id
        self.service = service
        self._tools: dict[int, int] = {}  # contentBlockIndex -> tool-call index
        self.provider_stop: str | None = None
        self.stopped = False
        #: Whether the closing ``metadata`` event came.
        self.ended = False
        self.usage: Mapping[str, Any] = {}

    def _tool_index(self, block: int) -> int:
        return self._tools.setdefault(block, len(self._tools))

    def feed(self, event: Mapping[str, Any]) -> list[ChatStreamEvent]:
        """The core events for one stream event (often none)."""
        try:
            return self._feed(event)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            raise ServiceUnavailableError(
                f"the {self.service} stream sent an event of an unexpected shape ({type(exc).__name__}); the answer "
                "is incomplete, try again",
                provider=self.provider,
            ) from exc

    def _feed(self, event: Mapping[str, Any]) -> list[ChatStreamEvent]:
        if "contentBlockDelta" in event:
            body = event["contentBlockDelta"]
            delta = body.get("delta") or {}
            if delta.get("text"):
                return [TextDelta(text=delta["text"])]
            if "toolUse" in delta:
                index = self._tool_index(body.get("contentBlockIndex", 0))
                return [ToolCallDelta(index=index, arguments=delta["toolUse"].get("input") or "")]
            return []  # reasoning and citation deltas have no place in the core's events
        if "contentBlockStart" in event:
            body = event["contentBlockStart"]
            use = (body.get("start") or {}).get("toolUse")
            if use is None:
                return []
            index = self._tool_index(body.get("contentBlockIndex", 0))
            return [ToolCallDelta(index=index, id=use.get("toolUseId"), name=use.get("name"))]
        if "messageStop" in event:
            self.provider_stop = event["messageStop"].get("stopReason")
            self.stopped = True
        elif "metadata" in event:
            self.usage = event["metadata"].get("usage") or {}
            self.ended = True
        else:
            self._raise_exception(event)
        return []

    def _raise_exception(self, event: Mapping[str, Any]) -> None:
        for kind, value in event.items():
            if not kind.lower().endswith("exception"):
                continue
            body: Mapping[str, Any] = value if isinstance(value, Mapping) else {"message": str(value)}
            cause = StreamExceptionEvent(kind, body)
            cls = _EXCEPTIONS.get(kind.lower(), ServiceUnavailableError)
            message = str(body.get("message") or body.get("Message") or "")
            if cls is BadRequestError and "too long" in message.lower():
                cls = ContextLengthError
            raise cls(
                f"{self.service} ended the stream with {kind}: {message or 'no message'}",
                provider=self.provider,
                code=kind,
                body=str(cause.body),
            ) from cause

    def end(self) -> StreamEnd:
        """The closing event; :class:`ServiceUnavailableError` when ``messageStop`` or the
        ``metadata`` after it never came."""
        if not self.stopped:
            raise ServiceUnavailableError(
                f"the {self.service} stream ended before its messageStop event; the answer is incomplete, try again",
                provider=self.provider,
            )
        if not self.ended:
            raise ServiceUnavailableError(
                f"the {self.service} stream ended after messageStop but before its metadata event (the usage); the "
                "answer is incomplete, try again",
                provider=self.provider,
            )
        return StreamEnd(
            stop_reason=stop_reason(self.provider_stop),
            provider_stop_reason=self.provider_stop,
            **converse_usage(self.usage),
            model_id=self.model_id,
        )


def stream_events(
    events: Iterable[Mapping[str, Any]],
    *,
    provider: str,
    model_id: str | None = None,
    service: str = "Amazon Bedrock",
) -> Iterator[ChatStreamEvent]:
    """The core events of a whole stream, ending with exactly one :class:`StreamEnd`."""
    reader = ConverseStreamReader(provider=provider, model_id=model_id, service=service)
    for event in events:
        yield from reader.feed(event)
    yield reader.end()


async def astream_events(
    events: AsyncIterable[Mapping[str, Any]],
    *,
    provider: str,
    model_id: str | None = None,
    service: str = "Amazon Bedrock",
) -> AsyncIterator[ChatStreamEvent]:
    """:func:`stream_events` over an async iterable."""
    reader = ConverseStreamReader(provider=provider, model_id=model_id, service=service)
    async for event in events:
        for core_event in reader.feed(event):
            yield core_event
    yield reader.end()
