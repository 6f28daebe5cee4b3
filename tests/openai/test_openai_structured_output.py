"""Structured output through the OpenAI plugin and the loopback fake server: ``response_format``
json_schema (strict where the schema allows it) for models that have it, a forced tool for an
OpenAI-compatible model that has only function calling, streams, and bad answers."""

from __future__ import annotations

import asyncio
import json

import attrs
import pydantic
import pytest

from genai_commons import OutputSchema, Request, StructuredOutputError, TextDelta, ToolCallDelta, ValidationError
from genai_commons_openai import JsonSchemaFormat, OpenAIChatOptions
from genai_commons_openai.testing import FakeOpenAI


class City(pydantic.BaseModel):
    name: str
    population: int


class Weather(pydantic.BaseModel):
    city: City
    sunny: bool


@attrs.frozen
class Note:
    title: str
    tags: list[str] = attrs.Factory(list)


def test_a_pydantic_class_becomes_a_strict_response_format(openai_host, service: FakeOpenAI) -> None:
    response = openai_host().chat("openai:gpt-4o-mini", "Weather in Paris?", output_schema=Weather)
    assert response.parsed == Weather(city=City(name="text", population=0), sunny=False)
    assert isinstance(response.parsed.city, City)
    fmt = service.calls[-1].body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Weather"
    assert fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False and schema["$defs"]["City"]["additionalProperties"] is False
    assert "tools" not in service.calls[-1].body, "native structured output needs no tool"


def test_a_schema_with_optional_fields_is_sent_non_strict(openai_host, service: FakeOpenAI) -> None:
    service.script('{"title": "groceries"}')
    response = openai_host().chat("openai:gpt-4o", Request.from_prompt("A note").with_output_schema(Note))
    assert response.parsed == Note(title="groceries", tags=[])
    fmt = service.calls[-1].body["response_format"]["json_schema"]
    assert fmt["strict"] is False, "tags has a default, so strict mode (every property required) would refuse it"
    assert fmt["schema"] == OutputSchema.of(Note).json_schema


def test_the_fake_refuses_a_strict_schema_that_strict_mode_cannot_take(openai_host) -> None:
    from genai_commons import BadRequestError

    loose = {"type": "object", "properties": {"a": {"type": "string"}}}
    options = OpenAIChatOptions(response_format=JsonSchemaFormat(name="loose", schema=loose))
    with pytest.raises(BadRequestError, match="required"):
        openai_host().chat("openai:gpt-4o", Request.from_prompt("hi").with_options(options))


def test_an_openai_compatible_model_without_response_format_gets_a_forced_tool(
    openai_host, service: FakeOpenAI
) -> None:
    response = openai_host().chat("openai:llama3.2", "Weather in Paris?", output_schema=Weather)
    assert response.parsed == Weather(city=City(name="text", population=0), sunny=False)
    assert response.tool_calls == ()
    body = service.calls[-1].body
    assert "response_format" not in body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Weather"}}
    assert [t["function"]["name"] for t in body["tools"]] == ["Weather"]


def test_a_stream_yields_json_text_and_the_parsed_object_at_the_end(openai_host) -> None:
    host = openai_host()
    for model in ("openai:gpt-4o-mini", "openai:llama3.2"):  # native, then a forced tool
        stream = host.stream(model, "Weather?", output_schema=Weather)
        events = list(stream)
        assert not any(isinstance(e, ToolCallDelta) for e in events), model
        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        assert json.loads(text)["sunny"] is False
        assert stream.response is not None and isinstance(stream.response.parsed, Weather)


def test_async_calls(openai_host) -> None:
    host = openai_host()

    async def run() -> tuple[object, object]:
        plain = await host.achat("openai:gpt-4o-mini", "Weather?", output_schema=Weather)
        streamed = await (await host.astream("openai:llama3.2", "Weather?", output_schema=Weather)).collect()
        return plain.parsed, streamed.parsed

    assert asyncio.run(run()) == (Weather(city=City(name="text", population=0), sunny=False),) * 2


def test_an_answer_that_breaks_the_schema_is_an_error_with_the_text(openai_host, service: FakeOpenAI) -> None:
    service.script('{"city": {"name": "Paris"}, "sunny": true}')
    with pytest.raises(StructuredOutputError, match=r"city\.population") as info:
        openai_host().chat("openai:gpt-4o-mini", "Weather?", output_schema=Weather)
    assert json.loads(info.value.text)["city"] == {"name": "Paris"}


def test_an_output_schema_and_a_response_format_option_together_are_refused(openai_host, service) -> None:
    request = Request.from_prompt("hi").with_options(OpenAIChatOptions(response_format="json_object"))
    with pytest.raises(ValidationError, match="keep one of them"):
        openai_host().chat("openai:gpt-4o-mini", request, output_schema=Weather)
    assert service.calls == []


def test_models_say_whether_they_have_structured_output(openai_host) -> None:
    host = openai_host()
    assert host.model("openai:gpt-4o").supports_structured_output
    assert not host.model("openai:llama3.2").supports_structured_output
    configured = openai_host(models={"llama3.2": {"structured_output": True}})
    assert configured.model("openai:llama3.2").supports_structured_output
