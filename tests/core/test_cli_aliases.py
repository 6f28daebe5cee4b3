"""The commands' model arguments: aliases, and ``genai chat "hi"`` with the ``[defaults]`` chat model."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from genai_commons import RetryPolicy
from genai_commons.aliases import DefaultModels
from genai_commons.cli import CliState, main
from genai_commons.testing import FakeProvider
from genai_commons.testing.pytest_plugin import MakeHost

ALIASES = {"fast": "one:basic", "smart": ["one:chat", "two:chat"], "vectors": "one:embed"}


@pytest.fixture
def one() -> FakeProvider:
    return FakeProvider(name="one")


@pytest.fixture
def two() -> FakeProvider:
    return FakeProvider(name="two")


def run(state: CliState, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), obj=state, input=stdin)


@pytest.fixture
def state(make_host: MakeHost, one: FakeProvider, two: FakeProvider) -> CliState:
    host = make_host(
        one,
        two,
        aliases=ALIASES,
        default_models=DefaultModels(chat="smart"),
        retry=RetryPolicy(max_attempts=1),
    )
    return CliState(host=host)


@pytest.mark.parametrize("prompt", ["hi", "hi there: a question", "one:chat is a model", "fast"])
def test_chat_without_a_model_asks_the_default(state: CliState, one: FakeProvider, prompt: str) -> None:
    if prompt == "fast":  # an alias alone names a model, so it is not taken as the prompt
        result = run(state, "chat", prompt)
        assert result.exit_code == 2 and "Missing argument 'PROMPT'" in result.output
        return
    result = run(state, "chat", prompt)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"echo: {prompt}\n"
    assert one.calls_for("chat")[0].target == "one:chat"


def test_chat_reads_the_prompt_from_standard_input_for_the_default(state: CliState) -> None:
    result = run(state, "chat", "-", stdin="from stdin\n")
    assert result.exit_code == 0 and result.output == "echo: from stdin\n"


def test_chat_with_an_alias(state: CliState, one: FakeProvider) -> None:
    result = run(state, "chat", "fast", "hi")
    assert result.exit_code == 0 and result.output == "echo: hi\n"
    assert one.calls_for("chat")[0].target == "one:basic"


def test_chat_falls_back_to_the_next_target(state: CliState, one: FakeProvider, two: FakeProvider) -> None:
    one.fail_next("unavailable")
    result = run(state, "chat", "--json", "smart", "hi")
    assert result.exit_code == 0, result.output
    assert '"model": "two:chat"' in result.output
    assert len(two.calls_for("chat")) == 1


def test_the_default_streams_too(state: CliState, two: FakeProvider, one: FakeProvider) -> None:
    one.fail_next("unavailable")
    result = run(state, "chat", "--stream", "hello world")
    assert result.exit_code == 0, result.output
    assert result.stdout == "echo: hello world\n"
    assert "model_fell_back" in result.stderr and "failed=one:chat" in result.stderr
    assert two.calls_for("chat_stream")


def test_no_default_says_what_to_set(make_host: MakeHost, one: FakeProvider) -> None:
    result = run(CliState(host=make_host(one)), "chat", "hi")
    assert result.exit_code == 1
    assert "no default chat model is configured" in result.output and "[defaults] chat" in result.output


def test_an_unknown_bare_name_is_still_a_usage_error(state: CliState) -> None:
    result = run(state, "chat", "quick", "hi")
    assert result.exit_code == 2 and "'quick' is not a model reference" in result.output
    assert "or an alias of [aliases]" in result.output


def test_other_commands_take_aliases(state: CliState) -> None:
    result = run(state, "embed", "vectors", "some text")
    assert result.exit_code == 0, result.output
