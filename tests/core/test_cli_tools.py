"""``genai chat --tool``: Python functions from a module or a file, run by the host, streamed or not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from genai_commons.cli import CliState, main
from genai_commons.testing import FakeProvider, tool_call

TOOLS = '''
def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


def broken(x: int) -> int:
    """Always fails."""
    raise RuntimeError("no luck")
'''


@pytest.fixture
def tools_file(tmp_path: Path) -> Path:
    path = tmp_path / "mytools.py"
    path.write_text(TOOLS, encoding="utf-8")
    return path


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


def run(make_host, fake: FakeProvider, *args: str) -> Result:
    state = CliState(host=make_host(fake))
    return CliRunner().invoke(main, list(args), obj=state)


@pytest.mark.parametrize("stream", [False, True])
def test_the_model_calls_a_tool_from_a_file(make_host, fake, tools_file, stream) -> None:
    fake.script([tool_call("add", {"a": 2, "b": 40})], "The sum is 42.")
    extra = ["--stream"] if stream else []
    result = run(make_host, fake, "chat", "fake:chat", "What is 2 + 40?", "--tool", f"{tools_file}:add", *extra)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("The sum is 42.")
    second = fake.calls[-1].request
    tool_message = second.messages[-1]
    assert (tool_message.role.value, tool_message.content, tool_message.is_error) == ("tool", "42", False)
    assert [tool.name for tool in second.tools] == ["add"]
    assert second.tools[0].parameters["required"] == ["a", "b"]


def test_a_tool_from_an_importable_module(make_host, fake) -> None:
    fake.script([tool_call("dedent", {"text": "    indented"})], "done")
    result = run(make_host, fake, "chat", "fake:chat", "dedent it", "-T", "textwrap:dedent", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["message"]["content"] == "done"
    assert fake.calls[-1].request.messages[-1].content == "indented"


def test_a_function_without_named_parameters_is_refused(make_host, fake) -> None:
    result = run(make_host, fake, "chat", "fake:chat", "hi", "-T", "json:dumps")
    assert result.exit_code == 2
    assert "takes *args or **kwargs" in result.stderr


def test_a_failing_tool_is_reported_to_the_model(make_host, fake, tools_file) -> None:
    fake.script([tool_call("broken", {"x": 1})], "sorry")
    result = run(make_host, fake, "chat", "fake:chat", "try", "--tool", f"{tools_file}:broken")
    assert result.exit_code == 0, result.output
    message = fake.calls[-1].request.messages[-1]
    assert message.is_error and "RuntimeError: no luck" in message.content


def test_streaming_stops_at_the_step_limit(make_host, fake, tools_file) -> None:
    fake.script(*[[tool_call("add", {"a": 1, "b": 1})]] * 12)
    result = run(make_host, fake, "chat", "fake:chat", "loop", "--stream", "--tool", f"{tools_file}:add")
    assert result.exit_code != 0
    assert "still calling tools after 10 steps" in result.stderr


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("nocolon", "must be MODULE:FUNCTION or PATH.py:FUNCTION"),
        ("missing_dir/nothere.py:f", "no such file"),
        ("json:nothing_here", "has no 'nothing_here'"),
        ("genai_no_such_module_xyz:f", "cannot import 'genai_no_such_module_xyz': ModuleNotFoundError"),
        ("json:__doc__", "is not callable"),
    ],
)
def test_bad_tool_references_are_usage_errors(make_host, fake, reference, message) -> None:
    result = run(make_host, fake, "chat", "fake:chat", "hi", "--tool", reference)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not fake.calls
