"""Cached prompt tokens and reasoning tokens of OpenAI's usage, chat and stream, through the
loopback fake; the usage record's cost comes from the shipped price table."""

from __future__ import annotations

from typing import Any

import pytest

from genai_commons import Request
from genai_commons.prices import shipped_prices
from genai_commons.testing import UsageRecorder
from genai_commons_openai.testing import FakeOpenAI, Reply


def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


def _expected_cost(model: str, prompt: int, cached: int, completion: int) -> float:
    price = shipped_prices().price("openai", model)
    assert price is not None and price.input and price.cached_input and price.output
    return ((prompt - cached) * price.input + cached * price.cached_input + completion * price.output) / 1e6


def test_chat_reports_cached_and_reasoning_tokens_and_the_cost(
    openai_host: Any, service: FakeOpenAI, recorder: UsageRecorder
) -> None:
    service.script(Reply("Four words of answer", cached_tokens=3, reasoning_tokens=7))
    response = openai_host().chat("openai:o3-mini", "what is two plus two, please")

    assert (response.cache_read_tokens, response.reasoning_tokens) == (3, 7)
    assert response.output_tokens == 4 + 7  # reasoning tokens are part of the completion
    (usage,) = recorder.records
    assert (usage.cache_read_tokens, usage.reasoning_tokens, usage.cache_write_tokens) == (3, 7, 0)
    assert usage.cost == pytest.approx(_expected_cost("o3-mini", usage.input_tokens, 3, usage.output_tokens))


def test_a_stream_reports_them_from_its_usage_chunk(
    openai_host: Any, service: FakeOpenAI, recorder: UsageRecorder
) -> None:
    service.script(Reply("streamed answer", cached_tokens=2, reasoning_tokens=5))
    stream = openai_host().stream("openai:gpt-4o-mini", "tell me")
    for _event in stream:
        pass
    assert stream.response is not None
    assert (stream.response.cache_read_tokens, stream.response.reasoning_tokens) == (2, 5)
    (usage,) = recorder.records
    assert (usage.cache_read_tokens, usage.reasoning_tokens) == (2, 5)
    assert usage.cost == pytest.approx(_expected_cost("gpt-4o-mini", usage.input_tokens, 2, usage.output_tokens))


async def test_a_tool_loop_sums_them_into_one_record(
    openai_host: Any, service: FakeOpenAI, recorder: UsageRecorder
) -> None:
    service.script(
        Reply(tool_calls=[("add", {"a": 2, "b": 3})], cached_tokens=4, reasoning_tokens=1),
        Reply("The sum is 5", cached_tokens=6, reasoning_tokens=2),
    )
    response = await openai_host().achat("openai:gpt-4.1-mini", Request.from_prompt("2 + 3 ?").with_function(add))
    assert response.text == "The sum is 5"
    (usage,) = recorder.records
    assert (usage.calls, usage.cache_read_tokens, usage.reasoning_tokens) == (2, 10, 3)


def test_a_server_without_the_detail_leaves_the_counts_unknown(
    openai_host: Any, service: FakeOpenAI, recorder: UsageRecorder
) -> None:
    response = openai_host().chat("openai:gpt-4o-mini", "hello")
    assert (response.cache_read_tokens, response.reasoning_tokens) == (0, 0)  # the fake reports zeros
    (usage,) = recorder.records
    assert usage.cost is not None and usage.cost > 0
