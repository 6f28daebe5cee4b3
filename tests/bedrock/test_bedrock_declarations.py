"""Bedrock chat models declare what Converse takes (temperature and topP from 0 to 1, its image and
document formats), and the host refuses a request outside them before botocore is called."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bedrock_models import CLAUDE
from botocore.stub import Stubber

from genai_commons import FileCollection, FileContent, Host, Modality, Request, ValidationError
from genai_commons.testing import UsageRecorder
from genai_commons_bedrock import BedrockProvider
from genai_commons_bedrock.catalog import configured, model_for_id
from genai_commons_bedrock.settings import ModelEntry
from genai_commons_bedrock.testing import LocalBedrock

CONVERSE_DOCUMENTS = {"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"}


@pytest.fixture
def stubbed(session: Any, make_host: Callable[..., Host]) -> Iterator[tuple[Host, Stubber]]:
    """A host whose bedrock-runtime client is stubbed with no answer queued: any call fails."""
    host = make_host(BedrockProvider(session=session))
    provider = host.plugin_manager.get_plugin("bedrock")
    with Stubber(provider.clients.client("bedrock-runtime")) as stub:
        yield host, stub
        stub.assert_no_pending_responses()


def test_chat_models_declare_what_converse_takes() -> None:
    claude = model_for_id(CLAUDE)
    assert claude.temperature_range == (0.0, 1.0) and claude.top_p_range == (0.0, 1.0)
    assert claude.image_formats == {"png", "jpeg", "gif", "webp"}
    assert claude.document_formats == CONVERSE_DOCUMENTS
    assert claude.max_output_tokens is None  # not known per family: not declared
    micro = model_for_id("us.amazon.nova-micro-v1:0")  # reads no images or documents
    assert micro.temperature_range == (0.0, 1.0) and micro.image_formats is None and micro.document_formats is None
    embed = model_for_id("amazon.titan-embed-text-v2:0")
    assert (embed.temperature_range, embed.image_formats) == (None, None)


def test_listed_and_configured_models_keep_the_declarations(host: Host, service: LocalBedrock) -> None:
    models = {m.model_id: m for m in host.models("bedrock")}
    lite = models["amazon.nova-lite-v1:0"]
    assert Modality.IMAGE in lite.input_modalities and lite.image_formats == {"png", "jpeg", "gif", "webp"}
    assert models["amazon.titan-text-express-v1"].top_p_range == (0.0, 1.0)
    assert models["amazon.titan-embed-text-v2:0"].top_p_range is None
    [profile] = configured([ModelEntry(model_id=f"us.{CLAUDE}")], models)
    assert profile.model_id == f"us.{CLAUDE}" and profile.document_formats == CONVERSE_DOCUMENTS


def _doc(extension: str) -> FileCollection:
    return FileCollection.of(FileContent.from_bytes(b"data", "document", extension=extension))


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (Request.create(temperature=1.5).with_message("user", "hi"), r"takes temperature from 0 to 1, got 1\.5"),
        (
            Request.from_prompt("read", files=_doc("xyz")),
            r"does not read documents in format 'xyz'; it reads csv, doc, docx, html, md, pdf, txt, xls, xlsx",
        ),
    ],
)
def test_a_claude_model_refuses_before_botocore_is_called(
    stubbed: tuple[Host, Stubber], recorder: UsageRecorder, request_: Request, message: str
) -> None:
    host, _stub = stubbed  # nothing queued: a call that reached botocore would fail otherwise
    ref = f"bedrock:{CLAUDE}"
    with pytest.raises(ValidationError, match=rf"model {ref} {message}"):
        host.chat(ref, request_)
    with pytest.raises(ValidationError, match=message):
        asyncio.run(host.achat(ref, request_))
    with pytest.raises(ValidationError, match=message):
        list(host.stream(ref, request_))
    assert recorder.records == []


def test_the_boundaries_reach_the_service(stubbed: tuple[Host, Stubber]) -> None:
    host, stub = stubbed
    stub.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "Hi!"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1},
        },
        {
            "modelId": CLAUDE,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"document": {"format": "md", "name": "notes", "source": {"bytes": b"#"}}},
                        {"text": "hi"},
                    ],
                }
            ],
            "inferenceConfig": {"temperature": 1.0, "topP": 0.0},
        },
    )
    files = FileCollection.of(FileContent.from_bytes(b"#", "document", extension="markdown", text_content="notes"))
    request_ = Request.create(temperature=1.0, top_p=0.0).with_message("user", "hi", files=files)
    assert host.chat(f"bedrock:{CLAUDE}", request_).text == "Hi!"
