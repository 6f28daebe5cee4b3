"""Mendix Cloud chat models declare what Converse takes and the file formats the resource
documents; the host refuses a request outside them before the loopback service is called."""

from __future__ import annotations

import asyncio

import pytest

from genai_commons import FileCollection, FileContent, Host, Request, ValidationError
from genai_commons.testing import UsageRecorder
from genai_commons_mxcloud.testing import FakeMxCloud


def test_chat_models_declare_ranges_and_formats(host: Host) -> None:
    chat = host.model("mxcloud:claude")
    assert chat.temperature_range == (0.0, 1.0) and chat.top_p_range == (0.0, 1.0)
    assert chat.image_formats == {"png", "jpeg", "gif", "webp"}
    assert chat.document_formats == {"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"}
    embeddings = host.model("mxcloud:cohere")
    assert (embeddings.temperature_range, embeddings.document_formats) == (None, None)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (
            Request.create(temperature=1.2).with_message("user", "hi"),
            r"mxcloud:claude takes temperature from 0 to 1, got 1\.2",
        ),
        (
            Request.from_prompt(
                "see", files=FileCollection.of(FileContent.from_bytes(b"II*\0", "image", extension="tiff"))
            ),
            r"mxcloud:claude does not read images in format 'tiff'; it reads gif, jpeg, png, webp",
        ),
    ],
)
def test_the_host_refuses_before_the_service_is_called(
    host: Host, service: FakeMxCloud, recorder: UsageRecorder, request_: Request, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        host.chat("mxcloud:claude", request_)
    with pytest.raises(ValidationError, match=message):
        asyncio.run(host.achat("mxcloud:claude", request_))
    with pytest.raises(ValidationError, match=message):
        list(host.stream("mxcloud:claude", request_))
    assert service.calls("/converse") == [] and service.calls("/converse-stream") == []
    assert recorder.records == []


def test_the_upper_bounds_are_sent(host: Host, service: FakeMxCloud) -> None:
    host.chat("mxcloud:claude", Request.create(temperature=1.0, top_p=1.0).with_message("user", "hi"))
    [call] = service.calls("/converse")
    assert call.body["inferenceConfig"] == {"temperature": 1.0, "topP": 1.0}
