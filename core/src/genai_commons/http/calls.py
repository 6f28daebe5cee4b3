"""HTTP calls described once, run by a sync or an async driver: the sans-I/O half of the HTTP layer.

An *operation* is a generator that yields a :class:`Call` (or a list of them, to run concurrently)
and receives the :class:`Answer` (or the list of answers, in the same order); its return value is
the operation's result::

    def embed(texts: list[str]) -> Operation[list[list[float]]]:
        answer = yield Call(method="POST", path="/embeddings", body={"input": texts})
        return [item["embedding"] for item in answer.data["data"]]

    vectors = driver.run(endpoint, embed(texts))          # sync code
    vectors = await driver.arun(endpoint, embed(texts))   # async code

A streamed call is a :class:`Call` too, handed to :meth:`.Driver.events` or
:meth:`.Driver.aevents`, which yield its server-sent events. Nothing here does I/O or imports
httpx, so a provider's request building and answer reading are plain functions, tested without a
server.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, TypeVar

from attrs import field, frozen

__all__ = ["Answer", "Call", "Operation", "one", "run_all"]

T = TypeVar("T")

Pairs = Mapping[str, Any] | Sequence[tuple[str, Any]] | None


def _pairs(value: Pairs) -> tuple[tuple[str, str], ...]:
    if not value:
        return ()
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(k), str(v)) for k, v in items)


@frozen(kw_only=True)
class Call:
    """One HTTP request to an endpoint (:class:`~genai_commons.http.Endpoint`).

    :param path: below the endpoint's base URL (already quoted), or an absolute ``https://`` URL
        (an ``httpx.URL`` too: parsed once, not on every call).
    :param params: the query string's pairs.
    :param body: a JSON value (encoded by the endpoint), ``bytes`` (sent as they are), a callable
        giving either (built as the call is sent: a large body is not kept while it waits), or None.
    :param headers: besides the client's and the endpoint's (which they override).
    :param timeout: seconds for this call instead of the client's timeout (connecting keeps its own
        limit when that is shorter).
    :param missing_ok: a 404 is an answer (``data`` None), not an error.
    :param about: what the call is about (a collection's name, a model), for the advice of an error.
    """

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = field(default=(), converter=_pairs)
    body: Any = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), converter=_pairs, repr=False)
    timeout: float | None = None
    missing_ok: bool = False
    about: str | None = None

    def content(self, encode: Callable[[Any], bytes]) -> bytes | None:
        """The body as bytes (``encode`` turns a JSON value into them)."""
        body = self.body() if callable(self.body) else self.body
        if body is None or isinstance(body, bytes):
            return body
        return encode(body)


@frozen(kw_only=True)
class Answer:
    """What the server answered: the status, the parsed JSON body (None when empty, or a 404 that
    ``missing_ok`` allowed) and the headers."""

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


def one(call: Call) -> Operation[Answer]:
    """The operation of a single call: its answer."""
    answer: Answer = yield call
    return answer
