"""The local provider: the embedded knowledge-base store and local embedding models.

Thin on purpose: each method hands over to :mod:`.store` (SQLite), :mod:`.searcher` (exact and
HNSW search) or :mod:`.embeddings` (sentence-transformers), under :func:`.errors.translated_errors`.
Those modules (and sqlite3, numpy, faiss, torch) are imported on first use, not when the host
discovers the plugin.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from genai_commons import KnowledgeBase, Provider, SearchType

from .settings import LocalTable

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from genai_commons import (
        ChunkCollection,
        DeployedModel,
        EmbeddingsOptions,
        EmbeddingsResponse,
        Filter,
        IngestMode,
        IngestResult,
        KnowledgeBaseChunk,
        ProviderSettings,
        RetrievalQuery,
        RetrievalResult,
        SyncResult,
    )

    from .embeddings import SentenceModels
    from .searcher import Searcher
    from .settings import LocalSettings
    from .store import CollectionInfo, KnowledgeStore

NAME = "local"
#: The one data source of a local collection, for :meth:`LocalProvider.ingest_from_source`: its search index.
INDEX_SOURCE = "index"


class LocalProvider(Provider):
    """Knowledge bases in an SQLite file next to the configuration, searched with numpy (exact)
    or faiss HNSW (approximate), and sentence-transformers embeddings that run offline.

    Settings: ``[providers.local]`` (see :mod:`genai_commons_local.settings`): ``database``,
    ``index``, ``ann_threshold``, ``hnsw_*``, ``busy_timeout``, ``batch_size``, ``offline``,
    ``device`` and the ``models`` table. A knowledge base ``local:NAME`` is the collection ``NAME``.
    """

    name = NAME
    description = "Embedded knowledge-base store (SQLite, exact and HNSW search) and local embeddings."
    #: Vector search, keyword search (SQLite FTS5, BM25) and both fused.
    search_types = frozenset(SearchType)
    settings_class = LocalTable

    def __init__(self, settings: LocalSettings | None = None, *, models: SentenceModels | None = None) -> None:
        """:param settings: instead of ``[providers.local]`` (a host's configuration then wins).
        :param models: the embedding models to use, to share loaded models between instances."""
        super().__init__()
        self._local = settings
        self._lock = threading.Lock()
        self._store: KnowledgeStore | None = None
        self._searcher: Searcher | None = None
        self._models = models

    # -- configuration ---------------------------------------------------------------------

    def configure(self, settings: ProviderSettings) -> None:
        from .settings import LocalSettings  # noqa: PLC0415

        if self.config is not None:
            # Checked by the host already when it passes its own table; checked here when called directly.
            fresh = settings is self.settings and isinstance(self.typed_settings, LocalTable)
            table = self.typed_settings if fresh else settings.typed(LocalTable)
            self.close()
            self._local = LocalSettings.from_table(table, self.config.home)

    @property
    def local_settings(self) -> LocalSettings:
        """The settings in force (the defaults under the default home when used without a host)."""
        if self._local is None:
            from genai_commons import ProviderSettings  # noqa: PLC0415
            from genai_commons.config import default_home  # noqa: PLC0415

            from .settings import LocalSettings  # noqa: PLC0415

            self._local = LocalSettings.read(ProviderSettings(name=NAME), default_home())
        return self._local

    def _parts(self) -> tuple[KnowledgeStore, Searcher]:
        with self._lock:
            if self._store is None or self._searcher is None:
                from .searcher import Searcher  # noqa: PLC0415
                from .store import KnowledgeStore  # noqa: PLC0415

                settings = self.local_settings
                self._store = KnowledgeStore(settings.database, timeout=settings.busy_timeout)
                self._searcher = Searcher(self._store, settings, provider=NAME)
            return self._store, self._searcher

    def _sentence_models(self) -> SentenceModels:
        with self._lock:
            if self._models is None:
                from .embeddings import SentenceModels  # noqa: PLC0415

                self._models = SentenceModels()
            return self._models

    def _errors(self) -> AbstractContextManager[None]:
        from .errors import translated_errors  # noqa: PLC0415

        return translated_errors(NAME, self.local_settings.database)

    def close(self) -> None:
        with self._lock:
            if self._searcher is not None:
                self._searcher.close()
            if self._store is not None:
                self._store.close()
            self._store = self._searcher = None

    # -- discovery -------------------------------------------------------------------------

    def models(self) -> Iterable[DeployedModel]:
        from .embeddings import catalogue  # noqa: PLC0415

        return catalogue(self.local_settings)

    def knowledge_bases(self) -> Iterable[KnowledgeBase]:
        store, _ = self._parts()
        with self._errors():
            return [self._knowledge_base(info, count) for info, count in store.collections_with_counts()]

    def resolve_knowledge_base(self, name: str) -> KnowledgeBase | None:
        store, _ = self._parts()
        with self._errors():
            info = store.collection(name)
        return None if info is None else self._knowledge_base(info, None)

    @staticmethod
    def _knowledge_base(info: CollectionInfo, count: int | None) -> KnowledgeBase:
        details = [] if count is None else [f"{count} chunks"]
        if info.dimension is not None:
            details.append(f"{info.dimension} dimensions")
        return KnowledgeBase(
            provider=NAME,
            name=info.name,
            collection=info.name,
            embedding_model=info.embedding_model,
            description="local collection" + (f" ({', '.join(details)})" if details else ""),
        )

    # -- embeddings ------------------------------------------------------------------------

    def embed(self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions) -> EmbeddingsResponse:
        from genai_commons import EmbeddingsResponse  # noqa: PLC0415

        started = time.perf_counter()
        vectors, tokens = self._sentence_models().embed(self.local_settings, model.model_id, chunks.texts, options)
        return EmbeddingsResponse(
            chunks=chunks.with_vectors(vectors),
            input_tokens=tokens,
            duration_ms=(time.perf_counter() - started) * 1000,
            model_id=model.model_id,
        )

    def count_tokens(self, model: DeployedModel, texts: Sequence[str]) -> Sequence[int] | None:
        """Tokens per text with the model's own ``tokenizer.json`` (Hugging Face ``tokenizers``,
        no torch); ``None`` for a model given by a Hugging Face name rather than a directory."""
        from pathlib import Path  # noqa: PLC0415

        from .embeddings import _source  # noqa: PLC0415
        from .tokens import count_model_tokens  # noqa: PLC0415

        source = Path(_source(self.local_settings, model.model_id))
        if not (source / "tokenizer.json").is_file():
            return None
        return count_model_tokens(source, list(texts))

    # -- knowledge bases -------------------------------------------------------------------

    def retrieve(self, knowledge_base: KnowledgeBase, query: RetrievalQuery) -> RetrievalResult:
        import attrs  # noqa: PLC0415

        _, searcher = self._parts()
        started = time.perf_counter()
        with self._errors():
            result = searcher.retrieve(knowledge_base.collection, query)
        return attrs.evolve(result, duration_ms=(time.perf_counter() - started) * 1000)

    def ingest(self, knowledge_base: KnowledgeBase, chunks: ChunkCollection, mode: IngestMode) -> IngestResult:
        from genai_commons import IngestMode  # noqa: PLC0415

        from .wire import chunk_rows  # noqa: PLC0415

        store, searcher = self._parts()
        rows = chunk_rows(chunks)
        with self._errors():
            result = store.ingest(knowledge_base.collection, knowledge_base.embedding_model, rows, IngestMode(mode))
        if result.inserted or result.deleted:
            searcher.changed(knowledge_base.collection)
        return result

    def stored_chunk_ids(
        self, knowledge_base: KnowledgeBase, source_ids: Sequence[str]
    ) -> Mapping[str, frozenset[str]]:
        store, _ = self._parts()
        with self._errors():
            return store.stored_chunk_ids(knowledge_base.collection, source_ids)

    def delete_chunks(self, knowledge_base: KnowledgeBase, source_ids: Sequence[str] | None) -> int:
        store, searcher = self._parts()
        with self._errors():
            deleted, retired = store.delete_chunks(knowledge_base.collection, source_ids)
        if retired is not None:  # emptied by replacing the collection: the old one's base goes
            searcher.forget(retired)
        if deleted:
            searcher.changed(knowledge_base.collection)
        return deleted

    def drop_collection(self, knowledge_base: KnowledgeBase) -> bool:
        store, searcher = self._parts()
        with self._errors():
            info = store.drop(knowledge_base.collection)
            if info is not None:
                searcher.forget(info)
        return info is not None

    def ingest_from_source(self, knowledge_base: KnowledgeBase, data_source_id: str | None, wait: bool) -> SyncResult:
        """Bring the collection's search index (its base: the HNSW graph, or the vectors of a large
        collection) up to date with its chunks: now when ``wait``, else in the background. One job,
        data source ``index``."""
        from genai_commons import NotFoundError, SyncJob, SyncResult, SyncStatus, ValidationError  # noqa: PLC0415

        store, searcher = self._parts()
        started = time.perf_counter()
        with self._errors():
            if store.collection(knowledge_base.collection) is None:
                raise NotFoundError(
                    f"the local knowledge base has no collection {knowledge_base.collection!r}; "
                    "list the collections with `genai kb list`",
                    provider=NAME,
                )
            if data_source_id not in (None, INDEX_SOURCE):
                raise ValidationError(
                    f"a local collection has one data source, {INDEX_SOURCE!r} (its search index), "
                    f"not {data_source_id!r}"
                )
            if wait:
                searcher.build_index(knowledge_base.collection)
            else:
                searcher.changed(knowledge_base.collection)
        status = SyncStatus.COMPLETE if wait else SyncStatus.STARTING
        job = SyncJob(job_id=f"{knowledge_base.collection}-index", data_source_id=INDEX_SOURCE, status=status)
        return SyncResult(jobs=(job,), duration_ms=(time.perf_counter() - started) * 1000)

    def list_chunks(
        self, knowledge_base: KnowledgeBase, filter: Filter | None, offset: int, limit: int
    ) -> Sequence[KnowledgeBaseChunk]:
        store, _ = self._parts()
        with self._errors():
            return store.list_chunks(knowledge_base.collection, filter, offset, limit)
