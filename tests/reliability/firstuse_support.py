"""Helpers for test_hardening_first_use.py: PDFs (intact, damaged beyond reading, damaged but
repairable), and ``genai`` run in a child process against a host over the fake provider.

A child process, because what a library prints through :mod:`logging` reaches standard error raw
only where no logging handler is installed, and pytest installs one on the root logger: in-process,
pypdf's ``EOF marker not found`` would never show, with or without the fix.

Run as a script: ``python firstuse_support.py GENAI-ARGS...`` runs ``genai GENAI-ARGS`` with a host
whose only provider is a fake named ``fake`` (knowledge bases and embeddings there), home
``$GENAI_HOME``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

#: The environment variables of the real environment that would change what a command does.
_OWN_PREFIXES = ("GENAI_", "OPENAI_", "AZURE_OPENAI", "AWS_", "OPENSEARCH_", "MXCLOUD_")


def pdf_bytes(text: str) -> bytes:
    """A one-page PDF showing ``text`` in Helvetica (a real font and content stream, so that pypdf
    extracts the text)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page = writer.add_blank_page(width=612, height=792)
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    content = DecodedStreamObject()
    content.set_data(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(content)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def truncated_pdf(text: str) -> bytes:
    """A PDF cut off before its cross-reference table: pypdf logs ``EOF marker not found`` and
    cannot read it."""
    whole = pdf_bytes(text)
    return whole[: whole.rindex(b"xref")]


def repairable_pdf(text: str) -> bytes:
    """A PDF whose ``startxref`` points at the wrong offset: pypdf logs ``incorrect startxref
    pointer`` and reads it by scanning the file."""
    whole = pdf_bytes(text)
    start = whole.rindex(b"startxref")
    pointer = int(whole[start:].split()[1])
    return whole[:start] + b"startxref\n" + str(pointer - 40).encode() + b"\n%%EOF\n"


def clean_environ(home: Path) -> dict[str, str]:
    """This process's environment without configuration or credentials, ``GENAI_HOME=home``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    environ["GENAI_HOME"] = str(home)
    return environ


def run_fake_genai(args: Sequence[str], home: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``genai ARGS`` in a child process, against the fake provider (see the module docstring)."""
    return subprocess.run(  # bounded: a hang fails the test
        [sys.executable, __file__, *args],
        env=clean_environ(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _main() -> None:
    from genai_commons import Config, Host
    from genai_commons.cli import CliState, main
    from genai_commons.config import KnowledgeSettings, default_home
    from genai_commons.testing import FakeProvider

    knowledge = KnowledgeSettings(default_provider="fake", default_embedding_model="fake:embed")
    host = Host(Config.defaults(default_home(), knowledge=knowledge), load_entry_points=False, plugins=[FakeProvider()])
    main(args=sys.argv[1:], obj=CliState(host=host), prog_name="genai")


if __name__ == "__main__":
    _main()
