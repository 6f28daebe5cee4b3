"""Structured output through Mendix Cloud's Converse API and the loopback fake: a forced tool whose
input schema is the output schema, turned back into the answer (never a tool call), sync, async
and streamed; a scripted answer that breaks the schema is an error carrying its text."""

from __future__ import annotations

import asyncio
import json

import pydantic
import pytest

from genai_commons import Host, Request, StopReason, StructuredOutputError, TextDelta, ToolCallDelta
from genai_commons.testing import UsageRecorder
from genai_commons_mxcloud.testing import FakeMxCloud, Reply


class Weather(pydantic.BaseModel):
    """The weather in a city."""

    city: str
    sunny: bool
    degrees: float


def test_the_schema_is_a_forced_tool_and_its_call_the_answer(
    host: Host, service: FakeMxCloud, recorder: UsageRecorder
) -> None:
    response = host.chat("mxcloud:claude", "Weather in Paris?", output_schema=Weather)
    assert response.parsed == Weather(city="text", sunny=False, degrees=0)
    assert response.tool_calls == () and response.stop_reason is StopReason.END_TURN
    [call] = service.calls("/converse")
    config = call.body["toolConfig"]
    assert config["toolChoice"] == {"tool": {"name": "Weather"}}
    [spec] = config["tools"]
    assert spec["toolSpec"]["name"] == "Weather"
    assert spec["toolSpec"]["inputSchema"]["json"] == Weather.model_json_schema()
    assert len(recorder.records) == 1


def test_a_streamed_answer_comes_as_text(host: Host) -> None:
    stream = host.stream("mxcloud:claude", Request.from_prompt("Weather?").with_output_schema(Weather))
    events = list(stream)
    assert not any(isinstance(e, ToolCallDelta) for e in events)
    assert json.loads("".join(e.text for e in events if isinstance(e, TextDelta)))["city"] == "text"
    assert stream.response is not None and isinstance(stream.response.parsed, Weather)


def test_async_chat(host: Host) -> None:
    response = asyncio.run(host.achat("mxcloud:claude", "Weather?", output_schema=Weather))
    assert isinstance(response.parsed, Weather)


def test_an_answer_breaking_the_schema_is_an_error(host: Host, service: FakeMxCloud) -> None:
    service.script(Reply(tool_calls=(("Weather", {"city": "Paris", "sunny": "very"}),)))
    with pytest.raises(StructuredOutputError, match="sunny") as info:
        host.chat("mxcloud:claude", "Weather?", output_schema=Weather)
    assert json.loads(info.value.text) == {"city": "Paris", "sunny": "very"}
