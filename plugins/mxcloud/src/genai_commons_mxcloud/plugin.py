"""The Mendix Cloud GenAI provider: models and knowledge bases from connection keys, and one short
method per capability. Chat and streaming (Claude), embeddings (Cohere Embed), knowledge-base
retrieval, ingestion and management; no image generation (the capability is not declared, so the
host refuses it before any call).

Nothing here needs a key until a call is made, and importing this module loads no HTTP library.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from genai_commons import MissingCredentialsError, Provider, hookimpl

from .settings import MxCloudSettings

if TYPE_CHECKING:
    from pathlib import Path

    from genai_commons import (
        ChatStreamEvent,
        ChunkCollection,
        DeployedModel,
        EmbeddingsOptions,
        EmbeddingsResponse,
        Filter,
        IngestMode,
        IngestResult,
        KnowledgeBase,
        KnowledgeBaseChunk,
        ProviderSettings,
        Request,
        Response,
        RetrievalQuery,
        RetrievalResult,
        Usage,
    )

    from .catalog import Catalog
    from .keys import ConnectionKey
    from .keystore import KeyStore
    from .quota import QuotaTracker
    from .transport import Transport

__all__ = ["MxCloudProvider"]

_NO_KEYS = (
    "no Mendix Cloud GenAI connection key is configured: set GENAI_MXCLOUD_KEY to a key from the Mendix Cloud "
    "GenAI portal, or import one with `genai mxcloud key import -` (it is kept in the key store)"
)


class MxCloudProvider(Provider):
    """Mendix Cloud GenAI resource packs over httpx; see :mod:`genai_commons_mxcloud.settings` for
    the settings and :mod:`genai_commons_mxcloud.catalog` for how keys become models.

    :param transport: replaces the network (tests pass an ``httpx.MockTransport``).
    """

    name = "mxcloud"
    description = "Mendix Cloud GenAI resource packs: Claude chat, Cohere embeddings, knowledge bases."
    settings_class = MxCloudSettings

    def __init__(self, transport: Any = None, async_transport: Any = None) -> None:
        super().__init__()
        self._transport_args = (transport, async_transport)
        self._http: Transport | None = None
        self._settings: MxCloudSettings | None = None
        self._environ: Mapping[str, str] = {}
        self._catalog: Catalog | None = None
        self._quota: QuotaTracker | None = None
        self._lock = threading.RLock()  # the lazily made parts are made once, whichever thread asks first

    # -- configuration -------------------------------------------------------------------------

    def configure(self, settings: ProviderSettings) -> None:
        """Take the checked settings and forget what was made from earlier ones; no key is read now
        (none is needed yet)."""
        # Checked by the host already when it passes its own table; checked here when called directly.
        fresh = settings is self.settings and isinstance(self.typed_settings, MxCloudSettings)
        typed = self.typed_settings if fresh else settings.typed(MxCloudSettings)
        with self._lock:
            if self._http is not None:
                self._http.close()
            self._catalog = self._quota = self._http = None
            self._settings, self._environ = typed, settings.environ

    @property
    def mx_settings(self) -> MxCloudSettings:
        """The plugin's settings, read on first use."""
        if self._settings is None:
            with self._lock:
                return self._read_settings()
        return self._settings

    def _read_settings(self) -> MxCloudSettings:
        if self._settings is None:  # used without a host: the environment alone
            from genai_commons import ProviderSettings  # noqa: PLC0415

            table = ProviderSettings(name=self.name)
            self._settings, self._environ = table.typed(MxCloudSettings), table.environ
        return self._settings

    def _home(self) -> Path:
        """The genai home, under which relative paths of the settings lie."""
        from genai_commons.config import default_home  # noqa: PLC0415

        return self.config.home if self.config is not None else default_home()

    @property
    def http(self) -> Transport:
        """The pooled HTTP clients, made on the first call."""
        if self._http is None:
            with self._lock:
                if self._http is None:
                    from .transport import Transport  # noqa: PLC0415

                    http = Transport(*self._transport_args)
                    http.configure(self.mx_settings)
                    self._http = http
        return self._http

    @property
    def quota(self) -> QuotaTracker:
        """The monthly quota counts."""
        if self._quota is None:
            with self._lock:
                return self._make_quota()
        return self._quota

    def _make_quota(self) -> QuotaTracker:
        if self._quota is None:
            from .quota import QuotaTracker  # noqa: PLC0415

            quota = QuotaTracker()
            settings = self.mx_settings
            config = self.config
            quota.configure(
                dict(settings.monthly_tokens),
                settings.quota_warning,
                settings.quota_hard_stop,
                config.usage_database if config is not None else None,
                config.usage.store if config is not None else False,
            )
            self._quota = quota
        return self._quota

    @property
    def key_store(self) -> KeyStore | None:
        """The key store (``mxcloud-keys.json`` under the genai home unless ``key_store`` says
        otherwise); None when ``key_store = ""`` turns it off."""
        from .keystore import KeyStore  # noqa: PLC0415

        path = self.mx_settings.key_store_path(self._home())
        return KeyStore(path) if path is not None else None

    @property
    def catalog(self) -> Catalog:
        """The known keys (read on first use; :meth:`reload_keys` after a change)."""
        catalog = self._catalog
        if catalog is None:
            with self._lock:
                return self._read_catalog()
        return catalog

    def _read_catalog(self) -> Catalog:
        if self._catalog is None:
            from .catalog import Catalog  # noqa: PLC0415

            settings = self.mx_settings
            self._catalog = Catalog(
                store=self.key_store,
                settings_keys=settings.keys,
                key_files=settings.key_file_paths(self._home()),
                environ=self._environ,
            )
        return self._catalog

    def reload_keys(self) -> None:
        self._catalog = None

    def _needs_keys(self) -> None:
        catalog = self.catalog
        if not catalog.entries and not catalog.problems:
            raise MissingCredentialsError(_NO_KEYS)

    # -- discovery -----------------------------------------------------------------------------

    def models(self) -> Iterable[DeployedModel]:
        return self.catalog.models()

    def resolve_model(self, model_id: str) -> DeployedModel | None:
        for model in self.catalog.models():
            if model.model_id == model_id:
                return model
        self._needs_keys()
        if self.catalog.problems:  # perhaps the key that would serve it could not be read
            self.catalog.model_key(model_id)
        return None

    def knowledge_bases(self) -> Iterable[KnowledgeBase]:
        from .keys import KeyType  # noqa: PLC0415
        from .knowledge import list_collections  # noqa: PLC0415

        bases = []
        for key in self.catalog.keys(KeyType.KNOWLEDGE_BASE):
            for collection in self.http.run(key, list_collections()):
                bases.append(self.catalog.knowledge_base_for(key, collection))
        return bases

    def resolve_knowledge_base(self, name: str) -> KnowledgeBase | None:
        self._needs_keys()
        key, collection = self.catalog.knowledge_base(name)
        return self.catalog.knowledge_base_for(key, collection, name)

    def _kb(self, kb: KnowledgeBase) -> tuple[ConnectionKey, str]:
        self._needs_keys()
        return self.catalog.knowledge_base(kb.name, kb.collection)

    def _model_key(self, model: DeployedModel) -> ConnectionKey:
        self._needs_keys()
        key = self.catalog.model_key(model.model_id)
        self.quota.before_call(model.model_id)
        return key

    # -- chat ----------------------------------------------------------------------------------

    def chat(self, model: DeployedModel, request: Request) -> Response:
        from .chat import chat  # noqa: PLC0415

        return self.http.run(self._model_key(model), chat(model, request))

    async def chat_async(self, model: DeployedModel, request: Request) -> Response:
        from .chat import chat  # noqa: PLC0415

        return await self.http.arun(self._model_key(model), chat(model, request))

    def chat_stream(self, model: DeployedModel, request: Request) -> Iterator[ChatStreamEvent]:
        from .chat import chat_stream  # noqa: PLC0415

        yield from chat_stream(self.http, self._model_key(model), model, request)

    async def chat_stream_async(self, model: DeployedModel, request: Request) -> AsyncIterator[ChatStreamEvent]:
        from .chat import achat_stream  # noqa: PLC0415

        async for event in achat_stream(self.http, self._model_key(model), model, request):
            yield event

    # -- embeddings ----------------------------------------------------------------------------

    def embed(self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions) -> EmbeddingsResponse:
        from .embeddings import embed  # noqa: PLC0415

        return self.http.run(self._model_key(model), embed(model, chunks, options))

    async def embed_async(
        self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions
    ) -> EmbeddingsResponse:
        from .embeddings import embed  # noqa: PLC0415

        return await self.http.arun(self._model_key(model), embed(model, chunks, options))

    # -- knowledge bases -----------------------------------------------------------------------

    def retrieve(self, knowledge_base: KnowledgeBase, query: RetrievalQuery) -> RetrievalResult:
        from .knowledge import retrieve  # noqa: PLC0415

        key, collection = self._kb(knowledge_base)
        return self.http.run(key, retrieve(collection, query, self.mx_settings.filter_overfetch))

    async def retrieve_async(self, knowledge_base: KnowledgeBase, query: RetrievalQuery) -> RetrievalResult:
        from .knowledge import retrieve  # noqa: PLC0415

        key, collection = self._kb(knowledge_base)
        return await self.http.arun(key, retrieve(collection, query, self.mx_settings.filter_overfetch))

    def ingest(self, knowledge_base: KnowledgeBase, chunks: ChunkCollection, mode: IngestMode) -> IngestResult:
        from .knowledge import ingest  # noqa: PLC0415

        key, collection = self._kb(knowledge_base)
        return self.http.run(key, ingest(collection, chunks, mode))

    async def ingest_async(
        self, knowledge_base: KnowledgeBase, chunks: ChunkCollection, mode: IngestMode
    ) -> IngestResult:
        from .knowledge import ingest  # noqa: PLC0415

        key, collection = self._kb(knowledge_base)
        return await self.http.arun(key, ingest(collection, chunks, mode))

    def stored_chunk_ids(
        self, knowledge_base: KnowledgeBase, source_ids: Sequence[str]
    ) -> Mapping[str, frozenset[str]]:
        from .knowledge import stored_chunk_ids  # noqa: PLC0415

        key, collection = self._kb(knowledge_base)
        return self.http.run(key, stored_chunk_ids(collection, source_ids))

    async def stored_chunk_ids_async(
        self, knowledge_base: KnowledgeBase, source_ids: Sequence[str]
    ) -> Mapping[str, frozenset[str]]:
        from .knowledge import stored_chunk_ids  # noqa: PLC0415

        key, collection = self._kb(knowledge_base)
        return await self.http.arun(key, stored_chunk_ids(collection, source_ids))

    def delete_chunks(self, knowledge_base: KnowledgeBase, source_ids: Sequence[str] | None) -> int:
        from .knowledge import delete_chunks  # noqa: PLC0415

        key, collection = self._kb(knowledge_base)
        return self.http.run(key, delete_chunks(collection, source_ids))

    async def delete_chunks_async(self, knowledge_base: KnowledgeBase, source_ids: Sequence[str] | None) -> int:
        from .knowledge import delete_chunks  # noqa: PLC0415

        key, collection = self._kb(knowledge_base)
        return await self.http.arun(key, delete_chunks(collection, source_ids))

    def drop_collection(self, knowledge_base: KnowledgeBase) -> bool:
        from .knowledge import drop_collection  # noqa: PLC0415

        key, collection = self._kb(knowledge_base)
        return self.http.run(key, drop_collection(collection))

    async def drop_collection_async(self, knowledge_base: KnowledgeBase) -> bool:
        from .knowledge import drop_collection  # noqa: PLC0415

        key, collection = self._kb(knowledge_base)
        return await self.http.arun(key, drop_collection(collection))

    def list_chunks(
        self, knowledge_base: KnowledgeBase, filter: Filter | None, offset: int, limit: int
    ) -> Sequence[KnowledgeBaseChunk]:
        from .knowledge import list_chunks  # noqa: PLC0415

        key, collection = self._kb(knowledge_base)
        return self.http.run(key, list_chunks(collection, filter, offset, limit))

    async def list_chunks_async(
        self, knowledge_base: KnowledgeBase, filter: Filter | None, offset: int, limit: int
    ) -> Sequence[KnowledgeBaseChunk]:
        from .knowledge import list_chunks  # noqa: PLC0415

        key, collection = self._kb(knowledge_base)
        return await self.http.arun(key, list_chunks(collection, filter, offset, limit))

    # -- usage and lifecycle -------------------------------------------------------------------

    @hookimpl
    def genai_usage_recorded(self, usage: Usage) -> None:
        """Count this provider's usage against the monthly entitlements."""
        if usage.provider == self.name and self._settings is not None and self._settings.monthly_tokens:
            self.quota.record(usage)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    async def aclose(self) -> None:
        """Close the clients from async code (``Host.aclose()`` calls this)."""
        if self._http is not None:
            await self._http.aclose()
