"""Structured output through the host: schemas from pydantic, dataclasses, attrs and dicts; the
forced-tool way for a model with function calling (the fakes answer a forced tool with arguments
that fill its schema), the native way, the refusal, bad answers, streams and the tool loop."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import attrs
import pydantic
import pytest

from genai_commons import (
    DeployedModel,
    OutputSchema,
    Request,
    Response,
    StopReason,
    StructuredOutputError,
    TextDelta,
    ToolCallDelta,
    UnsupportedCapabilityError,
    ValidationError,
)
from genai_commons.serialization import from_json, to_json
from genai_commons.testing import FakeProvider, UsageRecorder, tool_call


class Weather(pydantic.BaseModel):
    city: str
    sunny: bool


@dataclasses.dataclass
class WeatherData:
    city: str
    sunny: bool


@attrs.frozen
class Day:
    name: str
    rain_mm: float = 0.0


@attrs.frozen
class Forecast:
    city: str
    days: list[Day]


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "sunny": {"type": "boolean"}},
    "required": ["city", "sunny"],
}


def _models(native: bool) -> list[DeployedModel]:
    return [
        DeployedModel(provider="fake", model_id="chat", supports_function_calling=True, supports_streaming=True),
        DeployedModel(provider="fake", model_id="native", supports_structured_output=native, supports_streaming=True),
        DeployedModel(provider="fake", model_id="plain"),
    ]


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider(models=_models(native=True))


@pytest.fixture
def recorder() -> UsageRecorder:
    return UsageRecorder()


@pytest.fixture
def host(make_host, fake, recorder):
    return make_host(fake, recorder)


# -- the schema -----------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", [Weather, WeatherData, SCHEMA])
def test_each_kind_of_schema_normalises_to_an_object_schema(schema: Any) -> None:
    output = OutputSchema.of(schema)
    assert output.json_schema["type"] == "object"
    assert set(output.json_schema["properties"]) == {"city", "sunny"}
    parsed = output.parse('{"city": "Paris", "sunny": true}')
    if isinstance(schema, dict):
        assert parsed == {"city": "Paris", "sunny": True}
        assert output.name == "answer"
    else:
        assert isinstance(parsed, schema) and parsed.city == "Paris" and parsed.sunny is True
        assert output.name == schema.__name__


def test_an_attrs_class_is_built_with_its_nested_classes() -> None:
    output = OutputSchema.of(Forecast)
    assert output.json_schema["properties"]["days"]["type"] == "array"
    parsed = output.parse('{"city": "Oslo", "days": [{"name": "mon", "rain_mm": 2.5}, {"name": "tue"}]}')
    assert parsed == Forecast(city="Oslo", days=[Day(name="mon", rain_mm=2.5), Day(name="tue")])
    with pytest.raises(StructuredOutputError, match=r"days\.0\.rain_mm"):
        output.parse('{"city": "Oslo", "days": [{"name": "mon", "rain_mm": "lots"}]}')


@pytest.mark.parametrize(
    ("schema", "text", "where"),
    [
        (Weather, '{"city": "Paris", "sunny": "secret-value"}', "sunny"),
        (SCHEMA, '{"city": "Paris", "sunny": "secret-value"}', r"\$\.sunny"),
        (SCHEMA, '{"city": "Paris"}', "required"),
        (Weather, "secret-value, not JSON", "not JSON"),
    ],
)
def test_a_bad_answer_is_a_clear_error_carrying_the_text_but_not_quoting_it(schema: Any, text: str, where: str) -> None:
    with pytest.raises(StructuredOutputError, match=where) as info:
        OutputSchema.of(schema).parse(text)
    assert isinstance(info.value, ValidationError)
    assert info.value.text == text
    assert "secret-value" not in str(info.value)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "array", "items": {"type": "string"}}, "must describe a JSON object"),
        ({"type": "object", "properties": {"x": {"type": "no-such-type"}}}, "not a valid JSON Schema"),
        (42, "got int"),
    ],
)
def test_a_schema_that_cannot_be_used_is_refused(schema: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Request.from_prompt("hi").with_output_schema(schema)


def test_strict_schema_only_when_every_property_is_required() -> None:
    assert OutputSchema.of(Weather).strict_json_schema()["additionalProperties"] is False  # type: ignore[index]
    nested = OutputSchema.of(Forecast).strict_json_schema()
    assert nested is None, "Day.rain_mm has a default, so it is optional: strict mode cannot say that"
    free_form = {"type": "object", "properties": {"x": {"type": "object", "additionalProperties": True}}}
    assert OutputSchema.of({**free_form, "required": ["x"]}).strict_json_schema() is None


def test_a_request_with_a_schema_round_trips_through_json() -> None:
    request = Request.from_prompt("Weather?").with_output_schema(SCHEMA, name="weather")
    back = from_json(to_json(request), Request)
    assert back.output_schema is not None
    assert back.output_schema.name == "weather" and back.output_schema.json_schema == SCHEMA


# -- the forced tool: a model with function calling -----------------------------------------------


def test_forced_tool_answer_becomes_parsed_object(host, fake, recorder) -> None:
    response = host.chat("fake:chat", "Is it sunny in Paris?", output_schema=Weather)
    assert response.parsed == Weather(city="text", sunny=False)  # the fake fills the schema with placeholders
    assert json.loads(response.text) == {"city": "text", "sunny": False}
    assert response.tool_calls == (), "the forced tool call does not leak into the response"
    assert response.stop_reason is StopReason.END_TURN
    sent = fake.last_request
    assert sent.output_schema is None, "the plugin sees a plain tool request"
    assert [t.name for t in sent.tools] == ["Weather"] and sent.tool_choice_name == "Weather"
    assert sent.tools[0].parameters["properties"] == Weather.model_json_schema()["properties"]
    assert len(recorder.records) == 1


def test_request_with_output_schema_and_async(host) -> None:
    request = Request.from_prompt("Weather?").with_output_schema(WeatherData)
    response = asyncio.run(host.achat("fake:chat", request))
    assert response.parsed == WeatherData(city="text", sunny=False)


def test_a_bad_answer_raises_after_the_usage_is_recorded(host, fake, recorder) -> None:
    fake.script([tool_call("Weather", {"city": "Paris"})])
    with pytest.raises(StructuredOutputError, match="sunny") as info:
        host.chat("fake:chat", "Weather?", output_schema=Weather)
    assert json.loads(info.value.text) == {"city": "Paris"}
    assert len(recorder.records) == 1, "the tokens were spent: the usage is recorded"


def test_a_cut_answer_says_to_raise_max_tokens(host, fake) -> None:
    fake.script(Response.of_text('{"city": "Par', stop_reason=StopReason.MAX_TOKENS))
    with pytest.raises(StructuredOutputError, match="raise max_tokens"):
        host.chat("fake:chat", "Weather?", output_schema=SCHEMA)


def test_the_tool_loop_runs_the_requests_functions_then_the_answer_is_parsed(host, fake, recorder) -> None:
    looked_up: list[str] = []

    def lookup(city: str) -> str:
        """Look up the weather."""
        looked_up.append(city)
        return "sunny"

    fake.script(
        [tool_call("lookup", {"city": "Paris"})],
        [tool_call("Weather", {"city": "Paris", "sunny": True})],
    )
    request = Request.from_prompt("Weather in Paris?").with_function(lookup)
    response = host.chat("fake:chat", request, output_schema=Weather)
    assert looked_up == ["Paris"]
    assert response.parsed == Weather(city="Paris", sunny=True)
    first = fake.calls[0].payload
    assert first.tool_choice.value == "any", "beside the request's own tools the model may call any tool"
    assert len(recorder.records) == 1


def test_a_schema_named_like_a_tool_of_the_request_is_refused(host) -> None:
    def Weather(city: str) -> str:
        return city

    with pytest.raises(ValidationError, match="another name"):
        host.chat(
            "fake:chat", Request.from_prompt("hi").with_function(Weather), output_schema=SCHEMA | {"title": "Weather"}
        )


# -- native and refused ---------------------------------------------------------------------------


def test_a_native_model_gets_the_schema_on_the_request(host, fake) -> None:
    fake.script('{"city": "Rome", "sunny": true}')
    response = host.chat("fake:native", "Weather?", output_schema=Weather)
    assert fake.last_request.output_schema == OutputSchema.of(Weather)
    assert not fake.last_request.tools
    assert response.parsed == Weather(city="Rome", sunny=True)


def test_a_model_with_neither_is_refused_before_the_call(host, fake) -> None:
    with pytest.raises(UnsupportedCapabilityError, match="neither structured output nor function calling") as info:
        host.chat("fake:plain", "Weather?", output_schema=Weather)
    assert info.value.capability == "structured output"
    assert fake.calls == []


# -- streams --------------------------------------------------------------------------------------


def test_a_stream_yields_the_answer_as_text_and_parses_it_at_the_end(host, recorder) -> None:
    stream = host.stream("fake:chat", "Weather?", output_schema=Weather)
    events = list(stream)
    assert not any(isinstance(e, ToolCallDelta) for e in events)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert json.loads(text) == {"city": "text", "sunny": False}
    assert stream.response is not None and stream.response.parsed == Weather(city="text", sunny=False)
    assert stream.response.tool_calls == () and stream.response.stop_reason is StopReason.END_TURN
    assert len(recorder.records) == 1


def test_an_async_stream_parses_at_the_end(host) -> None:
    async def run() -> Response:
        stream = await host.astream("fake:chat", Request.from_prompt("Weather?").with_output_schema(SCHEMA))
        return await stream.collect()

    assert asyncio.run(run()).parsed == {"city": "text", "sunny": False}


def test_a_stream_with_a_bad_answer_raises_at_its_end(host, fake) -> None:
    fake.script("not json at all")
    stream = host.stream("fake:native", "Weather?", output_schema=Weather)
    with pytest.raises(StructuredOutputError):
        stream.collect()
    assert stream.response is not None and stream.response.parsed is None
