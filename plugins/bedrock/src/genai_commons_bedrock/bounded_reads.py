"""botocore's reads, bounded by the call's deadline (:mod:`genai_commons.deadlines`).

botocore's ``read_timeout`` bounds each wait for bytes, not a call: a server that drips a Converse
answer one byte every 0.3 s, or sends a stream's keep-alives forever, keeps the call going. A
timeout cannot be set per call either (every call shares the client and its connection pool).
So each client's HTTP session is wrapped (:func:`bound_reads`): an answer received while a
deadline is in force is read through :class:`BoundedBody`, one ``recv`` at a time, with the
deadline checked before each and the socket's timeout shortened to what is left of it. A trickle
and a stall then both end at the deadline with :class:`~genai_commons.DeadlineExceededError`,
the connection closed. Non-streamed answers (read whole by botocore before any hook sees them),
event streams and InvokeModel's streamed body all go through it.

The wait for the answer's head (status line and headers) is left to ``read_timeout``: urllib3
reads it inside botocore's send, with the pool's timeout; the deadline is checked as soon as the
head has come. Streams also check it for every event botocore hands over (:mod:`.shapes`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from genai_commons import deadlines

from .errors import PROVIDER

__all__ = ["BoundedBody", "BoundedSession", "bound_reads"]

#: The most bytes one read asks for: what urllib3's ``stream()`` asks for.
_PIECE = 2**16


def bound_reads(client: Any, read_timeout: float) -> None:
    """Make ``client``'s answers honour the deadline in force while they are read. botocore keeps
    its HTTP session on the client's endpoint; where its internals differ, nothing changes (the
    read timeout alone bounds each wait, as before)."""
    endpoint: Any = getattr(client, "_endpoint", None)
    session = getattr(endpoint, "http_session", None)
    if session is not None and not isinstance(session, BoundedSession):
        endpoint.http_session = BoundedSession(session, read_timeout)


class BoundedSession:
    """botocore's HTTP session, whose answers are read through :class:`BoundedBody` when a
    deadline is in force as the request is sent; everything else is the session's own.

    botocore's session reads a non-streamed body itself before returning the response; here the
    request is sent as a streamed one, and the body read (through the wrapper) just after, as
    botocore would. Where botocore takes a per-request read timeout (``read_timeout`` in the
    request's context), the wait for the head is shortened to the deadline too.
    """

    def __init__(self, session: Any, read_timeout: float) -> None:
        self._session = session
        self._read_timeout = read_timeout

    def send(self, request: Any) -> Any:
        left = deadlines.remaining()
        if left is None:
            return self._session.send(request)
        context = getattr(request, "context", None)
        if isinstance(context, dict) and left < context.get("read_timeout", self._read_timeout):
            context["read_timeout"] = max(left, 0.001)
        streamed = request.stream_output
        request.stream_output = True  # the body is read below, bounded
        try:
            response = self._session.send(request)
        finally:
            request.stream_output = streamed
        if hasattr(response.raw, "read1"):  # urllib3 2 (1.26 is read as botocore reads it)
            response.raw = BoundedBody(response.raw, self._read_timeout)
            response.raw.check()
        if not streamed:
            response.content  # noqa: B018 - read whole now, as botocore's session does
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class BoundedBody:
    """A urllib3 response whose reads end at the deadline in force when each is made (a stream's
    deadline is put in force by the host for each event it asks for); without one, the read
    timeout alone bounds each wait. Reads go a ``recv`` at a time (``read1``), so that a trickle
    cannot hold one read for ever."""

    def __init__(self, raw: Any, read_timeout: float) -> None:
        self._raw = raw
        self._read_timeout = read_timeout
        self._shortened = False

    def check(self) -> None:
        """Raise :class:`DeadlineExceededError` (and close the connection) if the deadline in force
        has passed; else let the next wait for bytes last no longer than what is left of it."""
        left = deadlines.remaining()
        if left is not None and left <= 0:
            self._fail(None)
        if left is not None and left < self._read_timeout:
            self._timeout(left)
            self._shortened = True
        elif self._shortened:
            self._timeout(self._read_timeout)
            self._shortened = False

    def read1(self, amt: int | None = _PIECE, decode_content: bool | None = None) -> bytes:
        """At most ``amt`` bytes, from one ``recv`` at most; ``b""`` at the end."""
        self.check()
        try:
            data = self._raw.read1(amt, decode_content=decode_content)
        except Exception as exc:
            left = deadlines.remaining()
            if left is not None and left <= 0:
                self._fail(exc)
            raise
        return data or b""

    def read(self, amt: int | None = None, decode_content: bool | None = None, **_: Any) -> bytes:
        """``amt`` bytes (all that is left: None), fewer only at the end of the body."""
        parts = []
        wanted = amt
        while wanted is None or wanted > 0:
            data = self.read1(_PIECE if wanted is None else min(wanted, _PIECE), decode_content)
            if not data:
                break
            parts.append(data)
            if wanted is not None:
                wanted -= len(data)
        return b"".join(parts)

    def stream(self, amt: int | None = _PIECE, decode_content: bool | None = None) -> Iterator[bytes]:
        """The body in pieces, as urllib3's ``stream`` gives it (never an empty piece)."""
        while True:
            data = self.read1(amt or _PIECE, decode_content)
            if not data:
                return
            yield data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def _timeout(self, seconds: float) -> None:
        sock = getattr(getattr(self._raw, "connection", None), "sock", None)
        if sock is not None:
            sock.settimeout(seconds)

    def _fail(self, cause: BaseException | None) -> None:
        bound = deadlines.current()
        assert bound is not None  # only called once it has passed
        self._raw.close()  # the rest of the answer is not wanted: free the connection now
        raise bound.error(PROVIDER) from cause
