"""The Converse format of the core: requests from the domain model, responses into it, file limits."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from genai_commons import (
    FileCollection,
    FileContent,
    Message,
    Request,
    Role,
    StopReason,
    Tool,
    ToolCall,
    ToolChoice,
    ValidationError,
)
from genai_commons.formats.converse import (
    EMPTY_TOOL_RESULT,
    FileLimits,
    check_files,
    converse_request,
    converse_response,
    image_dimensions,
    stop_reason,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + struct.pack(">II", 640, 480) + b"\x08\x02\x00\x00\x00"
WEATHER = Tool(
    name="weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def png_of(width: int, height: int, padding: int = 0) -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", width, height) + b"\x08\x02" + b"\0" * padding


def test_a_plain_request_has_messages_system_and_inference_config() -> None:
    request = (
        Request.create(system_prompt="Be brief.", temperature=0.2, max_tokens=50, top_p=0.9)
        .with_message("user", "Hello")
        .with_stop_sequence("###")
    )
    assert converse_request(request) == {
        "messages": [{"role": "user", "content": [{"text": "Hello"}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 50, "temperature": 0.2, "topP": 0.9, "stopSequences": ["###"]},
    }


def test_empty_system_and_inference_config_are_left_out() -> None:
    body = converse_request(Request.from_prompt("Hi"))
    assert set(body) == {"messages"}


def test_system_messages_join_the_system_prompt_and_blank_text_is_never_sent() -> None:
    request = Request(
        system_prompt="   ",
        messages=[
            Message(role=Role.SYSTEM, content="Rule one."),
            Message(role=Role.USER, content="First"),
            Message(role=Role.ASSISTANT, content="  "),
            Message(role=Role.USER, content="Second"),
        ],
    )
    body = converse_request(request)
    assert body["system"] == [{"text": "Rule one."}]
    # the blank assistant turn is dropped, so the two user turns merge into one message
    assert body["messages"] == [{"role": "user", "content": [{"text": "First"}, {"text": "Second"}]}]


def test_tools_with_each_tool_choice() -> None:
    base = Request.from_prompt("Weather in Paris?").with_tool(WEATHER)
    spec = {
        "toolSpec": {
            "name": "weather",
            "description": "The weather in a city.",
            "inputSchema": {"json": dict(WEATHER.parameters)},
        }
    }
    assert converse_request(base)["toolConfig"] == {"tools": [spec]}  # auto is the default, not sent
    assert converse_request(base.with_tool_choice("any"))["toolConfig"]["toolChoice"] == {"any": {}}
    chosen = converse_request(base.with_tool_choice("tool", WEATHER))["toolConfig"]["toolChoice"]
    assert chosen == {"tool": {"name": "weather"}}
    assert "toolConfig" not in converse_request(base.with_tool_choice(ToolChoice.NONE))


def _tool_history(tool_choice: ToolChoice = ToolChoice.AUTO, content: str | None = '{"temp": 18}') -> Request:
    return Request(
        tool_choice=tool_choice,
        messages=[
            Message(role=Role.USER, content="Weather in Paris?"),
            Message(role=Role.ASSISTANT, tool_calls=[ToolCall(id="t1", name="weather", arguments='{"city": "Paris"}')]),
            Message(role=Role.TOOL, tool_call_id="t1", content=content),
        ],
    )


def test_a_history_with_tool_use_always_carries_a_tool_config() -> None:
    body = converse_request(_tool_history(ToolChoice.NONE))
    assert body["toolConfig"]["tools"][0]["toolSpec"]["name"] == "weather"
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [{"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Paris"}}}],
    }
    assert body["messages"][2]["role"] == "user"


def test_tool_results_as_text_or_json_and_never_blank() -> None:
    as_text = converse_request(_tool_history())["messages"][2]["content"][0]["toolResult"]
    assert as_text == {"toolUseId": "t1", "content": [{"text": '{"temp": 18}'}]}
    as_json = converse_request(_tool_history(), tool_results_as_json=True)["messages"][2]["content"][0]["toolResult"]
    assert as_json["content"] == [{"json": {"temp": 18}}]
    not_json = converse_request(_tool_history(content="{broken"), tool_results_as_json=True)
    assert not_json["messages"][2]["content"][0]["toolResult"]["content"] == [{"text": "{broken"}]
    empty = converse_request(_tool_history(content=" "))["messages"][2]["content"][0]["toolResult"]
    assert empty["content"] == [{"text": EMPTY_TOOL_RESULT}]


def test_a_failed_tool_result_has_status_error_when_asked() -> None:
    request = Request(
        messages=[
            Message(role=Role.USER, content="Go"),
            Message(role=Role.ASSISTANT, tool_calls=[ToolCall(id="t1", name="weather")]),
            Message(role=Role.TOOL, tool_call_id="t1", content="boom", is_error=True),
        ]
    )
    assert converse_request(request)["messages"][2]["content"][0]["toolResult"]["status"] == "error"
    without = converse_request(request, tool_result_status=False)["messages"][2]["content"][0]["toolResult"]
    assert "status" not in without


def test_consecutive_tool_results_merge_into_one_user_message() -> None:
    request = Request(
        messages=[
            Message(role=Role.USER, content="Two cities"),
            Message(
                role=Role.ASSISTANT, tool_calls=[ToolCall(id="a", name="weather"), ToolCall(id="b", name="weather")]
            ),
            Message(role=Role.TOOL, tool_call_id="a", content="sunny"),
            Message(role=Role.TOOL, tool_call_id="b", content="rainy"),
        ]
    )
    messages = converse_request(request)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert [b["toolResult"]["toolUseId"] for b in messages[2]["content"]] == ["a", "b"]


def test_images_and_documents_as_raw_bytes_or_base64() -> None:
    files = FileCollection.of(
        FileContent.from_bytes(PNG, "image", extension="png"),
        FileContent.from_bytes(b"a,b\n1,2\n", "document", extension="csv", text_content="my data.csv!"),
        FileContent.from_bytes(b"x", "document", extension="txt", text_content="my data.csv!"),
    )
    request = Request.from_prompt("What is this?", files=files)
    raw = converse_request(request)["messages"][0]["content"]
    assert raw[0] == {"image": {"format": "png", "source": {"bytes": PNG}}}
    assert raw[1]["document"]["name"] == "my data csv"
    assert raw[2]["document"]["name"] == "my data csv (2)"  # unique within the request
    assert raw[3] == {"text": "What is this?"}  # files come before the question
    encoded = converse_request(request, file_bytes="base64")["messages"][0]["content"]
    assert encoded[0]["image"]["source"]["bytes"] == base64.b64encode(PNG).decode()
    assert json.dumps(encoded)  # JSON-ready


def test_image_format_from_a_data_url_or_the_bytes() -> None:
    data_url = "data:image/webp;base64," + base64.b64encode(b"RIFF\0\0\0\0WEBPVP8 ").decode()
    by_url = FileContent.from_url(data_url, "image")
    sniffed = FileContent.from_bytes(PNG, "image")  # no extension
    body = converse_request(Request.from_prompt("?", files=FileCollection.of(by_url, sniffed)), file_bytes="base64")
    formats = [b["image"]["format"] for b in body["messages"][0]["content"] if "image" in b]
    assert formats == ["webp", "png"]


def test_unsupported_formats_and_urls_are_refused_with_the_service_named() -> None:
    bmp = FileContent.from_bytes(b"BM....", "image", extension="bmp")
    with pytest.raises(
        ValidationError, match=r"Mendix Cloud GenAI takes images in these formats: gif, jpeg, png, webp"
    ):
        converse_request(Request.from_prompt("?", files=FileCollection.of(bmp)), service="Mendix Cloud GenAI")
    remote = FileContent.from_url("https://example.com/cat.png", "image")
    with pytest.raises(ValidationError, match="takes images as inline bytes, not https URLs"):
        converse_request(Request.from_prompt("?", files=FileCollection.of(remote)))
    s3 = FileContent.from_url("s3://bucket/cat.png", "image")
    body = converse_request(Request.from_prompt("?", files=FileCollection.of(s3)), s3_locations=True)
    assert body["messages"][0]["content"][0]["image"]["source"] == {"s3Location": {"uri": "s3://bucket/cat.png"}}


def test_file_bytes_must_be_raw_or_base64() -> None:
    with pytest.raises(ValueError, match="'raw' or 'base64'"):
        converse_request(Request.from_prompt("Hi"), file_bytes="hex")  # type: ignore[arg-type]


def test_a_response_with_text_tool_calls_usage_and_latency() -> None:
    data = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"text": "Let me look."},
                    {"toolUse": {"toolUseId": "t9", "name": "weather", "input": {"city": "Oslo"}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 12, "outputTokens": 7, "totalTokens": 19},
        "metrics": {"latencyMs": 321},
    }
    response = converse_response(data, model_id="claude")
    assert response.text == "Let me look."
    assert response.tool_calls == (ToolCall(id="t9", name="weather", arguments='{"city": "Oslo"}'),)
    assert (response.input_tokens, response.output_tokens, response.total_tokens) == (12, 7, 19)
    assert response.duration_ms == 321.0 and response.model_id == "claude"
    assert response.stop_reason is StopReason.TOOL_USE and response.provider_stop_reason == "tool_use"


def test_stop_reasons_map_and_unknown_ones_are_other() -> None:
    assert stop_reason("end_turn") is StopReason.END_TURN
    assert stop_reason("max_tokens") is StopReason.MAX_TOKENS
    assert stop_reason("stop_sequence") is StopReason.STOP_SEQUENCE
    assert stop_reason("guardrail_intervened") is StopReason.CONTENT_FILTERED
    assert stop_reason("something_new") is StopReason.OTHER
    assert stop_reason(None) is None


def test_image_dimensions_of_each_format() -> None:
    assert image_dimensions(png_of(640, 480)) == (640, 480)
    assert image_dimensions(b"GIF89a" + struct.pack("<HH", 30, 20) + b"\0\0") == (30, 20)
    vp8x = b"RIFF\0\0\0\0WEBPVP8X" + b"\0" * 8 + (99).to_bytes(3, "little") + (49).to_bytes(3, "little")
    assert image_dimensions(vp8x) == (100, 50)
    sof = b"\xff\xd8\xff\xe0\x00\x04ab\xff\xc0\x00\x11\x08" + struct.pack(">HH", 600, 800) + b"\x03" + b"\0" * 9
    assert image_dimensions(sof) == (800, 600)
    assert image_dimensions(b"not an image") is None


def test_check_files_counts_sizes_and_pixels() -> None:
    limits = FileLimits(
        max_images=2, max_image_bytes=100, max_image_pixels=1000, max_documents=1, max_document_bytes=50
    )

    def request(*files: FileContent) -> Request:
        return Request.from_prompt("?", files=FileCollection.of(*files))

    check_files(request(FileContent.from_bytes(png_of(10, 10), "image", extension="png")), limits)
    small = FileContent.from_bytes(png_of(10, 10), "image", extension="png")
    with pytest.raises(ValidationError, match="at most 2 images per conversation; this one has 3"):
        check_files(request(small, small, small), limits, service="Mendix Cloud GenAI")
    with pytest.raises(ValidationError, match="has 126 bytes; Amazon Bedrock takes images smaller than 100 bytes"):
        check_files(request(FileContent.from_bytes(png_of(10, 10, 100), "image", extension="png")), limits)
    with pytest.raises(ValidationError, match="is 2000x10 pixels"):
        check_files(request(FileContent.from_bytes(png_of(2000, 10), "image", extension="png")), limits)
    doc = FileContent.from_bytes(b"x" * 60, "document", extension="txt", text_content="notes")
    with pytest.raises(ValidationError, match="document 1 \\('notes'\\) has 60 bytes"):
        check_files(request(doc), limits)
    short = FileContent.from_bytes(b"x", "document", extension="txt")
    with pytest.raises(ValidationError, match="at most 1 documents"):
        check_files(request(short, short), limits)
    # the defaults are the documented ones: 20 images under 3.75 MB, 5 documents under 4.5 MB
    assert FileLimits() == FileLimits(
        max_images=20, max_image_bytes=3_750_000, max_image_pixels=8000, max_documents=5, max_document_bytes=4_500_000
    )
