"""Mendix Cloud GenAI's documented limits, checked before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence

from genai_commons import Chunk, KnowledgeBaseChunk, ValidationError
from genai_commons.formats.converse import FileLimits

__all__ = ["EMBED_BATCH", "FILES", "INSERT_BATCH", "MAX_CHUNK_TEXT", "check_chunks"]

#: Images (≤ 20, < 3.75 MB, ≤ 8000 px) and documents (≤ 5, < 4.5 MB) per conversation.
FILES = FileLimits()
#: Texts per embedding call (Cohere Embed).
EMBED_BATCH = 96
#: Chunks per insert call, as the vendor's connector sends them.
INSERT_BATCH = 100
#: Characters of one chunk's text (about 1500 is recommended).
MAX_CHUNK_TEXT = 2048


def _label(chunk: Chunk, number: int) -> str:
    if isinstance(chunk, KnowledgeBaseChunk) and chunk.human_readable_id:
        return f"chunk {number} ({chunk.human_readable_id!r})"
    return f"chunk {number}"


def check_chunks(chunks: Sequence[Chunk]) -> None:
    """Every chunk has a vector and at most :data:`MAX_CHUNK_TEXT` characters of text."""
    for number, chunk in enumerate(chunks, 1):
        if len(chunk.input_text) > MAX_CHUNK_TEXT:
            raise ValidationError(
                f"{_label(chunk, number)} has {len(chunk.input_text)} characters; a Mendix Cloud knowledge base takes "
                f"at most {MAX_CHUNK_TEXT} (about 1500 is recommended): split the text into smaller chunks"
            )
        if chunk.vector is None:
            raise ValidationError(
                f"{_label(chunk, number)} has no vector: ingest through the host (host.ingest), which embeds the "
                "chunks with the knowledge base's embedding model first"
            )
