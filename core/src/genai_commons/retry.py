"""The host's one retry loop: exponential backoff with full jitter, honouring Retry-After.

Only errors a plugin marked retryable (:attr:`ProviderError.retryable`: rate limits, timeouts,
unavailable services) are retried. The first attempt runs directly; after a retryable failure,
tenacity schedules the rest, so that the common case costs nothing. No attempt starts, and no wait
is begun, that the call's deadline (:mod:`genai_commons.deadlines`) would cut short: the last
error is raised instead.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from . import deadlines
from ._log import get_logger
from .config import RetryPolicy
from .errors import ProviderError

T = TypeVar("T")
_log = get_logger(__name__)


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


def backoff(policy: RetryPolicy, attempt: int, exc: BaseException | None) -> float:
    """Seconds to wait before attempt ``attempt + 1``: Retry-After if the provider gave one,
    else a random delay up to ``initial * multiplier**(attempt-1)``, capped at ``max_delay``."""
    retry_after = getattr(exc, "retry_after", None)
    ceiling = min(policy.max_delay, policy.initial_delay * policy.multiplier ** (attempt - 1))
    delay = random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography
    if retry_after is not None:
        delay = max(float(retry_after), delay)
    return delay


def _gives_up(policy: RetryPolicy, exc: BaseException) -> bool:
    retry_after = getattr(exc, "retry_after", None)
    return not is_retryable(exc) or (retry_after is not None and retry_after > policy.max_retry_after)


def _no_time_for(delay: float) -> bool:
    """Whether waiting ``delay`` seconds would leave no time before the deadline in force."""
    left = deadlines.remaining()
    return left is not None and left <= delay


def _tenacity_kwargs(policy: RetryPolicy, what: str) -> dict[str, Any]:
    import tenacity  # noqa: PLC0415 - loaded only when a call has failed once

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return backoff(policy, state.attempt_number + 1, exc)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        _log.warning(
            "call_retried",
            operation=what,
            attempt=state.attempt_number + 2,  # the first attempt ran before tenacity's
            error=type(exc).__name__,
            wait_s=round(state.upcoming_sleep, 3),
        )

    class out_of_time(tenacity.stop.stop_base):  # named like tenacity's stops
        def __call__(self, state: tenacity.RetryCallState) -> bool:
            return _no_time_for(state.upcoming_sleep)  # tenacity computes the wait before asking

    return {
        "stop": tenacity.stop_any(tenacity.stop_after_attempt(policy.max_attempts - 1), out_of_time()),
        "wait": wait,
        "retry": tenacity.retry_if_exception(lambda e: not _gives_up(policy, e)),
        "before_sleep": before_sleep,
        "reraise": True,
    }


def _why_not_retried(policy: RetryPolicy, exc: ProviderError, attempts: int) -> str | None:
    """What the host did with a retryable error it raises, for the caller (a note on it)."""
    if not exc.retryable:
        return None
    if exc.retry_after is not None and exc.retry_after > policy.max_retry_after:
        return (
            f"not retried: the provider asked to wait {exc.retry_after:g} s, longer than "
            f"[retry] max_retry_after ({policy.max_retry_after:g} s); wait that long before trying again"
        )
    if policy.max_attempts == 1:
        return "not retried: [retry] max_attempts is 1"
    if attempts >= policy.max_attempts:
        return f"gave up after {attempts} attempts ([retry] max_attempts)"
    return "not retried: the call's deadline leaves no time for another attempt"


def _note(policy: RetryPolicy, exc: ProviderError, attempts: int) -> None:
    note = _why_not_retried(policy, exc, attempts)
    if note is not None and note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)


def call_with_retry(policy: RetryPolicy, what: str, fn: Callable[[], T]) -> T:
    """``fn()``, retried on retryable errors under ``policy``."""
    try:
        return fn()
    except ProviderError as exc:
        if policy.max_attempts <= 1 or _gives_up(policy, exc):
            _note(policy, exc, 1)
            raise
        first = exc
    import time  # noqa: PLC0415

    import tenacity  # noqa: PLC0415

    delay = backoff(policy, 1, first)
    if _no_time_for(delay):
        _note(policy, first, 1)
        raise first
    _log.warning("call_retried", operation=what, attempt=2, error=type(first).__name__, wait_s=round(delay, 3))
    time.sleep(delay)
    retrying = tenacity.Retrying(**_tenacity_kwargs(policy, what))
    try:
        return retrying(fn)
    except ProviderError as exc:
        _note(policy, exc, 1 + retrying.statistics.get("attempt_number", 1))
        raise


async def call_with_retry_async(policy: RetryPolicy, what: str, fn: Callable[[], Awaitable[T]]) -> T:
    """``await fn()``, retried on retryable errors under ``policy``."""
    try:
        return await fn()
    except ProviderError as exc:
        if policy.max_attempts <= 1 or _gives_up(policy, exc):
            _note(policy, exc, 1)
            raise
        first = exc
    import asyncio  # noqa: PLC0415

    import tenacity  # noqa: PLC0415

    delay = backoff(policy, 1, first)
    if _no_time_for(delay):
        _note(policy, first, 1)
        raise first
    _log.warning("call_retried", operation=what, attempt=2, error=type(first).__name__, wait_s=round(delay, 3))
    await asyncio.sleep(delay)
    retrying = tenacity.AsyncRetrying(**_tenacity_kwargs(policy, what))
    try:
        result: T = await retrying(fn)
    except ProviderError as exc:
        _note(policy, exc, 1 + retrying.statistics.get("attempt_number", 1))
        raise
    return result
