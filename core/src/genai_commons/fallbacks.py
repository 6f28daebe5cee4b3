"""Fallbacks: a call through an alias of several targets tries them in order.

``[aliases] smart = ["openai:gpt-4o", "bedrock:anthropic.claude-3-5-sonnet-20240620-v1:0"]``: a
chat (``chat``, ``achat``, ``stream``, ``astream``) or image call on ``smart`` goes to the first
target, with the host's retries; when it still fails with an error that retries could not fix —
:data:`FALLBACK_ERRORS`: throttled, timed out, unavailable, model not found or not accessible —
the next target gets the whole call. The call falls back only before the model has answered: a
tool loop whose first step was answered continues on that target (its later failures are raised),
and a stream falls back only before its first event. The response's ``model`` names the target
that answered, and so does its usage record (which is that target's). Each fallback is logged as
``model_fell_back`` (the alias, the target given up, the next one and the error's class; never
prompt text). When every target fails, the last error is raised with a note naming each earlier
failure.

The host methods carry :func:`over_targets`; a host whose configuration has no alias of several
targets calls them directly, at no cost. On one that has, a call on a model that is no such alias
costs a wrapper call, a type check and a dictionary lookup (under a microsecond).
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

import attrs

from ._log import get_logger
from .errors import (
    GenAIError,
    NotFoundError,
    PermissionDeniedError,
    ProviderTimeoutError,
    RateLimitError,
    ServiceUnavailableError,
    UnknownModelError,
)

if TYPE_CHECKING:
    from ._host_base import HostBase

__all__ = ["FALLBACK_ERRORS", "answered", "install", "over_targets"]

#: The errors after which the next target of an alias is tried (``UnknownModelError``: the
#: target's provider is not installed, or does not know the model).
FALLBACK_ERRORS: tuple[type[GenAIError], ...] = (
    RateLimitError,
    ProviderTimeoutError,
    ServiceUnavailableError,
    NotFoundError,
    PermissionDeniedError,
    UnknownModelError,
)

_log = get_logger(__name__)
H = TypeVar("H", bound="HostBase")
P = ParamSpec("P")
R = TypeVar("R")


class _Attempt:
    """One target's try; ``answered`` once a provider call of it returned."""

    __slots__ = ("answered",)

    def __init__(self) -> None:
        self.answered = False


_attempt: ContextVar[_Attempt | None] = ContextVar("genai_commons_fallback_attempt", default=None)
#: Names of the host methods marked with :func:`over_targets`.
_METHODS: set[str] = set()
#: Whether any host has installed fallbacks; until then the host does not call :func:`answered`.
in_use = False


def answered() -> None:
    """Mark that the model answered within the current try (the host calls this after each
    provider call): a failure from now on is raised, not fallen back from."""
    attempt = _attempt.get()
    if attempt is not None:
        attempt.answered = True


def _targets(host: HostBase, model: object) -> tuple[str, ...] | None:
    if model.__class__ is str:
        targets = host.config.aliases.get(model)
        if targets is not None and len(targets) > 1:
            return targets
    return None


def over_targets(method: Callable[Concatenate[H, Any, P], R]) -> Callable[Concatenate[H, Any, P], R]:
    """Mark a host method whose first argument is the model: on a host whose configuration has
    an alias of several targets, :func:`install` wraps it so that the alias falls back from one
    target to the next. The method itself is returned unchanged, so that hosts without such an
    alias pay nothing."""
    _METHODS.add(method.__name__)
    return method


def install(host: HostBase) -> None:
    """Wrap the marked methods of ``host`` when its configuration has an alias of several targets
    (the host calls this once, when it is made)."""
    global in_use  # noqa: PLW0603 - a process-wide switch: once any host falls back, answered() counts
    if not any(len(targets) > 1 for targets in host.config.aliases.values()):
        return
    in_use = True
    for name in _METHODS:
        method = getattr(type(host), name, None)
        if method is not None:
            vars(host)[name] = types.MethodType(_wrap(method), host)


def _wrap(method: Callable[Concatenate[H, Any, P], R]) -> Callable[Concatenate[H, Any, P], R]:
    """``method``, falling back from one target of an alias to the next (sync or coroutine)."""
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def call_async(self: H, model: Any, *args: P.args, **kwargs: P.kwargs) -> Any:
            targets = _targets(self, model)
            if targets is None:
                return await method(self, model, *args, **kwargs)
            failures: list[str] = []
            for index, target in enumerate(targets):
                attempt = _Attempt()
                token = _attempt.set(attempt)
                try:
                    return _answered_by(await method(self, target, *args, **kwargs), target)
                except FALLBACK_ERRORS as exc:
                    _give_up(model, targets, index, exc, attempt, failures)
                finally:
                    _attempt.reset(token)
            raise AssertionError("unreachable")  # pragma: no cover - the last target raises

        return call_async  # type: ignore[return-value]

    @functools.wraps(method)
    def call(self: H, model: Any, *args: P.args, **kwargs: P.kwargs) -> R:
        targets = _targets(self, model)
        if targets is None:
            return method(self, model, *args, **kwargs)
        failures: list[str] = []
        for index, target in enumerate(targets):
            attempt = _Attempt()
            token = _attempt.set(attempt)
            try:
                return _answered_by(method(self, target, *args, **kwargs), target)
            except FALLBACK_ERRORS as exc:
                _give_up(model, targets, index, exc, attempt, failures)
            finally:
                _attempt.reset(token)
        raise AssertionError("unreachable")  # pragma: no cover - the last target raises

    return cast("Callable[Concatenate[H, Any, P], R]", call)


def _give_up(
    alias: str, targets: Sequence[str], index: int, exc: GenAIError, attempt: _Attempt, failures: list[str]
) -> None:
    """Log the fallback from ``targets[index]``, or re-raise ``exc`` when there is none to make."""
    failures.append(f"{targets[index]} ({type(exc).__name__})")
    if attempt.answered or index == len(targets) - 1:
        if len(failures) > 1 and not attempt.answered:
            exc.add_note(f"alias {alias!r} tried every target: {', '.join(failures)}")
        elif index:
            exc.add_note(f"alias {alias!r} fell back to {targets[index]}, which answered and then failed")
        raise exc
    _log.warning(
        "model_fell_back",
        alias=alias,
        failed=targets[index],
        next=targets[index + 1],
        error=type(exc).__name__,
    )


def _answered_by(result: R, target: str) -> R:
    """The result, naming the target that answered: a response's ``model``; a stream sets it on
    the response it assembles."""
    value: Any = result
    if hasattr(value, "answered_by"):  # a chat stream
        value.answered_by = target
    elif attrs.has(type(value)) and "model" in attrs.fields_dict(type(value)):
        value = attrs.evolve(value, model=target)
    return cast(R, value)
