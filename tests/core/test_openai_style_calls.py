"""The calls application developers know: OpenAI-style message lists and keyword parameters on
every chat entry point, explicit conversions, clear errors for wrong types, and streams that run
the host's tool loop — through the fake providers."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from genai_commons import (
    FileType,
    Message,
    Request,
    Response,
    Role,
    StopReason,
    StreamEnd,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolExecution,
    ToolLoopError,
    ValidationError,
)
from genai_commons.testing import FakeAsyncProvider, FakeProvider, UsageRecorder, tool_call

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
DATA_URL = f"data:image/png;base64,{PNG_B64}"

CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What is 2 + 3?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "5"},
    {"role": "assistant", "content": "5"},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "And what is in these pictures?"},
            {"type": "image_url", "image_url": {"url": DATA_URL}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        ],
    },
]


def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(reason)


@pytest.fixture
def setup(make_host: Any) -> tuple[Any, FakeProvider, UsageRecorder]:
    fake, recorder = FakeProvider(), UsageRecorder()
    return make_host(fake, recorder), fake, recorder


# -- conversions -------------------------------------------------------------------------------


def test_from_openai_reads_every_kind_of_message() -> None:
    request = Request.from_openai(CONVERSATION, temperature=0.2, max_tokens=50, stop="END")
    assert request.system_prompt == "Answer briefly."
    roles = [m.role for m in request.messages]
    assert roles == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT, Role.USER]
    assert request.messages[1].tool_calls == (ToolCall(id="c1", name="add", arguments='{"a": 2, "b": 3}'),)
    assert request.messages[2].tool_call_id == "c1" and request.messages[2].content == "5"
    last = request.messages[-1]
    assert last.content == "And what is in these pictures?"
    inline, remote = last.images
    assert inline.data == PNG_B64 and inline.format == "png" and inline.file_type is FileType.IMAGE
    assert remote.url == "https://example.com/cat.jpg"
    assert (request.temperature, request.max_tokens, request.stop_sequences) == (0.2, 50, ("END",))


def test_request_round_trips_through_the_openai_form() -> None:
    converted = Request.from_openai(CONVERSATION, top_p=0.5, stop=["x", "y"])
    openai = converted.to_openai()
    assert openai["messages"] == CONVERSATION
    assert (openai["top_p"], openai["stop"]) == (0.5, ["x", "y"])
    assert Request.from_openai(**openai) == converted


def test_tools_and_tool_choice_round_trip() -> None:
    described = {"type": "function", "function": {"name": "lookup", "description": "Find", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}}}}  # fmt: skip
    request = Request.from_openai([{"role": "user", "content": "hi"}], tools=[add, described], tool_choice="lookup")
    assert [t.name for t in request.tools] == ["add", "lookup"]
    assert request.function("add") is not None and request.function("lookup") is None
    assert (request.tool_choice, request.tool_choice_name) == (ToolChoice.TOOL, "lookup")
    again = Request.from_openai(**request.to_openai())
    assert [(t.name, t.parameters) for t in again.tools] == [(t.name, t.parameters) for t in request.tools]
    assert (again.tool_choice, again.tool_choice_name) == (ToolChoice.TOOL, "lookup")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("auto", (ToolChoice.AUTO, None)),
        ("none", (ToolChoice.NONE, None)),
        ("required", (ToolChoice.ANY, None)),
        ("add", (ToolChoice.TOOL, "add")),
        ({"type": "function", "function": {"name": "add"}}, (ToolChoice.TOOL, "add")),
    ],
)
def test_tool_choice_forms(given: Any, expected: tuple[ToolChoice, str | None]) -> None:
    request = Request.from_openai([{"role": "user", "content": "hi"}], tools=[add], tool_choice=given)
    assert (request.tool_choice, request.tool_choice_name) == expected


def test_response_to_openai_is_a_chat_completion_and_reads_back() -> None:
    response = Response(
        message=Message(role=Role.ASSISTANT, tool_calls=[ToolCall(id="c9", name="add", arguments='{"a": 1}')]),
        input_tokens=7,
        output_tokens=3,
        stop_reason=StopReason.TOOL_USE,
        model_id="gpt-4o-mini",
    )
    completion = response.to_openai()
    assert completion["object"] == "chat.completion" and completion["model"] == "gpt-4o-mini"
    assert completion["id"].startswith("chatcmpl-") and isinstance(completion["created"], int)
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c9", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}],
    }
    assert completion["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    back = Response.from_openai(completion)
    assert (back.message, back.input_tokens, back.output_tokens, back.total_tokens) == (
        response.message,
        7,
        3,
        10,
    )
    assert back.stop_reason is StopReason.TOOL_USE and back.model_id == "gpt-4o-mini"


# -- every entry point takes the new forms -----------------------------------------------------


def test_chat_takes_a_message_list_and_keyword_parameters(setup: Any) -> None:
    host, fake, recorder = setup
    response = host.chat("fake:chat", CONVERSATION, temperature=0.3, top_p=0.9, max_tokens=20, stop=["Z"])
    assert response.text == "echo: And what is in these pictures?"
    sent = fake.last_request
    assert sent.system_prompt == "Answer briefly." and len(sent.messages) == 5
    assert (sent.temperature, sent.top_p, sent.max_tokens, sent.stop_sequences) == (0.3, 0.9, 20, ("Z",))
    assert len(recorder.records) == 1


def test_keyword_parameters_apply_to_a_prompt_and_to_a_request(setup: Any) -> None:
    host, fake, _ = setup
    host.chat("fake:chat", "hello", system="be kind", temperature=0.1)
    assert (fake.last_request.system_prompt, fake.last_request.temperature) == ("be kind", 0.1)
    host.chat("fake:chat", Request.from_prompt("hi", system_prompt="old"), system="new", max_tokens=5)
    assert (fake.last_request.system_prompt, fake.last_request.max_tokens) == ("new", 5)


def test_tools_as_callables_run_in_the_loop(setup: Any) -> None:
    host, fake, recorder = setup
    fake.script([tool_call("add", {"a": 2, "b": 3}, id="t1")], "2 + 3 = 5")
    response = host.chat("fake:chat", [{"role": "user", "content": "sum"}], tools=[add], tool_choice="required")
    assert response.text == "2 + 3 = 5"
    second = fake.calls[1].request
    assert second.messages[-1].content == "5" and second.tool_choice is ToolChoice.AUTO
    assert recorder.records[0].calls == 2


def test_achat_and_astream_take_the_new_forms(setup: Any) -> None:
    host, fake, _ = setup

    async def run() -> tuple[str, str]:
        answer = await host.achat("fake:chat", [{"role": "user", "content": "async hi"}], temperature=1.0)
        stream = await host.astream("fake:chat", [{"role": "user", "content": "streamed hi"}], max_tokens=9)
        streamed = await stream.collect()
        return answer.text, streamed.text

    assert asyncio.run(run()) == ("echo: async hi", "echo: streamed hi")
    assert fake.last_request.max_tokens == 9


def test_stream_takes_a_message_list(setup: Any) -> None:
    host, fake, _ = setup
    stream = host.stream("fake:chat", [{"role": "developer", "content": "sys"}, {"role": "user", "content": "a b"}])
    assert "".join(stream.text()) == "echo: a b"
    assert fake.last_request.system_prompt == "sys"


# -- wrong types are ValidationErrors at the call -----------------------------------------------


@pytest.mark.parametrize(
    ("request_value", "params", "message"),
    [
        ({"role": "user", "content": "hi"}, {}, "request must be a prompt string, a Request or a list"),
        ([{"content": "hi"}], {}, "messages[0] has no 'role'"),
        ([{"role": "wizard", "content": "hi"}], {}, "messages[0]['role'] is 'wizard'"),
        (["hi"], {}, "messages[0] must be a dict"),
        ([{"role": "user", "content": 42}], {}, "messages[0]['content'] must be a string or a list"),
        ([{"role": "user", "content": [{"type": "audio"}]}], {}, "messages[0]['content'][0] must be"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}], {}, "https: or"),
        ([{"role": "tool", "content": "5"}], {}, "messages[0]: a tool message needs the tool_call_id"),
        ([{"role": "assistant", "tool_calls": [{"x": 1}]}], {}, "messages[0]['tool_calls'][0] must be"),
        ("hi", {"temperature": "hot"}, "temperature must be a number, got a str"),
        ("hi", {"max_tokens": 1.5}, "max_tokens must be a whole number"),
        ("hi", {"stop": 3}, "stop must be a string or a list of strings"),
        ("hi", {"system": ["a"]}, "system must be a string"),
        ("hi", {"tools": add}, "tools must be a list"),
        ("hi", {"tools": [3]}, "tools[0] must be a function, a Tool"),
        ("hi", {"tool_choice": 3}, "tool_choice must be"),
        ("hi", {"temprature": 0.1}, "did you mean 'temperature'"),
        (42, {}, "got an int"),
    ],
)
def test_wrong_types_are_validation_errors_naming_the_argument(
    setup: Any, request_value: Any, params: dict[str, Any], message: str
) -> None:
    host, fake, _ = setup
    for call in (host.chat, host.stream):
        with pytest.raises(ValidationError) as caught:
            call("fake:chat", request_value, **params)
        assert message in str(caught.value)
    assert fake.calls == []


def test_request_with_messages_refuses_dicts() -> None:
    with pytest.raises(ValidationError, match=r"must be a Message, got a dict.*Request.from_openai"):
        Request().with_messages({"role": "user", "content": "hi"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="messages must be a list of Message objects, got a str"):
        Request(messages="hi")  # type: ignore[arg-type]


def test_files_with_a_message_list_is_refused(setup: Any) -> None:
    from genai_commons import FileCollection, FileContent

    host, _, _ = setup
    files = FileCollection.of(FileContent.from_bytes(base64.b64decode(PNG_B64), "image", extension="png"))
    with pytest.raises(ValidationError, match="image_url parts"):
        host.chat("fake:chat", [{"role": "user", "content": "hi"}], files=files)


# -- streams run the host's tool loop ----------------------------------------------------------


def test_stream_runs_tools_and_streams_every_step(setup: Any) -> None:
    host, fake, recorder = setup
    fake.script(
        [tool_call("add", {"a": 2, "b": 3}, id="t1"), tool_call("explode", {"reason": "no"}, id="t2")], "done now"
    )
    stream = host.stream("fake:chat", "sum", tools=[add, explode])
    events = list(stream)
    kinds = [type(e) for e in events]
    assert kinds == [ToolCallDelta] * 4 + [StreamEnd, ToolExecution, ToolExecution, TextDelta, TextDelta, StreamEnd]
    first, second = (e for e in events if isinstance(e, ToolExecution))
    assert (first.call.id, first.result, first.is_error) == ("t1", "5", False)
    assert second.call.name == "explode" and second.is_error and "RuntimeError: no" in second.result
    response = stream.response
    assert response is not None and response.text == "done now"
    ends = [e for e in events if isinstance(e, StreamEnd)]
    assert response.input_tokens == sum(e.input_tokens or 0 for e in ends)
    assert response.output_tokens == sum(e.output_tokens or 0 for e in ends)
    assert len(recorder.records) == 1 and recorder.records[0].calls == 2
    assert recorder.records[0].input_tokens == response.input_tokens
    assert len(fake.calls) == 2 and fake.calls[1].request.messages[-1].tool_call_id == "t2"


def test_stream_with_run_tools_false_hands_the_calls_back(setup: Any) -> None:
    host, fake, recorder = setup
    fake.script([tool_call("add", {"a": 1, "b": 1})])
    stream = host.stream("fake:chat", "sum", tools=[add], run_tools=False)
    events = list(stream)
    assert not any(isinstance(e, ToolExecution) for e in events)
    assert stream.response is not None and [c.name for c in stream.response.tool_calls] == ["add"]
    assert len(fake.calls) == 1 and recorder.records[0].calls == 1


def test_stream_with_described_tools_only_hands_the_calls_back(setup: Any) -> None:
    host, fake, _ = setup
    fake.script([tool_call("lookup", {})])
    stream = host.stream("fake:chat", "find", tools=[Tool(name="lookup")])
    assert stream.collect().tool_calls[0].name == "lookup" and len(fake.calls) == 1


def test_stream_tool_loop_stops_at_max_steps(setup: Any) -> None:
    host, fake, _ = setup
    fake.script(*[[tool_call("add", {"a": 1, "b": 1})]] * 3)
    with pytest.raises(ToolLoopError, match="after 2 steps") as caught:
        list(host.stream("fake:chat", "loop", tools=[add], max_steps=2))
    assert caught.value.steps == 2


def test_astream_runs_tools_on_a_native_async_provider(make_host: Any) -> None:
    fake, recorder = FakeAsyncProvider(), UsageRecorder()
    host = make_host(fake, recorder)
    fake.script([tool_call("add", {"a": 20, "b": 22}, id="x")], "forty-two")

    async def run() -> list[Any]:
        stream = await host.astream("fake:chat", [{"role": "user", "content": "sum"}], tools=[add])
        events = [event async for event in stream]
        assert stream.response is not None and stream.response.text == "forty-two"
        return events

    events = asyncio.run(run())
    executions = [e for e in events if isinstance(e, ToolExecution)]
    assert [(e.call.id, e.result) for e in executions] == [("x", "42")]
    assert recorder.records[0].calls == 2
