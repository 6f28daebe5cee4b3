"""Server-sent events (``text/event-stream``) read from the bytes of an answer, strictly UTF-8.

The format is the WHATWG one: lines end with CRLF, LF or CR; ``data:`` lines accumulate (joined
with LF), ``event:``, ``id:`` and ``retry:`` set the event's other fields, a line starting with a
colon is a comment, and an empty line dispatches the event. An event that the answer ends before
its empty line is not dispatched (the specification's rule): a stream cut mid-event loses it.

Unlike a text decoder that replaces what it cannot decode with U+FFFD, invalid UTF-8 raises
:class:`InvalidUTF8`, so that a stream whose bytes are damaged fails as the same bytes in a plain
JSON answer fail, never as an answer with silently altered text. (An incomplete character at the
very end belongs to a line the stream did not finish, which is dropped with it: that stream is
cut, not damaged.) Pure functions over byte chunks; no I/O and no HTTP library.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Iterator

from attrs import frozen

__all__ = ["Event", "EventDecoder", "InvalidUTF8", "aevents", "events"]

_LINE_END = re.compile(r"\r\n|\r|\n")


class InvalidUTF8(ValueError):
    """The stream's bytes are not valid UTF-8 (the decoder's error is its ``__cause__``)."""


@frozen
class Event:
    """One dispatched event: its ``event`` name (empty when none was given), ``data``, the last
    event ``id`` seen, and ``retry`` when the event set one."""

    event: str = ""
    data: str = ""
    id: str = ""
    retry: int | None = None


class EventDecoder:
    """Turns the chunks of one stream into events: :meth:`feed` each chunk, then :meth:`close`."""

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")("strict")
        self._started = False
        self._damage: UnicodeDecodeError | None = None
        self._pending: list[str] = []  # the pieces of a line not yet ended
        self._event = ""
        self._data: list[str] = []
        self._id = ""
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        """The events that ``chunk`` completes; :class:`InvalidUTF8` once the stream's bytes stop
        being UTF-8 (the events completed before the damage are returned first)."""
        return self._lines(self._decode(chunk), final=False)

    def close(self) -> list[Event]:
        """End of the stream: a line not ended, and an event not ended by an empty line, are
        dropped (with any incomplete character they end with)."""
        self._check()
        return self._lines("", final=True)

    def _check(self) -> None:
        if self._damage is not None:
            raise InvalidUTF8(f"the event stream is not valid UTF-8 ({self._damage.reason})") from self._damage

    def _decode(self, chunk: bytes) -> str:
        self._check()
        try:
            text = self._text.decode(chunk)
        except UnicodeDecodeError as exc:  # what came before the damage is good: its events first
            self._damage = exc
            text = exc.object[: exc.start].decode("utf-8")
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")  # a byte order mark may open the stream
        return text

    def _lines(self, text: str, *, final: bool) -> list[Event]:
        waiting_cr = bool(self._pending) and self._pending[-1].endswith("\r")
        if not final and not waiting_cr and "\n" not in text and "\r" not in text:
            if text:  # still inside a line: keep the piece, join the pieces once the line ends
                self._pending.append(text)
            return []
        text = "".join(self._pending) + text
        self._pending = []
        found: list[Event] = []
        start = 0
        for match in _LINE_END.finditer(text):
            if not final and match.group() == "\r" and match.end() == len(text):
                break  # a CR at the end of a chunk may be the first half of a CRLF
            event = self._line(text[start : match.start()])
            if event is not None:
                found.append(event)
            start = match.end()
        if text[start:] and not final:  # at the end, a line without its end is dropped
            self._pending.append(text[start:])
        return found

    def _line(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> Event | None:
        if not self._data and not self._event and self._retry is None:
            return None
        event = Event(event=self._event, data="\n".join(self._data), id=self._id, retry=self._retry)
        self._event, self._data, self._retry = "", [], None
        return event


def events(chunks: Iterable[bytes]) -> Iterator[Event]:
    """The events of a stream given as byte chunks (``response.iter_bytes()``)."""
    decoder = EventDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.close()


async def aevents(chunks: AsyncIterable[bytes]) -> AsyncGenerator[Event, None]:
    """:func:`events` over async chunks (``response.aiter_bytes()``)."""
    decoder = EventDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.close():
        yield event
