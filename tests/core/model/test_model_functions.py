"""``genai_commons.model.functions`` and ``toolloop.result_text``: a schema from a callable, arguments, result text."""

from __future__ import annotations

import json
from typing import Literal

import pydantic
import pytest

from genai_commons.errors import ValidationError
from genai_commons.model import Metadata
from genai_commons.model.functions import describe_callable, prepare_arguments
from genai_commons.toolloop import result_text


def forecast(city: str, days: list[int], unit: Literal["c", "f"] = "c", note: str | None = None) -> str:
    """Forecast the weather.

    Args:
        city: The city.
        days: Days ahead.
    """
    return city


def numpy_style(query: str, limit: int = 5) -> str:
    """Search the catalogue.

    Parameters
    ----------
    query : str
        What to look for.
    limit : int
        Most results.
    """
    return query


def rest_style(path: str) -> str:
    """Read a file.

    :param path: Where the file is.
    """
    return path


def no_parameters() -> str:
    """The current time."""
    return "noon"


def test_schema_and_descriptions() -> None:
    described = describe_callable(forecast)
    assert described.name == "forecast"
    assert described.description == "Forecast the weather."
    schema = described.parameters
    assert schema["type"] == "object"
    assert schema["required"] == ["city", "days"]
    assert "title" not in schema
    assert all("title" not in prop for prop in schema["properties"].values())
    assert schema["properties"]["city"] == {"type": "string", "description": "The city."}
    assert schema["properties"]["days"] == {"type": "array", "items": {"type": "integer"}, "description": "Days ahead."}
    assert schema["properties"]["unit"] == {"type": "string", "enum": ["c", "f"], "default": "c"}
    assert schema["properties"]["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}


@pytest.mark.parametrize(
    ("fn", "description", "param", "param_description"),
    [
        (numpy_style, "Search the catalogue.", "query", "What to look for."),
        (rest_style, "Read a file.", "path", "Where the file is."),
    ],
)
def test_docstring_styles(fn, description: str, param: str, param_description: str) -> None:  # type: ignore[no-untyped-def]
    described = describe_callable(fn)
    assert described.description == description
    assert described.parameters["properties"][param]["description"] == param_description


def test_a_function_without_parameters() -> None:
    described = describe_callable(no_parameters)
    assert described.parameters == {"type": "object", "properties": {}, "additionalProperties": False}
    assert prepare_arguments(no_parameters, {}) == {}


def test_prepare_arguments_coerces_and_fills_defaults() -> None:
    arguments = prepare_arguments(forecast, {"city": "Paris", "days": ["1", 2]})
    assert arguments == {"city": "Paris", "days": [1, 2], "unit": "c", "note": None}
    assert forecast(**arguments) == "Paris"
    assert prepare_arguments(numpy_style, {"query": "q", "limit": "7"}) == {"query": "q", "limit": 7}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"days": [1]}, r"invalid arguments: city: Field required"),
        ({"city": "Paris", "days": [1], "unit": "kelvin"}, r"unit: Input should be 'c' or 'f'"),
        ({"city": "Paris", "days": [1, "two"]}, r"days\.1: Input should be a valid integer"),
        ({"city": 5, "days": []}, r"city: Input should be a valid string"),
        ({}, r"city: Field required; days: Field required"),
    ],
)
def test_prepare_arguments_errors_are_clear(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        prepare_arguments(forecast, arguments)


def test_result_text() -> None:
    assert result_text("plain text") == "plain text"
    assert result_text("") == ""
    assert result_text({"temp": 21, "unit": "c"}) == '{"temp": 21, "unit": "c"}'
    assert result_text([1, 2.5, None, True]) == "[1, 2.5, null, true]"
    assert result_text(None) == "null"
    assert result_text(42) == "42"
    assert result_text({"city": "Zürich"}) == '{"city": "Zürich"}'  # not escaped
    assert json.loads(result_text(Metadata(key="lang", value="en"))) == {"key": "lang", "value": "en"}

    class Weather(pydantic.BaseModel):
        temp: float

    assert json.loads(result_text(Weather(temp=21.5))) == {"temp": 21.5}
    assert json.loads(result_text({"when": object()})).get("when", "").startswith("<object object")
