"""A model's declared parameter ranges and file formats: the host refuses a request outside them
before it reaches the provider (chat, achat, stream and astream alike), accepts the boundaries,
and takes anything when the model declares nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from genai_commons import (
    DeployedModel,
    FileCollection,
    FileContent,
    Modality,
    Request,
    UnsupportedCapabilityError,
    ValidationError,
)
from genai_commons.config import FileSettings
from genai_commons.serialization import from_json, to_json
from genai_commons.testing import FakeProvider, UsageRecorder

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
)
BMP = b"BM" + b"\0" * 30
DECLARING = DeployedModel(
    provider="fake",
    model_id="strict",
    input_modalities={Modality.TEXT, Modality.IMAGE, Modality.DOCUMENT},
    url_input_modalities=(),
    supports_streaming=True,
    temperature_range=(0, 1),
    top_p_range=(0.1, 0.9),
    max_output_tokens=100,
    image_formats={"png", "jpg"},
    document_formats={"pdf", "md"},
)
OPEN = DeployedModel(
    provider="fake",
    model_id="open",
    input_modalities={Modality.TEXT, Modality.IMAGE, Modality.DOCUMENT},
    supports_streaming=True,
)
FIXED = DeployedModel(provider="fake", model_id="fixed", supports_streaming=True, temperature_range=(), top_p_range=())


def _file(kind: str, data: bytes, extension: str | None) -> FileCollection:
    return FileCollection.of(FileContent.from_bytes(data, kind, extension=extension))


def _chat(host: Any, ref: str, request: Request) -> None:
    host.chat(ref, request)


def _achat(host: Any, ref: str, request: Request) -> None:
    asyncio.run(host.achat(ref, request))


def _stream(host: Any, ref: str, request: Request) -> None:
    list(host.stream(ref, request))


def _astream(host: Any, ref: str, request: Request) -> None:
    async def run() -> None:
        async for _ in await host.astream(ref, request):
            pass

    asyncio.run(run())


CALLS = [_chat, _achat, _stream, _astream]
Call = Callable[[Any, str, Request], None]


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider(models=[DECLARING, OPEN, FIXED])


@pytest.fixture
def host(make_host: Any, fake: FakeProvider, usage_recorder: UsageRecorder) -> Any:
    return make_host(fake, usage_recorder)


REFUSED = [
    (
        Request.create(temperature=1.5).with_message("user", "hi"),
        r"fake:strict takes temperature from 0 to 1, got 1\.5",
    ),
    (Request.create(top_p=0.95).with_message("user", "hi"), r"fake:strict takes top_p from 0\.1 to 0\.9, got 0\.95"),
    (Request.create(top_p=0.05).with_message("user", "hi"), r"takes top_p from 0\.1 to 0\.9, got 0\.05"),
    (Request.create(max_tokens=101).with_message("user", "hi"), r"fake:strict writes at most 100 .*max_tokens=101"),
    (
        Request.from_prompt("see", files=_file("document", b"x", "xyz")),
        r"fake:strict does not read documents in format 'xyz'; it reads md, pdf",
    ),
    (
        Request.from_prompt("see", files=_file("document", b"x", "DOCX")),
        r"documents in format 'docx'; it reads md, pdf: convert",
    ),
    (
        Request.from_prompt("see", files=_file("image", BMP, "bmp")),
        r"fake:strict does not read images in format 'bmp'; it reads jpeg, png",
    ),
    (
        Request.from_prompt("see", files=FileCollection.of(FileContent.from_url("https://example.com/a.gif"))),
        r"images in format 'gif'",
    ),
    (
        Request.from_prompt(
            "see", files=FileCollection.of(FileContent.from_url("data:text/html;base64,PGI+", "document"))
        ),
        r"documents in format 'html'",
    ),
]


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize(("request_", "message"), REFUSED)
def test_out_of_range_or_unread_format_is_refused_before_the_provider(
    host: Any, fake: FakeProvider, usage_recorder: UsageRecorder, call: Call, request_: Request, message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        call(host, "fake:strict", request_)
    assert "\n" not in str(info.value)
    assert fake.calls == []
    assert usage_recorder.records == []


@pytest.mark.parametrize("call", CALLS)
def test_a_model_that_takes_no_temperature_refuses_any(host: Any, fake: FakeProvider, call: Call) -> None:
    for name, request_ in (
        ("temperature", Request.create(temperature=1.0).with_message("user", "hi")),
        ("top_p", Request.create(top_p=0.5).with_message("user", "hi")),
    ):
        with pytest.raises(UnsupportedCapabilityError, match=rf"fake:fixed takes no {name}.*leave {name} unset") as e:
            call(host, "fake:fixed", request_)
        assert e.value.capability == name and e.value.target == "fake:fixed"
    assert fake.calls == []
    host.chat("fake:fixed", Request.create(max_tokens=5).with_message("user", "hi"))
    assert len(fake.calls) == 1


ACCEPTED = [
    Request.create(temperature=0.0, top_p=0.1, max_tokens=100).with_message("user", "hi"),
    Request.create(temperature=1.0, top_p=0.9, max_tokens=1).with_message("user", "hi"),
    Request.from_prompt("see", files=_file("image", PNG, "JPG")),  # jpg is jpeg
    Request.from_prompt("see", files=_file("image", PNG, None)),  # sniffed: png
    Request.from_prompt("see", files=_file("document", b"# notes", "markdown")),
    Request.from_prompt("see", files=_file("document", b"%PDF-1.4", ".pdf")),
    Request.from_prompt("see", files=_file("document", b"data", None)),  # unknown: left to the provider
]


@pytest.mark.parametrize("call", CALLS)
def test_boundaries_and_declared_formats_are_accepted(
    host: Any, fake: FakeProvider, usage_recorder: UsageRecorder, call: Call
) -> None:
    for request_ in ACCEPTED:
        call(host, "fake:strict", request_)
    assert len(fake.calls) == len(ACCEPTED)
    assert len(usage_recorder.records) == len(ACCEPTED)


@pytest.mark.parametrize("call", CALLS)
def test_a_model_that_declares_nothing_takes_anything(host: Any, fake: FakeProvider, call: Call) -> None:
    requests = [
        Request.create(temperature=2.0, top_p=1.0, max_tokens=1_000_000).with_message("user", "hi"),
        Request.from_prompt("see", files=_file("document", b"x", "xyz")),
        Request.from_prompt("see", files=_file("image", BMP, "bmp")),
    ]
    for request_ in requests:
        call(host, "fake:open", request_)
    assert len(fake.calls) == len(requests)


def test_a_downloaded_file_is_checked_once_its_format_is_known(
    make_host: Any, fake: FakeProvider, genai_home: Any
) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host = make_host(fake, files=FileSettings(fetch_urls=True, fetch_private_networks=True))
        url = f"http://127.0.0.1:{server.server_address[1]}/report"  # no suffix: format unknown until fetched
        request_ = Request.from_prompt("see", files=FileCollection.of(FileContent.from_url(url, "document")))
        with pytest.raises(ValidationError, match=r"fake:strict does not read documents in format 'html'"):
            host.chat("fake:strict", request_)
        with pytest.raises(ValidationError, match=r"format 'html'"):
            asyncio.run(host.achat("fake:strict", request_))
        assert fake.calls == []
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature_range": (1, 0)}, "low <= high"),
        ({"temperature_range": (0, float("nan"))}, "finite"),
        ({"top_p_range": (0.5,)}, r"\(low, high\)"),
        ({"top_p_range": (True, 1)}, r"\(low, high\)"),
        ({"max_output_tokens": 0}, "max_output_tokens must be at least 1"),
        ({"image_formats": "png"}, "not one string"),
        ({"document_formats": ()}, "document_formats is empty"),
    ],
)
def test_declarations_are_validated(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DeployedModel(provider="p", model_id="m", **kwargs)


def test_declarations_are_normalised_and_round_trip_through_json() -> None:
    model = DeployedModel(
        provider="p", model_id="m", temperature_range=[0, 2], image_formats=["JPG", ".png"], document_formats=["htm"]
    )
    assert model.temperature_range == (0.0, 2.0)
    assert model.image_formats == {"jpeg", "png"} and model.document_formats == {"html"}
    data = json.loads(to_json(model))
    assert data["temperature_range"] == [0.0, 2.0] and data["top_p_range"] is None
    assert data["image_formats"] == ["jpeg", "png"]  # sorted, stable
    assert from_json(to_json(model), DeployedModel) == model
    assert from_json(to_json(FIXED), DeployedModel).temperature_range == ()
    old = {k: v for k, v in json.loads(to_json(OPEN)).items() if k not in ("image_formats", "max_output_tokens")}
    assert from_json(json.dumps(old), DeployedModel) == OPEN  # stored before the fields existed
