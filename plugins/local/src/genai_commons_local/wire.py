"""Chunks to and from the rows of the store: pure functions, no I/O.

A vector is a little-endian float32 blob; metadata is kept twice, as a JSON array of
``[key, value]`` pairs on the chunk row (its order preserved, read back in one go) and as rows of
the ``metadata`` table (one per key, with the value read as a number) that filters query.
"""

from __future__ import annotations

import json
import math
import sys
from array import array
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from genai_commons import Chunk, DeployedModel, KnowledgeBaseChunk, MetadataCollection, ValidationError
from genai_commons.serialization import from_json, to_json

from .filters import number_of

#: The columns of a chunk row, in the order :func:`chunk_from_row` reads them.
CHUNK_COLUMNS = "c.chunk_id, c.source_id, c.source_type, c.human_readable_id, c.input_text, c.metadata"
_BIG_ENDIAN = sys.byteorder == "big"


class ChunkRow(NamedTuple):
    """One chunk ready to store."""

    chunk_id: str
    source_id: str | None
    source_type: str | None
    human_readable_id: str
    input_text: str
    metadata: str
    vector: bytes
    #: ``(key, value, number)`` for the metadata table.
    pairs: tuple[tuple[str, str, float | None], ...]

    def same_as(self, stored: Sequence[object]) -> bool:
        """Whether a stored row (columns of :data:`CHUNK_COLUMNS` then the vector) holds this chunk."""
        return tuple(stored) == (
            self.chunk_id,
            self.source_id,
            self.source_type,
            self.human_readable_id,
            self.input_text,
            self.metadata,
            self.vector,
        )


def vector_blob(vector: array) -> bytes:  # type: ignore[type-arg]
    """``array('f')`` as a little-endian float32 blob."""
    if _BIG_ENDIAN:  # pragma: no cover - no big-endian machine runs the tests
        vector = array("f", vector)
        vector.byteswap()
    return vector.tobytes()


def chunk_row(chunk: Chunk) -> ChunkRow:
    """A chunk to store; it must carry a finite vector. A plain :class:`Chunk` gets a new id."""
    kb = chunk if isinstance(chunk, KnowledgeBaseChunk) else KnowledgeBaseChunk(input_text=chunk.input_text)
    if chunk.vector is None:
        raise ValidationError(
            f"chunk {kb.chunk_id!r} has no vector: give the knowledge base an embedding model so that the host "
            "embeds its chunks, or embed them first (host.embed) and ingest the result"
        )
    if not chunk.vector:
        raise ValidationError(f"chunk {kb.chunk_id!r} has an empty vector")
    if not math.isfinite(sum(chunk.vector)):  # exact: no sum of float32 numbers overflows a double
        raise ValidationError(f"chunk {kb.chunk_id!r} has a vector with NaN or infinite numbers")
    items = kb.metadata.items
    return ChunkRow(
        chunk_id=kb.chunk_id,
        source_id=kb.source_id,
        source_type=kb.source_type,
        human_readable_id=kb.human_readable_id,
        input_text=kb.input_text,
        metadata=json.dumps([[m.key, m.value] for m in items], ensure_ascii=False),
        vector=vector_blob(chunk.vector),
        pairs=tuple((m.key, m.value, number_of(m.value)) for m in items),
    )


def chunk_rows(chunks: Iterable[Chunk]) -> list[ChunkRow]:
    """The rows of a batch, one dimension for all; a chunk id given twice keeps its last chunk."""
    rows: dict[str, ChunkRow] = {}
    dimension = None
    for chunk in chunks:
        row = chunk_row(chunk)
        size = len(row.vector) // 4
        if dimension is None:
            dimension = size
        elif size != dimension:
            raise ValidationError(
                f"the chunks' vectors differ in length ({dimension} and {size} dimensions): "
                "embed every chunk of one collection with the same model"
            )
        rows.pop(row.chunk_id, None)
        rows[row.chunk_id] = row
    return list(rows.values())


def chunk_from_row(row: Sequence[object], similarity: float | None = None) -> KnowledgeBaseChunk:
    """A stored chunk (columns of :data:`CHUNK_COLUMNS`), without its vector."""
    chunk_id, source_id, source_type, human_readable_id, input_text, metadata = row[:6]
    return KnowledgeBaseChunk(
        chunk_id=str(chunk_id),
        source_id=None if source_id is None else str(source_id),
        source_type=None if source_type is None else str(source_type),
        human_readable_id=str(human_readable_id),
        input_text=str(input_text),
        metadata=MetadataCollection(items={str(k): str(v) for k, v in json.loads(str(metadata))}),
        similarity=similarity,
    )


def model_json(model: DeployedModel | None) -> str | None:
    return None if model is None else to_json(model)


def model_from_json(text: str | None) -> DeployedModel | None:
    return None if text is None else from_json(text, DeployedModel)
