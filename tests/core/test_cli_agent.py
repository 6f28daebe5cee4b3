"""``genai agent invoke``: streamed text, traces, sessions, attributes, JSON and bad arguments."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from genai_commons import Capability
from genai_commons.cli import CliState, main
from genai_commons.testing import FakeProvider, make_fake_provider_class


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


def run(make_host, plugin, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), obj=CliState(host=make_host(plugin)))


def test_the_answer_is_printed_and_traces_go_to_stderr(make_host, fake) -> None:
    result = run(make_host, fake, "-v", "agent", "invoke", "fake:helper", "hello there", "--trace", "--alias", "A1")
    assert result.exit_code == 0, result.output
    assert result.stdout == "echo: hello there\n"
    assert "[trace] orchestration: answer by echoing" in result.stderr
    call = fake.calls[-1]
    assert call.capability is Capability.AGENT and call.target == "fake:helper"
    session = call.payload.session_id
    assert session and f"session: {session}" in result.stderr


def test_session_and_attributes_reach_the_provider(make_host, fake) -> None:
    result = run(
        make_host, fake, "agent", "invoke", "fake:helper", "hi", "--session", "s-42", "--end-session",
        "--session-attribute", "user=ann", "--prompt-attribute", "tz=UTC",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    request = fake.calls[-1].payload
    assert (request.session_id, request.end_session, request.enable_trace) == ("s-42", True, False)
    assert (dict(request.session_attributes), dict(request.prompt_session_attributes)) == (
        {"user": "ann"},
        {"tz": "UTC"},
    )


def test_json_output_holds_text_references_and_traces(make_host, fake) -> None:
    result = run(make_host, fake, "agent", "invoke", "fake:helper", "hi", "--trace", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["text"] == "echo: hi"
    assert data["references"][0]["source"] == "fake://agent/fake:helper"
    assert [t["step"] for t in data["traces"]] == ["orchestration"]
    assert data["session_id"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["helper", "hi"], "is not an agent reference; use PROVIDER:AGENT_ID"),
        (["fake:helper", "   "], "TEXT is empty"),
        (["fake:helper", "hi", "--session-attribute", "novalue"], "'novalue' must be KEY=VALUE"),
    ],
)
def test_bad_arguments(make_host, fake, args, message) -> None:
    result = run(make_host, fake, "agent", "invoke", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_provider_without_agents_is_refused(make_host) -> None:
    chat_only = make_fake_provider_class("talk", ["chat"])()
    result = run(make_host, chat_only, "agent", "invoke", "talk:helper", "hi")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "agent" in result.stderr
