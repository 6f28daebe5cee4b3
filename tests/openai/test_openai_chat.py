"""Chat completions: what the plugin sends, what it makes of the answers, and tool loops over
several turns, through a host and the loopback fake OpenAI server."""

from __future__ import annotations

import asyncio
import base64
import json

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
    UnsupportedCapabilityError,
    ValidationError,
)
from genai_commons.testing import UsageRecorder
from genai_commons_openai import JsonSchemaFormat, OpenAIChatOptions
from genai_commons_openai.testing import FakeOpenAI, Reply

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def multiply(a: int, b: int) -> int:
    """Multiply two numbers."""
    return a * b


def test_a_prompt_becomes_one_user_message_and_the_answer_a_response(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    response = host.chat("openai:gpt-4o-mini", "hello there")
    assert response.text == "You said: hello there"
    assert (response.input_tokens, response.output_tokens, response.total_tokens) == (5, 4, 9)
    assert response.stop_reason is StopReason.END_TURN and response.provider_stop_reason == "stop"
    assert response.model_id == "gpt-4o-mini"
    sent = service.calls[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.body == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}


def test_history_system_prompt_and_sampling_options_are_sent(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    request = (
        Request.create(system_prompt="Be brief.", temperature=0.2, top_p=0.9, max_tokens=50)
        .with_message("user", "Hi")
        .with_message("assistant", "Hello!")
        .with_message("system", "Answer in French.")
        .with_message("user", "How are you?")
        .with_stop_sequence("###")
        .with_stop_sequence("END")
    )
    host.chat("openai:gpt-4o-mini", request)
    body = service.calls[-1].body
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "How are you?"},
    ]
    assert (body["temperature"], body["top_p"], body["stop"]) == (0.2, 0.9, ["###", "END"])
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body  # a known OpenAI model


def test_unknown_models_get_max_tokens_as_compatible_servers_expect(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    host.chat("openai:llama3.2", Request.create(max_tokens=3).with_message("user", "one two three four five"))
    body = service.calls[-1].body
    assert body["max_tokens"] == 3 and "max_completion_tokens" not in body


def test_max_tokens_and_stop_sequences_shape_the_answer(openai_host) -> None:
    host = openai_host()
    short = host.chat("openai:gpt-4o-mini", Request.create(max_tokens=3).with_message("user", "a b c d e"))
    assert short.text == "You said: a" and short.stop_reason is StopReason.MAX_TOKENS
    stopped = host.chat("openai:gpt-4o-mini", Request.from_prompt("x ### y").with_stop_sequence("###"))
    assert stopped.text == "You said: x " and stopped.stop_reason is StopReason.END_TURN


def test_reasoning_models_refuse_temperature_before_any_request(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    with pytest.raises(UnsupportedCapabilityError, match="reasoning model"):
        host.chat("openai:o3-mini", Request.create(temperature=0.5).with_message("user", "hi"))
    assert service.calls == []
    answer = host.chat(
        "openai:o3-mini",
        Request.create(max_tokens=20)
        .with_message("user", "hi")
        .with_options(OpenAIChatOptions(reasoning_effort="low")),
    )
    assert answer.text == "You said: hi"
    assert service.calls[-1].body["reasoning_effort"] == "low"


def test_images_by_url_and_by_data_and_documents_as_file_parts(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    files = FileCollection.of(
        FileContent.from_url("https://example.com/cat.png"),
        FileContent.from_bytes(PNG, "image", text_content="the chart"),
        FileContent.from_bytes(PDF, "document", extension="pdf", text_content="report"),
    )
    response = host.chat("openai:gpt-4o", "What is in these?", files=files)
    assert response.text == "You said: What is in these? the chart (2 images, 1 files)"
    content = service.calls[-1].body["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "What is in these?"}
    assert content[1] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    assert content[2] == {"type": "text", "text": "the chart"}
    assert content[3]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")  # sniffed: no extension given
    assert content[4]["type"] == "file"
    assert content[4]["file"]["filename"] == "report.pdf"
    assert content[4]["file"]["file_data"] == "data:application/pdf;base64," + base64.b64encode(PDF).decode()


def test_a_document_url_is_refused_with_advice(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    files = FileCollection.of(FileContent.from_url("https://example.com/a.pdf", "document"))
    with pytest.raises(UnsupportedCapabilityError, match=r"documents as inline bytes.*GENAI_FETCH_URLS=1"):
        host.chat("openai:gpt-4o", "Summarise", files=files)
    assert service.calls == []


def test_vision_is_refused_for_models_without_it_before_any_request(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    files = FileCollection.of(FileContent.from_url("https://example.com/cat.png"))
    with pytest.raises(UnsupportedCapabilityError, match="image input"):
        host.chat("openai:llama3.2", "What is this?", files=files)  # unknown model: conservative defaults
    assert service.calls == []


def test_tool_choice_variants(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    base = Request.from_prompt("compute").with_function(add).with_function(multiply)
    expected = {"auto": None, "none": "none", "any": "required"}
    for choice, wire in expected.items():
        host.chat("openai:gpt-4o-mini", base.with_tool_choice(choice), run_tools=False)
        body = service.calls[-1].body
        assert body.get("tool_choice") == wire
        assert [t["function"]["name"] for t in body["tools"]] == ["add", "multiply"]
    before = len(service.calls)
    host.chat("openai:gpt-4o-mini", base.with_tool_choice("tool", "multiply"))
    assert service.calls[before].body["tool_choice"] == {"type": "function", "function": {"name": "multiply"}}
    tool = service.calls[before].body["tools"][0]
    assert tool["type"] == "function"
    assert tool["function"]["description"] == "Add two numbers."
    assert tool["function"]["parameters"]["required"] == ["a", "b"]


def test_a_tool_loop_of_several_turns_with_several_calls_per_turn(
    openai_host, service: FakeOpenAI, recorder: UsageRecorder
) -> None:
    host = openai_host()
    service.script(
        [("add", {"a": 2, "b": 3}), ("multiply", {"a": 4, "b": 5})],
        [("add", {"a": 5, "b": 20})],
        "2+3=5, 4*5=20, 5+20=25",
    )
    request = Request.from_prompt("Work it out").with_function(add).with_function(multiply)
    response = host.chat("openai:gpt-4o-mini", request)
    assert response.text == "2+3=5, 4*5=20, 5+20=25"
    turns = [c.body["messages"] for c in service.calls]
    assert len(turns) == 3
    second = turns[1]
    assert second[1]["role"] == "assistant" and len(second[1]["tool_calls"]) == 2
    assert second[1]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 2, "b": 3}'}
    assert [(m["role"], m["content"]) for m in second[2:]] == [("tool", "5"), ("tool", "20")]
    assert second[2]["tool_call_id"] == second[1]["tool_calls"][0]["id"]
    assert turns[2][-1] == {"role": "tool", "tool_call_id": turns[2][-2]["tool_calls"][0]["id"], "content": "25"}
    assert len(recorder.records) == 1 and recorder.records[0].calls == 3
    assert recorder.records[0].input_tokens == response.input_tokens > 0


def test_a_tool_loop_async(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    service.script([("add", {"a": 1, "b": 1})], "two")
    request = Request.from_prompt("1+1?").with_function(add)
    response = asyncio.run(host.achat("openai:gpt-4o-mini", request))
    assert response.text == "two"
    assert service.calls[-1].body["messages"][-1]["content"] == "2"


def test_a_tool_without_a_function_comes_back_to_the_caller(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    service.script(Reply(text="Let me look.", tool_calls=[("lookup", {"q": "x"})]))
    tool = Tool(name="lookup", parameters={"type": "object", "properties": {"q": {"type": "string"}}})
    response = host.chat("openai:gpt-4o-mini", Request.from_prompt("find x").with_tool(tool))
    assert response.text == "Let me look."
    assert response.stop_reason is StopReason.TOOL_USE
    [call] = response.tool_calls
    assert (call.name, call.parsed_arguments()) == ("lookup", {"q": "x"})
    follow = (
        Request.from_prompt("find x")
        .with_tool(tool)
        .with_messages(response.message, Message(role=Role.TOOL, tool_call_id=call.id, content="found", is_error=False))
    )
    assert host.chat("openai:gpt-4o-mini", follow).text == "The tool answered: found"


def test_structured_output_with_a_json_schema(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "degrees": {"type": "number"}},
        "required": ["city", "degrees"],
        "additionalProperties": False,
    }
    options = OpenAIChatOptions(response_format=JsonSchemaFormat(name="weather", schema=schema), seed=7, user="u-1")
    response = host.chat("openai:gpt-4o", Request.from_prompt("Weather?").with_options(options))
    assert json.loads(response.text) == {"city": "text", "degrees": 0}
    body = service.calls[-1].body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "weather", "schema": schema, "strict": True},
    }
    assert (body["seed"], body["user"]) == (7, "u-1")
    host.chat(
        "openai:gpt-4o",
        Request.from_prompt("JSON please").with_options(OpenAIChatOptions(response_format="json_object")),
    )
    assert service.calls[-1].body["response_format"] == {"type": "json_object"}


def test_options_are_validated() -> None:
    with pytest.raises(ValidationError):
        JsonSchemaFormat(name="x", schema={"type": "array"})
    with pytest.raises(ValidationError):
        OpenAIChatOptions(reasoning_effort="extreme")
    with pytest.raises(ValidationError):
        OpenAIChatOptions(timeout=0)
    with pytest.raises(ValidationError):
        OpenAIChatOptions(response_format="yaml")  # type: ignore[arg-type]


def test_answers_mapped_from_the_wire() -> None:
    from genai_commons_openai.chat_wire import chat_response

    refusal = chat_response(
        {
            "model": "gpt-4o",
            "choices": [{"message": {"content": None, "refusal": "I can't help with that."}, "finish_reason": "stop"}],
        }
    )
    assert refusal.text == "I can't help with that." and refusal.stop_reason is StopReason.CONTENT_FILTERED
    filtered = chat_response({"choices": [{"message": {"content": ""}, "finish_reason": "content_filter"}]})
    assert filtered.stop_reason is StopReason.CONTENT_FILTERED and filtered.input_tokens is None
    odd = chat_response({"choices": [{"message": {"content": "x"}, "finish_reason": "something_new"}]})
    assert odd.stop_reason is StopReason.OTHER and odd.provider_stop_reason == "something_new"
    calls = chat_response(
        {
            "choices": [
                {
                    "message": {
                        "content": None,
                        "tool_calls": [
                            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                            {"id": "b", "type": "function", "function": {"name": "g", "arguments": '{"x": 1}'}},
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ]
        }
    )
    assert calls.tool_calls == (ToolCall(id="a", name="f"), ToolCall(id="b", name="g", arguments='{"x": 1}'))
    assert calls.text == "" and calls.stop_reason is StopReason.TOOL_USE


@pytest.mark.parametrize("choice", [("any", None), ("tool", "add")])
def test_a_forced_tool_choice_holds_for_the_first_step_only(
    openai_host, service: FakeOpenAI, choice: tuple[str, str | None]
) -> None:
    # Forced on every step, a model that must call a tool never answers (OpenAI's "required").
    host = openai_host()
    service.script([("add", {"a": 2, "b": 3})], "five")
    request = Request.from_prompt("2+3?").with_function(add).with_tool_choice(*choice)
    assert host.chat("openai:gpt-4o-mini", request).text == "five"
    first, second = (call.body.get("tool_choice") for call in service.calls)
    assert first in ("required", {"type": "function", "function": {"name": "add"}})
    assert second is None, "the second step lets the model answer"
    service.script([("add", {"a": 1, "b": 1})], "two")
    assert asyncio.run(host.achat("openai:gpt-4o-mini", request)).text == "two"
    assert service.calls[-1].body.get("tool_choice") is None
