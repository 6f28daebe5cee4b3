"""Knowledge bases above the hooks: loading and chunking documents, ingestion that resumes,
batched embedding, and retrieve-and-generate.

Each name loads its module on first use: ``from genai_commons.knowledge import Loader, Chunker,
ingest_documents, knowledge_base_tool``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .chunking import Chunker, ChunkingStrategy
    from .loaders import Document, DocumentFormat, Loader, RecordFields, Skipped, load_records
    from .pipeline import Ingestor, IngestReport, aingest_documents, ingest_documents
    from .rag import knowledge_base_tool

_EXPORTS = {
    "Chunker": "chunking",
    "ChunkingStrategy": "chunking",
    "Document": "loaders",
    "DocumentFormat": "loaders",
    "Loader": "loaders",
    "RecordFields": "loaders",
    "Skipped": "loaders",
    "load_records": "loaders",
    "IngestReport": "pipeline",
    "Ingestor": "pipeline",
    "aingest_documents": "pipeline",
    "ingest_documents": "pipeline",
    "knowledge_base_tool": "rag",
}
__all__ = [
    "Chunker",
    "ChunkingStrategy",
    "Document",
    "DocumentFormat",
    "IngestReport",
    "Ingestor",
    "Loader",
    "RecordFields",
    "Skipped",
    "aingest_documents",
    "ingest_documents",
    "knowledge_base_tool",
    "load_records",
]

__getattr__ = lazy_exports(__name__, globals(), _EXPORTS)
