"""OpenAI-style message lists and keyword parameters through the OpenAI plugin and the loopback
fake: what reaches the wire, ``Response.to_openai``, and streams that run the host's tool loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from genai_commons import Request, ToolExecution, ValidationError
from genai_commons_openai.testing import FakeOpenAI

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Earlier question"},
    {"role": "assistant", "content": "Earlier answer"},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        ],
    },
]


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def test_a_message_list_and_parameters_reach_the_wire_as_sent(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    response = host.chat("openai:gpt-4o-mini", MESSAGES, temperature=0.4, top_p=0.8, max_tokens=30, stop="STOP")
    body = service.calls[0].body
    assert body["messages"] == MESSAGES
    assert (body["temperature"], body["top_p"], body["stop"]) == (0.4, 0.8, ["STOP"])
    assert 30 in (body.get("max_tokens"), body.get("max_completion_tokens"))
    completion = response.to_openai()
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": response.text}
    assert completion["usage"]["prompt_tokens"] == response.input_tokens
    assert completion["model"] == "gpt-4o-mini"


def test_a_history_with_tool_calls_travels_unchanged(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    history = [
        {"role": "user", "content": "sum 2 and 3"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a":2,"b":3}'}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "5"},
    ]
    host.chat("openai:gpt-4o-mini", history, tools=[add], tool_choice="none")
    body = service.calls[0].body
    assert body["messages"] == history
    assert body["tool_choice"] == "none" and body["tools"][0]["function"]["name"] == "add"


def test_stream_runs_the_tool_loop_over_the_wire(openai_host, service: FakeOpenAI, recorder) -> None:
    host = openai_host()
    service.script([("add", {"a": 20, "b": 22})], "The sum is 42")
    stream = host.stream("openai:gpt-4o-mini", [{"role": "user", "content": "add 20 and 22"}], tools=[add])
    events = list(stream)
    [execution] = [e for e in events if isinstance(e, ToolExecution)]
    assert execution.call.name == "add" and execution.result == "42" and not execution.is_error
    assert stream.response is not None and stream.response.text == "The sum is 42"
    _, second = (c.body for c in service.calls)
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": execution.call.id, "content": "42"}
    assert len(recorder.records) == 1 and recorder.records[0].calls == 2
    assert recorder.records[0].input_tokens == stream.response.input_tokens


def test_astream_runs_the_tool_loop_over_the_wire(openai_host, service: FakeOpenAI, recorder) -> None:
    host = openai_host()
    service.script([("add", {"a": 1, "b": 2})], "three")

    async def run() -> str:
        stream = await host.astream("openai:gpt-4o-mini", "add 1 and 2", tools=[add])
        return (await stream.collect()).text

    assert asyncio.run(run()) == "three"
    assert len(service.calls) == 2 and recorder.records[0].calls == 2


def test_wrong_types_fail_before_any_request(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    with pytest.raises(ValidationError, match="got a dict"):
        host.chat("openai:gpt-4o-mini", {"role": "user", "content": "hi"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="temperature must be a number"):
        host.chat("openai:gpt-4o-mini", Request.from_prompt("hi"), temperature="hot")  # type: ignore[arg-type]
    assert service.calls == []
