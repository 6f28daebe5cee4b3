"""Content codings decoded a bounded step at a time, for :mod:`genai_commons.answer_limit`.

httpx decodes each chunk it receives in one go: 64 KiB of gzip can inflate to 64 MiB before
anything counts it. Here every step makes at most :data:`STEP` bytes (zlib's ``max_length``,
brotli's ``output_buffer_limit``, zstandard's ``write_size``) and each step's output is handed to a
``spend`` function, which raises once the answer is over its limit — so a decompression bomb is
refused after at most one step past the limit, never inflated whole.

The codings are the ones httpx decodes, with the same results: ``gzip`` and ``deflate`` (zlib or
raw deflate), ``br`` when ``brotli`` or ``brotlicffi`` is installed, ``zstd`` when ``zstandard`` is;
``identity`` and codings httpx does not know are passed through. Data after the end of a gzip or
deflate stream is ignored, as httpx ignores it. Damaged data raises :class:`httpx.DecodingError`,
as httpx's own decoders do (except a zstd stream cut short, which zstandard's stream writer does
not report: what then reads the answer finds it incomplete). Output is bounded per step for every
coding except ``br`` with a brotli older than 1.2 (no ``output_buffer_limit``), which decodes each
received chunk whole — still counted, so the limit holds, but a bomb's chunk is inflated before
it is refused.
"""

from __future__ import annotations

import importlib
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import httpx

__all__ = ["STEP", "Decoder", "decoder_for"]

#: The most bytes one decoding step makes.
STEP = 64 * 1024

#: Counts a step's output; raises when the answer is over its limit.
Spend = Callable[[int], None]


class Decoder(Protocol):
    """Decodes one answer: :meth:`decode` each chunk received, then :meth:`flush` once."""

    def decode(self, data: bytes) -> Iterator[bytes]: ...

    def flush(self) -> Iterator[bytes]: ...


class _Zlib:
    """gzip, or deflate (zlib-wrapped, or raw when the first bytes are not a zlib header, as httpx
    does)."""

    def __init__(self, spend: Spend, *, gzip: bool) -> None:
        self._spend = spend
        self._raw_fallback = not gzip
        self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)

    def decode(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._inflate.decompress(data, STEP)
            except zlib.error as exc:
                if self._raw_fallback:  # nothing decoded yet: try raw deflate
                    self._raw_fallback = False
                    self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise httpx.DecodingError(str(exc)) from exc
            self._raw_fallback = False
            data = self._inflate.unconsumed_tail
            if out:
                self._spend(len(out))
                yield out
            if self._inflate.eof or (not data and len(out) < STEP):
                return

    def flush(self) -> Iterator[bytes]:
        try:
            out = self._inflate.flush()
        except zlib.error as exc:
            raise httpx.DecodingError(str(exc)) from exc
        if out:
            self._spend(len(out))
            yield out


class _Brotli:
    def __init__(self, spend: Spend, module: Any) -> None:
        self._spend = spend
        self._error = module.error
        self._state = module.Decompressor()
        # brotlicffi names it decompress, brotli process; both bound the output from 1.2 on
        self._process = getattr(self._state, "decompress", None) or self._state.process
        self._bounded = hasattr(self._state, "can_accept_more_data")
        self._seen = False

    def _step(self, data: bytes) -> bytes:
        try:
            out: bytes = self._process(data, output_buffer_limit=STEP) if self._bounded else self._process(data)
        except self._error as exc:
            raise httpx.DecodingError(str(exc)) from exc
        if out:
            self._spend(len(out))
        return out

    def decode(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        self._seen = True
        out = self._step(data)
        if out:
            yield out
        while self._bounded:  # the rest of what ``data`` holds; no call tells whether more is due
            out = self._step(b"")
            if not out:
                return
            yield out

    def flush(self) -> Iterator[bytes]:
        finish = getattr(self._state, "finish", None)  # brotlicffi: raises for a truncated stream
        if self._seen and finish is not None:
            try:
                finish()
            except self._error as exc:
                raise httpx.DecodingError(str(exc)) from exc
        return iter(())


class _Sink:
    """Where zstandard writes a step's output."""

    def __init__(self, spend: Spend) -> None:
        self.spend = spend
        self.pieces: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.spend(len(data))
        self.pieces.append(bytes(data))
        return len(data)


class _Zstd:
    """zstd through zstandard's stream writer, which hands its output over ``STEP`` bytes at a
    time, each piece counted as it comes (frames one after another are decoded, as httpx does);
    the pieces of one received chunk are passed on once it is decoded."""

    def __init__(self, spend: Spend, module: Any) -> None:
        self._error = module.ZstdError
        self._sink = _Sink(spend)
        self._writer = module.ZstdDecompressor().stream_writer(self._sink, write_size=STEP)
        self._seen = False

    def _drain(self) -> Iterator[bytes]:
        pieces, self._sink.pieces = self._sink.pieces, []
        yield from pieces

    def decode(self, data: bytes) -> Iterator[bytes]:
        if data:
            self._seen = True
            try:
                self._writer.write(data)
            except self._error as exc:
                raise httpx.DecodingError(str(exc)) from exc
        return self._drain()

    def flush(self) -> Iterator[bytes]:
        try:
            self._writer.flush()
        except self._error as exc:
            raise httpx.DecodingError(str(exc)) from exc
        return self._drain()


class _Chain:
    """Several codings, undone last applied first; each one's output counts against the limit."""

    def __init__(self, layers: list[Decoder]) -> None:
        self._layers = layers

    def decode(self, data: bytes) -> Iterator[bytes]:
        return self._through(1, self._layers[0].decode(data))

    def flush(self) -> Iterator[bytes]:
        for index, layer in enumerate(self._layers):
            yield from self._through(index + 1, layer.flush())

    def _through(self, index: int, pieces: Iterator[bytes]) -> Iterator[bytes]:
        if index == len(self._layers):
            yield from pieces
            return
        for piece in pieces:
            yield from self._through(index + 1, self._layers[index].decode(piece))


_MODULES: dict[str, Any] = {}
_MODULES_LOCK = threading.Lock()


def _module(coding: str) -> Any:
    """brotli (or brotlicffi) for ``br``, zstandard for ``zstd``, or None when not installed —
    the packages httpx decodes these codings with; imported when an answer first uses them."""
    with _MODULES_LOCK:
        if coding not in _MODULES:
            names = ("brotli", "brotlicffi") if coding == "br" else ("zstandard",)
            found = None
            for name in names:
                try:
                    found = importlib.import_module(name)
                    break
                except ImportError:
                    continue
            _MODULES[coding] = found
        return _MODULES[coding]


def _layer(coding: str, spend: Spend) -> Decoder | None:
    if coding == "gzip":
        return _Zlib(spend, gzip=True)
    if coding == "deflate":
        return _Zlib(spend, gzip=False)
    if coding in ("br", "zstd"):
        module = _module(coding)
        if module is None:
            return None
        return _Brotli(spend, module) if coding == "br" else _Zstd(spend, module)
    return None  # identity, or a coding httpx passes through as it is


def decoder_for(codings: list[str], spend: Callable[[], Spend]) -> tuple[Decoder, str] | None:
    """The decoder of an answer's ``Content-Encoding`` values, in the order they were applied, and
    the codings it undoes (for messages); None when httpx would decode nothing. ``spend()`` makes
    the counter of one layer's output."""
    layers: list[Decoder] = []
    names: list[str] = []
    for value in reversed(codings):
        coding = value.strip().lower()
        layer = _layer(coding, spend())
        if layer is not None:
            layers.append(layer)
            names.append(coding)
    if not layers:
        return None
    return (layers[0] if len(layers) == 1 else _Chain(layers)), ", ".join(reversed(names))
