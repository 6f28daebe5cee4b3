"""Capability checks happen before any call reaches the provider, with errors that name the
model and the capability."""

from __future__ import annotations

from typing import Any

import pytest

from genai_commons import (
    DeployedModel,
    FileCollection,
    FileContent,
    Message,
    Request,
    Role,
    UnsupportedCapabilityError,
)
from genai_commons.testing import FakeProvider, make_fake_provider_class

IMAGE = FileCollection.of(FileContent.from_bytes(b"\x89PNG", "image", extension="png"))
DOCUMENT = FileCollection.of(FileContent.from_bytes(b"%PDF-1.4", "document", extension="pdf"))


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.fixture
def fake() -> FakeProvider:
    text_only = DeployedModel(provider="fake", model_id="text-only", supports_function_calling=True)
    inactive = DeployedModel(provider="fake", model_id="off", active=False)
    from genai_commons.testing.fakes import default_models

    return FakeProvider(models=[*default_models(), text_only, inactive])


CASES = [
    ("fake:basic", Request.from_prompt("hi").with_function(weather), "function calling"),
    ("fake:basic", Request.from_prompt("hi", system_prompt="be brief"), "system prompts"),
    (
        "fake:basic",
        Request(messages=[Message(role=Role.SYSTEM, content="be brief"), Message(role=Role.USER, content="hi")]),
        "system prompts",
    ),
    (
        "fake:basic",
        Request.from_prompt("hi").with_message("assistant", "hello").with_message("user", "again"),
        "history",
    ),
    ("fake:text-only", Request.from_prompt("what is this?", files=IMAGE), "image input"),
    ("fake:text-only", Request.from_prompt("summarise", files=DOCUMENT), "document input"),
    ("fake:embed", Request.from_prompt("hi"), "text output"),
    ("fake:image", Request.from_prompt("hi"), "text output"),
    ("fake:off", Request.from_prompt("hi"), "calls"),
    ("fake:chat", Request(), "chat"),
]


@pytest.mark.parametrize(("ref", "request_", "capability"), CASES)
def test_chat_needs_what_the_model_declares(
    make_host: Any, fake: FakeProvider, ref: str, request_: Request, capability: str
) -> None:
    host = make_host(fake)
    with pytest.raises(UnsupportedCapabilityError) as info:
        host.chat(ref, request_)
    assert capability in info.value.capability
    assert ref in str(info.value) or "messages" in str(info.value)
    assert fake.calls == []


def test_streaming_needs_a_streaming_model(make_host: Any, fake: FakeProvider) -> None:
    host = make_host(fake)
    with pytest.raises(UnsupportedCapabilityError, match=r"fake:basic does not support streaming"):
        host.stream("fake:basic", "hi")
    assert fake.calls == []


def test_output_modality_is_checked_for_embeddings_and_images(make_host: Any, fake: FakeProvider) -> None:
    host = make_host(fake)
    with pytest.raises(UnsupportedCapabilityError, match=r"fake:chat produces text.*embeddings"):
        host.embed("fake:chat", "x")
    with pytest.raises(UnsupportedCapabilityError, match=r"fake:embed produces embeddings.*image generation"):
        host.generate_image("fake:embed", "a cat")
    assert fake.calls == []


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda h: h.embed("chatty:embed", "x"), "embeddings"),
        (lambda h: h.generate_image("chatty:image", "a cat"), "image generation"),
        (lambda h: h.retrieve("chatty:docs", "query"), "knowledge-base retrieval"),
        (lambda h: h.agent("chatty:agent-1"), "agents"),
    ],
)
def test_a_capability_the_provider_lacks_is_refused_by_name(make_host: Any, call: Any, words: str) -> None:
    chat_only = make_fake_provider_class("chatty", {"chat"})()
    host = make_host(chat_only)
    with pytest.raises(
        UnsupportedCapabilityError, match=rf"provider 'chatty' does not offer {words} \(it offers: chat\)"
    ):
        call(host)
    assert chat_only.calls == []


def test_a_model_that_declares_everything_is_called(make_host: Any, fake: FakeProvider) -> None:
    host = make_host(fake)
    request = Request.from_prompt("look", files=IMAGE, system_prompt="be brief").with_function(weather)
    fake.script("fine")
    assert host.chat("fake:chat", request, run_tools=False).text == "fine"
    assert len(fake.calls) == 1
