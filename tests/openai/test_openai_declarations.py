"""The OpenAI catalogue declares sampling ranges, output caps and file formats where OpenAI
documents them, and the host refuses a request outside them before it reaches the server; models of
other OpenAI-compatible servers declare nothing and take anything."""

from __future__ import annotations

import asyncio

import pytest

from genai_commons import FileCollection, FileContent, Request, UnsupportedCapabilityError, ValidationError
from genai_commons.testing import UsageRecorder
from genai_commons_openai.testing import FakeOpenAI


def test_known_models_declare_what_openai_documents(openai_host) -> None:
    host = openai_host()
    gpt = host.model("openai:gpt-4o-mini-2024-07-18")
    assert gpt.temperature_range == (0.0, 2.0) and gpt.top_p_range == (0.0, 1.0)
    assert gpt.max_output_tokens == 16_384
    assert gpt.image_formats == {"png", "jpeg", "gif", "webp"} and gpt.document_formats == {"pdf"}
    reasoning = host.model("openai:o3-mini")
    assert reasoning.temperature_range == () and reasoning.top_p_range == ()
    assert reasoning.max_output_tokens == 100_000 and reasoning.image_formats is None
    legacy = host.model("openai:gpt-4-0613")
    assert legacy.temperature_range == (0.0, 2.0) and legacy.max_output_tokens is None
    unknown = host.model("openai:llama3:8b")
    assert (unknown.temperature_range, unknown.max_output_tokens, unknown.document_formats) == (None, None, None)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (Request.create(max_tokens=16_385).with_message("user", "hi"), r"gpt-4o-mini writes at most 16384"),
        (Request.create(top_p=1.0, temperature=2.0, max_tokens=16_384).with_message("user", "hi"), None),
        (
            Request.from_prompt(
                "read", files=FileCollection.of(FileContent.from_bytes(b"PK", "document", extension="docx"))
            ),
            r"openai:gpt-4o-mini does not read documents in format 'docx'; it reads pdf",
        ),
        (
            Request.from_prompt(
                "see", files=FileCollection.of(FileContent.from_bytes(b"BM", "image", extension="bmp"))
            ),
            r"does not read images in format 'bmp'; it reads gif, jpeg, png, webp",
        ),
    ],
)
def test_the_host_refuses_before_the_server_is_asked(
    openai_host, service: FakeOpenAI, recorder: UsageRecorder, request_: Request, message: str | None
) -> None:
    host = openai_host()
    if message is None:  # the boundaries are accepted
        host.chat("openai:gpt-4o-mini", request_)
        assert len(service.calls) == 1
        return
    with pytest.raises(ValidationError, match=message):
        host.chat("openai:gpt-4o-mini", request_)
    with pytest.raises(ValidationError, match=message):
        asyncio.run(host.achat("openai:gpt-4o-mini", request_))
    with pytest.raises(ValidationError, match=message):
        list(host.stream("openai:gpt-4o-mini", request_))
    assert service.calls == [] and recorder.records == []


def test_reasoning_models_refuse_sampling_in_the_host(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    with pytest.raises(UnsupportedCapabilityError, match=r"openai:o3 takes no top_p") as info:
        host.chat("openai:o3", Request.create(top_p=0.5).with_message("user", "hi"))
    assert info.value.capability == "top_p"
    assert service.calls == []


def test_a_compatible_server_model_takes_any_value(openai_host, service: FakeOpenAI) -> None:
    service.models["llava:13b"] = {"kind": "chat"}
    host = openai_host()
    host.chat("openai:llava:13b", Request.create(temperature=2.0, max_tokens=1_000_000).with_message("user", "hi"))
    assert len(service.calls) == 1
