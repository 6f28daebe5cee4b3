"""``genai chat`` with no PROMPT: a conversation held in memory (``/exit``, ``/system``, ``/model``),
and ``-o KEY=VALUE`` provider options checked by the provider's own option class."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from attrs import frozen
from click.testing import CliRunner, Result

from genai_commons import Config, Host, ValidationError
from genai_commons.cli import CliState, main
from genai_commons.testing import FakeProvider, UsageRecorder, tool_call


def _check_level(_instance: object, _attribute: object, value: int | None) -> None:
    if value is not None and not 0 <= value <= 3:
        raise ValidationError(f"level must be between 0 and 3, got {value}")


class OptionsFake(FakeProvider):
    @classmethod
    def option_classes(cls) -> tuple[type, ...]:
        return (Loud,)


@frozen(kw_only=True)
class Loud:
    """The test provider's option class: it checks its own values, as a plugin's does."""

    level: int | None = None
    voice: str | None = None

    def __attrs_post_init__(self) -> None:
        _check_level(self, None, self.level)


def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


@pytest.fixture
def fake() -> OptionsFake:
    return OptionsFake()


@pytest.fixture
def recorder() -> UsageRecorder:
    return UsageRecorder()


@pytest.fixture
def state(tmp_path: Path, fake: OptionsFake, recorder: UsageRecorder) -> Iterator[CliState]:
    other = FakeProvider(name="other")
    host = Host(Config.defaults(tmp_path), load_entry_points=False, plugins=[fake, other, recorder])
    yield CliState(host=host)
    host.close()


def run(state: CliState, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), obj=state, input=stdin)


def test_a_conversation_keeps_its_history_in_memory(state: CliState, fake: OptionsFake, tmp_path: Path) -> None:
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = run(state, "chat", "fake:chat", "-i", stdin="first question\n\nsecond question\n/exit\nnever sent\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "echo: first question\necho: second question\n"
    assert "Chatting with fake:chat" in result.stderr
    assert len(fake.calls) == 2
    second = fake.calls[1].request
    assert [(m.role.value, m.content) for m in second.messages] == [
        ("user", "first question"),
        ("assistant", "echo: first question"),
        ("user", "second question"),
    ]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written to disk


def test_system_and_model_commands(state: CliState, fake: OptionsFake) -> None:
    script = "/system Be terse.\nhello\n/model fake:nothing\n/model other:chat\n/system\nagain\n/frobnicate\n"
    result = run(state, "chat", "fake:chat", "--interactive", stdin=script)
    assert result.exit_code == 0, result.output
    other = state.host.plugin_manager.get_plugin("other")
    (first,) = fake.calls
    (second,) = other.calls
    assert first.target == "fake:chat" and first.request.system_prompt == "Be terse."
    assert second.target == "other:chat" and second.request.system_prompt is None
    assert len(second.request.messages) == 3  # the history went along to the new model
    assert "system prompt set" in result.stderr and "system prompt cleared" in result.stderr
    assert "now chatting with other:chat" in result.stderr
    assert "error: provider 'fake' has no model 'nothing'" in result.stderr
    assert "unknown command /frobnicate" in result.stderr


def test_a_failed_turn_prints_one_error_and_the_conversation_goes_on(state: CliState, fake: OptionsFake) -> None:
    from genai_commons import RateLimitError

    fake.script(*[RateLimitError("slow down", provider="fake")] * 5, "recovered")
    result = run(state, "chat", "fake:chat", "-i", stdin="lost turn\nnext turn\n")
    assert result.exit_code == 0, result.output
    assert "error: slow down" in result.stderr
    assert result.stdout == "recovered\n"
    last = fake.calls[-1].request
    assert [m.content for m in last.messages] == ["next turn"]  # the failed turn left no trace


def test_streamed_conversation_runs_tools(state: CliState, fake: OptionsFake, recorder: UsageRecorder) -> None:
    fake.script([tool_call("add", {"a": 2, "b": 2})], "four")
    module = f"{Path(__file__).with_suffix('.py')}:add"
    result = run(state, "-v", "chat", "fake:chat", "-i", "--stream", "-T", module, stdin="sum please\n/exit\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "four\n"
    assert "[tool add ran]" in result.stderr
    assert recorder.records[-1].calls == 2


def test_without_prompt_and_not_on_a_terminal_it_is_a_usage_error(state: CliState) -> None:
    result = run(state, "chat", "fake:chat", stdin="")
    assert result.exit_code == 2 and "Missing argument 'PROMPT'" in result.stderr


def test_files_are_refused_in_a_conversation(state: CliState, tmp_path: Path) -> None:
    picture = tmp_path / "a.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8)
    result = run(state, "chat", "fake:chat", "-i", "-f", str(picture), stdin="hi\n")
    assert result.exit_code == 2 and "takes text only" in result.stderr


# -- provider options --------------------------------------------------------------------------


def test_options_reach_the_provider_as_its_own_class(state: CliState, fake: OptionsFake) -> None:
    result = run(state, "chat", "fake:chat", "hi", "-o", "level=2", "-o", "voice=1234")
    assert result.exit_code == 0, result.output
    assert fake.last_request.option(Loud) == Loud(level=2, voice="1234")


def test_options_apply_to_every_turn_of_a_conversation(state: CliState, fake: OptionsFake) -> None:
    result = run(state, "chat", "fake:chat", "-i", "-o", "level=1", stdin="a\nb\n")
    assert result.exit_code == 0, result.output
    assert [c.request.option(Loud) for c in fake.calls] == [Loud(level=1)] * 2


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("level=9", "level must be between 0 and 3"),
        ("level=high", "level"),
        ("pitch=3", "'pitch' is not an option of provider 'fake'; its options are level, voice"),
        ("level", "is not KEY=VALUE"),
    ],
)
def test_bad_options_are_usage_errors(state: CliState, fake: OptionsFake, option: str, message: str) -> None:
    result = run(state, "chat", "fake:chat", "hi", "-o", option)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert fake.calls == []


def test_a_provider_without_option_classes_takes_no_options(tmp_path: Path) -> None:
    host = Host(Config.defaults(tmp_path), load_entry_points=False, plugins=[FakeProvider])
    try:
        result = run(CliState(host=host), "chat", "fake:chat", "hi", "-o", "seed=1")
    finally:
        host.close()
    assert result.exit_code == 2 and "provider 'fake' takes no options" in result.stderr
