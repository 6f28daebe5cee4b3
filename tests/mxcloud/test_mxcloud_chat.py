"""Chat through /converse and streaming through /converse-stream, against the loopback fake."""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import Callable

import pytest

from genai_commons import (
    FileCollection,
    FileContent,
    Host,
    RateLimitError,
    Request,
    ServiceUnavailableError,
    StopReason,
    StreamEnd,
    TextDelta,
    Tool,
    ToolCallDelta,
    UnsupportedCapabilityError,
    ValidationError,
)
from genai_commons.testing import UsageRecorder
from genai_commons_mxcloud.chat import stream_event
from genai_commons_mxcloud.testing import FakeMxCloud, Reply

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 64, 48) + b"\x08\x02\x00\x00\x00"


def test_a_chat_call_sends_the_converse_request_with_the_key(host: Host, service: FakeMxCloud) -> None:
    request = (
        Request.create(system_prompt="Answer briefly.", temperature=0.3, max_tokens=20, top_p=0.5)
        .with_message("user", "Hello there")
        .with_message("assistant", "Hi!")
        .with_message("user", "How are you?")
        .with_stop_sequence("END")
    )
    response = host.chat("mxcloud:claude", request)
    assert response.text == "You said: How are you?"
    assert response.stop_reason is StopReason.END_TURN and response.model_id == "claude"
    assert (response.input_tokens, response.output_tokens) == (8, 5)
    [call] = service.calls("/converse")
    assert call.method == "POST" and call.headers["content-type"] == "application/json"
    assert call.headers["x-api-key"] == "<redacted>"  # it was sent (the fake checks it) and not recorded
    assert call.body == {
        "messages": [
            {"role": "user", "content": [{"text": "Hello there"}]},
            {"role": "assistant", "content": [{"text": "Hi!"}]},
            {"role": "user", "content": [{"text": "How are you?"}]},
        ],
        "system": [{"text": "Answer briefly."}],
        "inferenceConfig": {"maxTokens": 20, "temperature": 0.3, "topP": 0.5, "stopSequences": ["END"]},
    }


def test_max_tokens_stops_the_answer(host: Host, service: FakeMxCloud) -> None:
    service.script("one two three four five six")
    response = host.chat("mxcloud:claude", Request.create(max_tokens=3).with_message("user", "count"))
    assert response.text == "one two three" and response.stop_reason is StopReason.MAX_TOKENS


def get_weather(city: str) -> dict[str, object]:
    """The weather in a city.

    Args:
        city: the city's name.
    """
    return {"city": city, "temperature": 18}


def test_the_tool_loop_sends_tool_config_and_json_tool_results(
    host: Host, service: FakeMxCloud, recorder: UsageRecorder
) -> None:
    service.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})]), "It is 18 degrees in Paris.")
    request = Request.from_prompt("Weather in Paris?").with_function(get_weather).with_tool_choice("any")
    response = host.chat("mxcloud:claude", request)
    assert response.text == "It is 18 degrees in Paris."
    first, second = (c.body for c in service.calls("/converse"))
    spec = first["toolConfig"]["tools"][0]["toolSpec"]
    assert spec["name"] == "get_weather" and spec["inputSchema"]["json"]["required"] == ["city"]
    assert first["toolConfig"]["toolChoice"] == {"any": {}}
    assert second["messages"][1]["content"][0]["toolUse"]["input"] == {"city": "Paris"}
    result = second["messages"][2]["content"][0]["toolResult"]
    assert result["content"] == [{"json": {"city": "Paris", "temperature": 18}}]
    assert recorder.last.calls == 2


def test_tool_choice_none_sends_no_tools(host: Host, service: FakeMxCloud) -> None:
    request = Request.from_prompt("Weather?").with_function(get_weather).with_tool_choice("none")
    host.chat("mxcloud:claude", request)
    assert "toolConfig" not in service.calls("/converse")[0].body


def test_images_and_documents_travel_as_base64(host: Host, service: FakeMxCloud) -> None:
    files = FileCollection.of(
        FileContent.from_bytes(PNG, "image", extension="png"),
        FileContent.from_bytes(b"# Notes\nhello", "document", extension="md", text_content="notes"),
    )
    host.chat("mxcloud:claude", "What is in these?", files=files)
    content = service.calls("/converse")[0].body["messages"][0]["content"]
    assert content[0] == {"image": {"format": "png", "source": {"bytes": base64.b64encode(PNG).decode()}}}
    assert content[1]["document"]["format"] == "md" and content[1]["document"]["name"] == "notes"


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ([FileContent.from_bytes(PNG, "image", extension="png")] * 21, "at most 20 images"),
        ([FileContent.from_bytes(PNG + b"\0" * 3_750_000, "image", extension="png")], "smaller than 3.75 MB"),
        (
            [FileContent.from_bytes(PNG[:16] + struct.pack(">II", 9000, 10) + PNG[24:], "image", extension="png")],
            "at most 8000 pixels",
        ),
        ([FileContent.from_bytes(b"BM..", "image", extension="bmp")], "gif, jpeg, png, webp"),
        ([FileContent.from_bytes(b"x", "document", extension="txt")] * 6, "at most 5 documents"),
        ([FileContent.from_bytes(b"x" * 4_500_000, "document", extension="pdf")], "smaller than 4.5 MB"),
        ([FileContent.from_bytes(b"x", "document", extension="exe")], "csv, doc, docx, html, md, pdf, txt, xls"),
    ],
)
def test_limits_are_checked_before_sending(
    host: Host, service: FakeMxCloud, files: list[FileContent], says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        host.chat("mxcloud:claude", "Look", files=FileCollection.of(*files))
    assert service.requests == []


def test_file_urls_are_refused_before_sending_unless_the_host_may_download_them(
    host: Host, service: FakeMxCloud
) -> None:
    files = FileCollection.of(FileContent.from_url("https://example.com/a.png", "image"))
    with pytest.raises(UnsupportedCapabilityError, match="GENAI_FETCH_URLS=1"):
        host.chat("mxcloud:claude", "Look", files=files)
    assert service.requests == []


@pytest.mark.parametrize("wrapped", [False, True])
def test_streaming_events_become_deltas(
    make_mx_host: Callable[..., Host], service: FakeMxCloud, recorder: UsageRecorder, wrapped: bool
) -> None:
    service.wrap_events = wrapped
    host = make_mx_host()
    stream = host.stream("mxcloud:claude", "stream me please")
    events = list(stream)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["You", " said:", " stream", " me", " please"]
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.stop_reason is StopReason.END_TURN
    assert (end.input_tokens, end.output_tokens, end.total_tokens) == (3, 5, 8)
    assert stream.response is not None and stream.response.text == "You said: stream me please"
    [call] = service.calls("/converse-stream")
    assert call.headers["accept"] == "text/event-stream" and call.body["messages"][0]["role"] == "user"
    assert recorder.operations == ["chat"]


def test_streamed_tool_calls_assemble(host: Host, service: FakeMxCloud) -> None:
    service.script(Reply(text="Checking.", tool_calls=[("get_weather", {"city": "Oslo"}), ("get_weather", {})]))
    described = Tool(name="get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}})
    stream = host.stream("mxcloud:claude", Request.from_prompt("Weather?").with_tool(described))
    events = list(stream)
    starts = [e for e in events if isinstance(e, ToolCallDelta) and e.name]
    assert [(e.index, e.name) for e in starts] == [(0, "get_weather"), (1, "get_weather")]
    response = stream.response
    assert response is not None and response.text == "Checking."
    assert [c.parsed_arguments() for c in response.tool_calls] == [{"city": "Oslo"}, {}]
    assert response.stop_reason is StopReason.TOOL_USE


def test_async_streaming_agrees(host: Host) -> None:
    async def collect() -> str:
        stream = await host.astream("mxcloud:claude", "async please")
        return "".join([piece async for piece in stream.text()])

    assert asyncio.run(collect()) == "You said: async please"
    assert asyncio.run(host.achat("mxcloud:claude", "async chat")).text == "You said: async chat"


def test_a_stream_cut_short_is_an_error_not_a_short_answer(host: Host, service: FakeMxCloud) -> None:
    service.fail_next("cut_stream", times=3)
    with pytest.raises(ServiceUnavailableError):
        host.stream("mxcloud:claude", "this will be cut").collect()


def test_an_error_before_the_stream_is_mapped_and_retried(host: Host, service: FakeMxCloud) -> None:
    service.fail_next("rate_limit")
    assert host.stream("mxcloud:claude", "retry me").collect().text == "You said: retry me"
    assert len(service.calls("/converse-stream")) == 2
    service.fail_next("rate_limit", times=3)
    with pytest.raises(RateLimitError, match="throttled"):
        host.stream("mxcloud:claude", "give up").collect()


def test_stream_events_are_read_named_or_wrapped() -> None:
    assert stream_event("CONTENT_BLOCK_DELTA", '{"contentBlockIndex": 0, "delta": {"text": "a"}}') == {
        "contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "a"}}
    }
    wrapped = '{"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "a"}}}'
    assert stream_event("CONTENT_BLOCK_DELTA", wrapped) == {
        "contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "a"}}
    }
    assert stream_event("", wrapped) == {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "a"}}}
    assert stream_event("throttlingException", '{"message": "slow"}') == {"throttlingException": {"message": "slow"}}
    assert stream_event("PING", "{}") is None and stream_event("METADATA", "  ") is None
    with pytest.raises(ServiceUnavailableError, match="not JSON"):
        stream_event("METADATA", "{oops")
