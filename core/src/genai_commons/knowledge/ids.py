"""Stable chunk ids and human-readable ids, and the knowledge-base chunks of a document.

A chunk id is a hash of what the stored chunk is: its source object, its text, what is stored
with it (source type, human-readable id, metadata) and, when the same text occurs more than once
in a source, which occurrence it is. Re-ingesting unchanged content therefore produces the same
ids (nothing to write), and changed text or metadata produces new ones, so that the ingestion
pipeline sees that the source changed and replaces its chunks.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence

from ..model.knowledge import KnowledgeBaseChunk, MetadataCollection
from .chunking import Piece
from .loaders import Document

__all__ = ["HEADINGS_KEY", "PAGE_KEY", "chunk_id", "document_chunks", "human_readable_ids"]

#: Metadata key of a chunk's heading path (Markdown strategy), headings joined by `` > ``.
HEADINGS_KEY = "headings"
#: Metadata key of the page a chunk starts on (paged documents: PDF).
PAGE_KEY = "page"
_SEPARATOR = "\x1f"


def chunk_id(
    source_id: str,
    text: str,
    *,
    occurrence: int = 0,
    metadata: MetadataCollection | Mapping[str, str] | None = None,
    source_type: str | None = None,
    human_readable_id: str = "",
) -> str:
    """A 32-hex-digit id for a chunk; the same inputs always give the same id.

    :param occurrence: which occurrence (from 0) of the same text in the source this chunk is.
    """
    pairs = metadata.as_dict() if isinstance(metadata, MetadataCollection) else dict(metadata or {})
    parts = [
        source_id,
        str(occurrence),
        source_type or "",
        human_readable_id,
        *(f"{key}={value}" for key, value in sorted(pairs.items())),
        text,
    ]
    return hashlib.blake2b(_SEPARATOR.join(parts).encode("utf-8"), digest_size=16).hexdigest()


def _label(document: Document, piece: Piece) -> str:
    label = document.human_readable_id
    if piece.headings:
        label = f"{label} > {' > '.join(piece.headings)}"
    page = document.page_at(piece.start)
    if page is not None:
        label = f"{label} p. {page}"
    return label


def human_readable_ids(document: Document, pieces: Sequence[Piece]) -> list[str]:
    """What users see for each piece: the document's id, its heading path or page, and ``#n``
    when several pieces would otherwise read the same (``guide.md > Install #2``)."""
    labels = [_label(document, piece) for piece in pieces]
    totals = Counter(labels)
    seen: Counter[str] = Counter()
    numbered = []
    for label in labels:
        seen[label] += 1
        numbered.append(f"{label} #{seen[label]}" if totals[label] > 1 else label)
    return numbered


def document_chunks(
    document: Document, pieces: Sequence[Piece], metadata: Mapping[str, str] | None = None
) -> list[KnowledgeBaseChunk]:
    """The knowledge-base chunks of a document's pieces, with ids, human-readable ids and metadata
    (the document's, then ``metadata``, then the piece's heading path and page). A chunk's text
    is :attr:`Piece.content`: its heading-path line, if any, then the piece's text."""
    occurrences: Counter[str] = Counter()
    chunks = []
    for piece, readable in zip(pieces, human_readable_ids(document, pieces), strict=True):
        pairs = {**document.metadata.as_dict(), **(metadata or {})}
        if piece.headings:
            pairs[HEADINGS_KEY] = " > ".join(piece.headings)
        page = document.page_at(piece.start)
        if page is not None:
            pairs[PAGE_KEY] = str(page)
        collection = MetadataCollection(items=pairs)
        text = piece.content  # the heading-path line, then the piece's text
        occurrence = occurrences[text]
        occurrences[text] += 1
        chunks.append(
            KnowledgeBaseChunk(
                chunk_id=chunk_id(
                    document.source_id,
                    text,
                    occurrence=occurrence,
                    metadata=collection,
                    source_type=document.source_type,
                    human_readable_id=readable,
                ),
                input_text=text,
                human_readable_id=readable,
                source_id=document.source_id,
                source_type=document.source_type,
                metadata=collection,
            )
        )
    return chunks
