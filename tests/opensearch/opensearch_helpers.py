"""Small helpers shared by the OpenSearch tests (the fixtures are in ``conftest.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from genai_commons import ChunkCollection, KnowledgeBase, KnowledgeBaseChunk, MetadataCollection, ProviderSettings
from genai_commons.testing.fakes import make_fake_provider_class

#: The embedding-only fake the hosts use ("fake:embed", 8 dimensions, hashing trick).
FakeEmbedder = make_fake_provider_class("fake", ["embed"], class_name="FakeEmbedder")


def settings_for(url: str, **values: Any) -> ProviderSettings:
    """``[providers.opensearch]`` pointing at ``url``, no environment, no pause between bulk retries."""
    return ProviderSettings(name="opensearch", values={"url": url, "bulk_backoff": 0.0, **values}, environ={})


def kb(collection: str = "docs", **fields: Any) -> KnowledgeBase:
    return KnowledgeBase(provider="opensearch", name=collection, **fields)


def chunk(
    chunk_id: str,
    vector: Sequence[float],
    *,
    source_id: str | None = None,
    text: str | None = None,
    metadata: Mapping[str, str] | None = None,
    source_type: str | None = None,
) -> KnowledgeBaseChunk:
    return KnowledgeBaseChunk(
        chunk_id=chunk_id,
        input_text=text or f"text of {chunk_id}",
        vector=vector,
        human_readable_id=f"{chunk_id}.md",
        source_id=source_id,
        source_type=source_type,
        metadata=MetadataCollection(items=dict(metadata or {})),
    )


def chunks(*items: KnowledgeBaseChunk) -> ChunkCollection:
    return ChunkCollection(chunks=items)
