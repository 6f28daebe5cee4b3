"""Shared fixtures: a host over the fake provider whose unconfigured knowledge bases live in it,
and a tiny PDF writer (pypdf, with a real font and content stream, so text extraction works)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import pytest

from genai_commons import Host
from genai_commons.config import KnowledgeSettings
from genai_commons.testing import FakeProvider
from genai_commons.testing.pytest_plugin import MakeHost

FAKE_KNOWLEDGE = KnowledgeSettings(default_provider="fake", default_embedding_model="fake:embed")


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def make_kb_host(make_host: MakeHost) -> Callable[..., Host]:
    """``make_kb_host(*plugins)``: a host whose knowledge bases default to the ``fake`` provider."""
    return lambda *plugins: make_host(*plugins, knowledge=FAKE_KNOWLEDGE)


@pytest.fixture
def host(make_kb_host: Callable[..., Host], fake: FakeProvider) -> Host:
    return make_kb_host(fake)


@pytest.fixture
def make_pdf() -> Callable[..., bytes]:
    """``make_pdf(pages, title=None, password=None)``: the bytes of a PDF (see :func:`pdf_bytes`)."""
    return pdf_bytes


def pdf_bytes(pages: Sequence[str], title: str | None = None, password: str | None = None) -> bytes:
    """A PDF whose pages show the given lines of text in Helvetica."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for text in pages:
        page = writer.add_blank_page(width=612, height=792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        content = DecodedStreamObject()
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        content.set_data(f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(content)
    if title is not None:
        writer.add_metadata({"/Title": title})
    if password is not None:
        writer.encrypt(password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
