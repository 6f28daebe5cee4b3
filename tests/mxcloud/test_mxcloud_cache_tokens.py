"""Prompt-cache reads and writes of Mendix Cloud's Converse usage (``cacheReadInputTokens``,
``cacheWriteInputTokens``), chat and stream, through the loopback fake; Mendix Cloud's unit is
its quota, so its records have no cost."""

from __future__ import annotations

from genai_commons import Host, Request
from genai_commons.testing import UsageRecorder
from genai_commons_mxcloud.testing import FakeMxCloud, Reply


def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


def test_chat_counts_cache_tokens_within_the_input(host: Host, service: FakeMxCloud, recorder: UsageRecorder) -> None:
    service.script(Reply(text="cached answer", cache_read=120, cache_write=30))
    response = host.chat("mxcloud:claude", "say something short")
    assert (response.cache_read_tokens, response.cache_write_tokens) == (120, 30)
    assert response.input_tokens is not None and response.input_tokens >= 150
    assert response.total_tokens == response.input_tokens + (response.output_tokens or 0)
    (usage,) = recorder.records
    assert (usage.cache_read_tokens, usage.cache_write_tokens, usage.reasoning_tokens) == (120, 30, 0)
    assert usage.cost is None  # quota, not money: no price


def test_a_stream_counts_them_from_its_metadata_event(
    host: Host, service: FakeMxCloud, recorder: UsageRecorder
) -> None:
    service.script(Reply(text="streamed and cached", cache_read=64))
    stream = host.stream("mxcloud:claude", "go")
    assert "".join(getattr(event, "text", "") for event in stream) == "streamed and cached"
    assert stream.response is not None and stream.response.cache_read_tokens == 64
    (usage,) = recorder.records
    assert usage.cache_read_tokens == 64


def test_a_tool_loop_sums_them(host: Host, service: FakeMxCloud, recorder: UsageRecorder) -> None:
    service.script(Reply(tool_calls=[("add", {"a": 1, "b": 2})], cache_write=50), Reply(text="3", cache_read=50))
    response = host.chat("mxcloud:claude", Request.from_prompt("1 + 2?").with_function(add))
    assert response.text == "3"
    (usage,) = recorder.records
    assert (usage.calls, usage.cache_read_tokens, usage.cache_write_tokens) == (2, 50, 50)


def test_an_answer_without_cache_fields_has_none(host: Host, recorder: UsageRecorder) -> None:
    response = host.chat("mxcloud:claude", "plain")
    assert (response.cache_read_tokens, response.cache_write_tokens) == (None, None)
    assert recorder.records[0].cache_read_tokens == 0
