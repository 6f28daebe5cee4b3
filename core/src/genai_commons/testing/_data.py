"""Deterministic data for the fakes: word counts, hash vectors, cosine similarity, a tiny PNG."""

from __future__ import annotations

import hashlib
import math
import re
import struct
import zlib
from collections.abc import Sequence

from ..model import Request

_WORD = re.compile(r"\w+")

#: Dimensions of a fake embedding when the options do not ask for a number.
DEFAULT_DIMENSIONS = 8


def words(text: str) -> list[str]:
    """The lower-cased words of a text (runs of letters, digits and ``_``): the fakes' keywords."""
    return _WORD.findall(text.lower())


def count_words(text: str | None) -> int:
    """Whitespace-separated words: the fakes' token count."""
    return len(text.split()) if text else 0


def request_words(request: Request) -> int:
    """Words of the system prompt and every message's content: a fake chat's input tokens."""
    return count_words(request.system_prompt) + sum(count_words(m.content) for m in request.messages)


def _unit_hash_vector(seed: str, dimensions: int) -> list[float]:
    """A pseudo-random vector in [-1, 1]^dimensions, determined by ``seed``."""
    out: list[float] = []
    block = 0
    while len(out) < dimensions:
        digest = hashlib.sha256(f"{block}:{seed}".encode()).digest()
        out.extend((b / 127.5) - 1.0 for b in digest)
        block += 1
    return out[:dimensions]


def hash_vector(text: str, dimensions: int = DEFAULT_DIMENSIONS, *, normalize: bool = True) -> list[float]:
    """A deterministic embedding: the sum of a pseudo-random vector per lower-cased word (so texts
    sharing words are similar), or of the whole text when it has no word; unit length if asked."""
    words = _WORD.findall(text.lower()) or [text]
    total = [0.0] * dimensions
    for word in words:
        for i, value in enumerate(_unit_hash_vector(word, dimensions)):
            total[i] += value
    if normalize:
        norm = math.sqrt(sum(v * v for v in total))
        if norm > 0:
            total = [v / norm for v in total]
    return total


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity, clamped to [-1, 1]; 0 when either vector is zero or lengths differ."""
    if len(a) != len(b):
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    if norm == 0:
        return 0.0
    return max(-1.0, min(1.0, dot / norm))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def tiny_png(seed: str = "") -> bytes:
    """A valid 1x1 RGB PNG whose colour is derived from ``seed``."""
    red, green, blue = hashlib.sha256(seed.encode()).digest()[:3]
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit, truecolour
    pixels = zlib.compress(bytes([0, red, green, blue]))  # filter byte, then one RGB pixel
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", pixels) + _png_chunk(b"IEND", b"")
