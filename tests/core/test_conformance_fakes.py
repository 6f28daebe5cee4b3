"""The conformance suite, run against the fakes (which map failures as a plugin must)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from genai_commons import Capability
from genai_commons.testing import FakeAsyncProvider, FakeChatProvider, FakeProvider, make_fake_provider_class
from genai_commons.testing.conformance import ProviderConformance


class TestFakeProviderConformance(ProviderConformance):
    PLUGIN = FakeProvider
    CHAT_MODEL = "fake:chat"
    STREAM_MODEL = "fake:chat"
    EMBEDDING_MODEL = "fake:embed"
    IMAGE_MODEL = "fake:image"
    KNOWLEDGE_BASE = "fake:docs"
    AGENT = "fake:helper"


class TestFakeAsyncProviderConformance(TestFakeProviderConformance):
    PLUGIN = FakeAsyncProvider


class TestFakeChatProviderConformance(ProviderConformance):
    """Only chat and streaming are declared: the rest must be refused before the transport."""

    CHAT_MODEL = "fake:chat"
    STREAM_MODEL = "fake:chat"

    @pytest.fixture
    def plugin(self) -> FakeChatProvider:
        return FakeChatProvider()


class TestEmbeddingsOnlyConformance(ProviderConformance):
    """An async-native provider offering embeddings only, under another name."""

    PLUGIN = make_fake_provider_class("vectors", [Capability.EMBED], async_native=True)
    EMBEDDING_MODEL = "vectors:embed"


def test_suite_flags_a_declared_capability_left_untested(tmp_path: Path) -> None:
    (tmp_path / "test_incomplete.py").write_text(
        textwrap.dedent(
            """
            from genai_commons.testing import FakeChatProvider
            from genai_commons.testing.conformance import ProviderConformance

            class TestIncomplete(ProviderConformance):
                PLUGIN = FakeChatProvider
                CHAT_MODEL = "fake:chat"
                STRUCTURED_OUTPUT = False
            """
        )
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout
    assert "declared but not given to the conformance suite: chat_stream" in result.stdout
    assert "1 failed" in result.stdout


def test_plugin_authors_guide_runs_and_passes_conformance(tmp_path: Path) -> None:
    """The Python blocks of docs/plugin-authors.md, as one test module: they run in order, and
    the provider they build passes the conformance suite they set up."""
    guide = Path(__file__).resolve().parents[2] / "docs" / "plugin-authors.md"
    blocks = re.findall(r"^```python\n(.*?)^```", guide.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) >= 6
    (tmp_path / "test_guide.py").write_text("\n\n".join(blocks))
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GENAI_HOME": str(home)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed" not in result.stdout
