"""``genai chat --schema FILE_OR_JSON``: the validated JSON object is printed; bad schemas and bad
answers are clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from genai_commons.cli import CliState, main
from genai_commons.testing import FakeProvider, tool_call

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "sunny": {"type": "boolean"}},
    "required": ["city", "sunny"],
}


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


def run(make_host, plugin, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), obj=CliState(host=make_host(plugin)))


def test_an_inline_schema_prints_the_json_object(make_host, fake) -> None:
    fake.script([tool_call("answer", {"city": "Paris", "sunny": True})])
    result = run(make_host, fake, "chat", "fake:chat", "Weather in Paris?", "--schema", json.dumps(SCHEMA))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"city": "Paris", "sunny": True}
    assert fake.last_request.tool_choice_name == "answer"


def test_a_schema_file_and_a_streamed_answer(make_host, fake, tmp_path: Path) -> None:
    path = tmp_path / "weather.json"
    path.write_text(json.dumps({**SCHEMA, "title": "weather"}), encoding="utf-8")
    result = run(make_host, fake, "chat", "fake:chat", "Weather?", "--schema", str(path), "--stream")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"city": "text", "sunny": False}
    assert fake.last_request.tool_choice_name == "weather"


def test_json_output_carries_the_parsed_answer(make_host, fake) -> None:
    result = run(make_host, fake, "chat", "fake:chat", "Weather?", "--schema", json.dumps(SCHEMA), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["parsed"] == {"city": "text", "sunny": False}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "not valid JSON"),
        ("no-such-file.json", "neither a JSON object nor a readable file"),
        ('{"type": "array"}', "must describe a JSON object"),
    ],
)
def test_a_bad_schema_is_a_usage_error(make_host, fake, value: str, message: str) -> None:
    result = run(make_host, fake, "chat", "fake:chat", "hi", "--schema", value)
    assert result.exit_code == 2
    assert message in result.output
    assert fake.calls == []


def test_an_answer_that_breaks_the_schema_is_an_error(make_host, fake) -> None:
    fake.script([tool_call("answer", {"city": "Paris"})])
    result = run(make_host, fake, "chat", "fake:chat", "Weather?", "--schema", json.dumps(SCHEMA))
    assert result.exit_code != 0
    assert "breaks the output schema" in result.output
