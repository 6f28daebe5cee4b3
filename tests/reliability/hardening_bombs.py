"""Decompression bombs and deeply nested JSON, for the hardening suites (``test_hardening_sizes.py``,
``test_hardening_json.py``): bodies a server sends as they are, with ``Content-Encoding`` set, and
the peak memory of a call that must refuse one.

A bomb here is a small compressed body that inflates to :data:`INFLATED` bytes (32 MiB of one
repeated byte, wrapped in the JSON or events the call expects); the suites cap answers far below
that and check that the call fails at the cap with its memory peak far below :data:`INFLATED`.
gzip and deflate come with Python; ``br`` and ``zstd`` are decoded by httpx only when brotli (or
brotlicffi) and zstandard are installed, so their cases are skipped otherwise.
"""

from __future__ import annotations

import functools
import importlib.util
import tracemalloc
import zlib
from collections.abc import Callable
from typing import TypeVar

import pytest

__all__ = ["CODINGS", "DEEP", "INFLATED", "bomb", "bounded", "compress", "deep", "peak_of"]

T = TypeVar("T")

#: What a bomb inflates to.
INFLATED = 32 * 1024 * 1024
#: A 200 KB JSON text nested 100,000 levels deep.
DEEP = b"[" * 100_000 + b"]" * 100_000


def deep(levels: int, inner: bytes = b"1") -> bytes:
    """``inner`` inside ``levels`` nested JSON arrays."""
    return b"[" * levels + inner + b"]" * levels


def _installed(*modules: str) -> bool:
    return any(importlib.util.find_spec(name) is not None for name in modules)


_BR = _installed("brotli", "brotlicffi")
_ZSTD = _installed("zstandard")

#: Every content coding httpx decodes, those it cannot decode here skipped with the reason.
CODINGS = [
    "gzip",
    "deflate",
    pytest.param("br", marks=pytest.mark.skipif(not _BR, reason="brotli / brotlicffi not installed: no br in httpx")),
    pytest.param("zstd", marks=pytest.mark.skipif(not _ZSTD, reason="zstandard not installed: no zstd in httpx")),
]


def compress(data: bytes, coding: str) -> bytes:
    """``data`` in a content coding (``deflate`` is zlib-wrapped, as RFC 9110 has it)."""
    if coding == "gzip":
        packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        return packer.compress(data) + packer.flush()
    if coding == "deflate":
        return zlib.compress(data, 9)
    if coding == "br":
        try:
            import brotli
        except ImportError:
            import brotlicffi as brotli
        return bytes(brotli.compress(data))
    if coding == "zstd":
        import zstandard

        return bytes(zstandard.ZstdCompressor(level=19).compress(data))
    raise ValueError(coding)


@functools.cache
def bomb(coding: str, head: bytes = b"", tail: bytes = b"", filler: bytes = b"x") -> bytes:
    """``head``, :data:`INFLATED` bytes of ``filler``, ``tail``, compressed with ``coding``."""
    return compress(head + filler * (INFLATED // len(filler)) + tail, coding)


def peak_of(call: Callable[[], T], peaks: list[int]) -> Callable[[], T]:
    """``call``, recording into ``peaks`` the most memory Python allocated while it ran (tracemalloc)."""

    def measured() -> T:
        tracemalloc.start()
        try:
            return call()
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()

    return measured


def bounded(peaks: list[int]) -> None:
    """The assertion every bomb test makes: no run came near inflating the bomb."""
    assert peaks, "the call was not measured"
    assert max(peaks) < INFLATED // 4, f"peak {max(peaks) / 2**20:.1f} MiB: the bomb was inflated"
