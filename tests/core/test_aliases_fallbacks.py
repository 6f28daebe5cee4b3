"""``[aliases]``, ``[defaults]`` and fallbacks between the targets of an alias, with two fake providers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from genai_commons import (
    BadRequestError,
    Config,
    ConfigurationError,
    NotFoundError,
    RetryPolicy,
    ServiceUnavailableError,
    TextDelta,
    UnknownModelError,
    ValidationError,
)
from genai_commons.aliases import DefaultModels
from genai_commons.testing import FakeProvider, UsageRecorder, tool_call
from genai_commons.testing.pytest_plugin import MakeHost

ALIASES = {"fast": "one:basic", "smart": ["one:chat", "two:chat"], "pics": ["one:image", "two:image"]}


@pytest.fixture
def one() -> FakeProvider:
    return FakeProvider(name="one")


@pytest.fixture
def two() -> FakeProvider:
    return FakeProvider(name="two")


@pytest.fixture
def host(make_host: MakeHost, one: FakeProvider, two: FakeProvider, usage_recorder: UsageRecorder):  # type: ignore[no-untyped-def]
    return make_host(one, two, usage_recorder, retry=RetryPolicy(max_attempts=2, initial_delay=0), aliases=ALIASES)


# -- configuration -----------------------------------------------------------------------------


def _load(tmp_path: Path, text: str) -> Config:
    file = tmp_path / "config.toml"
    file.write_text(text, encoding="utf-8")
    return Config.load(file, environ={"GENAI_HOME": str(tmp_path)})


def test_aliases_and_defaults_are_read_from_the_file(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        '[aliases]\nfast = "openai:gpt-4o-mini"\nsmart = ["openai:gpt-4o", "bedrock:anthropic.claude-3:0"]\n'
        '[defaults]\nchat = "smart"\nimage = "openai:dall-e-3"\n',
    )
    assert config.aliases == {
        "fast": ("openai:gpt-4o-mini",),
        "smart": ("openai:gpt-4o", "bedrock:anthropic.claude-3:0"),
    }
    assert config.default_models == DefaultModels(chat="smart", image="openai:dall-e-3")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[aliases]\nfast = 3\n", "[aliases] fast must be a PROVIDER:MODEL string or a list of them"),
        ('[aliases]\nfast = "gpt-4o"\n', "[aliases] fast: target 'gpt-4o' must be PROVIDER:MODEL"),
        ("[aliases]\nfast = []\n", "[aliases] fast: give at least one PROVIDER:MODEL target"),
        ('[aliases]\n"a:b" = "openai:x"\n', "an alias name is a word without a colon"),
        ('[aliases]\nx = ["a:b", "a:b"]\n', "[aliases] x: a target is listed twice"),
        ('[aliases]\nx = "a:b"\ny = ["x"]\n', "aliases cannot name other aliases"),
        ('[defaults]\nchatt = "a:b"\n', "chatt"),
        ("[defaults]\nchat = 3\n", "expected str"),
        ('[defaults]\nchat = "smart"\n', "[defaults] chat = 'smart' is neither PROVIDER:MODEL nor an alias"),
    ],
)
def test_bad_tables_are_refused_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _load(tmp_path, text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_environment_overrides_the_chat_and_image_defaults(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[defaults]\nchat = "a:b"\n', encoding="utf-8")
    config = Config.load(environ={"GENAI_HOME": str(tmp_path), "GENAI_CHAT_MODEL": "c:d", "GENAI_IMAGE_MODEL": "e:f"})
    assert (config.default_models.chat, config.default_models.image) == ("c:d", "e:f")


# -- aliases and defaults on the host ----------------------------------------------------------


def test_an_alias_stands_for_its_model(host, one: FakeProvider) -> None:  # type: ignore[no-untyped-def]
    assert host.model("fast").ref == "one:basic"
    assert host.model("smart").ref == "one:chat"  # the first target
    response = host.chat("fast", "hi")
    assert response.text == "echo: hi"
    assert response.model is None  # one model, nothing to fall back from
    assert one.calls_for("chat")[0].target == "one:basic"


def test_an_unknown_bare_name_lists_the_aliases(host) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=r"'quick' must be PROVIDER:ID.*configured: fast, pics, smart"):
        host.chat("quick", "hi")


def test_default_models(make_host: MakeHost, one: FakeProvider) -> None:
    host = make_host(one, aliases=ALIASES, default_models=DefaultModels(chat="smart", image="one:image"))
    assert host.default_model() == "smart"
    assert host.chat(host.default_model(), "hi").text == "echo: hi"
    assert host.default_model("image") == "one:image"
    assert host.default_model("embedding") == host.config.knowledge.default_embedding_model
    with pytest.raises(ValidationError, match="use one of chat, embedding, image"):
        host.default_model("audio")  # type: ignore[arg-type]
    bare = make_host(one)
    with pytest.raises(ConfigurationError, match=r"set \[defaults\] chat .* or GENAI_CHAT_MODEL"):
        bare.default_model("chat")


# -- fallbacks ---------------------------------------------------------------------------------


def test_chat_falls_back_after_the_retries_of_the_first_target(  # type: ignore[no-untyped-def]
    host, one: FakeProvider, two: FakeProvider, usage_recorder: UsageRecorder
) -> None:
    one.fail_next("unavailable", times=2)  # both attempts of [retry] max_attempts = 2
    with capture_logs() as logs:
        response = host.chat("smart", "hi")
    assert response.text == "echo: hi"
    assert response.model == "two:chat"
    assert len(one.calls_for("chat")) == 2 and len(two.calls_for("chat")) == 1
    assert (usage_recorder.last.provider, usage_recorder.last.model_id) == ("two", "chat")
    fell = [entry for entry in logs if entry["event"] == "model_fell_back"]
    assert fell == [
        {
            "event": "model_fell_back",
            "log_level": "warning",
            "alias": "smart",
            "failed": "one:chat",
            "next": "two:chat",
            "error": "ServiceUnavailableError",
        }
    ]


def test_a_first_target_that_answers_is_used(host, one: FakeProvider, two: FakeProvider) -> None:  # type: ignore[no-untyped-def]
    assert host.chat("smart", "hi").model == "one:chat"
    assert not two.calls


@pytest.mark.parametrize("kind", ["rate_limit", "timeout", "not_found", "permission"])
def test_every_listed_error_falls_back(host, one: FakeProvider, kind: str) -> None:  # type: ignore[no-untyped-def]
    one.fail_next(kind, times=2)
    assert host.chat("smart", "hi").model == "two:chat"


@pytest.mark.parametrize("kind", ["bad_request", "auth", "context_length"])
def test_other_errors_do_not_fall_back(host, one: FakeProvider, two: FakeProvider, kind: str) -> None:  # type: ignore[no-untyped-def]
    one.fail_next(kind)
    with pytest.raises(Exception) as caught:
        host.chat("smart", "hi")
    assert type(caught.value).__name__ != "AssertionError"
    assert not two.calls


def test_when_every_target_fails_the_last_error_names_them_all(  # type: ignore[no-untyped-def]
    host, one: FakeProvider, two: FakeProvider
) -> None:
    one.fail_next("unavailable", times=2)
    two.fail_next("not_found")
    with pytest.raises(NotFoundError) as caught:
        host.chat("smart", "hi")
    assert caught.value.provider == "two"
    assert (
        "alias 'smart' tried every target: one:chat (ServiceUnavailableError), two:chat (NotFoundError)"
        in caught.value.__notes__
    )


def test_a_target_whose_provider_is_missing_is_skipped(make_host: MakeHost, two: FakeProvider) -> None:
    host = make_host(two, aliases={"smart": ["gone:chat", "two:chat"]})
    assert host.chat("smart", "hi").model == "two:chat"
    last = make_host(two, aliases={"smart": ["two:chat", "gone:chat"]}, retry=RetryPolicy(max_attempts=1))
    two.fail_next("unavailable")
    with pytest.raises(UnknownModelError) as caught:
        last.chat("smart", "hi")
    assert "two:chat (ServiceUnavailableError), gone:chat (UnknownModelError)" in caught.value.__notes__[0]


def test_async_chat_falls_back(host, one: FakeProvider, two: FakeProvider, usage_recorder: UsageRecorder) -> None:  # type: ignore[no-untyped-def]
    one.fail_next("rate_limit", times=2)
    response = asyncio.run(host.achat("smart", "hi"))
    assert response.model == "two:chat"
    assert usage_recorder.last.provider == "two"


def test_the_tool_loop_continues_on_the_target_that_answered(  # type: ignore[no-untyped-def]
    host, one: FakeProvider, two: FakeProvider, usage_recorder: UsageRecorder
) -> None:
    from genai_commons import Request

    def weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    one.fail_next("unavailable", times=2)
    two.script([tool_call("weather", {"city": "Oslo"})], "It is sunny.")
    response = host.chat("smart", Request.from_prompt("weather?").with_function(weather))
    assert response.text == "It is sunny." and response.model == "two:chat"
    assert len(two.calls_for("chat")) == 2 and len(one.calls_for("chat")) == 2
    assert "sunny in Oslo" in str(two.last_request.messages[-1].content)
    assert (usage_recorder.last.provider, usage_recorder.last.calls) == ("two", 2)


def test_no_fallback_once_the_model_has_answered(host, one: FakeProvider, two: FakeProvider) -> None:  # type: ignore[no-untyped-def]
    from genai_commons import Request

    def weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    one.script([tool_call("weather", {"city": "Oslo"})])
    one.fail_next("unavailable", times=2)  # the second step fails after the tool ran
    with pytest.raises(ServiceUnavailableError):
        host.chat("smart", Request.from_prompt("weather?").with_function(weather))
    assert not two.calls


def test_async_tool_loop_does_not_fall_back_after_an_answer(host, one: FakeProvider, two: FakeProvider) -> None:  # type: ignore[no-untyped-def]
    from genai_commons import Request

    def weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    one.script([tool_call("weather", {"city": "Oslo"})])
    one.fail_next("unavailable", times=2)
    with pytest.raises(ServiceUnavailableError):
        asyncio.run(host.achat("smart", Request.from_prompt("weather?").with_function(weather)))
    assert not two.calls


def test_a_stream_falls_back_before_its_first_event(  # type: ignore[no-untyped-def]
    host, one: FakeProvider, two: FakeProvider, usage_recorder: UsageRecorder
) -> None:
    one.fail_next("unavailable", times=2)
    stream = host.stream("smart", "hello there")
    assert stream.answered_by == "two:chat"
    text = "".join(e.text for e in stream if isinstance(e, TextDelta))
    assert text == "echo: hello there"
    assert stream.response is not None and stream.response.model == "two:chat"
    assert usage_recorder.last.provider == "two"


def test_a_stream_does_not_fall_back_after_its_first_event(host, one: FakeProvider, two: FakeProvider) -> None:  # type: ignore[no-untyped-def]
    one.fail_next("stream_cut")
    stream = host.stream("smart", "hello there")
    with pytest.raises(ServiceUnavailableError):
        list(stream)
    assert not two.calls


def test_an_async_stream_falls_back_before_its_first_event(  # type: ignore[no-untyped-def]
    host, one: FakeProvider, two: FakeProvider, usage_recorder: UsageRecorder
) -> None:
    one.fail_next("timeout", times=2)

    async def run() -> tuple[str, str | None]:
        stream = await host.astream("smart", "hello there")
        text = "".join([e.text async for e in stream if isinstance(e, TextDelta)])
        return text, stream.response.model if stream.response else None

    assert asyncio.run(run()) == ("echo: hello there", "two:chat")
    assert usage_recorder.last.provider == "two"


def test_an_async_stream_does_not_fall_back_after_its_first_event(host, one: FakeProvider, two: FakeProvider) -> None:  # type: ignore[no-untyped-def]
    one.fail_next("stream_cut")

    async def run() -> None:
        stream = await host.astream("smart", "hello there")
        async for _ in stream:
            pass

    with pytest.raises(ServiceUnavailableError):
        asyncio.run(run())
    assert not two.calls


def test_image_generation_falls_back(host, one: FakeProvider, two: FakeProvider) -> None:  # type: ignore[no-untyped-def]
    one.fail_next("unavailable", times=2)
    response = host.generate_image("pics", "a cat")
    assert response.model == "two:image" and response.generated_image()
    one.fail_next("unavailable", times=2)
    assert asyncio.run(host.agenerate_image("pics", "a cat")).model == "two:image"


def test_a_refused_request_is_not_a_fallback(host, one: FakeProvider, two: FakeProvider) -> None:  # type: ignore[no-untyped-def]
    one.fail_next("bad_request")
    with pytest.raises(BadRequestError) as caught:
        host.chat("smart", "hi")
    assert not getattr(caught.value, "__notes__", None)
    assert not two.calls


def test_hosts_without_an_alias_of_several_targets_call_the_methods_directly(
    make_host: MakeHost, one: FakeProvider
) -> None:
    plain = make_host(one, aliases={"fast": "one:basic"})
    assert not {"chat", "achat", "stream", "astream", "generate_image"} & set(vars(plain))
    with_fallbacks = make_host(one, aliases=ALIASES)
    assert {"chat", "achat", "stream", "astream", "generate_image", "agenerate_image"} <= set(vars(with_fallbacks))
