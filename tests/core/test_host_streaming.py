"""Streamed chat: events pass through in order, tool-call deltas assemble, usage at the end."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from genai_commons import (
    DeployedModel,
    Provider,
    Request,
    ServiceUnavailableError,
    StopReason,
    StreamEnd,
    TextDelta,
    ToolCallDelta,
)
from genai_commons.streams import StreamAssembler
from genai_commons.testing import FakeAsyncProvider, FakeProvider, StreamFailure, UsageRecorder, tool_call


@pytest.fixture(params=[FakeProvider, FakeAsyncProvider], ids=["sync-provider", "async-provider"])
def setup(request: Any, make_host: Any) -> tuple[Any, Any, UsageRecorder]:
    fake, recorder = request.param(), UsageRecorder()
    return make_host(fake, recorder), fake, recorder


def test_text_deltas_arrive_in_order_and_assemble(setup: Any) -> None:
    host, fake, recorder = setup
    fake.script("one two three")
    stream = host.stream("fake:chat", "count")
    events = list(stream)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["one", " two", " three"]
    assert isinstance(events[-1], StreamEnd)
    assert stream.response is not None
    assert stream.response.text == "one two three"
    assert stream.response.stop_reason is StopReason.END_TURN
    assert len(recorder.records) == 1
    assert recorder.records[0].output_tokens == stream.response.output_tokens


def test_tool_call_deltas_assemble_into_complete_calls(setup: Any) -> None:
    host, fake, _ = setup
    fake.script([tool_call("add", {"a": 1, "b": 2}, id="t1"), tool_call("add", {"a": 3, "b": 4}, id="t2")])
    stream = host.stream("fake:chat", "sums")
    deltas = [e for e in stream if isinstance(e, ToolCallDelta)]
    assert len(deltas) == 4  # each call's arguments arrive in two pieces
    response = stream.response
    assert response is not None
    assert [(c.id, c.name, c.parsed_arguments()) for c in response.tool_calls] == [
        ("t1", "add", {"a": 1, "b": 2}),
        ("t2", "add", {"a": 3, "b": 4}),
    ]


def test_usage_is_recorded_only_when_the_stream_completes(setup: Any) -> None:
    host, _fake, recorder = setup
    stream = host.stream("fake:chat", "a b c d")
    iterator = iter(stream)
    next(iterator)
    assert recorder.records == []
    stream.close()
    assert recorder.records == []


def test_an_error_mid_stream_reaches_the_caller_and_records_nothing(setup: Any) -> None:
    host, fake, recorder = setup
    fake.script(StreamFailure(error=ServiceUnavailableError("connection reset", provider="fake"), after=2))
    stream = host.stream("fake:chat", "several words here")
    received = []
    with pytest.raises(ServiceUnavailableError, match="connection reset"):
        for event in stream:
            received.append(event)
    assert len(received) == 2
    assert recorder.records == []


def test_a_stream_without_its_final_event_is_an_error() -> None:
    assembler = StreamAssembler("p")
    assembler.add(TextDelta(text="partial"))
    with pytest.raises(ServiceUnavailableError, match="ended before its final event"):
        assembler.response(1.0)


def test_async_streaming_gives_the_same_result(setup: Any) -> None:
    host, _fake, recorder = setup

    async def run() -> tuple[list[str], str]:
        stream = await host.astream("fake:chat", Request.from_prompt("hello async world"))
        pieces = [piece async for piece in stream.text()]
        assert stream.response is not None
        return pieces, stream.response.text

    pieces, text = asyncio.run(run())
    assert "".join(pieces) == text == "echo: hello async world"
    assert host.stream("fake:chat", "hello async world").collect().text == text
    assert len(recorder.records) == 2


class _Closable(Provider):
    """A streaming provider whose event iterators record whether they were closed."""

    name = "closable"

    def __init__(self) -> None:
        super().__init__()
        self.closed: list[str] = []

    def models(self):
        return [DeployedModel(provider="closable", model_id="m", supports_streaming=True)]

    def chat_stream(self, model, request):
        try:
            for word in ("one ", "two ", "three"):
                yield TextDelta(text=word)
            yield StreamEnd()
        finally:
            self.closed.append("sync")

    async def chat_stream_async(self, model, request):
        try:
            for word in ("one ", "two ", "three"):
                yield TextDelta(text=word)
            yield StreamEnd()
        finally:
            self.closed.append("async")


def test_closing_an_abandoned_stream_closes_the_providers_iterator(make_host) -> None:
    provider = _Closable()
    host = make_host(provider)
    stream = host.stream("closable:m", "hi")
    assert next(iter(stream)).text == "one "
    stream.close()
    assert provider.closed == ["sync"]
    assert stream.response is None

    async def go() -> None:
        astream = await host.astream("closable:m", "hi")
        async for _event in astream:
            break
        await astream.aclose()

    asyncio.run(go())
    assert provider.closed == ["sync", "async"]


class _SyncOnlyClosable(_Closable):
    """Sync streaming only: the base class bridges ``astream`` through a worker thread. It keeps
    its iterators (as a plugin tracking open responses would), so only an explicit close ends one."""

    name = "closable"
    chat_stream_async = Provider.chat_stream_async

    def __init__(self) -> None:
        super().__init__()
        self.open: list[object] = []

    def chat_stream(self, model, request):
        iterator = super().chat_stream(model, request)
        self.open.append(iterator)
        return iterator


async def test_closing_an_abandoned_async_stream_closes_a_sync_providers_iterator(make_host) -> None:
    provider = _SyncOnlyClosable()
    host = make_host(provider)
    astream = await host.astream("closable:m", "hi")
    async for _event in astream:
        break
    await astream.aclose()
    assert provider.closed == ["sync"]
