"""Chunks as OpenSearch documents and back; pure functions, no I/O.

A metadata pair is indexed as the JSON text of ``[key, value]`` (compact, non-ASCII kept), so an
exact-match filter is one ``term`` on ``metadata_pairs`` whatever the key holds; a value that reads
as a number (Python's ``float()``, as :class:`genai_commons.Range` reads it) also gets an entry in
``metadata_numbers`` for range filters.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from genai_commons import Chunk, KnowledgeBaseChunk, MetadataCollection, ValidationError

from .mapping import FINGERPRINT_FIELD, NUMBERS_FIELD, PAIRS_FIELD, TEXT_FIELD, VECTOR_FIELD


def pair(key: str, value: str) -> str:
    """The indexed form of one metadata pair."""
    return json.dumps([key, value], ensure_ascii=False, separators=(",", ":"))


def as_number(value: str) -> float | None:
    """The value as a number, read as :class:`genai_commons.Range` reads it (``float()``); None
    for text and NaN (which no range matches). JSON has no infinity, so ``inf`` is stored as the
    largest double, and range bounds are translated the same way (:func:`finite`)."""
    try:
        number = float(value)
    except ValueError:
        return None
    return None if math.isnan(number) else finite(number)


def finite(number: float) -> float:
    """``±inf`` as ``±`` the largest double; other numbers unchanged."""
    return math.copysign(sys.float_info.max, number) if math.isinf(number) else number


def vector_values(vector: Sequence[float]) -> list[float]:
    """A float32 vector as JSON numbers: nine significant digits give each float32 back exactly,
    in about half the text of a double's repr."""
    return [float(f"{x:.9g}") for x in vector]


def as_kb_chunk(chunk: Chunk) -> KnowledgeBaseChunk:
    """Knowledge-base chunks pass; a plain chunk becomes one with a new id (as the core's stores do)."""
    if isinstance(chunk, KnowledgeBaseChunk):
        return chunk
    return KnowledgeBaseChunk(input_text=chunk.input_text, vector=chunk.vector)


def to_document(chunk: KnowledgeBaseChunk) -> dict[str, Any]:
    """The document stored for a chunk (its vector must be set), with its fingerprint."""
    if chunk.vector is None:
        raise ValidationError(f"chunk {chunk.chunk_id!r} has no vector")
    metadata = chunk.metadata.as_dict()
    numbers = [
        {"key": key, "value": number} for key, value in metadata.items() if (number := as_number(value)) is not None
    ]
    document: dict[str, Any] = {
        "chunk_id": chunk.chunk_id,
        "source_id": chunk.source_id,
        "source_type": chunk.source_type,
        "human_readable_id": chunk.human_readable_id,
        TEXT_FIELD: chunk.input_text,
        VECTOR_FIELD: vector_values(chunk.vector),
        "metadata": metadata,
        PAIRS_FIELD: [pair(key, value) for key, value in metadata.items()],
        NUMBERS_FIELD: numbers,
    }
    canonical = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    document[FINGERPRINT_FIELD] = hashlib.sha256(canonical.encode()).hexdigest()
    return document


def to_chunk(source: Mapping[str, Any], *, similarity: float | None = None) -> KnowledgeBaseChunk:
    """A stored document (its ``_source``) as a chunk, without its vector."""
    metadata = source.get("metadata") or {}
    return KnowledgeBaseChunk(
        chunk_id=str(source["chunk_id"]),
        input_text=str(source[TEXT_FIELD]),
        human_readable_id=str(source.get("human_readable_id") or ""),
        source_id=_optional_str(source.get("source_id")),
        source_type=_optional_str(source.get("source_type")),
        metadata=MetadataCollection(items={str(k): str(v) for k, v in metadata.items()}),
        similarity=similarity,
    )


def similarity_from_score(score: float) -> float:
    """Cosine similarity from an OpenSearch ``cosinesimil`` score, which is ``(1 + cos) / 2``."""
    return max(-1.0, min(1.0, 2.0 * score - 1.0))


def score_from_similarity(similarity: float) -> float:
    """The ``cosinesimil`` score of a cosine similarity (for ``min_score``)."""
    return (1.0 + similarity) / 2.0


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)
