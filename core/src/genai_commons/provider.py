"""The base class of provider plugins.

Subclass :class:`Provider`, set ``name``, and override the methods of the capabilities you offer
(``chat``, ``chat_stream``, ``embed``, ``generate_image``, ``retrieve``, ``ingest``,
``invoke_agent``, ``rerank``, and their ``_async`` variants when you have a native async client). A provider
that ingests also manages its collections (``stored_chunk_ids``, ``delete_chunks``,
``drop_collection``, ``list_chunks``); one with a native retrieve-and-generate operation overrides
``retrieve_and_generate``; one whose knowledge bases ingest from their own data source (Bedrock's
ingestion jobs) overrides ``ingest_from_source``. The base
class implements every hook: it answers only for its own provider name, declares the capabilities
you overrode, and runs sync methods in a worker thread for the async API when you did not write an
async one. Register the class (not an instance) as an entry point in the group ``genai_commons``;
each :class:`Host` makes its own instance, so hosts share nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .errors import UnsupportedCapabilityError
from .hookspecs import hookimpl
from .model.deployed import ProviderInfo
from .model.enums import Capability, SearchType

if TYPE_CHECKING:
    from .config import Config, ProviderSettings
    from .model import (
        Agent,
        AgentEvent,
        AgentRequest,
        ChatStreamEvent,
        ChunkCollection,
        DeployedModel,
        EmbeddingsOptions,
        EmbeddingsResponse,
        ImageOptions,
        IngestMode,
        IngestResult,
        KnowledgeBase,
        KnowledgeBaseChunk,
        Request,
        RerankRequest,
        RerankResponse,
        Response,
        RetrievalQuery,
        RetrievalResult,
        SyncResult,
    )
    from .model.retrieval import Filter

T = TypeVar("T")

#: Which methods implement which capability (sync first, then async).
_CAPABILITY_METHODS: dict[Capability, tuple[str, str]] = {
    Capability.CHAT: ("chat", "chat_async"),
    Capability.CHAT_STREAM: ("chat_stream", "chat_stream_async"),
    Capability.EMBED: ("embed", "embed_async"),
    Capability.IMAGE: ("generate_image", "generate_image_async"),
    Capability.RETRIEVE: ("retrieve", "retrieve_async"),
    Capability.INGEST: ("ingest", "ingest_async"),
    Capability.AGENT: ("invoke_agent", "invoke_agent_async"),
    Capability.RERANK: ("rerank", "rerank_async"),
}


class Provider:
    """Base class of a provider plugin; see the module docstring."""

    #: The provider name: the part before the colon of a model reference.
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: Version reported by ``genai plugins``; the host fills it from the distribution when empty.
    version: ClassVar[str | None] = None
    #: The search types ``retrieve`` honours (``query.search_type``); by default vector only.
    search_types: ClassVar[frozenset[SearchType]] = frozenset({SearchType.VECTOR})
    #: The plugin's settings as a typed class (:mod:`genai_commons.typed_settings`): when set,
    #: ``[providers.NAME]`` is checked against it before :meth:`configure`, and the result is
    #: :attr:`typed_settings`. None: the table reaches :meth:`configure` unchecked.
    settings_class: ClassVar[type | None] = None

    def __init__(self) -> None:
        if not type(self).name:
            raise TypeError(f"{type(self).__qualname__} must set the class attribute 'name'")
        self.settings: ProviderSettings | None = None
        self.config: Config | None = None
        #: The settings as :attr:`settings_class` (None until configured, or without a class).
        self.typed_settings: Any = None

    # -- configuration and discovery: override as needed ------------------------------------

    def configure(self, settings: ProviderSettings) -> None:
        """Receive this provider's settings (``[providers.NAME]`` and the environment)."""

    def models(self) -> Iterable[DeployedModel]:
        """The deployed models this provider offers."""
        return ()

    def resolve_model(self, model_id: str) -> DeployedModel | None:
        """The model of that id; by default looked up in :meth:`models`."""
        for model in self.models():
            if model.model_id == model_id:
                return model
        return None

    def knowledge_bases(self) -> Iterable[KnowledgeBase]:
        """The knowledge bases this provider offers."""
        return ()

    def resolve_knowledge_base(self, name: str) -> KnowledgeBase | None:
        for knowledge_base in self.knowledge_bases():
            if knowledge_base.name == name:
                return knowledge_base
        return None

    @classmethod
    def option_classes(cls) -> tuple[type, ...]:
        """The provider's own chat option classes (small frozen attrs classes passed with
        ``Request.with_options``); ``genai chat -o KEY=VALUE`` builds them by field name.
        Override it (importing the classes inside, to keep start-up fast); none by default."""
        return ()

    @classmethod
    def capabilities(cls) -> frozenset[Capability]:
        """The capabilities this class implements: those whose sync or async method it overrides."""
        return frozenset(
            capability
            for capability, methods in _CAPABILITY_METHODS.items()
            if any(getattr(cls, m) is not getattr(Provider, m) for m in methods)
        )

    def info(self) -> ProviderInfo:
        return ProviderInfo(
            name=self.name,
            capabilities=self.capabilities(),
            description=self.description,
            version=self.version,
            search_types=self.search_types,
        )

    # -- capabilities: override the ones you offer ------------------------------------------

    def _absent(self, capability: Capability) -> UnsupportedCapabilityError:
        return UnsupportedCapabilityError(
            f"provider {self.name!r} does not offer {capability.value}", target=self.name, capability=capability.value
        )

    def chat(self, model: DeployedModel, request: Request) -> Response:
        if type(self).chat_async is not Provider.chat_async:
            return _run_sync(self.chat_async(model, request))
        raise self._absent(Capability.CHAT)

    async def chat_async(self, model: DeployedModel, request: Request) -> Response:
        return await _to_thread(self.chat, model, request)

    def chat_stream(self, model: DeployedModel, request: Request) -> Iterator[ChatStreamEvent]:
        if type(self).chat_stream_async is not Provider.chat_stream_async:
            return _iterate_on_private_loop(self.chat_stream_async(model, request))
        raise self._absent(Capability.CHAT_STREAM)

    def chat_stream_async(self, model: DeployedModel, request: Request) -> AsyncIterator[ChatStreamEvent]:
        return _iterate_in_thread(lambda: self.chat_stream(model, request))

    def embed(self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions) -> EmbeddingsResponse:
        if type(self).embed_async is not Provider.embed_async:
            return _run_sync(self.embed_async(model, chunks, options))
        raise self._absent(Capability.EMBED)

    async def embed_async(
        self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions
    ) -> EmbeddingsResponse:
        return await _to_thread(self.embed, model, chunks, options)

    def count_tokens(self, model: DeployedModel, texts: Sequence[str]) -> Sequence[int] | None:
        """How many tokens ``model`` reads for each text, with its own tokenizer; ``None`` (the
        default) when this provider does not know the model's tokenizer."""
        return None

    def generate_image(self, model: DeployedModel, prompt: str, options: ImageOptions) -> Response:
        if type(self).generate_image_async is not Provider.generate_image_async:
            return _run_sync(self.generate_image_async(model, prompt, options))
        raise self._absent(Capability.IMAGE)

    async def generate_image_async(self, model: DeployedModel, prompt: str, options: ImageOptions) -> Response:
        return await _to_thread(self.generate_image, model, prompt, options)

    def rerank(self, model: DeployedModel, request: RerankRequest) -> RerankResponse:
        if type(self).rerank_async is not Provider.rerank_async:
            return _run_sync(self.rerank_async(model, request))
        raise self._absent(Capability.RERANK)

    async def rerank_async(self, model: DeployedModel, request: RerankRequest) -> RerankResponse:
        return await _to_thread(self.rerank, model, request)

    def retrieve(self, knowledge_base: KnowledgeBase, query: RetrievalQuery) -> RetrievalResult:
        if type(self).retrieve_async is not Provider.retrieve_async:
            return _run_sync(self.retrieve_async(knowledge_base, query))
        raise self._absent(Capability.RETRIEVE)

    async def retrieve_async(self, knowledge_base: KnowledgeBase, query: RetrievalQuery) -> RetrievalResult:
        return await _to_thread(self.retrieve, knowledge_base, query)

    def ingest(self, knowledge_base: KnowledgeBase, chunks: ChunkCollection, mode: IngestMode) -> IngestResult:
        if type(self).ingest_async is not Provider.ingest_async:
            return _run_sync(self.ingest_async(knowledge_base, chunks, mode))
        raise self._absent(Capability.INGEST)

    async def ingest_async(
        self, knowledge_base: KnowledgeBase, chunks: ChunkCollection, mode: IngestMode
    ) -> IngestResult:
        return await _to_thread(self.ingest, knowledge_base, chunks, mode)

    def retrieve_and_generate(
        self, knowledge_base: KnowledgeBase, model: DeployedModel | None, request: Request, query: RetrievalQuery
    ) -> Response | None:
        """A native retrieve-and-generate; None (the default) lets the host do it with ``model``."""
        if type(self).retrieve_and_generate_async is not Provider.retrieve_and_generate_async:
            return _run_sync(self.retrieve_and_generate_async(knowledge_base, model, request, query))
        return None

    async def retrieve_and_generate_async(
        self, knowledge_base: KnowledgeBase, model: DeployedModel | None, request: Request, query: RetrievalQuery
    ) -> Response | None:
        return await _to_thread(self.retrieve_and_generate, knowledge_base, model, request, query)

    def _has_native_rag(self) -> bool:
        cls = type(self)
        return (
            cls.retrieve_and_generate is not Provider.retrieve_and_generate
            or cls.retrieve_and_generate_async is not Provider.retrieve_and_generate_async
        )

    def ingest_from_source(
        self, knowledge_base: KnowledgeBase, data_source_id: str | None, wait: bool
    ) -> SyncResult | None:
        """Start the provider-side ingestion from the knowledge base's own data source; None (the
        default) when its knowledge bases have none."""
        if type(self).ingest_from_source_async is not Provider.ingest_from_source_async:
            return _run_sync(self.ingest_from_source_async(knowledge_base, data_source_id, wait))
        return None

    async def ingest_from_source_async(
        self, knowledge_base: KnowledgeBase, data_source_id: str | None, wait: bool
    ) -> SyncResult | None:
        return await _to_thread(self.ingest_from_source, knowledge_base, data_source_id, wait)

    def _has_sync(self) -> bool:
        cls = type(self)
        return (
            cls.ingest_from_source is not Provider.ingest_from_source
            or cls.ingest_from_source_async is not Provider.ingest_from_source_async
        )

    def stored_chunk_ids(
        self, knowledge_base: KnowledgeBase, source_ids: Sequence[str]
    ) -> Mapping[str, frozenset[str]]:
        """The ids of the chunks stored for each source object (sources without chunks left out)."""
        if type(self).stored_chunk_ids_async is not Provider.stored_chunk_ids_async:
            return _run_sync(self.stored_chunk_ids_async(knowledge_base, source_ids))
        raise self._absent(Capability.INGEST)

    async def stored_chunk_ids_async(
        self, knowledge_base: KnowledgeBase, source_ids: Sequence[str]
    ) -> Mapping[str, frozenset[str]]:
        return await _to_thread(self.stored_chunk_ids, knowledge_base, source_ids)

    def delete_chunks(self, knowledge_base: KnowledgeBase, source_ids: Sequence[str] | None) -> int:
        """Delete the chunks of these source objects (all chunks when None); how many went."""
        if type(self).delete_chunks_async is not Provider.delete_chunks_async:
            return _run_sync(self.delete_chunks_async(knowledge_base, source_ids))
        raise self._absent(Capability.INGEST)

    async def delete_chunks_async(self, knowledge_base: KnowledgeBase, source_ids: Sequence[str] | None) -> int:
        return await _to_thread(self.delete_chunks, knowledge_base, source_ids)

    def drop_collection(self, knowledge_base: KnowledgeBase) -> bool:
        """Delete the collection itself; whether it existed."""
        if type(self).drop_collection_async is not Provider.drop_collection_async:
            return _run_sync(self.drop_collection_async(knowledge_base))
        raise self._absent(Capability.INGEST)

    async def drop_collection_async(self, knowledge_base: KnowledgeBase) -> bool:
        return await _to_thread(self.drop_collection, knowledge_base)

    def list_chunks(
        self, knowledge_base: KnowledgeBase, filter: Filter | None, offset: int, limit: int
    ) -> Sequence[KnowledgeBaseChunk]:
        """One page of stored chunks without vectors, ordered by source object, then chunk id."""
        if type(self).list_chunks_async is not Provider.list_chunks_async:
            return _run_sync(self.list_chunks_async(knowledge_base, filter, offset, limit))
        raise self._absent(Capability.INGEST)

    async def list_chunks_async(
        self, knowledge_base: KnowledgeBase, filter: Filter | None, offset: int, limit: int
    ) -> Sequence[KnowledgeBaseChunk]:
        return await _to_thread(self.list_chunks, knowledge_base, filter, offset, limit)

    def invoke_agent(self, agent: Agent, request: AgentRequest) -> Iterator[AgentEvent]:
        if type(self).invoke_agent_async is not Provider.invoke_agent_async:
            return _iterate_on_private_loop(self.invoke_agent_async(agent, request))
        raise self._absent(Capability.AGENT)

    def invoke_agent_async(self, agent: Agent, request: AgentRequest) -> AsyncIterator[AgentEvent]:
        return _iterate_in_thread(lambda: self.invoke_agent(agent, request))

    # -- the hooks (you do not override these) ----------------------------------------------

    @hookimpl
    def genai_configure(self, config: Config) -> None:
        self.config = config
        self.settings = config.provider(self.name)
        if self.settings_class is not None:
            self.typed_settings = self.settings.typed(self.settings_class)
        self.configure(self.settings)

    @hookimpl
    def genai_providers(self) -> Sequence[ProviderInfo]:
        return [self.info()]

    @hookimpl
    def genai_models(self, provider: str | None) -> Sequence[DeployedModel]:
        return list(self.models()) if provider in (None, self.name) else []

    @hookimpl
    def genai_resolve_model(self, provider: str, model_id: str) -> DeployedModel | None:
        return self.resolve_model(model_id) if provider == self.name else None

    @hookimpl
    def genai_knowledge_bases(self, provider: str | None) -> Sequence[KnowledgeBase]:
        return list(self.knowledge_bases()) if provider in (None, self.name) else []

    @hookimpl
    def genai_resolve_knowledge_base(self, provider: str, name: str) -> KnowledgeBase | None:
        return self.resolve_knowledge_base(name) if provider == self.name else None

    @hookimpl
    def genai_chat(self, model: DeployedModel, request: Request) -> Response | None:
        return self.chat(model, request) if model.provider == self.name else None

    @hookimpl
    def genai_chat_async(self, model: DeployedModel, request: Request) -> Awaitable[Response] | None:
        return self.chat_async(model, request) if model.provider == self.name else None

    @hookimpl
    def genai_chat_stream(self, model: DeployedModel, request: Request) -> Iterator[ChatStreamEvent] | None:
        return self.chat_stream(model, request) if model.provider == self.name else None

    @hookimpl
    def genai_chat_stream_async(self, model: DeployedModel, request: Request) -> AsyncIterator[ChatStreamEvent] | None:
        return self.chat_stream_async(model, request) if model.provider == self.name else None

    @hookimpl
    def genai_embed(
        self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions
    ) -> EmbeddingsResponse | None:
        return self.embed(model, chunks, options) if model.provider == self.name else None

    @hookimpl
    def genai_embed_async(
        self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions
    ) -> Awaitable[EmbeddingsResponse] | None:
        return self.embed_async(model, chunks, options) if model.provider == self.name else None

    @hookimpl
    def genai_count_tokens(self, model: DeployedModel, texts: Sequence[str]) -> Sequence[int] | None:
        return self.count_tokens(model, texts) if model.provider == self.name else None

    @hookimpl
    def genai_generate_image(self, model: DeployedModel, prompt: str, options: ImageOptions) -> Response | None:
        return self.generate_image(model, prompt, options) if model.provider == self.name else None

    @hookimpl
    def genai_generate_image_async(
        self, model: DeployedModel, prompt: str, options: ImageOptions
    ) -> Awaitable[Response] | None:
        return self.generate_image_async(model, prompt, options) if model.provider == self.name else None

    @hookimpl
    def genai_rerank(self, model: DeployedModel, request: RerankRequest) -> RerankResponse | None:
        return self.rerank(model, request) if model.provider == self.name else None

    @hookimpl
    def genai_rerank_async(self, model: DeployedModel, request: RerankRequest) -> Awaitable[RerankResponse] | None:
        return self.rerank_async(model, request) if model.provider == self.name else None

    @hookimpl
    def genai_retrieve(self, knowledge_base: KnowledgeBase, query: RetrievalQuery) -> RetrievalResult | None:
        return self.retrieve(knowledge_base, query) if knowledge_base.provider == self.name else None

    @hookimpl
    def genai_retrieve_async(
        self, knowledge_base: KnowledgeBase, query: RetrievalQuery
    ) -> Awaitable[RetrievalResult] | None:
        return self.retrieve_async(knowledge_base, query) if knowledge_base.provider == self.name else None

    @hookimpl
    def genai_ingest(
        self, knowledge_base: KnowledgeBase, chunks: ChunkCollection, mode: IngestMode
    ) -> IngestResult | None:
        return self.ingest(knowledge_base, chunks, mode) if knowledge_base.provider == self.name else None

    @hookimpl
    def genai_ingest_async(
        self, knowledge_base: KnowledgeBase, chunks: ChunkCollection, mode: IngestMode
    ) -> Awaitable[IngestResult] | None:
        return self.ingest_async(knowledge_base, chunks, mode) if knowledge_base.provider == self.name else None

    @hookimpl
    def genai_retrieve_and_generate(
        self, knowledge_base: KnowledgeBase, model: DeployedModel | None, request: Request, query: RetrievalQuery
    ) -> Response | None:
        if knowledge_base.provider != self.name:
            return None
        return self.retrieve_and_generate(knowledge_base, model, request, query)

    @hookimpl
    def genai_retrieve_and_generate_async(
        self, knowledge_base: KnowledgeBase, model: DeployedModel | None, request: Request, query: RetrievalQuery
    ) -> Awaitable[Response | None] | None:
        if knowledge_base.provider != self.name or not self._has_native_rag():
            return None
        return self.retrieve_and_generate_async(knowledge_base, model, request, query)

    @hookimpl
    def genai_ingest_from_source(
        self, knowledge_base: KnowledgeBase, data_source_id: str | None, wait: bool
    ) -> SyncResult | None:
        if knowledge_base.provider != self.name:
            return None
        return self.ingest_from_source(knowledge_base, data_source_id, wait)

    @hookimpl
    def genai_ingest_from_source_async(
        self, knowledge_base: KnowledgeBase, data_source_id: str | None, wait: bool
    ) -> Awaitable[SyncResult | None] | None:
        if knowledge_base.provider != self.name or not self._has_sync():
            return None
        return self.ingest_from_source_async(knowledge_base, data_source_id, wait)

    @hookimpl
    def genai_stored_chunk_ids(
        self, knowledge_base: KnowledgeBase, source_ids: Sequence[str]
    ) -> Mapping[str, frozenset[str]] | None:
        return self.stored_chunk_ids(knowledge_base, source_ids) if knowledge_base.provider == self.name else None

    @hookimpl
    def genai_stored_chunk_ids_async(
        self, knowledge_base: KnowledgeBase, source_ids: Sequence[str]
    ) -> Awaitable[Mapping[str, frozenset[str]]] | None:
        if knowledge_base.provider != self.name:
            return None
        return self.stored_chunk_ids_async(knowledge_base, source_ids)

    @hookimpl
    def genai_delete_chunks(self, knowledge_base: KnowledgeBase, source_ids: Sequence[str] | None) -> int | None:
        return self.delete_chunks(knowledge_base, source_ids) if knowledge_base.provider == self.name else None

    @hookimpl
    def genai_delete_chunks_async(
        self, knowledge_base: KnowledgeBase, source_ids: Sequence[str] | None
    ) -> Awaitable[int] | None:
        return self.delete_chunks_async(knowledge_base, source_ids) if knowledge_base.provider == self.name else None

    @hookimpl
    def genai_drop_collection(self, knowledge_base: KnowledgeBase) -> bool | None:
        return self.drop_collection(knowledge_base) if knowledge_base.provider == self.name else None

    @hookimpl
    def genai_drop_collection_async(self, knowledge_base: KnowledgeBase) -> Awaitable[bool] | None:
        return self.drop_collection_async(knowledge_base) if knowledge_base.provider == self.name else None

    @hookimpl
    def genai_list_chunks(
        self, knowledge_base: KnowledgeBase, filter: Filter | None, offset: int, limit: int
    ) -> Sequence[KnowledgeBaseChunk] | None:
        if knowledge_base.provider != self.name:
            return None
        return self.list_chunks(knowledge_base, filter, offset, limit)

    @hookimpl
    def genai_list_chunks_async(
        self, knowledge_base: KnowledgeBase, filter: Filter | None, offset: int, limit: int
    ) -> Awaitable[Sequence[KnowledgeBaseChunk]] | None:
        if knowledge_base.provider != self.name:
            return None
        return self.list_chunks_async(knowledge_base, filter, offset, limit)

    @hookimpl
    def genai_invoke_agent(self, agent: Agent, request: AgentRequest) -> Iterator[AgentEvent] | None:
        return self.invoke_agent(agent, request) if agent.provider == self.name else None

    @hookimpl
    def genai_invoke_agent_async(self, agent: Agent, request: AgentRequest) -> AsyncIterator[AgentEvent] | None:
        return self.invoke_agent_async(agent, request) if agent.provider == self.name else None


async def _to_thread(fn: Callable[..., T], /, *args: Any) -> T:
    """``asyncio.to_thread``; asyncio is imported on first use, not with the host."""
    import asyncio  # noqa: PLC0415

    return await asyncio.to_thread(fn, *args)


def _run_sync(awaitable: Awaitable[T]) -> T:
    """Run a provider's async method from the sync API (never inside a running loop)."""
    import asyncio  # noqa: PLC0415

    async def run() -> T:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())
    raise RuntimeError("called the sync API from inside an event loop; use the host's async methods")


_DONE = object()


def _iterate_on_private_loop(iterator: AsyncIterator[Any]) -> Iterator[Any]:
    """A sync iterator over an async one, driven by an event loop of its own."""
    import asyncio  # noqa: PLC0415

    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(anext(iterator))
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _iterate_in_thread(make: Any) -> AsyncIterator[Any]:
    """An async iterator over a sync iterator, each step in a worker thread. Closing it early
    closes the sync iterator too (a generator's ``finally`` releases its HTTP response)."""
    iterator = await _to_thread(make)
    try:
        while True:
            item = await _to_thread(next, iterator, _DONE)
            if item is _DONE:
                return
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if callable(close):
            try:
                await _to_thread(close)
            except ValueError:  # still running a step in its thread: the caller was cancelled mid-step
                from ._log import get_logger  # noqa: PLC0415

                get_logger(__name__).debug("stream_close_deferred", reason="a step is still running")
