"""The OpenSearch provider: settings, discovery of collections, and one short method per operation.

The work is done by :mod:`.indices` (collections as indices) and :mod:`.chunks` (ingest,
retrieve, scans, deletes); both are imported, and the client made, on the first call that needs
them, so a host with this plugin installed starts without opensearch-py and without a cluster.

Every method that reaches the cluster runs in :meth:`OpenSearchProvider._redacted`: whatever error
leaves it — the cluster's answer quoted in the message or kept as ``body``, and the whole chain of
causes — loses the credentials the requests carried (the password, AWS keys), whatever the status.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from genai_commons import Provider, SearchType, ValidationError
from genai_commons.redaction import redacted_errors

from .settings import OpenSearchSettings

if TYPE_CHECKING:
    from genai_commons import (
        ChunkCollection,
        Filter,
        IngestMode,
        IngestResult,
        KnowledgeBase,
        KnowledgeBaseChunk,
        ProviderSettings,
        RetrievalQuery,
        RetrievalResult,
    )

    from .chunks import ChunkStore
    from .client import LazyClient
    from .indices import Indices
    from .mapping import IndexInfo

NAME = "opensearch"


class OpenSearchProvider(Provider):
    """Knowledge bases stored in OpenSearch indices; see ``docs/opensearch.md`` for the settings."""

    name = NAME
    description = "Knowledge bases on OpenSearch: k-NN retrieval with metadata filters, bulk ingestion."
    #: k-NN, BM25 keyword search, and both fused in the client (see :mod:`.retrieval`).
    search_types = frozenset(SearchType)
    settings_class = OpenSearchSettings

    def __init__(self) -> None:
        super().__init__()
        self.opensearch_settings = OpenSearchSettings()
        self._lock = threading.Lock()
        self._client: LazyClient | None = None
        self._indices: Indices | None = None
        self._chunks: ChunkStore | None = None

    def configure(self, settings: ProviderSettings) -> None:
        # Checked by the host already when it passes its own table; checked here when called directly.
        fresh = settings is self.settings and isinstance(self.typed_settings, OpenSearchSettings)
        configured = self.typed_settings if fresh else OpenSearchSettings.from_provider_settings(settings)
        self.close()
        self.opensearch_settings = configured

    def _parts(self) -> tuple[Indices, ChunkStore]:
        with self._lock:
            if self._indices is None or self._chunks is None:
                from .chunks import ChunkStore  # noqa: PLC0415 - loaded with the first call
                from .client import LazyClient  # noqa: PLC0415
                from .indices import Indices  # noqa: PLC0415

                self._client = LazyClient(self.opensearch_settings)
                self._indices = Indices(self._client, self.name)
                self._chunks = ChunkStore(self._client, self._indices, self.name)
            return self._indices, self._chunks

    def _redacted(self) -> AbstractContextManager[None]:
        """Around a call: its errors lose the client's secrets (read only when one passes)."""
        return redacted_errors(lambda: self._client.secrets() if self._client is not None else [])

    def close(self) -> None:
        """Close the client (``Host.close()`` calls this); the next call makes a new one."""
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = self._indices = self._chunks = None

    # -- discovery ---------------------------------------------------------------------------

    def _knowledge_base(self, info: IndexInfo, name: str | None = None) -> KnowledgeBase:
        from genai_commons import KnowledgeBase  # noqa: PLC0415 - the model loads with the first call

        return KnowledgeBase(
            provider=self.name,
            name=name or info.collection,
            collection=info.collection,
            embedding_model=info.embedding_model,
            description=info.description,
        )

    def knowledge_bases(self) -> Iterable[KnowledgeBase]:
        """The collections under the index prefix (none when no cluster is configured)."""
        if not self.opensearch_settings.url:
            return ()
        indices, _ = self._parts()
        with self._redacted():
            return [self._knowledge_base(info) for info in indices.list()]

    def resolve_knowledge_base(self, name: str) -> KnowledgeBase | None:
        """The collection ``name`` with the embedding model stored in its index, when it exists."""
        if not self.opensearch_settings.url:
            return None
        indices, _ = self._parts()
        try:
            with self._redacted():
                info = indices.describe(name)
        except ValidationError:
            return None  # not a name an index can have: the first ingest says why
        return None if info is None else self._knowledge_base(info, name)

    # -- knowledge-base operations -----------------------------------------------------------

    def retrieve(self, knowledge_base: KnowledgeBase, query: RetrievalQuery) -> RetrievalResult:
        with self._redacted():
            return self._parts()[1].retrieve(knowledge_base, query)

    def ingest(self, knowledge_base: KnowledgeBase, chunks: ChunkCollection, mode: IngestMode) -> IngestResult:
        with self._redacted():
            return self._parts()[1].ingest(knowledge_base, chunks, mode)

    def stored_chunk_ids(
        self, knowledge_base: KnowledgeBase, source_ids: Sequence[str]
    ) -> Mapping[str, frozenset[str]]:
        with self._redacted():
            return self._parts()[1].stored_chunk_ids(knowledge_base, source_ids)

    def delete_chunks(self, knowledge_base: KnowledgeBase, source_ids: Sequence[str] | None) -> int:
        with self._redacted():
            return self._parts()[1].delete_chunks(knowledge_base, source_ids)

    def drop_collection(self, knowledge_base: KnowledgeBase) -> bool:
        with self._redacted():
            return self._parts()[0].drop(knowledge_base.collection)

    def list_chunks(
        self, knowledge_base: KnowledgeBase, filter: Filter | None, offset: int, limit: int
    ) -> Sequence[KnowledgeBaseChunk]:
        with self._redacted():
            return self._parts()[1].list_chunks(knowledge_base, filter, offset, limit)
