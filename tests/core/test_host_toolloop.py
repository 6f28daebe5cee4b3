"""The tool-calling loop: functions run by the host, results fed back, one aggregated usage."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

import pytest

from genai_commons import Request, Role, Tool, ToolLoopError
from genai_commons.testing import FakeProvider, UsageRecorder, tool_call

LOG: list[str] = []


def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
    """The current weather in a city.

    Args:
        city: the city's name.
        unit: temperature unit.
    """
    LOG.append(f"weather:{city}:{unit}")
    return f"18 degrees {unit} in {city}"


def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"tool broke: {reason}")


@pytest.fixture
def setup(make_host: Any) -> tuple[Any, FakeProvider, UsageRecorder]:
    LOG.clear()
    fake, recorder = FakeProvider(), UsageRecorder()
    return make_host(fake, recorder), fake, recorder


def _tool_messages(request: Request) -> list[Any]:
    return [m for m in request.messages if m.role is Role.TOOL]


def test_several_calls_in_one_turn_then_an_answer(setup: Any) -> None:
    host, fake, _recorder = setup
    fake.script(
        [tool_call("get_weather", {"city": "Paris"}, id="c1"), tool_call("add", {"a": 2, "b": "3"}, id="c2")],
        "Paris is mild and 2 + 3 = 5",
    )
    request = Request.from_prompt("weather and sum?").with_function(get_weather).with_function(add)

    response = host.chat("fake:chat", request)

    assert response.text == "Paris is mild and 2 + 3 = 5"
    second = fake.calls[1].request
    assistant = second.messages[1]
    assert [c.id for c in assistant.tool_calls] == ["c1", "c2"]
    results = _tool_messages(second)
    assert [(m.tool_call_id, m.content, m.is_error) for m in results] == [
        ("c1", "18 degrees C in Paris", False),
        ("c2", "5", False),  # "3" was coerced to an int by the function's type hints
    ]
    assert LOG == ["weather:Paris:C"]


def test_usage_of_every_step_is_aggregated_into_one_record(setup: Any) -> None:
    host, fake, recorder = setup
    fake.script([tool_call("add", {"a": 1, "b": 1})], [tool_call("add", {"a": 2, "b": 2})], "done")
    response = host.chat("fake:chat", Request.from_prompt("count").with_function(add))
    assert len(fake.calls) == 3
    assert len(recorder.records) == 1
    usage = recorder.records[0]
    assert usage.calls == 3
    assert usage.input_tokens == response.input_tokens
    assert usage.output_tokens == response.output_tokens
    assert response.total_tokens == response.input_tokens + response.output_tokens  # type: ignore[operator]
    # The fake counts at least one input word and one output token per step: three steps were summed.
    assert usage.input_tokens >= 3
    assert usage.output_tokens >= 3


def test_a_tool_that_raises_is_reported_to_the_model_not_raised(setup: Any) -> None:
    host, fake, _ = setup
    fake.script([tool_call("explode", {"reason": "disk full"}, id="x")], "sorry, that failed")
    response = host.chat("fake:chat", Request.from_prompt("go").with_function(explode))
    assert response.text == "sorry, that failed"
    (result,) = _tool_messages(fake.calls[1].request)
    assert result.is_error
    assert result.content == "Error: RuntimeError: tool broke: disk full"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (tool_call("add", '{"a": 1, "b": ', id="x"), "Error: the model's arguments for tool 'add' are not valid JSON"),
        (
            tool_call("add", {"a": "one", "b": 2}, id="x"),
            "Error: invalid arguments: a: Input should be a valid integer",
        ),
        (tool_call("add", {"a": 1}, id="x"), "Error: invalid arguments: b: Field required"),
        (tool_call("nonexistent", {}, id="x"), "Error: there is no tool named 'nonexistent'"),
    ],
)
def test_bad_calls_are_answered_with_a_tool_error(setup: Any, call: Any, message: str) -> None:
    host, fake, _ = setup
    fake.script([call], "recovered")
    assert host.chat("fake:chat", Request.from_prompt("go").with_function(add)).text == "recovered"
    (result,) = _tool_messages(fake.calls[1].request)
    assert result.is_error
    assert result.content.startswith(message)


def test_the_step_limit_raises_with_the_aggregated_response(setup: Any) -> None:
    host, fake, recorder = setup
    fake.script(*[[tool_call("add", {"a": 1, "b": 1})] for _ in range(10)])
    with pytest.raises(ToolLoopError, match=r"still calling tools after 3 steps.*max_steps") as info:
        host.chat("fake:chat", Request.from_prompt("loop").with_function(add), max_steps=3)
    assert info.value.steps == 3
    assert info.value.response.input_tokens is not None
    assert len(fake.calls) == 3
    assert recorder.records == []  # the interaction did not complete


def test_the_step_limit_comes_from_the_configuration(make_host: Any) -> None:
    from genai_commons.config import ToolSettings

    fake = FakeProvider()
    host = make_host(fake, tools=ToolSettings(max_steps=2))
    fake.script(*[[tool_call("add", {"a": 1, "b": 1})] for _ in range(5)])
    with pytest.raises(ToolLoopError):
        host.chat("fake:chat", Request.from_prompt("loop").with_function(add))
    assert len(fake.calls) == 2


def test_a_tool_without_a_callable_hands_the_response_back(setup: Any) -> None:
    host, fake, _ = setup
    described = Tool(name="lookup", parameters={"type": "object", "properties": {"q": {"type": "string"}}})
    fake.script([tool_call("lookup", {"q": "x"}, id="l1")])
    response = host.chat("fake:chat", Request.from_prompt("find").with_tool(described))
    assert [c.name for c in response.tool_calls] == ["lookup"]
    assert len(fake.calls) == 1


def test_run_tools_false_returns_the_tool_calls(setup: Any) -> None:
    host, fake, _ = setup
    fake.script([tool_call("add", {"a": 1, "b": 2})])
    response = host.chat("fake:chat", Request.from_prompt("sum").with_function(add), run_tools=False)
    assert response.tool_calls[0].name == "add"
    assert len(fake.calls) == 1


async def slow_lookup(key: str) -> str:
    """An async tool."""
    await asyncio.sleep(0.2)
    return key.upper()


def test_async_tools_of_one_turn_run_concurrently(setup: Any) -> None:
    host, fake, recorder = setup
    fake.script(
        [tool_call("slow_lookup", {"key": k}, id=k) for k in ("a", "b", "c", "d")],
        "all looked up",
    )
    request = Request.from_prompt("look up four").with_function(slow_lookup)
    started = time.perf_counter()
    response = asyncio.run(host.achat("fake:chat", request))
    elapsed = time.perf_counter() - started
    assert response.text == "all looked up"
    assert [m.content for m in _tool_messages(fake.calls[1].request)] == ["A", "B", "C", "D"]
    assert elapsed < 0.6  # four 0.2 s lookups, concurrently
    assert recorder.records[0].calls == 2


def test_sync_and_async_loops_send_the_same_conversation(make_host: Any) -> None:
    sync_fake, async_fake = FakeProvider(name="s"), FakeProvider(name="a")
    host = make_host(sync_fake, async_fake)
    script = ([tool_call("get_weather", {"city": "Oslo"}, id="w")], "cold")
    sync_fake.script(*script)
    async_fake.script(*script)
    request = Request.from_prompt("weather?").with_function(get_weather)
    assert host.chat("s:chat", request).text == asyncio.run(host.achat("a:chat", request)).text
    assert sync_fake.calls[1].request.messages == async_fake.calls[1].request.messages
