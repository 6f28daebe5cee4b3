"""Operations as generators of HTTP calls, so that one implementation serves sync and async code.

An operation is a generator that yields a :class:`Call` (or a list of them, to run concurrently)
and receives the :class:`Answer` (or the list of answers, in the same order); its return value is
the operation's result. :class:`~genai_commons_mxcloud.transport.Transport` runs operations with
the pooled sync client (a list in a bounded thread pool) or the async client of the running loop
(a list under a semaphore). No I/O here, and no httpx.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any, TypeVar

from attrs import field, frozen

__all__ = ["Answer", "Call", "Operation", "run_all"]

T = TypeVar("T")


def _params(value: Mapping[str, Any] | Sequence[tuple[str, Any]] | None) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(k), str(v)) for k, v in items)


@frozen(kw_only=True)
class Call:
    """One HTTP call to the key's base URL.

    :param path: the path below the base URL, already quoted.
    :param missing_ok: a 404 is an answer (``data`` None), not an error.
    :param collection: the knowledge-base collection the call is about, for the advice of a 404.
    """

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = field(default=(), converter=_params)
    body: Any = field(default=None, repr=False)
    missing_ok: bool = False
    collection: str | None = None


@frozen(kw_only=True)
class Answer:
    """What the service answered: the status, the parsed JSON body (None when empty) and headers."""

    status: int
    data: Any = field(repr=False)
    headers: Mapping[str, str] = field(repr=False, factory=dict)


#: An operation: yields calls, receives answers, returns its result.
Operation = Generator["Call | list[Call]", Any, T]


def run_all(calls: list[Call]) -> Generator[list[Call], Any, list[Answer]]:
    """Yield ``calls`` to run concurrently; the answers, in order (``yield from`` it)."""
    if not calls:
        return []
    answers: list[Answer] = yield calls
    return answers
