"""Mendix Cloud GenAI's JSON for embeddings and knowledge bases: pure functions, no I/O.

Chat speaks the Bedrock Converse format (:mod:`genai_commons.formats.converse`). The field names
below were reconstructed from public application code that bundles the vendor's connector (the
vendor publishes no API reference), so they are kept here, in one module, to be easy to correct:

* embeddings (``POST /invoke``), Cohere Embed: ``{texts, input_type, truncate, embedding_types}``
  → ``{id, response_type, texts, embeddings}`` with ``embeddings`` a list of vectors or
  ``{"float": [...]}``; token counts in the ``x-amzn-bedrock-input-token-count`` header;
* a chunk: ``{chunkId, humanReadableId, vector, key, value, chunkType, mxObjectId, mxEntity,
  metadata: [{name, value}]}`` — ``key`` is the text that was embedded, ``value`` the text returned;
* pages (Spring style): ``{content, size, number, totalPages, totalElements, first, last}``,
  requested with ``pageNumber`` (from 0) and ``pageSize``;
* nearest neighbours: ``{k, targetVector, metadataFilters: [{name, value}]}`` →
  ``{chunks: [{chunk, similarity}]}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from genai_commons import (
    Chunk,
    ChunkCollection,
    EmbeddingPurpose,
    KnowledgeBaseChunk,
    Metadata,
    MetadataCollection,
    ServiceUnavailableError,
    ValidationError,
)

from .errors import PROVIDER, SERVICE

__all__ = [
    "FIRST_PAGE",
    "INPUT_TOKENS_HEADER",
    "OUTPUT_TOKENS_HEADER",
    "Page",
    "chunk_from_json",
    "chunk_json",
    "chunks_path",
    "collection_path",
    "embed_body",
    "embed_vectors",
    "page",
    "similarity_body",
    "similarity_chunks",
]

INPUT_TOKENS_HEADER = "x-amzn-bedrock-input-token-count"
OUTPUT_TOKENS_HEADER = "x-amzn-bedrock-output-token-count"
#: The number of the first page (Spring's pages count from 0).
FIRST_PAGE = 0
#: What chunks are stored as.
CHUNK_TYPE = "KnowledgeBaseChunk"

_INPUT_TYPES = {EmbeddingPurpose.DOCUMENT: "search_document", EmbeddingPurpose.QUERY: "search_query"}


# -- embeddings ---------------------------------------------------------------------------------


def embed_body(texts: Sequence[str], purpose: EmbeddingPurpose) -> dict[str, Any]:
    """The Cohere Embed request for one batch (at most 96 texts)."""
    return {
        "texts": list(texts),
        "input_type": _INPUT_TYPES[purpose],
        "truncate": "NONE",
        "embedding_types": ["float"],
    }


def embed_vectors(data: Any, expected: int) -> list[list[float]]:
    """The vectors of a Cohere Embed answer (``embeddings`` as a list, or by type)."""
    embeddings = data.get("embeddings") if isinstance(data, Mapping) else None
    if isinstance(embeddings, Mapping):
        embeddings = embeddings.get("float")
    if not isinstance(embeddings, list) or len(embeddings) != expected:
        got = len(embeddings) if isinstance(embeddings, list) else "no"
        raise ServiceUnavailableError(
            f"{SERVICE} answered {got} embeddings for {expected} texts; try again", provider=PROVIDER
        )
    return embeddings


def token_count(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# -- knowledge bases ----------------------------------------------------------------------------


def collection_path(collection: str) -> str:
    """The collection's path. Every character that could end the path segment is escaped; the
    names ``.`` and ``..`` would be dot segments, which URLs resolve (``/knowledge-bases/./chunks``
    is the collection ``chunks``), so they are refused before anything is sent."""
    if collection.strip(".") == "" or any(ord(c) < 32 for c in collection):
        raise ValidationError(
            f"{collection!r} cannot name a Mendix Cloud collection: use a name with letters or digits "
            "(not only dots, no control characters)"
        )
    return f"/knowledge-bases/{quote(collection, safe='')}"


def chunks_path(collection: str) -> str:
    return f"{collection_path(collection)}/chunks"


def chunk_json(chunk: Chunk) -> dict[str, Any]:
    """One chunk to insert; its vector must be set."""
    assert chunk.vector is not None  # checked before any call
    if isinstance(chunk, KnowledgeBaseChunk):
        chunk_id, readable = chunk.chunk_id, chunk.human_readable_id
        source_id, source_type, metadata = chunk.source_id, chunk.source_type, chunk.metadata
    else:
        chunk_id, readable, source_id, source_type, metadata = str(uuid.uuid4()), "", None, None, MetadataCollection()
    return {
        "chunkId": chunk_id,
        "humanReadableId": readable,
        "vector": chunk.vector.tolist(),
        "key": chunk.input_text,
        "value": chunk.input_text,
        "chunkType": CHUNK_TYPE,
        "mxObjectId": source_id or "",
        "mxEntity": source_type or "",
        "metadata": [{"name": m.key, "value": m.value} for m in metadata],
    }


def chunk_from_json(data: Mapping[str, Any], similarity: float | None = None) -> KnowledgeBaseChunk:
    """A stored chunk as the core's :class:`KnowledgeBaseChunk` (without its vector)."""
    metadata = data.get("metadata") or []
    if isinstance(metadata, Mapping):  # tolerate a plain object
        metadata = [{"name": k, "value": v} for k, v in metadata.items()]
    if similarity is not None:
        similarity = max(-1.0, min(1.0, float(similarity)))
    return KnowledgeBaseChunk(
        chunk_id=str(data.get("chunkId") or data.get("id") or uuid.uuid4()),
        input_text=str(data.get("value") or data.get("key") or " "),
        human_readable_id=str(data.get("humanReadableId") or ""),
        source_id=data.get("mxObjectId") or None,
        source_type=data.get("mxEntity") or None,
        metadata=MetadataCollection(items=[Metadata(key=str(m["name"]), value=str(m["value"])) for m in metadata]),
        similarity=similarity,
    )


class Page:
    """One page of a paged answer: its items, and whether more follow."""

    __slots__ = ("items", "last", "total")

    def __init__(self, items: list[Any], last: bool, total: int | None) -> None:
        self.items = items
        self.last = last
        self.total = total


def page(data: Any, size: int) -> Page:
    """A Spring-style page (``content``, ``last``, ``totalElements``); a bare list is one last page."""
    if isinstance(data, list):
        return Page(data, True, len(data))
    if not isinstance(data, Mapping):
        return Page([], True, 0)
    items = list(data.get("content") or data.get("chunks") or [])
    total = data.get("totalElements")
    last = data.get("last")
    if last is None:
        last = len(items) < size
    return Page(items, bool(last), int(total) if isinstance(total, int) else None)


def page_params(number: int, size: int, source_id: str | None = None) -> list[tuple[str, Any]]:
    params: list[tuple[str, Any]] = []
    if source_id is not None:
        params.append(("mxObjectId", source_id))
    return [*params, ("pageNumber", number), ("pageSize", size)]


def similarity_body(vector: Sequence[float], k: int, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {
        "k": k,
        "targetVector": list(vector),
        "metadataFilters": [{"name": name, "value": value} for name, value in pairs],
    }


def similarity_chunks(data: Any) -> list[KnowledgeBaseChunk]:
    """The chunks of a nearest-neighbours answer, most similar first."""
    entries = data.get("chunks") if isinstance(data, Mapping) else data
    chunks = []
    for entry in entries or []:
        inner = entry.get("chunk", entry)
        similarity = entry.get("similarity", inner.get("similarity"))
        chunks.append(chunk_from_json(inner, None if similarity is None else float(similarity)))
    chunks.sort(key=lambda c: -(c.similarity if c.similarity is not None else -2.0))
    return chunks


def texts_of(chunks: ChunkCollection) -> list[str]:
    return [c.input_text for c in chunks]
