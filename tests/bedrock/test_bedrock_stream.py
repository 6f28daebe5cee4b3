"""ConverseStream: real ``application/vnd.amazon.eventstream`` frames, decoded by botocore's own
event-stream parser — in-process from a ``before-send`` handler, and over a loopback connection."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any

import pytest
from bedrock_models import CLAUDE
from botocore.awsrequest import AWSResponse
from urllib3 import HTTPResponse

from genai_commons import (
    BadRequestError,
    Host,
    Message,
    RateLimitError,
    Request,
    Role,
    ServiceUnavailableError,
    StopReason,
    StreamEnd,
    TextDelta,
    ToolCallDelta,
)
from genai_commons_bedrock import BedrockProvider
from genai_commons_bedrock.testing import LocalBedrock, LocalBedrockServer, ToolUse
from genai_commons_bedrock.testing.eventstream import encode_message, event

MODEL = f"bedrock:{CLAUDE}"


def test_text_deltas_and_usage(host: Host, service: LocalBedrock) -> None:
    stream = host.stream(MODEL, "Stream   this answer")
    events = list(stream)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["You ", "said: ", "Stream   ", "this ", "answer"]
    end = events[-1]
    assert (
        isinstance(end, StreamEnd) and end.stop_reason is StopReason.END_TURN and end.provider_stop_reason == "end_turn"
    )
    assert (end.input_tokens, end.output_tokens, end.total_tokens) == (3, 5, 8)
    assert stream.response is not None and stream.response.text == "You said: Stream   this answer"
    assert [c.operation for c in service.requests] == ["converse_stream"]


def test_tool_use_deltas_become_tool_calls(host: Host, service: LocalBedrock) -> None:
    service.script(
        [
            ToolUse(name="get_weather", input={"city": "Lisbon", "unit": "C"}, id="tu-1"),
            ToolUse(name="get_time", id="tu-2"),
        ]
    )
    request = Request.from_prompt("weather and time?").with_function(get_weather).with_function(get_time)
    stream = host.stream(MODEL, request, run_tools=False)
    events = list(stream)
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert deltas[0] == ToolCallDelta(index=0, id="tu-1", name="get_weather")
    assert len(deltas) > 4  # the arguments arrive in pieces
    response = stream.response
    assert response is not None and response.stop_reason is StopReason.TOOL_USE
    assert [(c.id, c.name, c.parsed_arguments()) for c in response.tool_calls] == [
        ("tu-1", "get_weather", {"city": "Lisbon", "unit": "C"}),
        ("tu-2", "get_time", {}),
    ]
    sent = service.requests[0].body
    assert [t["toolSpec"]["name"] for t in sent["toolConfig"]["tools"]] == ["get_weather", "get_time"]


def get_weather(city: str, unit: str = "C") -> str:
    """The weather in a city."""
    return f"18 {unit} in {city}"


def get_time() -> str:
    """The time."""
    return "noon"


def test_an_exception_event_mid_stream_is_raised_as_the_core_error(host: Host, service: LocalBedrock) -> None:
    service.fail_stream(after_events=3, exception_type="throttlingException")
    stream = host.stream(MODEL, "one two three four")
    seen: list[Any] = []
    with pytest.raises(RateLimitError) as info:
        seen.extend(stream)
    assert [type(e) for e in seen] == [TextDelta, TextDelta]  # what arrived before the break
    assert info.value.code == "throttlingException" and "The stream was interrupted" in str(info.value)
    assert type(info.value.__cause__).__name__ == "EventStreamError"
    assert len(service.requests) == 1  # after the first event the host does not retry


def test_an_exception_before_the_first_event_is_retried(host: Host, service: LocalBedrock) -> None:
    service.fail_stream(after_events=0, exception_type="serviceUnavailableException")
    assert host.stream(MODEL, "again").collect().text == "You said: again"
    assert len(service.requests) == 2


def test_a_stream_cut_before_message_stop_is_an_error(make_host: Callable[..., Host], session: Any) -> None:
    frames = [
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Half an ans"}}),
    ]

    def cut(request: Any, **_: Any) -> AWSResponse:
        raw = HTTPResponse(body=io.BytesIO(b"".join(frames)), status=200, preload_content=False)
        return AWSResponse(request.url, 200, {"content-type": "application/vnd.amazon.eventstream"}, raw)

    session.events.register("before-send.bedrock-runtime.ConverseStream", cut)
    host = make_host(BedrockProvider(session=session), attempts=1)
    with pytest.raises(ServiceUnavailableError, match="ended before its messageStop"):
        host.stream(MODEL, "hi").collect()


def test_frames_with_a_bad_checksum_are_refused(make_host: Callable[..., Host], session: Any) -> None:
    good = event("messageStart", {"role": "assistant"})
    broken = good[:-1] + bytes([good[-1] ^ 0xFF])

    def corrupt(request: Any, **_: Any) -> AWSResponse:
        raw = HTTPResponse(body=io.BytesIO(broken), status=200, preload_content=False)
        return AWSResponse(request.url, 200, {"content-type": "application/vnd.amazon.eventstream"}, raw)

    session.events.register("before-send.bedrock-runtime.ConverseStream", corrupt)
    host = make_host(BedrockProvider(session=session), attempts=1)
    with pytest.raises(ServiceUnavailableError, match="event stream"):
        host.stream(MODEL, "hi").collect()
    assert encode_message({}, b"")[:4] == b"\x00\x00\x00\x10"  # the smallest message: 16 bytes


def test_a_refused_stream_request_is_a_bad_request_and_not_retried(host: Host, service: LocalBedrock) -> None:
    request = Request(messages=(Message(role=Role.ASSISTANT, content="I start"), Message(role=Role.USER, content="y")))
    with pytest.raises(BadRequestError, match="must start with a user message"):
        host.stream(MODEL, request).collect()
    assert len(service.requests) == 1


def test_async_stream(host: Host) -> None:
    async def collect() -> str:
        stream = await host.astream(MODEL, "async please")
        return "".join([piece async for piece in stream.text()])

    assert asyncio.run(collect()) == "You said: async please"


def test_over_a_loopback_connection(server_env: LocalBedrockServer, make_host: Callable[..., Host]) -> None:
    """The endpoint comes from AWS_ENDPOINT_URL_BEDROCK_RUNTIME; botocore reads it, the plugin does not."""
    host = make_host(BedrockProvider())
    stream = host.stream(MODEL, "over the wire")
    first = next(iter(stream))
    assert first == TextDelta(text="You ")
    stream.close()  # abandoning the stream closes the connection
    assert host.stream(MODEL, "over the wire").collect().text == "You said: over the wire"
    assert [r.operation for r in server_env.service.requests] == ["converse_stream", "converse_stream"]
    assert all(r.access_key_id == "AKIDTESTTESTTEST" for r in server_env.service.requests)
