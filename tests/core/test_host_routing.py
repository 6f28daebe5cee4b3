"""Routing to the owning provider, middleware and wrapper plugins, registration, and host isolation."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import attrs
import pytest

from genai_commons import (
    CapabilityCall,
    Config,
    DeployedModel,
    Host,
    Middleware,
    PluginError,
    Request,
    Response,
    UnknownModelError,
    ValidationError,
    hookimpl,
)
from genai_commons.middleware import AsyncProceed, Proceed
from genai_commons.testing import FakeProvider, UsageRecorder


@pytest.fixture
def two_providers(make_host: Any) -> tuple[Host, FakeProvider, FakeProvider]:
    alpha, beta = FakeProvider(name="alpha"), FakeProvider(name="beta")
    return make_host(alpha, beta), alpha, beta


def test_a_call_reaches_only_the_provider_that_owns_the_model(two_providers: Any) -> None:
    host, alpha, beta = two_providers
    alpha.script("from alpha")
    beta.script("from beta")

    assert host.chat("beta:chat", "hi").text == "from beta"
    assert host.chat("alpha:chat", "hi").text == "from alpha"
    assert [c.target for c in alpha.calls] == ["alpha:chat"]
    assert [c.target for c in beta.calls] == ["beta:chat"]


def test_models_lists_every_provider_or_one(two_providers: Any) -> None:
    host, _, _ = two_providers
    refs = {m.ref for m in host.models()}
    assert {"alpha:chat", "alpha:embed", "beta:chat", "beta:image"} <= refs
    assert {m.provider for m in host.models(provider="beta")} == {"beta"}
    with pytest.raises(UnknownModelError, match="no provider named 'gamma'"):
        host.models(provider="gamma")


def test_a_reference_splits_at_the_first_colon(make_host: Any) -> None:
    bedrock_like = DeployedModel(provider="br", model_id="anthropic.claude-3-haiku-20240307-v1:0")
    fake = FakeProvider(name="br", models=[bedrock_like])
    host = make_host(fake)

    assert host.model("br:anthropic.claude-3-haiku-20240307-v1:0") is bedrock_like
    host.chat("br:anthropic.claude-3-haiku-20240307-v1:0", "hi")
    assert fake.calls[0].target == "br:anthropic.claude-3-haiku-20240307-v1:0"


@pytest.mark.parametrize("ref", ["no-colon", ":model", "provider:"])
def test_a_malformed_reference_is_a_validation_error(make_host: Any, ref: str) -> None:
    host = make_host(FakeProvider())
    with pytest.raises(ValidationError, match="PROVIDER:ID"):
        host.model(ref)


def test_unknown_provider_and_model_say_what_to_do(make_host: Any) -> None:
    host = make_host(FakeProvider())
    with pytest.raises(UnknownModelError, match=r"installed: fake.*pip install genai-commons-openai"):
        host.chat("openai:gpt-4o", "hi")
    with pytest.raises(UnknownModelError, match=r"genai models --provider fake"):
        host.chat("fake:nope", "hi")


class Tracer(Middleware):
    """A cross-cutting plugin that sees every call (here chat, sync and async), whatever the provider."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def around(self, call: CapabilityCall, proceed: Proceed) -> Any:
        self.seen.append(call.provider)
        return proceed()

    async def around_async(self, call: CapabilityCall, proceed: AsyncProceed) -> Any:
        self.seen.append(call.provider)
        return await proceed()


class Cache(Middleware):
    """Answers repeated prompts without calling any provider: it returns without proceeding.
    A cached answer carries zero tokens, so that usage counts only what a provider spent."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], Response] = {}

    @staticmethod
    def _key(call: CapabilityCall) -> tuple[str, str]:
        assert isinstance(call.request, Request)
        return (call.target, call.request.messages[-1].content or "")

    def _cached(self, call: CapabilityCall) -> Response | None:
        cached = self.answers.get(self._key(call))
        return None if cached is None else attrs.evolve(cached, input_tokens=0, output_tokens=0, total_tokens=0)

    def around(self, call: CapabilityCall, proceed: Proceed) -> Any:
        if call.operation != "chat":
            return proceed()
        cached = self._cached(call)
        if cached is not None:
            return cached
        response = proceed()
        self.answers.setdefault(self._key(call), response)
        return response

    async def around_async(self, call: CapabilityCall, proceed: AsyncProceed) -> Any:
        if call.operation != "chat":
            return await proceed()
        cached = self._cached(call)
        if cached is not None:
            return cached
        response = await proceed()
        self.answers.setdefault(self._key(call), response)
        return response


def test_a_middleware_sees_every_call_without_knowing_the_provider(two_providers: Any) -> None:
    import asyncio

    host, _, _ = two_providers
    tracer = Tracer()
    host.register(tracer, name="tracer")
    host.chat("alpha:chat", "hi")
    host.chat("beta:chat", "hi")
    asyncio.run(host.achat("alpha:chat", "hi"))
    assert tracer.seen == ["alpha", "beta", "alpha"]


class RawTracer:
    """The hook route underneath the Middleware base: a pluggy wrapper of one capability hook."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl(wrapper=True)
    def genai_chat(self, model: DeployedModel, request: Request) -> Generator[None, Response, Response]:
        self.seen.append(model.provider)
        return (yield)


def test_a_raw_wrapper_plugin_still_wraps_a_capability_hook(two_providers: Any) -> None:
    host, _, _ = two_providers
    wrapper = RawTracer()
    host.register(wrapper, name="tracer")
    host.chat("alpha:chat", "hi")
    host.chat("beta:chat", "hi")
    assert wrapper.seen == ["alpha", "beta"]


class Redactor(Middleware):
    """Changes the response of any provider (sync chat only, here)."""

    def around(self, call: CapabilityCall, proceed: Proceed) -> Any:
        response = proceed()
        if call.operation != "chat":
            return response
        text = response.text.replace("alice@example.com", "[email]")
        return Response.of_text(text, input_tokens=response.input_tokens, output_tokens=response.output_tokens)


def test_a_redacting_middleware_changes_the_response_for_any_provider(two_providers: Any) -> None:
    host, alpha, _ = two_providers
    host.register(Redactor(), name="redact")
    alpha.script("write to alice@example.com")
    assert host.chat("alpha:chat", "who?").text == "write to [email]"


def test_a_caching_middleware_answers_repeats_sync_and_async(make_host: Any) -> None:
    import asyncio

    fake = FakeProvider()
    recorder = UsageRecorder()
    host = make_host(fake, recorder)
    host.register(Cache(), name="cache")

    first = host.chat("fake:chat", "same question")
    second = host.chat("fake:chat", "same question")
    third = asyncio.run(host.achat("fake:chat", "same question"))
    fourth = asyncio.run(host.achat("fake:chat", "another question"))
    assert first.text == second.text == third.text == "echo: same question"
    assert fourth.text == "echo: another question"
    assert [c.payload.messages[-1].content for c in fake.calls] == ["same question", "another question"]
    # usage is recorded for every successful call, cached or not; cached answers spent no tokens
    assert [u.total_tokens for u in recorder.records] == [first.total_tokens, 0, 0, fourth.total_tokens]


def test_two_hosts_share_nothing(genai_home: Any) -> None:
    first = Host(Config.defaults(genai_home), load_entry_points=False, plugins=[FakeProvider])
    second = Host(Config.defaults(genai_home), load_entry_points=False, plugins=[FakeProvider])
    one = first.plugin_manager.get_plugin("fake")
    two = second.plugin_manager.get_plugin("fake")
    assert one is not two

    one.script("only in the first host")
    assert first.chat("fake:chat", "x").text == "only in the first host"
    assert second.chat("fake:chat", "x").text == "echo: x"

    first.register(UsageRecorder(), name="recorder")
    assert "recorder" in {p.name for p in first.plugins()}
    assert "recorder" not in {p.name for p in second.plugins()}
    first.close()
    assert one.closed and not two.closed


def test_register_and_unregister_by_name(make_host: Any) -> None:
    host = make_host()
    name = host.register(FakeProvider)
    assert name == "fake"
    assert "fake" in host.providers()
    with pytest.raises(ValidationError, match="cannot register plugin 'fake'"):
        host.register(FakeProvider)
    host.unregister("fake")
    assert "fake" not in host.providers()
    with pytest.raises(UnknownModelError):
        host.chat("fake:chat", "hi")
    with pytest.raises(PluginError, match="no plugin named 'fake'"):
        host.unregister("fake")


def test_plugins_lists_providers_and_capabilities(make_host: Any) -> None:
    host = make_host(FakeProvider(), UsageRecorder())
    infos = {p.name: p for p in host.plugins()}
    fake = infos["fake"]
    assert fake.error is None
    assert {c.value for c in fake.capabilities} == {
        "chat",
        "chat_stream",
        "embed",
        "image",
        "retrieve",
        "ingest",
        "agent",
    }
    assert infos["usage_recorder"].providers == ()
