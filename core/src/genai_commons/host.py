"""The host: plugins, routing, capability checks, retries, the tool loop and usage events.

A :class:`Host` holds all state — its plugin manager, configuration and plugin instances — so two
hosts in one process share nothing. Every capability has a sync and an async method.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs
import pluggy

from . import hookspecs
from ._log import get_logger
from .capabilities import check_chat, check_model, require_provider_capability
from .config import Config
from .errors import ToolLoopError, UnknownModelError, UnsupportedCapabilityError, ValidationError
from .model.deployed import Agent, DeployedModel, KnowledgeBase, ProviderInfo
from .model.enums import Capability, Modality
from .model.usage import Usage
from .plugins import PluginInfo, instantiate, load_entry_point, selected_entry_points
from .retry import call_with_retry, call_with_retry_async

if TYPE_CHECKING:
    from .model import (
        AgentEvent,
        AgentRequest,
        AgentResponse,
        ChunkCollection,
        EmbeddingsOptions,
        EmbeddingsResponse,
        FileCollection,
        ImageOptions,
        IngestMode,
        IngestResult,
        Request,
        Response,
        RetrievalQuery,
        RetrievalResult,
    )
    from .streams import AsyncChatStream, ChatStream

T = TypeVar("T")
ModelRef = DeployedModel | str
_END = object()


class Host:
    """Loads plugins and routes every call to the provider that owns its target.

    :param config: the configuration; by default loaded from ``GENAI_HOME`` and the environment.
    :param plugins: plugin objects or classes to register in-process, in addition to entry points.
    :param load_entry_points: discover installed plugins (default: the configuration's setting).
    :param allow: only these entry-point plugins load (default: the configuration's list).
    :param block: these entry-point plugins do not load (added to the configuration's list).
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        plugins: Iterable[Any] = (),
        load_entry_points: bool | None = None,
        allow: Iterable[str] | None = None,
        block: Iterable[str] = (),
    ) -> None:
        self.config = config if config is not None else Config.load()
        self._log = get_logger("genai_commons.host")
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._hook = self._pm.hook
        self._infos: dict[str, PluginInfo] = {}
        self._errors: dict[str, PluginInfo] = {}
        self._providers: dict[str, ProviderInfo] | None = None
        self._models: dict[str, DeployedModel] = {}
        settings = self.config.plugins
        if allow is not None or block:
            settings = attrs.evolve(
                settings, allow=tuple(allow) if allow is not None else settings.allow, block=(*settings.block, *block)
            )
        if settings.entry_points if load_entry_points is None else load_entry_points:
            self._load_entry_points(settings)
        for plugin in plugins:
            self.register(plugin)
        self._hook.genai_configure.call_historic(kwargs={"config": self.config})

    # -- plugins ---------------------------------------------------------------------------

    def _load_entry_points(self, settings: Any) -> None:
        chosen, _skipped = selected_entry_points(settings)
        for ep in chosen:
            outcome = load_entry_point(self._pm, ep, self._register_object)
            if isinstance(outcome, PluginInfo):
                self._infos[ep.name] = outcome
            else:
                cause = outcome.__cause__
                self._errors[ep.name] = PluginInfo(name=ep.name, source="entry point", error=str(outcome))
                self._log.warning("plugin_failed", plugin=ep.name, error=f"{type(cause).__name__}: {cause}")

    def _register_object(self, obj: Any, name: str) -> None:
        """Register and validate one plugin; a plugin that fails validation is removed again, so
        that it leaves no hooks behind and the next plugin is not blamed for it."""
        self._pm.register(obj, name=name)
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError:
            self._pm.unregister(obj)
            raise
        self._providers = None
        self._models.clear()

    def register(self, plugin: Any, name: str | None = None) -> str:
        """Register a plugin in-process (an object, a class or a module); returns its name."""
        obj = instantiate(plugin)
        name = name or getattr(obj, "name", None) or getattr(obj, "__name__", None) or type(obj).__name__
        try:
            self._register_object(obj, name)
        except ValueError as exc:
            raise ValidationError(f"cannot register plugin {name!r}: {exc}") from exc
        self._infos[name] = PluginInfo(name=name, version=getattr(obj, "version", None), source="in-process")
        return name

    def unregister(self, name: str) -> None:
        """Remove a plugin by name."""
        if self._pm.unregister(name=name) is None:
            raise UnknownModelError(f"no plugin named {name!r} is registered")
        self._infos.pop(name, None)
        self._providers = None
        self._models.clear()

    def plugins(self) -> list[PluginInfo]:
        """Every plugin: loaded ones with their providers, failed ones with their error."""
        by_plugin: dict[str, list[ProviderInfo]] = {}
        for impl in self._hook.genai_providers.get_hookimpls():
            by_plugin.setdefault(impl.plugin_name, []).extend(cast(list[ProviderInfo], impl.function()))
        out = [
            attrs.evolve(info, providers=by_plugin.get(name, ()))
            for name, info in self._infos.items()
            if self._pm.has_plugin(name)
        ]
        return sorted([*out, *self._errors.values()], key=lambda p: p.name)

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The pluggy manager, for tools that need hook-level access."""
        return self._pm

    # -- discovery -------------------------------------------------------------------------

    def providers(self) -> dict[str, ProviderInfo]:
        """Every provider the registered plugins offer, by name."""
        if self._providers is None:
            found: dict[str, ProviderInfo] = {}
            for infos in self._hook.genai_providers():
                for info in infos:
                    found.setdefault(info.name, info)
            self._providers = found
        return self._providers

    def provider(self, name: str) -> ProviderInfo:
        info = self.providers().get(name)
        if info is None:
            known = ", ".join(sorted(self.providers())) or "none"
            raise UnknownModelError(
                f"no provider named {name!r} is installed (installed: {known}); "
                f"try `pip install genai-commons-{name}` or check `genai plugins`"
            )
        return info

    def models(self, provider: str | None = None) -> list[DeployedModel]:
        """The deployed models of every provider, or of one."""
        if provider is not None:
            self.provider(provider)
        results = self._hook.genai_deployed_models(provider=provider)
        return [m for models in results for m in models if provider is None or m.provider == provider]

    def model(self, ref: ModelRef) -> DeployedModel:
        """The deployed model for ``provider:model_id`` (split at the first colon)."""
        if isinstance(ref, DeployedModel):
            self.provider(ref.provider)
            return ref
        cached = self._models.get(ref)
        if cached is not None:
            return cached
        provider, model_id = _split_ref(ref, "model")
        self.provider(provider)
        model = self._hook.genai_resolve_model(provider=provider, model_id=model_id)
        if model is None:
            raise UnknownModelError(
                f"provider {provider!r} has no model {model_id!r}; see `genai models --provider {provider}`"
            )
        self._models[ref] = model
        return cast(DeployedModel, model)

    def knowledge_bases(self, provider: str | None = None) -> list[KnowledgeBase]:
        results = self._hook.genai_knowledge_bases(provider=provider)
        return [kb for kbs in results for kb in kbs]

    def knowledge_base(self, ref: KnowledgeBase | str) -> KnowledgeBase:
        """The knowledge base for ``provider:name``."""
        if isinstance(ref, KnowledgeBase):
            self.provider(ref.provider)
            return ref
        provider, name = _split_ref(ref, "knowledge base")
        self.provider(provider)
        kb = self._hook.genai_resolve_knowledge_base(provider=provider, name=name)
        if kb is None:
            raise UnknownModelError(f"provider {provider!r} has no knowledge base {name!r}")
        return cast(KnowledgeBase, kb)

    def agent(self, ref: Agent | str, alias_id: str | None = None) -> Agent:
        """The agent for ``provider:agent_id``."""
        if isinstance(ref, Agent):
            return ref
        provider, agent_id = _split_ref(ref, "agent")
        require_provider_capability(self.provider(provider), Capability.AGENT)
        return Agent(provider=provider, agent_id=agent_id, alias_id=alias_id)

    # -- internals shared by every capability ----------------------------------------------

    def _route(self, provider: str, capability: Capability) -> None:
        require_provider_capability(self.provider(provider), capability)

    def _no_answer(self, provider: str, capability: Capability) -> UnsupportedCapabilityError:
        return UnsupportedCapabilityError(
            f"no plugin answered the {capability.value} call for provider {provider!r}; "
            "a wrapper plugin may have swallowed it",
            target=provider,
            capability=capability.value,
        )

    def _call(self, provider: str, capability: Capability, fn: Callable[[], T | None]) -> T:
        def attempt() -> T:
            result = fn()
            if result is None:
                raise self._no_answer(provider, capability)
            return result

        return call_with_retry(self.config.retry, capability.value, attempt)

    async def _call_async(self, provider: str, capability: Capability, fn: Callable[[], Awaitable[T] | None]) -> T:
        async def attempt() -> T:
            awaitable = fn()
            if awaitable is None:
                raise self._no_answer(provider, capability)
            return await awaitable

        return await call_with_retry_async(self.config.retry, capability.value, attempt)

    def _record(
        self,
        provider: str,
        display_name: str,
        model_id: str,
        operation: str,
        *,
        input_tokens: int | None,
        output_tokens: int | None,
        total_tokens: int | None,
        duration_ms: float,
        calls: int = 1,
    ) -> None:
        inp, out = input_tokens or 0, output_tokens or 0
        usage = Usage(
            provider=provider,
            deployed_model_display_name=display_name,
            model_id=model_id,
            operation=operation,
            input_tokens=inp,
            output_tokens=out,
            total_tokens=total_tokens if total_tokens is not None else inp + out,
            duration_ms=duration_ms,
            calls=calls,
        )
        self._hook.genai_usage_recorded(usage=usage)
        self._log.debug(
            f"{operation}_completed",
            provider=provider,
            model=model_id,
            input_tokens=inp,
            output_tokens=out,
            duration_ms=round(duration_ms, 3),
        )

    def _record_response(self, model: DeployedModel, operation: str, response: Response, calls: int) -> None:
        self._record(
            model.provider,
            model.display_name,
            model.model_id,
            operation,
            input_tokens=response.input_tokens,
            output_tokens=response.output_tokens,
            total_tokens=response.total_tokens,
            duration_ms=response.duration_ms or 0.0,
            calls=calls,
        )

    @staticmethod
    def _timed(response: Response, started: float) -> Response:
        if response.duration_ms is not None:
            return response
        return response.with_duration((time.perf_counter() - started) * 1000)

    def _chat_input(
        self, model: ModelRef, request: Request | str, files: FileCollection | None, stream: bool
    ) -> tuple[DeployedModel, Request]:
        deployed = self.model(model)
        if isinstance(request, str):
            from .model.chat import Request  # noqa: PLC0415 - the chat model loads on first use

            request = Request.from_prompt(request, files=files)
        elif files is not None:
            raise ValidationError("pass files inside the request's messages when you pass a Request")
        check_chat(deployed, request, stream=stream)
        self._route(deployed.provider, Capability.CHAT_STREAM if stream else Capability.CHAT)
        return deployed, request

    # -- chat ------------------------------------------------------------------------------

    def chat(
        self,
        model: ModelRef,
        request: Request | str,
        *,
        files: FileCollection | None = None,
        run_tools: bool = True,
        max_steps: int | None = None,
    ) -> Response:
        """A chat completion: from a prompt (chat without history, optionally with ``files``) or
        from a :class:`Request` (chat with history). When the model calls functions the request
        offers, the host runs them and calls the model again, up to ``max_steps`` model calls;
        the response's usage covers every step and one usage event is recorded."""
        deployed, current = self._chat_input(model, request, files, stream=False)
        limit = max_steps or self.config.tools.max_steps
        responses: list[Response] = []
        while True:
            started = time.perf_counter()
            response = self._call(
                deployed.provider, Capability.CHAT, partial(self._hook.genai_chat, model=deployed, request=current)
            )
            responses.append(self._timed(response, started))
            if not (run_tools and response.message.tool_calls):
                break
            from .toolloop import run_calls, runnable_calls  # noqa: PLC0415 - only once the model calls tools

            if not runnable_calls(current, response):
                break
            if len(responses) >= limit:
                raise self._loop_limit(deployed, responses)
            current = current.with_messages(*run_calls(current, response))
        final = responses[0] if len(responses) == 1 else _aggregate(responses)
        self._record_response(deployed, "chat", final, len(responses))
        return final

    async def achat(
        self,
        model: ModelRef,
        request: Request | str,
        *,
        files: FileCollection | None = None,
        run_tools: bool = True,
        max_steps: int | None = None,
    ) -> Response:
        """:meth:`chat`, async; coroutine tool functions run concurrently."""
        from .toolloop import aggregate, run_calls_async, runnable_calls  # noqa: PLC0415

        deployed, current = self._chat_input(model, request, files, stream=False)
        limit = max_steps or self.config.tools.max_steps
        responses: list[Response] = []
        while True:
            started = time.perf_counter()
            response = await self._call_async(
                deployed.provider,
                Capability.CHAT,
                partial(self._hook.genai_chat_async, model=deployed, request=current),
            )
            responses.append(self._timed(response, started))
            if not (run_tools and runnable_calls(current, response)):
                break
            if len(responses) >= limit:
                raise self._loop_limit(deployed, responses)
            current = current.with_messages(*await run_calls_async(current, response))
        final = aggregate(responses)
        self._record_response(deployed, "chat", final, len(responses))
        return final

    def _loop_limit(self, model: DeployedModel, responses: list[Response]) -> ToolLoopError:
        return ToolLoopError(
            f"model {model.ref} was still calling tools after {len(responses)} steps; raise max_steps "
            "(or [tools] max_steps) if the task needs more, or check the tools' answers",
            steps=len(responses),
            response=_aggregate(responses),
        )

    def stream(self, model: ModelRef, request: Request | str, *, files: FileCollection | None = None) -> ChatStream:
        """A streamed chat completion. Iterate for events; the stream's ``response`` holds the
        assembled result at the end. Tool calls come back in the response; the host does not run
        them while streaming."""
        from .streams import ChatStream  # noqa: PLC0415

        deployed, req = self._chat_input(model, request, files, stream=True)
        started = time.perf_counter()

        def open_stream() -> tuple[Any, Any]:
            events = self._hook.genai_chat_stream(model=deployed, request=req)
            if events is None:
                raise self._no_answer(deployed.provider, Capability.CHAT_STREAM)
            iterator = iter(events)
            return iterator, next(iterator, _END)

        iterator, first = call_with_retry(self.config.retry, "chat_stream", open_stream)
        events = iter(()) if first is _END else itertools.chain([first], iterator)
        return ChatStream(events, deployed.provider, started, lambda r: self._record_response(deployed, "chat", r, 1))

    async def astream(
        self, model: ModelRef, request: Request | str, *, files: FileCollection | None = None
    ) -> AsyncChatStream:
        """:meth:`stream`, for ``async for``."""
        from .streams import AsyncChatStream  # noqa: PLC0415

        deployed, req = self._chat_input(model, request, files, stream=True)
        started = time.perf_counter()

        async def open_stream() -> tuple[Any, Any]:
            events = self._hook.genai_chat_stream_async(model=deployed, request=req)
            if events is None:
                raise self._no_answer(deployed.provider, Capability.CHAT_STREAM)
            iterator = aiter(events)
            return iterator, await anext(iterator, _END)

        iterator, first = await call_with_retry_async(self.config.retry, "chat_stream", open_stream)
        return AsyncChatStream(
            _prepend(first, iterator),
            deployed.provider,
            started,
            lambda r: self._record_response(deployed, "chat", r, 1),
        )

    # -- embeddings ------------------------------------------------------------------------

    def _embed_input(
        self, model: ModelRef, inputs: str | Iterable[str] | ChunkCollection
    ) -> tuple[DeployedModel, ChunkCollection]:
        from .model.knowledge import ChunkCollection  # noqa: PLC0415

        deployed = self.model(model)
        check_model(deployed, Modality.EMBEDDINGS, "embeddings")
        self._route(deployed.provider, Capability.EMBED)
        if isinstance(inputs, str):
            chunks = ChunkCollection.of_texts([inputs])
        elif isinstance(inputs, ChunkCollection):
            chunks = inputs
        else:
            chunks = ChunkCollection.of_texts(inputs)
        if not len(chunks):
            raise ValidationError("nothing to embed: give at least one text")
        return deployed, chunks

    def _embedded(self, deployed: DeployedModel, result: EmbeddingsResponse, started: float) -> EmbeddingsResponse:
        if result.duration_ms is None:
            result = attrs.evolve(result, duration_ms=(time.perf_counter() - started) * 1000)
        self._record(
            deployed.provider,
            deployed.display_name,
            deployed.model_id,
            "embed",
            input_tokens=result.input_tokens,
            output_tokens=0,
            total_tokens=result.total_tokens,
            duration_ms=result.duration_ms or 0.0,
        )
        return result

    def embed(
        self,
        model: ModelRef,
        inputs: str | Iterable[str] | ChunkCollection,
        options: EmbeddingsOptions | None = None,
    ) -> EmbeddingsResponse:
        """Embeddings of a string, of strings, or of a chunk collection (returned with vectors)."""
        from .model.embeddings import EmbeddingsOptions  # noqa: PLC0415

        deployed, chunks = self._embed_input(model, inputs)
        opts = options or EmbeddingsOptions()
        started = time.perf_counter()
        result = self._call(
            deployed.provider,
            Capability.EMBED,
            lambda: self._hook.genai_embed(model=deployed, chunks=chunks, options=opts),
        )
        return self._embedded(deployed, result, started)

    async def aembed(
        self,
        model: ModelRef,
        inputs: str | Iterable[str] | ChunkCollection,
        options: EmbeddingsOptions | None = None,
    ) -> EmbeddingsResponse:
        """:meth:`embed`, async."""
        from .model.embeddings import EmbeddingsOptions  # noqa: PLC0415

        deployed, chunks = self._embed_input(model, inputs)
        opts = options or EmbeddingsOptions()
        started = time.perf_counter()
        result = await self._call_async(
            deployed.provider,
            Capability.EMBED,
            lambda: self._hook.genai_embed_async(model=deployed, chunks=chunks, options=opts),
        )
        return self._embedded(deployed, result, started)

    # -- images ----------------------------------------------------------------------------

    def _image_input(self, model: ModelRef, prompt: str) -> DeployedModel:
        deployed = self.model(model)
        check_model(deployed, Modality.IMAGE, "image generation")
        self._route(deployed.provider, Capability.IMAGE)
        if not prompt or not prompt.strip():
            raise ValidationError("an image prompt must not be empty")
        return deployed

    def generate_image(self, model: ModelRef, prompt: str, options: ImageOptions | None = None) -> Response:
        """Images from a text description; see :meth:`Response.generated_images`."""
        from .model.images import ImageOptions  # noqa: PLC0415

        deployed = self._image_input(model, prompt)
        opts = options or ImageOptions()
        started = time.perf_counter()
        response = self._call(
            deployed.provider,
            Capability.IMAGE,
            lambda: self._hook.genai_generate_image(model=deployed, prompt=prompt, options=opts),
        )
        response = self._timed(response, started)
        self._record_response(deployed, "image", response, 1)
        return response

    async def agenerate_image(self, model: ModelRef, prompt: str, options: ImageOptions | None = None) -> Response:
        """:meth:`generate_image`, async."""
        from .model.images import ImageOptions  # noqa: PLC0415

        deployed = self._image_input(model, prompt)
        opts = options or ImageOptions()
        started = time.perf_counter()
        response = await self._call_async(
            deployed.provider,
            Capability.IMAGE,
            lambda: self._hook.genai_generate_image_async(model=deployed, prompt=prompt, options=opts),
        )
        response = self._timed(response, started)
        self._record_response(deployed, "image", response, 1)
        return response

    # -- knowledge bases -------------------------------------------------------------------

    def _kb_usage(self, kb: KnowledgeBase, operation: str, tokens: int | None, duration_ms: float) -> None:
        model_id = kb.embedding_model.model_id if kb.embedding_model is not None else kb.collection
        self._record(
            kb.provider, kb.name, model_id, operation,
            input_tokens=tokens, output_tokens=0, total_tokens=tokens, duration_ms=duration_ms,
        )  # fmt: skip

    @staticmethod
    def _query(query: RetrievalQuery | str, k: int | None) -> RetrievalQuery:
        from .model.retrieval import RetrievalQuery  # noqa: PLC0415

        if isinstance(query, str):
            return RetrievalQuery(text=query) if k is None else RetrievalQuery(text=query, k=k)
        return query if k is None else attrs.evolve(query, k=k)

    def retrieve(
        self, knowledge_base: KnowledgeBase | str, query: RetrievalQuery | str, *, k: int | None = None
    ) -> RetrievalResult:
        """The chunks nearest to the query, most similar first."""
        kb = self.knowledge_base(knowledge_base)
        self._route(kb.provider, Capability.RETRIEVE)
        q = self._query(query, k)
        started = time.perf_counter()
        result: RetrievalResult = self._call(
            kb.provider, Capability.RETRIEVE, lambda: self._hook.genai_retrieve(knowledge_base=kb, query=q)
        )
        self._kb_usage(
            kb, "retrieve", result.input_tokens, result.duration_ms or (time.perf_counter() - started) * 1000
        )
        return result

    async def aretrieve(
        self, knowledge_base: KnowledgeBase | str, query: RetrievalQuery | str, *, k: int | None = None
    ) -> RetrievalResult:
        """:meth:`retrieve`, async."""
        kb = self.knowledge_base(knowledge_base)
        self._route(kb.provider, Capability.RETRIEVE)
        q = self._query(query, k)
        started = time.perf_counter()
        result: RetrievalResult = await self._call_async(
            kb.provider, Capability.RETRIEVE, lambda: self._hook.genai_retrieve_async(knowledge_base=kb, query=q)
        )
        self._kb_usage(
            kb, "retrieve", result.input_tokens, result.duration_ms or (time.perf_counter() - started) * 1000
        )
        return result

    def ingest(
        self, knowledge_base: KnowledgeBase | str, chunks: ChunkCollection, mode: IngestMode | str = "insert"
    ) -> IngestResult:
        """Store knowledge-base chunks: insert, replace by source object, or repopulate."""
        kb = self.knowledge_base(knowledge_base)
        self._route(kb.provider, Capability.INGEST)
        from .model.retrieval import IngestMode  # noqa: PLC0415

        ingest_mode = IngestMode(mode)
        started = time.perf_counter()
        result: IngestResult = self._call(
            kb.provider,
            Capability.INGEST,
            lambda: self._hook.genai_ingest(knowledge_base=kb, chunks=chunks, mode=ingest_mode),
        )
        self._kb_usage(kb, "ingest", result.input_tokens, result.duration_ms or (time.perf_counter() - started) * 1000)
        return result

    async def aingest(
        self, knowledge_base: KnowledgeBase | str, chunks: ChunkCollection, mode: IngestMode | str = "insert"
    ) -> IngestResult:
        """:meth:`ingest`, async."""
        kb = self.knowledge_base(knowledge_base)
        self._route(kb.provider, Capability.INGEST)
        from .model.retrieval import IngestMode  # noqa: PLC0415

        ingest_mode = IngestMode(mode)
        started = time.perf_counter()
        result: IngestResult = await self._call_async(
            kb.provider,
            Capability.INGEST,
            lambda: self._hook.genai_ingest_async(knowledge_base=kb, chunks=chunks, mode=ingest_mode),
        )
        self._kb_usage(kb, "ingest", result.input_tokens, result.duration_ms or (time.perf_counter() - started) * 1000)
        return result

    # -- agents ----------------------------------------------------------------------------

    def stream_agent(self, agent: Agent | str, request: AgentRequest | str) -> Iterator[AgentEvent]:
        """One turn with a hosted agent, as its events arrive."""
        target = self.agent(agent)
        req = _agent_request(request)
        events = self._call(
            target.provider, Capability.AGENT, lambda: self._hook.genai_invoke_agent(agent=target, request=req)
        )
        return iter(events)

    def invoke_agent(self, agent: Agent | str, request: AgentRequest | str) -> AgentResponse:
        """One turn with a hosted agent, assembled: text, references and traces."""
        target = self.agent(agent)
        req = _agent_request(request)
        started = time.perf_counter()
        response = _assemble_agent(self.stream_agent(target, req), req, started)
        self._record(
            target.provider, target.display_name, target.agent_id, "agent",
            input_tokens=None, output_tokens=None, total_tokens=None, duration_ms=response.duration_ms or 0.0,
        )  # fmt: skip
        return response

    async def astream_agent(self, agent: Agent | str, request: AgentRequest | str) -> AsyncIterator[AgentEvent]:
        """:meth:`stream_agent`, as an async iterator."""
        target = self.agent(agent)
        req = _agent_request(request)
        events = self._hook.genai_invoke_agent_async(agent=target, request=req)
        if events is None:
            raise self._no_answer(target.provider, Capability.AGENT)
        async for event in events:
            yield event

    async def ainvoke_agent(self, agent: Agent | str, request: AgentRequest | str) -> AgentResponse:
        """:meth:`invoke_agent`, async."""
        target = self.agent(agent)
        req = _agent_request(request)
        started = time.perf_counter()
        events = [event async for event in self.astream_agent(target, req)]
        response = _assemble_agent(iter(events), req, started)
        self._record(
            target.provider, target.display_name, target.agent_id, "agent",
            input_tokens=None, output_tokens=None, total_tokens=None, duration_ms=response.duration_ms or 0.0,
        )  # fmt: skip
        return response

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Unregister every plugin; plugins with a ``close()`` method are closed."""
        for name, plugin in list(self._pm.list_name_plugin()):
            close = getattr(plugin, "close", None)
            if callable(close) and not isinstance(plugin, type):
                close()
            self._pm.unregister(name=name)
        self._providers = None
        self._models.clear()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def home(self) -> Path:
        return self.config.home


def _aggregate(responses: list[Response]) -> Response:
    from .toolloop import aggregate  # noqa: PLC0415

    return aggregate(responses)


def _agent_request(request: AgentRequest | str) -> AgentRequest:
    from .model.agents import AgentRequest  # noqa: PLC0415

    return AgentRequest(input_text=request) if isinstance(request, str) else request


def _split_ref(ref: str, what: str) -> tuple[str, str]:
    provider, sep, name = ref.partition(":")
    if not sep or not provider or not name:
        raise ValidationError(f"{what} reference {ref!r} must be PROVIDER:ID, for example openai:gpt-4o-mini")
    return provider, name


async def _prepend(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    if first is _END:
        return
    yield first
    async for item in rest:
        yield item


def _assemble_agent(events: Iterator[AgentEvent], request: AgentRequest, started: float) -> AgentResponse:
    from .model.agents import AgentResponse, AgentTextChunk, AgentTrace  # noqa: PLC0415
    from .model.chat import Reference  # noqa: PLC0415

    text: list[str] = []
    references: list[Reference] = []
    traces: list[AgentTrace] = []
    for event in events:
        if isinstance(event, AgentTextChunk):
            text.append(event.text)
            references.extend(event.references)
        elif isinstance(event, AgentTrace):
            traces.append(event)
    return AgentResponse(
        text="".join(text),
        session_id=request.session_id,
        references=references,
        traces=traces,
        duration_ms=(time.perf_counter() - started) * 1000,
    )
