"""ConverseStream events into the core's stream events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from genai_commons import (
    ContextLengthError,
    ProviderError,
    RateLimitError,
    ServiceUnavailableError,
    StopReason,
    StreamEnd,
    TextDelta,
    ToolCallDelta,
)
from genai_commons.formats.converse_stream import (
    ConverseStreamReader,
    StreamExceptionEvent,
    astream_events,
    stream_events,
)
from genai_commons.streams import StreamAssembler

EVENTS: list[dict[str, Any]] = [
    {"messageStart": {"role": "assistant"}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Let me"}}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": " check."}}},
    {"contentBlockStop": {"contentBlockIndex": 0}},
    {"contentBlockStart": {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "weather"}}}},
    {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city": '}}}},
    {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '"Oslo"}'}}}},
    {"contentBlockStop": {"contentBlockIndex": 1}},
    {"contentBlockStart": {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "t2", "name": "time"}}}},
    {"contentBlockStop": {"contentBlockIndex": 2}},
    {"messageStop": {"stopReason": "tool_use"}},
    {"metadata": {"usage": {"inputTokens": 20, "outputTokens": 9, "totalTokens": 29}, "metrics": {"latencyMs": 5}}},
]


def test_events_become_text_and_tool_call_deltas_and_one_end() -> None:
    events = list(stream_events(EVENTS, provider="p", model_id="m"))
    assert events[:2] == [TextDelta(text="Let me"), TextDelta(text=" check.")]
    assert events[2:5] == [
        ToolCallDelta(index=0, id="t1", name="weather"),
        ToolCallDelta(index=0, arguments='{"city": '),
        ToolCallDelta(index=0, arguments='"Oslo"}'),
    ]
    assert events[5] == ToolCallDelta(index=1, id="t2", name="time")
    end = events[-1]
    assert isinstance(end, StreamEnd) and [e for e in events if isinstance(e, StreamEnd)] == [end]
    assert end.stop_reason is StopReason.TOOL_USE and end.provider_stop_reason == "tool_use"
    assert (end.input_tokens, end.output_tokens, end.total_tokens, end.model_id) == (20, 9, 29, "m")


def test_the_events_assemble_into_a_response() -> None:
    assembler = StreamAssembler("p")
    for event in stream_events(EVENTS, provider="p"):
        assembler.add(event)
    response = assembler.response(1.0)
    assert response.text == "Let me check."
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("t1", "weather", '{"city": "Oslo"}'),
        ("t2", "time", "{}"),
    ]


def test_a_stream_without_message_stop_is_incomplete() -> None:
    with pytest.raises(ServiceUnavailableError, match="ended before its messageStop") as info:
        list(stream_events(EVENTS[:4], provider="p", service="Mendix Cloud GenAI"))
    assert info.value.provider == "p" and info.value.retryable


@pytest.mark.parametrize(
    ("kind", "message", "expected"),
    [
        ("throttlingException", "slow down", RateLimitError),
        ("internalServerException", "oops", ServiceUnavailableError),
        ("validationException", "Input is too long for requested model.", ContextLengthError),
        ("modelStreamErrorException", "broken", ProviderError),
        ("somethingNewException", "new", ServiceUnavailableError),
    ],
)
def test_exception_events_raise_their_core_error(kind: str, message: str, expected: type[ProviderError]) -> None:
    reader = ConverseStreamReader(provider="p")
    reader.feed(EVENTS[1])
    with pytest.raises(expected) as info:
        reader.feed({kind: {"message": message}})
    assert type(info.value) is expected
    assert isinstance(info.value.__cause__, StreamExceptionEvent) and info.value.code == kind
    assert message in str(info.value)


def test_unknown_deltas_and_blocks_are_skipped() -> None:
    reader = ConverseStreamReader(provider="p")
    assert reader.feed({"contentBlockDelta": {"delta": {"reasoningContent": {"text": "hmm"}}}}) == []
    assert reader.feed({"contentBlockStart": {"contentBlockIndex": 0, "start": {}}}) == []
    assert reader.feed({"somethingElse": {}}) == []


def test_the_async_variant_agrees() -> None:
    async def source() -> AsyncIterator[dict[str, Any]]:
        for event in EVENTS:
            yield event

    async def collect() -> list[Any]:
        return [e async for e in astream_events(source(), provider="p", model_id="m")]

    assert asyncio.run(collect()) == list(stream_events(EVENTS, provider="p", model_id="m"))
