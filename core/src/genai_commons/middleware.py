"""One surface for cross-cutting plugins: subclass :class:`Middleware`, override ``around`` (and
``around_async``), and see every capability call — chat, streams, embeddings, images, reranking,
retrieval, ingestion, knowledge-base management, agents — whatever the provider::

    class Tracer(Middleware):
        def around(self, call: CapabilityCall, proceed: Proceed) -> Any:
            log.info("call_started", operation=call.operation, target=call.target)
            return proceed()

        async def around_async(self, call: CapabilityCall, proceed: AsyncProceed) -> Any:
            log.info("call_started", operation=call.operation, target=call.target)
            return await proceed()

``proceed()`` runs the inner middlewares and the provider and returns what the capability hook
returns: a :class:`Response`, an :class:`EmbeddingsResponse`, …; for a stream the iterator of its
events (an async iterator for an async stream). Return it, return something else (a cache
answers without proceeding; a redactor changes the result), or raise a
:mod:`genai_commons.errors` class (a guardrail). ``proceed(call.with_request(other))`` runs the
provider with a changed request.

**How it plugs in.** The base class implements every capability hook of
:mod:`genai_commons.hookspecs` with one generated ``tryfirst`` adapter, so ``host.register(...)``
and entry points just work. It is not a pluggy ``wrapper=True`` implementation because a pluggy
wrapper cannot keep the provider from running (pluggy calls the inner implementations before it
hands the wrapper their result), so a cache could not skip it. Middlewares nest in pluggy's
order: **the last registered is the outermost**; raw ``@hookimpl(wrapper=True)`` wrappers run
outside every middleware. The host's retry loop is outside too: ``around`` sees each attempt.
"""

from __future__ import annotations

import contextvars
import inspect
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from . import hookspecs
from ._middleware_bridge import aclose, around_in_thread, closing, discard
from .errors import PluginError
from .hookspecs import hookimpl
from .model.deployed import Agent, DeployedModel, KnowledgeBase
from .model.enums import Capability

if TYPE_CHECKING:
    import pluggy

__all__ = ["AsyncProceed", "CapabilityCall", "Middleware", "Proceed"]


def _read_only(arguments: Mapping[str, object]) -> Mapping[str, object]:
    return types.MappingProxyType(dict(arguments))


@attrs.frozen(kw_only=True, eq=False)
class CapabilityCall:
    """One capability call, as a middleware sees it."""

    #: The capability hook, e.g. ``genai_chat_stream_async``.
    hook: str
    #: The operation: the hook's name without ``genai_`` and ``_async`` (``chat``, ``chat_stream``,
    #: ``embed``, ``count_tokens``, ``generate_image``, ``rerank``, ``retrieve``, ``ingest``,
    #: ``retrieve_and_generate``, ``ingest_from_source``, ``stored_chunk_ids``, ``delete_chunks``, ``drop_collection``,
    #: ``list_chunks``, ``invoke_agent``).
    operation: str
    #: The capability the call belongs to; None for ``count_tokens`` (any model may answer it).
    capability: Capability | None
    #: The provider that owns the target.
    provider: str
    #: The target's reference: ``provider:model_id``, ``provider:knowledge_base`` or ``provider:agent_id``.
    target: str
    #: The deployed model: the target, or the generating model of ``retrieve_and_generate``.
    model: DeployedModel | None = None
    knowledge_base: KnowledgeBase | None = None
    agent: Agent | None = None
    #: The hook's main argument: the chat or rerank :class:`Request`, the chunks to embed or
    #: ingest, the image prompt, the retrieval query, the agent request, the texts to count, the
    #: source ids or the filter of a knowledge-base operation; None for ``drop_collection``.
    request: object = None
    #: Every argument of the hook, by parameter name (read-only).
    arguments: Mapping[str, object] = attrs.field(factory=dict, converter=_read_only)
    #: Whether the caller used the async API (``around_async`` sees the call).
    is_async: bool = False
    #: Whether the result is a stream of events (``chat_stream``, ``invoke_agent``).
    streaming: bool = False

    def with_request(self, request: object) -> CapabilityCall:
        """This call with another main argument, for ``proceed(call.with_request(...))``. The host
        checked the original against the model's capabilities: keep the new one within them."""
        name = _SPECS[self.hook].request
        if name is None:
            raise PluginError(f"{self.hook} has no request to replace", plugin=self.provider)
        return attrs.evolve(self, request=request, arguments={**self.arguments, name: request})


class Proceed(Protocol):
    """Runs the inner middlewares and the provider; returns the hook's result."""

    def __call__(self, call: CapabilityCall | None = None, /) -> Any: ...


class AsyncProceed(Protocol):
    """:class:`Proceed` for an async call: ``await proceed()``."""

    def __call__(self, call: CapabilityCall | None = None, /) -> Awaitable[Any]: ...


class Middleware:
    """Base class of a cross-cutting plugin that sees every capability call; see the module
    docstring. Override :meth:`around` for sync calls and :meth:`around_async` for async ones.

    A middleware that overrides only :meth:`around` sees async calls too: the default
    :meth:`around_async` runs ``around`` in a worker thread whose ``proceed()`` waits for the
    provider on the event loop — correct, at the cost of a thread hop per call (and per event of
    a stream). Override :meth:`around_async` for async-heavy applications. A middleware that
    overrides neither passes every call through.

    An instance serves one host at a time; entry points register the class, so each host makes
    its own.
    """

    _plugin_manager: pluggy.PluginManager | None = None

    def around(self, call: CapabilityCall, proceed: Proceed) -> Any:
        """Handle a sync call: return ``proceed()`` (or a replacement), or raise."""
        return proceed()

    async def around_async(self, call: CapabilityCall, proceed: AsyncProceed) -> Any:
        """Handle an async call: return ``await proceed()`` (or a replacement), or raise. For a
        stream, ``await proceed()`` is an async iterator of events; return one."""
        if type(self).around is Middleware.around:
            return await proceed()
        return await _resolved(around_in_thread(self.around, call, proceed))

    # -- the adapter (you do not override these) ---------------------------------------------

    def _attach(self, plugin_manager: pluggy.PluginManager) -> None:
        """Called by the host as it registers this middleware."""
        current = self._plugin_manager
        if current is not None and current is not plugin_manager and current.is_registered(self):
            raise PluginError(
                f"middleware {type(self).__name__} is already registered with another host; "
                "register the class, or a new instance, with each host",
                plugin=type(self).__name__,
            )
        self._plugin_manager = plugin_manager

    def _enter(self, spec: _Spec, args: tuple[object, ...]) -> object:
        """The hook implementation pluggy calls (see :func:`_adapter`)."""
        key = (spec.name, tuple(map(id, args)))
        spent = _SPENT.get()
        if spent is not None:
            if spent[0] == key:  # an outer middleware already ran us, and nobody answered
                if spent[1] is self:
                    _SPENT.set(None)
                return None
            _SPENT.set(None)  # left over from a call whose innermost middleware was not reached
        result, innermost = self._run(spec, args)
        if result is None and innermost is not None:
            _SPENT.set((key, innermost))
        return result

    def _run(self, spec: _Spec, args: tuple[object, ...]) -> tuple[object, Middleware | None]:
        """Run this middleware around the implementations after it; also returns the innermost
        middleware among those when nobody answered (pluggy will call it again: it must pass)."""
        if self._plugin_manager is None:
            raise PluginError(
                f"middleware {type(self).__name__} was registered outside a host; use host.register()",
                plugin=type(self).__name__,
            )
        impls = getattr(self._plugin_manager.hook, spec.name).get_hookimpls()
        mine = next(i for i, impl in enumerate(impls) if impl.plugin is self)
        chain = impls[:mine][::-1]  # the non-wrapper implementations pluggy would call after this one
        call = spec.describe(args)
        kwargs = dict(call.arguments)
        if spec.is_async:
            return self._run_async(spec, call, chain, kwargs), None
        opened: list[object] = []
        proceeded = False

        def proceed(changed: CapabilityCall | None = None) -> Any:
            nonlocal proceeded
            proceeded = True
            result = _answer(spec, chain, kwargs if changed is None else _changed(spec, kwargs, changed))
            if spec.streaming and result is not None:
                opened.append(result)
            return result

        result = self.around(call, proceed)
        if result is None:
            return None, _innermost(chain, spec) if proceeded else None
        return (closing(result, opened) if spec.streaming else result), None

    def _run_async(self, spec: _Spec, call: CapabilityCall, chain: list[Any], kwargs: dict[str, object]) -> object:
        first = _answer(spec, chain, kwargs)  # an awaitable or async iterator, not started yet
        if first is None:  # nobody answers (an optional operation): the host falls back
            return None
        pending = [first]
        opened: list[object] = []

        async def proceed(changed: CapabilityCall | None = None) -> Any:
            result = pending.pop() if pending and changed is None else None
            if result is None:
                result = _answer(spec, chain, kwargs if changed is None else _changed(spec, kwargs, changed))
            if spec.streaming:
                opened.append(result)
                return result
            return None if result is None else await result

        if not spec.streaming:
            return _Deferred(lambda: self.around_async(call, proceed), pending)
        return _stream(lambda: self.around_async(call, proceed), pending, opened)


#: Set by an outer middleware whose inner chain found no answer: (hook and arguments, the innermost
#: middleware of that chain). pluggy then calls the inner middlewares itself; they pass.
_SPENT: contextvars.ContextVar[tuple[tuple[str, tuple[int, ...]], Middleware] | None] = contextvars.ContextVar(
    "genai_commons_middleware_spent", default=None
)


async def _resolved(result: Awaitable[Any] | AsyncIterator[Any]) -> Any:
    return result if isinstance(result, AsyncIterator) else await result


class _Deferred:
    """The awaitable an async capability hook returns: ``around_async`` starts when it is awaited.
    Closing it unawaited closes the provider's awaitable it holds (no "never awaited" warning)."""

    def __init__(self, start: Callable[[], Awaitable[Any]], pending: list[object]) -> None:
        self._start = start
        self._pending = pending

    def __await__(self) -> Generator[Any, None, Any]:
        return self._run().__await__()

    async def _run(self) -> Any:
        try:
            return await self._start()
        finally:
            self.close()

    def close(self) -> None:
        while self._pending:  # the middleware answered without proceeding
            discard(self._pending.pop())


async def _stream(
    start: Callable[[], Awaitable[Any]], pending: list[object], opened: list[object]
) -> AsyncIterator[Any]:
    events = None
    try:
        events = await start()
        async for event in events:
            yield event
    finally:
        for inner in (events, *opened):
            await aclose(inner)
        for unused in pending:
            discard(unused)


def _answer(spec: _Spec, chain: list[Any], kwargs: dict[str, object]) -> Any:
    """The first non-None result of ``chain``, as pluggy's firstresult call would give it; a
    middleware in the chain runs around the rest."""
    for impl in chain:
        plugin = impl.plugin
        if isinstance(plugin, Middleware) and getattr(impl.function, "__func__", None) is _ADAPTERS[spec.name]:
            result = plugin._run(spec, tuple(kwargs[name] for name in spec.params))[0]
        else:
            extra = {name: kwargs[name] for name in impl.kwargnames if name in kwargs}
            result = impl.function(*(kwargs[name] for name in impl.argnames), **extra)
        if result is not None:
            return result
    return None


def _changed(spec: _Spec, kwargs: dict[str, object], changed: CapabilityCall) -> dict[str, object]:
    """Only the main argument may change: the target, and so the provider, stays."""
    return kwargs if spec.request is None else {**kwargs, spec.request: changed.request}


def _innermost(chain: list[Any], spec: _Spec) -> Middleware | None:
    adapters = [
        impl.plugin
        for impl in chain
        if isinstance(impl.plugin, Middleware) and getattr(impl.function, "__func__", None) is _ADAPTERS[spec.name]
    ]
    return adapters[-1] if adapters else None


# -- the capability hooks, described once --------------------------------------------------------

_CAPABILITIES: dict[str, Capability | None] = {
    "chat": Capability.CHAT,
    "chat_stream": Capability.CHAT_STREAM,
    "embed": Capability.EMBED,
    "count_tokens": None,
    "generate_image": Capability.IMAGE,
    "rerank": Capability.RERANK,
    "retrieve": Capability.RETRIEVE,
    "retrieve_and_generate": Capability.RETRIEVE,
    "ingest": Capability.INGEST,
    "ingest_from_source": Capability.INGEST,
    "stored_chunk_ids": Capability.INGEST,
    "delete_chunks": Capability.INGEST,
    "drop_collection": Capability.INGEST,
    "list_chunks": Capability.INGEST,
    "invoke_agent": Capability.AGENT,
}
_STREAMS = frozenset({"chat_stream", "invoke_agent"})
_TARGETS = {"model": "model", "knowledge_base": "knowledge_base", "agent": "agent"}


@attrs.frozen
class _Spec:
    """What the adapter needs to know about one capability hook."""

    name: str
    params: tuple[str, ...]
    operation: str
    is_async: bool
    #: The parameter holding the main argument (see :attr:`CapabilityCall.request`).
    request: str | None

    @property
    def streaming(self) -> bool:
        return self.operation in _STREAMS

    @classmethod
    def of(cls, name: str, params: tuple[str, ...]) -> _Spec:
        is_async = name.endswith("_async")
        operation = name.removeprefix("genai_").removesuffix("_async")
        request = next((p for p in params[1:] if p != "model"), None)
        return cls(name=name, params=params, operation=operation, is_async=is_async, request=request)

    def describe(self, args: tuple[object, ...]) -> CapabilityCall:
        arguments = dict(zip(self.params, args, strict=True))
        target: Any = args[0]
        model = arguments.get("model")
        return CapabilityCall(
            hook=self.name,
            operation=self.operation,
            capability=_CAPABILITIES[self.operation],
            provider=target.provider,
            target=target.ref,
            model=model if isinstance(model, DeployedModel) else None,
            knowledge_base=target if isinstance(target, KnowledgeBase) else None,
            agent=target if isinstance(target, Agent) else None,
            request=arguments[self.request] if self.request is not None else None,
            arguments=arguments,
            is_async=self.is_async,
            streaming=self.streaming,
        )


def _capability_hooks() -> dict[str, _Spec]:
    """Every hook whose docstring declares it a capability hook."""
    specs = {}
    for name, function in vars(hookspecs).items():
        if name.startswith("genai_") and (inspect.getdoc(function) or "").startswith("**capability**"):
            params = tuple(inspect.signature(function).parameters)
            if params[0] not in _TARGETS:
                raise TypeError(f"capability hook {name} must take its target first")
            specs[name] = _Spec.of(name, params)
    return specs


def _adapter(spec: _Spec) -> Callable[..., object]:
    """The hook implementation of one capability hook. pluggy passes arguments by the
    implementation's own parameter names, read from its code object (not from a signature), so
    the function is compiled with the spec's names (as ``dataclasses`` compiles ``__init__``); its
    body hands them to :meth:`Middleware._enter`."""
    params = ", ".join(spec.params)
    source = f"def {spec.name}(self, {params}):\n    return self._enter(_SPEC, ({params},))\n"
    namespace: dict[str, Any] = {"_SPEC": spec}
    exec(compile(source, f"<genai_commons.middleware {spec.name}>", "exec"), namespace)  # noqa: S102
    function: Callable[..., object] = namespace[spec.name]
    function.__qualname__ = f"Middleware.{spec.name}"
    function.__doc__ = f"Runs :meth:`Middleware.around` (or ``around_async``) for ``{spec.name}``."
    return function


_SPECS = _capability_hooks()
_ADAPTERS = {name: _adapter(spec) for name, spec in _SPECS.items()}
for _name, _function in _ADAPTERS.items():
    setattr(Middleware, _name, hookimpl(tryfirst=True)(_function))
