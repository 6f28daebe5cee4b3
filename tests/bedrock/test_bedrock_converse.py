"""Converse requests and responses, checked with botocore's Stubber: every request below is
validated against the bedrock-runtime service model, and must equal the expected parameters."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bedrock_models import CLAUDE
from botocore.stub import Stubber

from genai_commons import (
    FileCollection,
    FileContent,
    Host,
    Message,
    Request,
    Role,
    StopReason,
    Tool,
    ToolCall,
    ValidationError,
)
from genai_commons.formats.converse import EMPTY_TOOL_RESULT
from genai_commons_bedrock import BedrockProvider, ClaudeOptions, GuardrailOptions
from genai_commons_bedrock.converse import converse_request

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
PDF = b"%PDF-1.4 tiny"
WEATHER = Tool(
    name="get_weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = Tool(name="get_time", description="The time.")


def answer(
    content: list[dict[str, Any]] | None = None, stop: str = "end_turn", tokens: tuple[int, int] = (12, 5)
) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": content if content is not None else [{"text": "Hi!"}]}},
        "stopReason": stop,
        "usage": {"inputTokens": tokens[0], "outputTokens": tokens[1], "totalTokens": sum(tokens)},
        "metrics": {"latencyMs": 321},
    }


@pytest.fixture
def stubbed(session: Any, make_host: Callable[..., Host]) -> Iterator[tuple[Host, Stubber]]:
    """A host whose provider's bedrock-runtime client is stubbed (no transport at all)."""
    host = make_host(BedrockProvider(session=session))
    provider = host.plugin_manager.get_plugin("bedrock")
    with Stubber(provider.clients.client("bedrock-runtime")) as stub:
        yield host, stub
        stub.assert_no_pending_responses()


def test_a_full_conversation_is_valid_for_the_service(stubbed: tuple[Host, Stubber]) -> None:
    host, stub = stubbed
    request = Request(
        system_prompt="Be brief.",
        max_tokens=200,
        temperature=0.3,
        top_p=0.9,
        stop_sequences=("###",),
        tools=(WEATHER,),
        messages=(
            Message(role=Role.SYSTEM, content="Answer in English."),
            Message(
                role=Role.USER,
                content="What is in these files, and what is the weather?",
                files=FileCollection.of(
                    FileContent.from_bytes(PNG, "image", extension="png"),
                    FileContent.from_bytes(PDF, "document", extension="pdf", text_content="Q3 report.pdf"),
                    FileContent.from_url("s3://bucket/chart.jpg"),
                ),
            ),
            Message(
                role=Role.ASSISTANT,
                content="  ",
                tool_calls=(ToolCall(id="t1", name="get_weather", arguments='{"city": "Paris"}'),),
            ),
            Message(role=Role.TOOL, tool_call_id="t1", content='{"degrees": 18}'),
        ),
    ).with_options(
        ClaudeOptions(top_k=40, anthropic_version="bedrock-2023-05-31"),
        GuardrailOptions(identifier="gr-1", version="2"),
    )
    expected = {
        "modelId": CLAUDE,
        "system": [{"text": "Be brief."}, {"text": "Answer in English."}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"image": {"format": "png", "source": {"bytes": PNG}}},
                    {"image": {"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/chart.jpg"}}}},
                    {"document": {"format": "pdf", "name": "Q3 report pdf", "source": {"bytes": PDF}}},
                    {"text": "What is in these files, and what is the weather?"},
                ],
            },
            {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}}],
            },
            {
                "role": "user",
                "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": '{"degrees": 18}'}]}}],
            },
        ],
        "inferenceConfig": {"maxTokens": 200, "temperature": 0.3, "topP": 0.9, "stopSequences": ["###"]},
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "get_weather",
                        "description": "The weather in a city.",
                        "inputSchema": {"json": dict(WEATHER.parameters)},
                    }
                }
            ]
        },
        "guardrailConfig": {"guardrailIdentifier": "gr-1", "guardrailVersion": "2", "trace": "disabled"},
        "additionalModelRequestFields": {"top_k": 40, "anthropic_version": "bedrock-2023-05-31"},
    }
    stub.add_response("converse", answer([{"text": "It is 18 degrees."}], tokens=(40, 6)), expected)
    response = host.chat(f"bedrock:{CLAUDE}", request, run_tools=False)
    assert response.text == "It is 18 degrees."
    assert (response.input_tokens, response.output_tokens, response.total_tokens) == (40, 6, 46)
    assert response.duration_ms == 321.0  # Bedrock's latency metric
    assert response.stop_reason is StopReason.END_TURN and response.provider_stop_reason == "end_turn"
    assert response.model_id == CLAUDE


def test_tool_use_in_the_answer_becomes_tool_calls(stubbed: tuple[Host, Stubber]) -> None:
    host, stub = stubbed
    content = [
        {"text": "Let me look."},
        {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Oslo"}}},
        {"toolUse": {"toolUseId": "tooluse_2", "name": "get_time", "input": {}}},
    ]
    stub.add_response("converse", answer(content, stop="tool_use"))
    request = Request.from_prompt("Weather and time in Oslo?").with_tool(WEATHER).with_tool(CLOCK)
    response = host.chat(f"bedrock:{CLAUDE}", request)
    assert response.stop_reason is StopReason.TOOL_USE
    assert response.text == "Let me look."
    assert [(c.id, c.name, c.parsed_arguments()) for c in response.tool_calls] == [
        ("tooluse_1", "get_weather", {"city": "Oslo"}),
        ("tooluse_2", "get_time", {}),
    ]


@pytest.mark.parametrize(
    ("bedrock", "core"),
    [
        ("end_turn", StopReason.END_TURN),
        ("tool_use", StopReason.TOOL_USE),
        ("max_tokens", StopReason.MAX_TOKENS),
        ("stop_sequence", StopReason.STOP_SEQUENCE),
        ("guardrail_intervened", StopReason.CONTENT_FILTERED),
        ("content_filtered", StopReason.CONTENT_FILTERED),
        ("malformed_model_output", StopReason.OTHER),
    ],
)
def test_stop_reasons(stubbed: tuple[Host, Stubber], bedrock: str, core: StopReason) -> None:
    host, stub = stubbed
    stub.add_response("converse", answer(stop=bedrock))
    response = host.chat(f"bedrock:{CLAUDE}", "hi")
    assert (response.stop_reason, response.provider_stop_reason) == (core, bedrock)


def _messages(request: Request, model_id: str = CLAUDE) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = converse_request(model_id, request)["messages"]
    return messages


def test_consecutive_messages_of_one_role_are_merged_and_blank_text_dropped() -> None:
    request = Request(
        messages=(
            Message(role=Role.USER, content="first"),
            Message(role=Role.USER, content="   "),
            Message(role=Role.USER, content="second"),
            Message(role=Role.ASSISTANT, content=""),
            Message(role=Role.ASSISTANT, content="answer"),
            Message(role=Role.USER, content="\n\t"),
            Message(role=Role.ASSISTANT, content="more"),
            Message(role=Role.USER, content="last"),
        )
    )
    assert _messages(request) == [
        {"role": "user", "content": [{"text": "first"}, {"text": "second"}]},
        {"role": "assistant", "content": [{"text": "answer"}, {"text": "more"}]},
        {"role": "user", "content": [{"text": "last"}]},
    ]
    assert "system" not in converse_request(CLAUDE, request.with_messages(Message(role=Role.SYSTEM, content=" ")))


def test_parallel_tool_results_travel_in_one_user_message() -> None:
    calls = (ToolCall(id="a", name="get_weather", arguments='{"city":"Rome"}'), ToolCall(id="b", name="get_time"))
    request = Request(
        tools=(WEATHER, CLOCK),
        messages=(
            Message(role=Role.USER, content="Weather and time?"),
            Message(role=Role.ASSISTANT, tool_calls=calls),
            Message(role=Role.TOOL, tool_call_id="a", content="sunny"),
            Message(role=Role.TOOL, tool_call_id="b", content="", is_error=True),
            Message(role=Role.USER, content="Thanks, and?"),
        ),
    )
    messages = _messages(request)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[2]["content"] == [
        {"toolResult": {"toolUseId": "a", "content": [{"text": "sunny"}]}},
        {"toolResult": {"toolUseId": "b", "content": [{"text": EMPTY_TOOL_RESULT}], "status": "error"}},
        {"text": "Thanks, and?"},
    ]
    # The status field is Claude's only; other families read the result's text.
    llama = _messages(request, "meta.llama3-1-70b-instruct-v1:0")
    assert "status" not in llama[2]["content"][1]["toolResult"]


def _tool_history(tools: tuple[Tool, ...] = (), choice: str = "auto") -> Request:
    return Request(
        tools=tools,
        messages=(
            Message(role=Role.USER, content="Weather?"),
            Message(role=Role.ASSISTANT, tool_calls=(ToolCall(id="a", name="get_weather", arguments="{}"),)),
            Message(role=Role.TOOL, tool_call_id="a", content="sunny"),
        ),
    ).with_tool_choice(choice, tools[0] if choice == "tool" else None)


def test_tool_choice() -> None:
    prompt = Request.from_prompt("hi")
    assert "toolConfig" not in converse_request(CLAUDE, prompt)
    auto = converse_request(CLAUDE, prompt.with_tool(WEATHER))["toolConfig"]
    assert "toolChoice" not in auto and [t["toolSpec"]["name"] for t in auto["tools"]] == ["get_weather"]
    assert converse_request(CLAUDE, prompt.with_tool(WEATHER).with_tool_choice("any"))["toolConfig"]["toolChoice"] == {
        "any": {}
    }
    forced = prompt.with_tool(WEATHER).with_tool(CLOCK).with_tool_choice("tool", CLOCK)
    assert converse_request(CLAUDE, forced)["toolConfig"]["toolChoice"] == {"tool": {"name": "get_time"}}
    # "none": no tools are sent ...
    assert "toolConfig" not in converse_request(CLAUDE, prompt.with_tool(WEATHER).with_tool_choice("none"))


def test_a_history_with_tool_blocks_always_carries_a_tool_config() -> None:
    # ... unless the history holds tool blocks: then only the tools it used are described.
    none = converse_request(CLAUDE, _tool_history((WEATHER, CLOCK), "none"))["toolConfig"]
    assert [t["toolSpec"]["name"] for t in none["tools"]] == ["get_weather"] and "toolChoice" not in none
    assert none["tools"][0]["toolSpec"]["inputSchema"]["json"] == dict(WEATHER.parameters)
    # No tools offered any more: the used ones are described by name.
    bare = converse_request(CLAUDE, _tool_history())["toolConfig"]["tools"]
    assert bare == [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "A tool used earlier in this conversation.",
                "inputSchema": {"json": {"type": "object", "properties": {}}},
            }
        }
    ]


def test_the_stubbed_service_accepts_tool_histories(stubbed: tuple[Host, Stubber]) -> None:
    host, stub = stubbed
    for request in (_tool_history(), _tool_history((WEATHER, CLOCK), "none"), _tool_history((WEATHER,), "tool")):
        stub.add_response("converse", answer(), converse_request(CLAUDE, request))
        host.chat(f"bedrock:{CLAUDE}", request)


def test_claude_options_only_reach_claude() -> None:
    request = Request.from_prompt("hi").with_options(ClaudeOptions(top_k=5, anthropic_beta=["x-beta"]))
    assert converse_request(CLAUDE, request)["additionalModelRequestFields"] == {
        "top_k": 5,
        "anthropic_beta": ["x-beta"],
    }
    assert converse_request(f"us.{CLAUDE}", request)["additionalModelRequestFields"]["top_k"] == 5
    assert "additionalModelRequestFields" not in converse_request("amazon.nova-lite-v1:0", request)
    assert "additionalModelRequestFields" not in converse_request(
        CLAUDE, Request.from_prompt("hi").with_options(ClaudeOptions())
    )


def test_guardrail_options() -> None:
    guardrail = GuardrailOptions(identifier="arn:aws:bedrock:us-east-1:1:guardrail/abc", version="DRAFT", trace=True,
                                 stream_processing_mode="async")  # fmt: skip
    request = Request.from_prompt("hi").with_options(guardrail)
    assert converse_request(CLAUDE, request)["guardrailConfig"] == {
        "guardrailIdentifier": "arn:aws:bedrock:us-east-1:1:guardrail/abc",
        "guardrailVersion": "DRAFT",
        "trace": "enabled",
    }
    assert converse_request(CLAUDE, request, stream=True)["guardrailConfig"]["streamProcessingMode"] == "async"
    with pytest.raises(ValueError):
        GuardrailOptions(identifier="gr", version="latest")


def test_files_need_bytes_or_s3_and_a_known_format() -> None:
    def blocks(*files: FileContent) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = _messages(Request.from_prompt("look", files=FileCollection.of(*files)))[0][
            "content"
        ]
        return content

    data_url = "data:image/webp;base64," + base64.b64encode(b"RIFF\x00\x00\x00\x00WEBPVP8 ").decode()
    assert blocks(FileContent.from_url(data_url))[0]["image"]["format"] == "webp"
    jpeg = FileContent(file_type="image", data=base64.b64encode(b"\xff\xd8\xff\xe0 jpeg").decode())  # no extension
    assert blocks(jpeg)[0]["image"]["format"] == "jpeg"
    with pytest.raises(ValidationError, match="inline bytes or s3:// locations"):
        blocks(FileContent.from_url("https://example.com/cat.png"))
    with pytest.raises(ValidationError, match="format"):
        blocks(FileContent(file_type="image", data=base64.b64encode(b"not an image").decode()))
    with pytest.raises(ValidationError, match="format"):
        blocks(FileContent.from_bytes(b"x", "document", extension="exe"))
    # Document names: only the characters Bedrock allows, unique within the request.
    docs = [
        FileContent.from_bytes(b"a,b", "document", extension="csv", text_content="data: 2024/Q1!") for _ in range(2)
    ]
    names = [b["document"]["name"] for b in blocks(*docs) if "document" in b]
    assert names == ["data 2024 Q1", "data 2024 Q1 (2)"]
    assert blocks(FileContent.from_bytes(b"# hi", "document", extension="markdown"))[0]["document"]["format"] == "md"


def test_tool_arguments_that_are_not_json_are_refused_before_the_call() -> None:
    request = Request(
        messages=(
            Message(role=Role.USER, content="hi"),
            Message(role=Role.ASSISTANT, tool_calls=(ToolCall(id="a", name="f", arguments="{oops"),)),
        )
    )
    with pytest.raises(ValidationError, match="not valid JSON"):
        converse_request(CLAUDE, request)


def test_answers_without_text_or_with_reasoning(stubbed: tuple[Host, Stubber]) -> None:
    host, stub = stubbed
    reasoning = {"reasoningContent": {"reasoningText": {"text": "thinking...", "signature": "sig"}}}
    stub.add_response("converse", answer([reasoning, {"text": "42"}]))
    assert host.chat(f"bedrock:{CLAUDE}", "answer?").text == "42"
    stub.add_response("converse", answer([], stop="max_tokens"))
    empty = host.chat(f"bedrock:{CLAUDE}", "answer?")
    assert empty.text == "" and empty.stop_reason is StopReason.MAX_TOKENS
    assert json.loads(json.dumps(empty.total_tokens)) == 17


def test_files_beyond_bedrocks_limits_are_refused_before_the_call(host: Host, service: Any) -> None:
    big = FileContent.from_bytes(PNG + b"\x00" * 3_800_000, "image", extension="png")
    with pytest.raises(ValidationError, match="smaller than"):
        host.chat(f"bedrock:{CLAUDE}", "look", files=FileCollection.of(big))
    assert service.requests == []
