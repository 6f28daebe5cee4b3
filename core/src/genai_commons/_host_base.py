"""The host's foundation: plugins, discovery, and the machinery every capability call shares
(routing, retries, usage events). :class:`genai_commons.Host` adds the capability methods."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

import attrs
import pluggy

from . import deadlines, fallbacks, hookspecs
from ._host_search import Refusals
from ._log import get_logger
from .capabilities import require_provider_capability
from .config import Config, PluginSettings
from .errors import ConfigurationError, PluginError, UnknownModelError, UnsupportedCapabilityError, ValidationError
from .model.deployed import Agent, DeployedModel, KnowledgeBase, ProviderInfo
from .model.enums import Capability
from .model.usage import Usage
from .plugins import PluginInfo, instantiate, load_entry_point, selected_entry_points
from .retry import call_with_retry, call_with_retry_async

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from .aliases import DefaultKind
    from .budgets import BudgetGuard
    from .model import Response
    from .prices import PriceTable

T = TypeVar("T")
ModelRef = DeployedModel | str


class HostBase:
    """Plugins, discovery and shared call machinery; see :class:`genai_commons.Host`."""

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
        fallbacks.install(self)  # only where [aliases] has an alias of several targets
        self._log = get_logger("genai_commons.host")
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._hook = self._pm.hook
        self._infos: dict[str, PluginInfo] = {}
        self._errors: dict[str, PluginInfo] = {}
        self._providers: dict[str, ProviderInfo] | None = None
        self._models: dict[str, DeployedModel] = {}
        self._deadlines: dict[str, tuple[float, str]] = {}
        #: Search types providers refused for defaulted queries (see :mod:`._host_search`).
        self._search_refusals = Refusals()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        #: The shipped prices with [prices] applied, read on the first usage record (see .prices).
        self._prices: PriceTable | None = None
        #: The monthly budgets; None when [budgets] sets no limit: then no check costs anything.
        self._budgets: BudgetGuard | None = None
        if self.config.budgets.configured:
            from .budgets import BudgetGuard  # noqa: PLC0415 - only when budgets are set

            self._budgets = BudgetGuard.for_config(self.config)
        settings = self.config.plugins
        if allow is not None or block:
            settings = attrs.evolve(
                settings, allow=tuple(allow) if allow is not None else settings.allow, block=(*settings.block, *block)
            )
        if settings.entry_points if load_entry_points is None else load_entry_points:
            self._load_entry_points(settings)
        for plugin in plugins:
            self.register(plugin)

    # -- plugins ---------------------------------------------------------------------------

    def _load_entry_points(self, settings: PluginSettings) -> None:
        for ep in selected_entry_points(settings):
            outcome = load_entry_point(ep, self._register_object)
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
            # a Middleware needs the manager to run the implementations inside it; none can exist
            # before its module is imported, so hosts without middleware never import it
            middleware = sys.modules.get("genai_commons.middleware")
            if middleware is not None and isinstance(obj, middleware.Middleware):
                obj._attach(self._pm)
            self._pm.check_pending()
            self._configure(obj)
        except Exception:
            self._pm.unregister(obj)
            raise
        self._providers = None
        self._models.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def embedding_pool(self) -> ThreadPoolExecutor:
        """The host's thread pool for concurrent embedding calls during ingestion
        (``[knowledge] embed_concurrency`` workers), made on first use and shut down by :meth:`close`."""
        with self._pool_lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

                self._pool = ThreadPoolExecutor(
                    max_workers=self.config.knowledge.embed_concurrency, thread_name_prefix="genai-embed"
                )
            return self._pool

    def _configure(self, obj: Any) -> None:
        """Give one plugin the configuration, so that a plugin failing here fails alone."""
        for impl in self._hook.genai_configure.get_hookimpls():
            if impl.plugin is obj:
                impl.function(config=self.config)

    def register(self, plugin: Any, name: str | None = None) -> str:
        """Register a plugin in-process (an object, a class or a module); returns its name."""
        obj = instantiate(plugin)
        name = name or getattr(obj, "name", None) or getattr(obj, "__name__", None) or type(obj).__name__
        try:
            self._register_object(obj, name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"cannot register plugin {name!r}: {_renamed_hint(str(exc))}", plugin=name) from exc
        except ValueError as exc:
            raise ValidationError(f"cannot register plugin {name!r}: {exc}") from exc
        self._infos[name] = PluginInfo(name=name, version=getattr(obj, "version", None), source="in-process")
        return name

    def unregister(self, name: str) -> None:
        """Remove a plugin by name."""
        if self._pm.unregister(name=name) is None:
            registered = ", ".join(sorted(self._infos)) or "none"
            raise PluginError(f"no plugin named {name!r} is registered (registered: {registered})", plugin=name)
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
        return self._installed(name)

    def _installed(self, name: str, rest: str | None = None) -> ProviderInfo:
        """The provider ``name``; ``rest`` (what followed ``PROVIDER:`` in a reference) lets the
        error for a typo suggest the whole reference (see :mod:`.suggestions`)."""
        info = self.providers().get(name)
        if info is None:
            failed = self._errors.get(name)
            if failed is not None:  # installed, but it failed to load: say why, not "install it"
                raise PluginError(f"provider {name!r} is not available: {failed.error}", plugin=name)
            from .suggestions import unknown_provider_message  # noqa: PLC0415 - only on this error

            raise UnknownModelError(unknown_provider_message(name, self.providers(), rest))
        return info

    def models(self, provider: str | None = None) -> list[DeployedModel]:
        """The deployed models of every provider, or of one."""
        if provider is not None:
            self.provider(provider)
        results = self._hook.genai_models(provider=provider)
        return [m for models in results for m in models if provider is None or m.provider == provider]

    def model(self, ref: ModelRef) -> DeployedModel:
        """The deployed model for ``provider:model_id`` (split at the first colon)."""
        if isinstance(ref, DeployedModel):
            self.provider(ref.provider)
            return ref
        cached = self._models.get(ref)
        if cached is not None:
            return cached
        if ":" not in ref:  # an alias of [aliases] names its (first) target
            from .aliases import first_target  # noqa: PLC0415 - only on the first use of an alias

            return self._models.setdefault(ref, self.model(first_target(self.config, ref)))
        provider, model_id = _split_ref(ref, "model")
        self._installed(provider, model_id)
        model = self._hook.genai_resolve_model(provider=provider, model_id=model_id)
        if model is None:
            hint = self._near(model_id, lambda: (m.model_id for m in self.models(provider)), f"{provider}:")
            raise UnknownModelError(
                f"provider {provider!r} has no model {model_id!r}{hint}; see `genai models --provider {provider}`"
            )
        self._models[ref] = model
        return cast(DeployedModel, model)

    def default_model(self, kind: DefaultKind = "chat") -> str:
        """The model reference of ``[defaults] chat``, ``embedding`` or ``image`` (an alias or
        ``PROVIDER:MODEL``), for calls that name no model: ``host.chat(host.default_model(), "Hi")``.
        Raises :class:`ConfigurationError` saying what to set when none is configured."""
        from .aliases import default_reference  # noqa: PLC0415

        return default_reference(self.config, kind)

    def knowledge_bases(self, provider: str | None = None) -> list[KnowledgeBase]:
        results = self._hook.genai_knowledge_bases(provider=provider)
        return [kb for kbs in results for kb in kbs]

    def knowledge_base(
        self, ref: KnowledgeBase | str, *, embedding_model: DeployedModel | str | None = None
    ) -> KnowledgeBase:
        """The knowledge base for ``provider:name``, or for a bare ``name``.

        A bare name is looked up in ``[knowledge_bases.NAME]`` of the configuration, and otherwise
        names a collection of the default provider (``[knowledge] default_provider``). When the
        provider does not hold the collection yet and offers ingestion, the result is a new
        knowledge base, created by its first ingestion and embedded with ``embedding_model`` (by
        default ``[knowledge] default_embedding_model``). An existing collection keeps the model it
        was built with: naming another is an error.
        """
        return self._resolve_knowledge_base(ref, embedding_model)[0]

    def _resolve_knowledge_base(
        self, ref: KnowledgeBase | str, embedding_model: DeployedModel | str | None = None
    ) -> tuple[KnowledgeBase, bool]:
        """The knowledge base, and whether it exists (False: it will be created by its first ingestion)."""
        if isinstance(ref, KnowledgeBase):
            self.provider(ref.provider)
            return ref, True
        wanted = self.model(embedding_model) if embedding_model is not None else None
        given = ref
        if ":" not in ref:
            table = self.config.knowledge_bases.get(ref)
            if table is not None:
                return self._configured_knowledge_base(ref, table, wanted)
            ref = f"{self.config.knowledge.default_provider}:{ref}"
        provider, name = _split_ref(ref, "knowledge base")
        info = self._installed(provider, name)
        kb = self._look_up_knowledge_base(provider, name)
        if kb is not None:
            return _keep_model(given, kb, wanted), True
        if Capability.INGEST not in info.capabilities:
            hint = self._near(name, lambda: (kb.name for kb in self.knowledge_bases(provider)), f"{provider}:")
            raise UnknownModelError(f"provider {provider!r} has no knowledge base {name!r}{hint}; see `genai kb list`")
        model = wanted or self.model(self.config.knowledge.default_embedding_model)
        return KnowledgeBase(provider=provider, name=name, embedding_model=model), False

    def _configured_knowledge_base(
        self, name: str, table: Any, wanted: DeployedModel | None
    ) -> tuple[KnowledgeBase, bool]:
        where = f"[knowledge_bases.{name}]"
        provider = table.get("provider", self.config.knowledge.default_provider)
        model = table.get("embedding_model")
        for key, value in (("provider", provider), ("embedding_model", model), ("collection", table.get("collection"))):
            if value is not None and not isinstance(value, str):
                raise ConfigurationError(f"{where} {key} must be a string")
        if model and ":" not in model:
            raise ConfigurationError(f"{where} embedding_model {model!r} must be PROVIDER:MODEL")
        info = self.provider(provider)
        collection = table.get("collection") or name
        known = self._look_up_knowledge_base(provider, collection)
        if model is None and known is not None:
            return _keep_model(name, attrs.evolve(known, name=name), wanted), True
        ingests = Capability.INGEST in info.capabilities
        if model is None and ingests:  # the host embeds for stores that ingest chunks
            model = self.config.knowledge.default_embedding_model
        configured = self.model(model) if model else None
        kb = KnowledgeBase(
            provider=provider,
            name=name,
            collection=collection,
            embedding_model=_keep_model_of(name, configured, wanted) if configured else wanted,
            description=table.get("description"),
        )
        return kb, known is not None or not ingests

    def _look_up_knowledge_base(self, provider: str, name: str) -> KnowledgeBase | None:
        """The provider's knowledge base of that name, or None; a lookup that asks a server (an
        OpenSearch index's mapping) is retried like any call."""
        return cast(
            "KnowledgeBase | None",
            call_with_retry(
                self.config.retry,
                "resolve_knowledge_base",
                lambda: self._hook.genai_resolve_knowledge_base(provider=provider, name=name),
            ),
        )

    def agent(self, ref: Agent | str, alias_id: str | None = None) -> Agent:
        """The agent for ``provider:agent_id``, whose provider must offer agents."""
        if isinstance(ref, Agent):
            require_provider_capability(self.provider(ref.provider), Capability.AGENT)
            return ref
        provider, agent_id = _split_ref(ref, "agent")
        require_provider_capability(self._installed(provider, agent_id), Capability.AGENT)
        return Agent(provider=provider, agent_id=agent_id, alias_id=alias_id)

    @staticmethod
    def _near(name: str, names: Callable[[], Iterable[str]], prefix: str = "") -> str:
        """`` (did you mean X?)`` for the known names closest to ``name``, or nothing. Listing the
        names may ask a server: a failure there costs the hint, never the error being raised."""
        from .suggestions import did_you_mean  # noqa: PLC0415 - only on an error

        try:
            return did_you_mean(name, names(), prefix=prefix)
        except Exception:  # a hint must not replace the error it decorates
            return ""

    # -- internals shared by every capability ----------------------------------------------

    def _route(self, provider: str, capability: Capability, model_id: str | None = None) -> None:
        require_provider_capability(self.provider(provider), capability)
        if self._budgets is not None:  # before any network call: a reached limit refuses it
            self._budgets.check(provider, model_id)

    def _no_answer(self, provider: str, capability: Capability) -> UnsupportedCapabilityError:
        return UnsupportedCapabilityError(
            f"no plugin answered the {capability.value} call for provider {provider!r}; "
            "a wrapper plugin may have swallowed it",
            target=provider,
            capability=capability.value,
        )

    def _deadline(self, provider: str) -> Any:
        """The deadline scope of one call to ``provider`` (see :mod:`genai_commons.deadlines`)."""
        setting = self._deadlines.get(provider)
        if setting is None:
            setting = self._deadlines.setdefault(provider, self.config.deadline(provider))
        return deadlines.scope(setting[0], setting[1], provider)

    def _call(self, provider: str, capability: Capability, fn: Callable[[], T | None]) -> T:
        def attempt() -> T:
            deadlines.check(provider)
            with deadlines.overdue_timeouts:
                result = fn()
            if result is None:
                raise self._no_answer(provider, capability)
            return result

        with self._deadline(provider):
            result = call_with_retry(self.config.retry, capability.value, attempt)
        if fallbacks.in_use:  # a failure from now on is not fallen back from
            fallbacks.answered()
        return result

    async def _call_async(self, provider: str, capability: Capability, fn: Callable[[], Awaitable[T] | None]) -> T:
        async def attempt() -> T:
            deadlines.check(provider)
            awaitable = fn()
            if awaitable is None:
                raise self._no_answer(provider, capability)
            with deadlines.overdue_timeouts:
                return await awaitable

        with self._deadline(provider):
            result = await call_with_retry_async(self.config.retry, capability.value, attempt)
        if fallbacks.in_use:
            fallbacks.answered()
        return result

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
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        images: int = 0,
    ) -> None:
        inp, out = input_tokens or 0, output_tokens or 0
        event = self._hook.genai_usage_recorded
        # the usage record is built only when a plugin receives it, or budgets count it
        if event.get_hookimpls() or self._budgets is not None:
            read, write = cache_read_tokens or 0, cache_write_tokens or 0
            if self._prices is None:
                from .prices import price_table  # noqa: PLC0415 - the table loads on the first record

                self._prices = price_table(self.config)
            cost = self._prices.cost(
                provider,
                model_id,
                input_tokens=inp,
                output_tokens=out,
                cache_read_tokens=read,
                cache_write_tokens=write,
                images=images,
            )
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
                cache_read_tokens=read,
                cache_write_tokens=write,
                reasoning_tokens=reasoning_tokens or 0,
                cost=cost,
            )
            event(usage=usage)
            if self._budgets is not None:
                self._budgets.record(usage)
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
            cache_read_tokens=response.cache_read_tokens,
            cache_write_tokens=response.cache_write_tokens,
            reasoning_tokens=response.reasoning_tokens,
            images=len(response.message.files.files) if operation == "image" and response.message.files else 0,
        )

    @staticmethod
    def _timed(response: Response, started: float) -> Response:
        if response.duration_ms is not None:
            return response
        return response.with_duration((time.perf_counter() - started) * 1000)

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Unregister every plugin; plugins with a ``close()`` method are closed, and the
        embedding thread pool is shut down. From async code, use :meth:`aclose`."""
        for name, plugin in list(self._pm.list_name_plugin()):
            close = getattr(plugin, "close", None)
            if callable(close) and not isinstance(plugin, type):
                close()
            self._pm.unregister(name=name)
        self._providers = None
        self._models.clear()
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        if self._budgets is not None:
            self._budgets.close()

    async def aclose(self) -> None:
        """:meth:`close` from async code: plugins with an ``aclose()`` coroutine method are awaited
        first, so that their async clients close their connections on the running event loop
        (``close()`` can only schedule that from inside a running loop)."""
        for _name, plugin in list(self._pm.list_name_plugin()):
            aclose = getattr(plugin, "aclose", None)
            if callable(aclose) and not isinstance(plugin, type):
                closing = aclose()
                if isinstance(closing, Awaitable):
                    await closing
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    @property
    def home(self) -> Path:
        return self.config.home


def _keep_model(name: str, kb: KnowledgeBase, wanted: DeployedModel | None) -> KnowledgeBase:
    if wanted is None or kb.embedding_model is None:
        return kb if wanted is None else attrs.evolve(kb, embedding_model=wanted)
    return attrs.evolve(kb, embedding_model=_keep_model_of(name, kb.embedding_model, wanted))


def _keep_model_of(name: str, current: DeployedModel, wanted: DeployedModel | None) -> DeployedModel:
    if wanted is not None and wanted.ref != current.ref:
        raise ValidationError(
            f"knowledge base {name} is embedded with {current.ref}, not {wanted.ref}: leave the embedding model "
            f"out, or delete it first (`genai kb delete {name}`) to embed it with {wanted.ref}"
        )
    return current


def _split_ref(ref: str, what: str) -> tuple[str, str]:
    provider, sep, name = ref.partition(":")
    if not sep or not provider or not name:
        raise ValidationError(f"{what} reference {ref!r} must be PROVIDER:ID, for example openai:gpt-4o-mini")
    return provider, name


#: First-edition hook names and what they are called now (docs/hooks.md).
_RENAMED_HOOKS = {
    "genai_deployed_models": "genai_models",
    "genai_kb_sync": "genai_ingest_from_source",
    "genai_kb_stored_ids": "genai_stored_chunk_ids",
    "genai_kb_delete": "genai_delete_chunks",
    "genai_kb_drop": "genai_drop_collection",
    "genai_kb_list_chunks": "genai_list_chunks",
}


def _renamed_hint(message: str) -> str:
    """pluggy's message, with the hook's new name when it names a first-edition hook."""
    for old, new in _RENAMED_HOOKS.items():
        found = re.search(rf"\b{old}(_async)?\b", message)
        if found:
            suffix = found.group(1) or ""
            return f"{message}; {old}{suffix} was renamed {new}{suffix} (see docs/hooks.md)"
    return message
