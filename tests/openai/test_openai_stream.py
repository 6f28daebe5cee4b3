"""Streamed chat over server-sent events: text and tool-call deltas, usage at the end, and the ways
a stream goes wrong (cut, truncated, an error event, not a stream at all), sync and async."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from genai_commons import (
    ProviderError,
    RateLimitError,
    Request,
    ServiceUnavailableError,
    StopReason,
    StreamEnd,
    TextDelta,
    ToolCallDelta,
)
from genai_commons.testing import UsageRecorder
from genai_commons_openai import OpenAIProvider
from genai_commons_openai.testing import FakeOpenAI, FakeOpenAIServer


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def test_text_deltas_then_one_end_with_the_usage(openai_host, service: FakeOpenAI, recorder: UsageRecorder) -> None:
    host = openai_host()
    stream = host.stream("openai:gpt-4o-mini", "tell me a story")
    events = list(stream)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["You", " said:", " tell", " me", " a", " story"]
    end = events[-1]
    assert isinstance(end, StreamEnd) and sum(isinstance(e, StreamEnd) for e in events) == 1
    assert (end.input_tokens, end.output_tokens, end.total_tokens) == (7, 6, 13)
    assert end.stop_reason is StopReason.END_TURN and end.model_id == "gpt-4o-mini"
    assert stream.response is not None and stream.response.text == "You said: tell me a story"
    body = service.calls[-1].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert service.calls[-1].headers["accept"] == "text/event-stream"
    assert [r.output_tokens for r in recorder.records] == [6]


def test_without_stream_usage_the_option_is_not_sent(openai_host, service: FakeOpenAI) -> None:
    host = openai_host(stream_usage=False)
    response = host.stream("openai:llama3.2", "hi").collect()
    assert response.text == "You said: hi" and response.input_tokens is None
    assert "stream_options" not in service.calls[-1].body


def test_tool_call_deltas_assemble_into_complete_calls(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    service.script([("add", {"a": 1, "b": 2}), ("add", {"a": 30, "b": 40})])
    stream = host.stream("openai:gpt-4o-mini", Request.from_prompt("sums").with_function(add), run_tools=False)
    events = list(stream)
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert len(deltas) == 6 and {d.index for d in deltas} == {0, 1}
    assert deltas[0].id and deltas[0].name == "add" and deltas[0].arguments == ""
    assert deltas[1].id is None and deltas[1].name is None
    response = stream.response
    assert response is not None and response.stop_reason is StopReason.TOOL_USE
    assert [(c.name, c.parsed_arguments()) for c in response.tool_calls] == [
        ("add", {"a": 1, "b": 2}),
        ("add", {"a": 30, "b": 40}),
    ]
    assert response.tool_calls[0].id == deltas[0].id


def test_async_streaming_agrees_with_sync(openai_host) -> None:
    host = openai_host()

    async def collect() -> list[object]:
        stream = await host.astream("openai:gpt-4o-mini", "same words")
        return [event async for event in stream]

    events = asyncio.run(collect())
    assert events == list(host.stream("openai:gpt-4o-mini", "same words"))


def test_a_pooled_connection_serves_one_stream_after_another(openai_host, server: FakeOpenAIServer) -> None:
    host = openai_host()
    for _ in range(5):
        host.stream("openai:gpt-4o-mini", "again").collect()
        host.chat("openai:gpt-4o-mini", "and again")
    assert server.connections == 1


@pytest.mark.parametrize("kind", ["truncate", "disconnect", "stream_error"])
def test_a_broken_stream_is_an_error_never_a_short_answer(
    kind: str, openai_host, service: FakeOpenAI, recorder: UsageRecorder
) -> None:
    host = openai_host()
    service.fail_next(kind)
    stream = host.stream("openai:gpt-4o-mini", "one two three four five six")
    received = []
    with pytest.raises(ServiceUnavailableError) as info:
        for event in stream:
            received.append(event)
    assert received and all(isinstance(e, TextDelta) for e in received)  # some text came first
    assert info.value.__cause__ is not None and info.value.provider == "openai"
    assert stream.response is None and recorder.records == []


def test_an_error_before_the_first_event_is_retried_by_the_host(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    service.fail_next("rate_limit")
    assert host.stream("openai:gpt-4o-mini", "retry me").collect().text == "You said: retry me"
    assert len(service.calls) == 2
    service.fail_next("rate_limit", times=3)
    with pytest.raises(RateLimitError):
        host.stream("openai:gpt-4o-mini", "give up").collect()


def test_a_server_that_ignores_stream_true_still_streams(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    service.fail_next("ignore_stream")
    events = list(host.stream("openai:gpt-4o-mini", "whole answer"))
    assert [type(e) for e in events] == [TextDelta, StreamEnd]
    assert events[0] == TextDelta(text="You said: whole answer")


def test_a_stream_event_that_is_not_json_is_an_error(service: FakeOpenAI) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=b'data: {"choices": [\n\ndata: [DONE]\n\n'
        )

    provider = OpenAIProvider(httpx.MockTransport(handler))
    from genai_commons import Config, Host

    with Host(Config.defaults(".", providers={"openai": {"api_key": "k"}}), load_entry_points=False) as host:
        host.register(provider)
        with pytest.raises(ProviderError, match="not the OpenAI API's JSON") as info:
            host.stream("openai:gpt-4o-mini", "x").collect()
    assert not isinstance(info.value, ServiceUnavailableError)


def test_sse_details_comments_multiline_and_azure_filter_chunks() -> None:
    frames = [
        b": keep-alive comment\n\n",
        b'data: {"choices": [], "prompt_filter_results": [{"prompt_index": 0}]}\n\n',
        b'data: {"model": "m", "choices": [{"index": 0, "delta": {"content": "Hel"}}]}\r\n\r\n',
        b'data: {"choices": [{"index": 0,\ndata: "delta": {"content": "lo"}, "finish_reason": "length"}]}\n\n',
        b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}\n\n',
        b"data: [DONE]\n\n",
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["stream"] is True
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(frames))

    from genai_commons import Config, Host

    config = Config.defaults(".", providers={"openai": {"api_key": "k"}})
    with Host(config, load_entry_points=False, plugins=[OpenAIProvider(httpx.MockTransport(handler))]) as host:
        response = host.stream("openai:gpt-4o-mini", "x").collect()
    assert response.text == "Hello"
    assert (response.input_tokens, response.output_tokens, response.model_id) == (3, 2, "m")
    assert response.stop_reason is StopReason.MAX_TOKENS
