"""In-process fake providers for tests, built on :class:`genai_commons.Provider` like a real plugin.

* :class:`FakeProvider` — every capability but reranking (its chat models rerank through the
  host's prompt), implemented with sync methods (the base class runs them in a worker thread for
  the async API).
* :class:`FakeAsyncProvider` — every capability, implemented with native ``_async`` methods (the
  base class drives them on a private loop for the sync API).
* :class:`FakeChatProvider` — chat and streaming chat only.
* :func:`make_fake_provider_class` — a subclass offering just the capabilities you name.
* :class:`UsageRecorder` — a plugin that keeps every ``genai_usage_recorded`` event.

Default models (``NAME`` is the provider name, ``fake`` unless given)::

    NAME:chat   text out; text, image and document in; tools, streaming, system prompt, history
    NAME:basic  text only; no tools, streaming, system prompt or history
    NAME:embed  embeddings out
    NAME:image  image out

and one knowledge base ``NAME:docs`` (collection ``docs``, embedding model ``NAME:embed``).

Behaviour:

* :meth:`FakeProvider.script` queues answers. Chat, streaming and agent calls consume the next
  item: a :class:`Response`, a ``str`` (a text reply), a list of :class:`ToolCall` (a tool-call
  reply; see :func:`tool_call`), an exception instance (raised), or a :class:`StreamFailure`.
  Every other capability raises a queued exception at the head of the queue and otherwise leaves
  the queue alone. With nothing queued, chat replies ``"echo: <last user message>"``.
* Token counts: input = words of the system prompt and all messages, output = words of the reply
  (one per tool call); embeddings, retrieval and images count the words of their input.
* Streaming yields a :class:`TextDelta` per word, two :class:`ToolCallDelta` per tool call (the
  arguments JSON in two pieces), then a :class:`StreamEnd` with the usage.
* Embeddings are deterministic: a sum of pseudo-random vectors, one per word (texts sharing words
  are similar); ``options.dimensions`` or 8 dimensions, unit length when ``options.normalize``.
* Images are real 1x1 PNG files, ``options.number_of_images`` of them.
* Retrieval and ingestion use an in-memory store per collection (``k``, ``min_similarity`` and
  ``query.combined_filter()`` honoured; insert, replace and repopulate). Every search type is
  offered: vector (cosine similarity), keyword (term overlap) and hybrid (both, fused as real backends fuse);
  ``make_fake_provider_class(search_types=...)`` offers fewer.
  The store is managed like a real one (``stored_chunk_ids``, ``delete_chunks``,
  ``drop_collection``, ``list_chunks``; recorded as ``ingest`` calls whose ``options`` is the
  operation's name), and a collection created by ingestion is listed as a knowledge base
  ``NAME:COLLECTION`` with the fake embedding model.
* Agents yield an :class:`AgentTrace` when ``enable_trace``, then :class:`AgentTextChunk` pieces.
* Every call is recorded in :attr:`FakeProvider.calls` as a :class:`RecordedCall`, before any
  scripted failure is raised; a call the host refuses never reaches it.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..hookspecs import hookimpl
from ..model import (
    Agent,
    AgentEvent,
    AgentRequest,
    Capability,
    ChatStreamEvent,
    ChunkCollection,
    DeployedModel,
    EmbeddingsOptions,
    EmbeddingsResponse,
    FileCollection,
    FileContent,
    FileType,
    ImageOptions,
    IngestMode,
    IngestResult,
    KnowledgeBase,
    KnowledgeBaseChunk,
    Message,
    Modality,
    Request,
    Response,
    RetrievalQuery,
    RetrievalResult,
    Role,
    SearchType,
    StopReason,
    Usage,
)
from ..model.retrieval import Filter
from ..provider import _CAPABILITY_METHODS, Provider
from ._data import DEFAULT_DIMENSIONS, count_words, hash_vector, tiny_png
from ._memory import MemoryStore
from ._script import (
    RecordedCall,
    ScriptItem,
    StreamFailure,
    agent_events,
    build_response,
    stream_for,
    tool_call,
)
from .failures import make_failure

__all__ = [
    "FakeAsyncProvider",
    "FakeChatProvider",
    "FakeProvider",
    "RecordedCall",
    "ScriptItem",
    "StreamFailure",
    "UsageRecorder",
    "default_models",
    "make_fake_provider_class",
    "tool_call",
]

_CHAT_LIKE = frozenset({Capability.CHAT, Capability.CHAT_STREAM, Capability.AGENT})
#: The collection-management methods, offered with ingest.
_MANAGEMENT_METHODS = tuple(
    name
    for method in ("stored_chunk_ids", "delete_chunks", "drop_collection", "list_chunks")
    for name in (method, f"{method}_async")
)


def default_models(provider: str = "fake") -> list[DeployedModel]:
    """The fakes' four default models for a provider name."""
    return [
        DeployedModel(
            provider=provider,
            model_id="chat",
            display_name="Fake Chat",
            input_modalities={Modality.TEXT, Modality.IMAGE, Modality.DOCUMENT},
            supports_function_calling=True,
            supports_streaming=True,
        ),
        DeployedModel(
            provider=provider,
            model_id="basic",
            display_name="Fake Basic",
            supports_system_prompt=False,
            supports_history=False,
        ),
        DeployedModel(
            provider=provider, model_id="embed", display_name="Fake Embed", output_modality=Modality.EMBEDDINGS
        ),
        DeployedModel(provider=provider, model_id="image", display_name="Fake Image", output_modality=Modality.IMAGE),
    ]


class _FakeBase(Provider):
    """State, scripting and the capability logic shared by the sync and async fakes."""

    name = "fake"
    description = "In-process fake provider for tests (genai_commons.testing)."
    version = "0.0.0"
    search_types = frozenset(SearchType)

    def __init__(
        self,
        name: str | None = None,
        models: Iterable[DeployedModel] | None = None,
        knowledge_bases: Iterable[KnowledgeBase] | None = None,
    ) -> None:
        if name is not None:
            vars(self)["name"] = name  # per-instance provider name; the class default is "fake"
        super().__init__()
        self._models = list(models) if models is not None else default_models(self.name)
        if knowledge_bases is None:
            embed = next((m for m in self._models if m.output_modality is Modality.EMBEDDINGS), None)
            knowledge_bases = [KnowledgeBase(provider=self.name, name="docs", embedding_model=embed)]
        self._knowledge_bases = list(knowledge_bases)
        self._queue: collections.deque[ScriptItem] = collections.deque()
        self._lock = threading.Lock()
        #: Every call that reached this provider, oldest first.
        self.calls: list[RecordedCall] = []
        #: The in-memory vector store behind retrieve and ingest.
        self.store = MemoryStore()
        #: Set by :meth:`close` (the host closes plugins on :meth:`Host.close`).
        self.closed = False

    # -- scripting and inspection -----------------------------------------------------------

    def script(self, *items: ScriptItem) -> None:
        """Queue answers for the next calls, in order (see the module docstring)."""
        with self._lock:
            self._queue.extend(items)

    def fail_next(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` calls fail with the core error for ``kind`` (see
        :data:`genai_commons.testing.failures.FAILURE_KINDS` and ``EXTRA_KINDS``), its cause a
        transport error; ``stream_cut`` breaks a stream off after its first event."""
        if kind == "stream_cut":
            self.script(*(StreamFailure(error=make_failure(kind, self.name)) for _ in range(times)))
            return
        self.script(*(make_failure(kind, self.name) for _ in range(times)))

    @property
    def pending(self) -> int:
        """Scripted items not consumed yet."""
        return len(self._queue)

    def calls_for(self, capability: Capability | str) -> list[RecordedCall]:
        """The recorded calls of one capability."""
        wanted = Capability(capability)
        return [c for c in self.calls if c.capability is wanted]

    @property
    def last_request(self) -> Request:
        """The request of the latest chat or streaming call."""
        for call in reversed(self.calls):
            if isinstance(call.payload, Request):
                return call.payload
        raise LookupError("no chat call reached this fake provider")

    def reset(self) -> None:
        """Forget calls and scripted items (the store is kept)."""
        with self._lock:
            self._queue.clear()
            self.calls.clear()

    def close(self) -> None:
        self.closed = True

    # -- discovery --------------------------------------------------------------------------

    def models(self) -> Iterable[DeployedModel]:
        return list(self._models)

    def knowledge_bases(self) -> Iterable[KnowledgeBase]:
        configured = list(self._knowledge_bases)
        if Capability.INGEST not in self.capabilities():
            return configured
        known = {kb.collection for kb in configured}
        embed = next((m for m in self._models if m.output_modality is Modality.EMBEDDINGS), None)
        created = [
            KnowledgeBase(provider=self.name, name=collection, embedding_model=embed)
            for collection in self.store.collections()
            if collection not in known
        ]
        return configured + created

    # -- shared capability logic ------------------------------------------------------------

    def _take(
        self, capability: Capability, target: str, payload: Any, options: Any = None, *, is_async: bool = False
    ) -> ScriptItem | None:
        """Record the call; return its scripted item, raising a queued exception."""
        with self._lock:
            item: ScriptItem | None = None
            if self._queue and (capability in _CHAT_LIKE or isinstance(self._queue[0], BaseException)):
                item = self._queue.popleft()
            self.calls.append(RecordedCall(
                capability=capability, target=target, payload=payload, options=options, is_async=is_async,
                scripted=item,
            ))  # fmt: skip
        if isinstance(item, BaseException):
            raise item
        return item

    def _chat(self, model: DeployedModel, request: Request, is_async: bool) -> Response:
        item = self._take(Capability.CHAT, model.ref, request, is_async=is_async)
        return build_response(item, request, model.model_id)

    def _stream(self, model: DeployedModel, request: Request, is_async: bool) -> Iterator[ChatStreamEvent]:
        item = self._take(Capability.CHAT_STREAM, model.ref, request, is_async=is_async)
        return stream_for(item, request, model.model_id)

    def _embed(
        self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions, is_async: bool
    ) -> EmbeddingsResponse:
        self._take(Capability.EMBED, model.ref, chunks, options, is_async=is_async)
        dimensions = options.dimensions or DEFAULT_DIMENSIONS
        vectors = [hash_vector(c.input_text, dimensions, normalize=options.normalize) for c in chunks]
        return EmbeddingsResponse(
            chunks=chunks.with_vectors(vectors),
            input_tokens=sum(count_words(c.input_text) for c in chunks),
            model_id=model.model_id,
        )

    def _image(self, model: DeployedModel, prompt: str, options: ImageOptions, is_async: bool) -> Response:
        self._take(Capability.IMAGE, model.ref, prompt, options, is_async=is_async)
        files = FileCollection(
            files=[
                FileContent.from_bytes(tiny_png(f"{prompt}:{options.seed}:{i}"), FileType.IMAGE, extension="png")
                for i in range(options.number_of_images)
            ]
        )
        return Response(
            message=Message(role=Role.ASSISTANT, files=files),
            input_tokens=count_words(prompt),
            output_tokens=0,
            stop_reason=StopReason.END_TURN,
            model_id=model.model_id,
        )

    def _retrieve(self, knowledge_base: KnowledgeBase, query: RetrievalQuery, is_async: bool) -> RetrievalResult:
        self._take(Capability.RETRIEVE, knowledge_base.ref, query, is_async=is_async)
        return self.store.retrieve(knowledge_base.collection, query)

    def _ingest(
        self, knowledge_base: KnowledgeBase, chunks: ChunkCollection, mode: IngestMode, is_async: bool
    ) -> IngestResult:
        self._take(Capability.INGEST, knowledge_base.ref, chunks, mode, is_async=is_async)
        return self.store.ingest(knowledge_base.collection, chunks, mode)

    def _stored_ids(
        self, knowledge_base: KnowledgeBase, source_ids: Sequence[str], is_async: bool
    ) -> Mapping[str, frozenset[str]]:
        self._take(Capability.INGEST, knowledge_base.ref, tuple(source_ids), "stored_chunk_ids", is_async=is_async)
        return self.store.stored_ids(knowledge_base.collection, source_ids)

    def _delete(self, knowledge_base: KnowledgeBase, source_ids: Sequence[str] | None, is_async: bool) -> int:
        payload = None if source_ids is None else tuple(source_ids)
        self._take(Capability.INGEST, knowledge_base.ref, payload, "delete_chunks", is_async=is_async)
        return self.store.delete(knowledge_base.collection, source_ids)

    def _drop(self, knowledge_base: KnowledgeBase, is_async: bool) -> bool:
        self._take(Capability.INGEST, knowledge_base.ref, None, "drop_collection", is_async=is_async)
        return self.store.drop(knowledge_base.collection)

    def _list(
        self, knowledge_base: KnowledgeBase, filter: Filter | None, offset: int, limit: int, is_async: bool
    ) -> list[KnowledgeBaseChunk]:
        self._take(Capability.INGEST, knowledge_base.ref, (filter, offset, limit), "list_chunks", is_async=is_async)
        return self.store.page(knowledge_base.collection, filter, offset, limit)

    def _agent(self, agent: Agent, request: AgentRequest, is_async: bool) -> list[AgentEvent]:
        item = self._take(Capability.AGENT, agent.ref, request, is_async=is_async)
        return agent_events(item, request, agent.ref)

    def stored(self, collection: str = "docs") -> list[KnowledgeBaseChunk]:
        """What a collection of the in-memory store holds."""
        return self.store.chunks(collection)


class FakeProvider(_FakeBase):
    """A fake offering every capability through sync methods; see the module docstring.

    :param name: the provider name (default ``fake``); models and knowledge bases use it.
    :param models: the deployed models to offer instead of :func:`default_models`.
    :param knowledge_bases: the knowledge bases to offer instead of ``NAME:docs``.
    """

    def chat(self, model: DeployedModel, request: Request) -> Response:
        return self._chat(model, request, False)

    def chat_stream(self, model: DeployedModel, request: Request) -> Iterator[ChatStreamEvent]:
        return self._stream(model, request, False)

    def embed(self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions) -> EmbeddingsResponse:
        return self._embed(model, chunks, options, False)

    def generate_image(self, model: DeployedModel, prompt: str, options: ImageOptions) -> Response:
        return self._image(model, prompt, options, False)

    def retrieve(self, knowledge_base: KnowledgeBase, query: RetrievalQuery) -> RetrievalResult:
        return self._retrieve(knowledge_base, query, False)

    def ingest(self, knowledge_base: KnowledgeBase, chunks: ChunkCollection, mode: IngestMode) -> IngestResult:
        return self._ingest(knowledge_base, chunks, mode, False)

    def stored_chunk_ids(
        self, knowledge_base: KnowledgeBase, source_ids: Sequence[str]
    ) -> Mapping[str, frozenset[str]]:
        return self._stored_ids(knowledge_base, source_ids, False)

    def delete_chunks(self, knowledge_base: KnowledgeBase, source_ids: Sequence[str] | None) -> int:
        return self._delete(knowledge_base, source_ids, False)

    def drop_collection(self, knowledge_base: KnowledgeBase) -> bool:
        return self._drop(knowledge_base, False)

    def list_chunks(
        self, knowledge_base: KnowledgeBase, filter: Filter | None, offset: int, limit: int
    ) -> Sequence[KnowledgeBaseChunk]:
        return self._list(knowledge_base, filter, offset, limit, False)

    def invoke_agent(self, agent: Agent, request: AgentRequest) -> Iterator[AgentEvent]:
        return iter(self._agent(agent, request, False))


async def _async_iter(items: Iterator[Any]) -> AsyncIterator[Any]:
    for item in items:
        await asyncio.sleep(0)
        yield item


class FakeAsyncProvider(_FakeBase):
    """A fake offering every capability through native ``_async`` methods (recorded with
    ``is_async=True``); the base class bridges the sync API. Same behaviour as :class:`FakeProvider`."""

    async def chat_async(self, model: DeployedModel, request: Request) -> Response:
        await asyncio.sleep(0)
        return self._chat(model, request, True)

    def chat_stream_async(self, model: DeployedModel, request: Request) -> AsyncIterator[ChatStreamEvent]:
        return _async_iter(self._stream(model, request, True))

    async def embed_async(
        self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions
    ) -> EmbeddingsResponse:
        await asyncio.sleep(0)
        return self._embed(model, chunks, options, True)

    async def generate_image_async(self, model: DeployedModel, prompt: str, options: ImageOptions) -> Response:
        await asyncio.sleep(0)
        return self._image(model, prompt, options, True)

    async def retrieve_async(self, knowledge_base: KnowledgeBase, query: RetrievalQuery) -> RetrievalResult:
        await asyncio.sleep(0)
        return self._retrieve(knowledge_base, query, True)

    async def ingest_async(
        self, knowledge_base: KnowledgeBase, chunks: ChunkCollection, mode: IngestMode
    ) -> IngestResult:
        await asyncio.sleep(0)
        return self._ingest(knowledge_base, chunks, mode, True)

    async def stored_chunk_ids_async(
        self, knowledge_base: KnowledgeBase, source_ids: Sequence[str]
    ) -> Mapping[str, frozenset[str]]:
        await asyncio.sleep(0)
        return self._stored_ids(knowledge_base, source_ids, True)

    async def delete_chunks_async(self, knowledge_base: KnowledgeBase, source_ids: Sequence[str] | None) -> int:
        await asyncio.sleep(0)
        return self._delete(knowledge_base, source_ids, True)

    async def drop_collection_async(self, knowledge_base: KnowledgeBase) -> bool:
        await asyncio.sleep(0)
        return self._drop(knowledge_base, True)

    async def list_chunks_async(
        self, knowledge_base: KnowledgeBase, filter: Filter | None, offset: int, limit: int
    ) -> Sequence[KnowledgeBaseChunk]:
        await asyncio.sleep(0)
        return self._list(knowledge_base, filter, offset, limit, True)

    def invoke_agent_async(self, agent: Agent, request: AgentRequest) -> AsyncIterator[AgentEvent]:
        return _async_iter(iter(self._agent(agent, request, True)))


def make_fake_provider_class(
    name: str = "fake",
    capabilities: Iterable[Capability | str] = tuple(Capability),
    *,
    async_native: bool = False,
    class_name: str | None = None,
    search_types: Iterable[SearchType | str] = tuple(SearchType),
) -> type[FakeProvider] | type[FakeAsyncProvider]:
    """A subclass of :class:`FakeProvider` (or :class:`FakeAsyncProvider` when ``async_native``)
    named ``name`` that offers only ``capabilities`` and, for retrieval, ``search_types``: the
    others are undeclared, so the host refuses them with :class:`UnsupportedCapabilityError`
    before any call."""
    wanted = {Capability(c) for c in capabilities}
    base: type[FakeProvider] | type[FakeAsyncProvider] = FakeAsyncProvider if async_native else FakeProvider
    namespace: dict[str, Any] = {
        "name": name,
        "__module__": __name__,
        "search_types": frozenset(SearchType(t) for t in search_types),
    }
    for capability, methods in _CAPABILITY_METHODS.items():
        if capability not in wanted:
            namespace.update({method: getattr(Provider, method) for method in methods})
    if Capability.INGEST not in wanted:
        namespace.update({method: getattr(Provider, method) for method in _MANAGEMENT_METHODS})
    cls = type(class_name or f"Fake_{name}_Provider", (base,), namespace)
    return cls


class FakeChatProvider(FakeProvider):
    """A fake offering chat and streaming chat only (sync methods)."""

    embed = Provider.embed
    generate_image = Provider.generate_image
    retrieve = Provider.retrieve
    ingest = Provider.ingest
    stored_chunk_ids = Provider.stored_chunk_ids
    delete_chunks = Provider.delete_chunks
    drop_collection = Provider.drop_collection
    list_chunks = Provider.list_chunks
    invoke_agent = Provider.invoke_agent


class UsageRecorder:
    """A plugin keeping every usage event: ``host.register(UsageRecorder())``, then read
    :attr:`records`."""

    name = "usage_recorder"

    def __init__(self) -> None:
        self.records: list[Usage] = []

    @hookimpl
    def genai_usage_recorded(self, usage: Usage) -> None:
        self.records.append(usage)

    @property
    def last(self) -> Usage:
        if not self.records:
            raise LookupError("no usage was recorded")
        return self.records[-1]

    @property
    def operations(self) -> list[str]:
        return [r.operation for r in self.records]

    def clear(self) -> None:
        self.records.clear()
