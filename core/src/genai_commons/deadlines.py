"""Per-call deadlines: a bound on a whole call, where timeouts bound each wait.

A read timeout ends a wait for bytes, not a call: a server that sends one byte every few seconds,
or stream keep-alives forever, would keep a call running indefinitely. The host gives every call a
deadline — every attempt, every wait between attempts and, for a stream, every event up to the
last — and the call ends with :class:`~genai_commons.errors.DeadlineExceededError` (a
:class:`~genai_commons.errors.ProviderTimeoutError`, not retried) when it passes.

Where it comes from, the shortest winning:

* ``[retry] deadline`` (seconds, default :data:`DEFAULT_DEADLINE`), for every provider;
* ``deadline`` in a provider's table, ``[providers.NAME]``, for that provider's calls;
* :func:`deadline` around calls in the application, for those calls::

      with genai_commons.deadline(30):
          host.chat("openai:gpt-4o-mini", "Summarise this")

Plugins read it while they work: :func:`timeout` shortens a timeout to what is left, and
:func:`check` raises once the deadline has passed (call it for each chunk or event read). The
deadline lives in a context variable: async tasks inherit it; a plugin that hands work to a
thread pool runs it in a copy of the caller's context (``contextvars.copy_context().run``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from .errors import DeadlineExceededError, ProviderTimeoutError, ValidationError

__all__ = ["DEFAULT_DEADLINE", "Bound", "check", "current", "deadline", "remaining", "scope", "timeout"]

#: Seconds a call may take in all when nothing shorter is configured: 15 minutes, longer than any
#: single answer of today's models, finite so that no call runs forever.
DEFAULT_DEADLINE = 900.0


class Bound:
    """One deadline: when it ends (``time.monotonic()``), how long it was, who set it, and the
    provider of the call it bounds (when the host set it for one)."""

    __slots__ = ("end", "provider", "seconds", "source")

    def __init__(self, seconds: float, source: str, provider: str | None = None, end: float | None = None) -> None:
        self.end = time.monotonic() + seconds if end is None else end
        self.seconds = seconds
        self.source = source
        self.provider = provider

    def error(self, provider: str | None = None) -> DeadlineExceededError:
        name = provider or self.provider or "the provider"
        return DeadlineExceededError(
            f"the call to {name} did not finish within its deadline of {self.seconds:g} s "
            f"(set by {self.source}); raise it for long answers, or stream them",
            provider=name,
        )


_BOUND: ContextVar[Bound | None] = ContextVar("genai_commons_deadline", default=None)


def positive_seconds(value: object) -> bool:
    """Whether ``value`` is a number of seconds a deadline can be: finite and above zero."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value) and value > 0


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Calls made inside this block end within ``seconds`` from now (or sooner, when a deadline
    already in force or the configured one ends first)."""
    if not positive_seconds(seconds):
        raise ValidationError(f"deadline must be a positive number of seconds, got {seconds!r}")
    with _Scope(Bound(float(seconds), "genai_commons.deadline()")):
        yield


class _Scope:
    """Puts a bound in force for a block, unless one in force already ends sooner; a class
    rather than a generator, since the host enters one for every call."""

    __slots__ = ("_bound", "_token")

    def __init__(self, bound: Bound) -> None:
        self._bound = bound
        self._token: Token[Bound | None] | None = None

    def __enter__(self) -> Bound:
        bound = self._bound
        current = _BOUND.get()
        if current is not None and current.end <= bound.end:
            if current.provider == bound.provider:
                return current
            bound = Bound(current.seconds, current.source, bound.provider, current.end)
        self._token = _BOUND.set(bound)
        return bound

    def __exit__(self, *_: object) -> None:
        if self._token is not None:
            _BOUND.reset(self._token)
            self._token = None


def scope(seconds: float, source: str, provider: str) -> _Scope:
    """The host's scope for one call to ``provider``: ``seconds`` from now unless a deadline in
    force ends first; entering it gives the bound in force."""
    return _Scope(Bound(seconds, source, provider))


def current() -> Bound | None:
    """The deadline in force, if any."""
    return _BOUND.get()


def remaining() -> float | None:
    """Seconds left before the deadline in force (at most 0), or None when there is none."""
    bound = _BOUND.get()
    return None if bound is None else bound.end - time.monotonic()


def check(provider: str | None = None) -> None:
    """Raise :class:`DeadlineExceededError` if the deadline in force has passed (``provider``
    names the provider when the host did not)."""
    bound = _BOUND.get()
    if bound is not None and time.monotonic() >= bound.end:
        raise bound.error(provider)


def overdue(exc: ProviderTimeoutError) -> DeadlineExceededError | None:
    """When the deadline in force has passed, so that the timeout ``exc`` was the deadline's (a
    plugin shortens its timeouts to what is left): the :class:`DeadlineExceededError` to raise
    ``from`` it; else None."""
    bound = _BOUND.get()
    if bound is None or isinstance(exc, DeadlineExceededError) or time.monotonic() < bound.end - 0.001:
        return None
    return bound.error(exc.provider)


class _Overdue:
    """Around a call: its :class:`ProviderTimeoutError`, once the deadline in force has passed,
    becomes the :class:`DeadlineExceededError` it really is (see :func:`overdue`)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, _kind: object, exc: BaseException | None, _tb: object) -> None:
        if isinstance(exc, ProviderTimeoutError):
            late = overdue(exc)
            if late is not None:
                raise late from exc


#: ``with deadlines.overdue_timeouts: ...`` — see :class:`_Overdue`.
overdue_timeouts = _Overdue()


def timeout(seconds: float | None) -> float | None:
    """``seconds`` (a timeout; None for none), shortened to the time left before the deadline."""
    left = remaining()
    if left is None:
        return seconds
    left = max(left, 0.001)
    return left if seconds is None else min(seconds, left)


def enter(bound: Bound) -> Token[Bound | None]:
    """Put ``bound`` in force (a stream's deadline while its next event is produced, outside the
    scope of the call that opened it); :func:`leave` with the token afterwards."""
    return _BOUND.set(bound)


def leave(token: Token[Bound | None]) -> None:
    """Restore the deadline that was in force before :func:`enter`."""
    _BOUND.reset(token)
