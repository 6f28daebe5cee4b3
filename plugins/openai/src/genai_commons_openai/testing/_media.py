"""The fake's embeddings (deterministic word-hashing vectors, float or base64) and images (real PNGs)."""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
import sys
import zlib
from array import array
from collections.abc import Mapping
from typing import Any

from ._errors import ApiError

_WORD = re.compile(r"\w+")
_SIZES = {
    "dall-e-2": {"256x256", "512x512", "1024x1024"},
    "dall-e-3": {"1024x1024", "1792x1024", "1024x1792"},
    "gpt-image": {"1024x1024", "1536x1024", "1024x1536", "auto"},
}
_QUALITIES = {"dall-e-2": {"standard"}, "dall-e-3": {"standard", "hd"}, "gpt-image": {"low", "medium", "high", "auto"}}


def embedding(text: str, dimensions: int) -> list[float]:
    """A unit vector: each word adds a pseudo-random ±1 pattern, so texts sharing words are similar."""
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        seed = hashlib.blake2b(word.encode(), digest_size=8).digest()
        for i in range(min(dimensions, 16)):
            index = (int.from_bytes(seed[:4], "little") + i * 7919) % dimensions
            vector[index] += 1.0 if (seed[4 + i % 4] >> (i % 8)) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def _b64_floats(values: list[float]) -> str:
    packed = array("f", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def embeddings(body: Mapping[str, Any], model: Mapping[str, Any]) -> dict[str, Any]:
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise ApiError.invalid("'input' must be a non-empty string or array of non-empty strings", "input")
    if len(texts) > 2048:
        raise ApiError.invalid("'input' must have at most 2048 items", "input")
    dimensions = body.get("dimensions")
    if dimensions is not None and not model.get("shortenable"):
        raise ApiError.invalid("This model does not support specifying dimensions.", "dimensions")
    size = int(dimensions or model.get("dimensions") or 1536)
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise ApiError.invalid("Invalid value for 'encoding_format'", "encoding_format")
    tokens = sum(len(t.split()) for t in texts)
    data = []
    for index, text in enumerate(texts):
        vector = embedding(text, size)
        data.append(
            {
                "object": "embedding",
                "index": index,
                "embedding": _b64_floats(vector) if encoding == "base64" else vector,
            }
        )
    return {
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def tiny_png(width: int, height: int, seed: bytes) -> bytes:
    """A valid PNG of one colour (the first bytes of ``seed``), at most 64x64 pixels."""
    width, height = min(width, 64), min(height, 64)
    row = b"\x00" + bytes(seed[:3]) * width
    raw = zlib.compress(row * height)

    def part(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + part(b"IHDR", header) + part(b"IDAT", raw) + part(b"IEND", b"")


def images(body: Mapping[str, Any], model: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    api = str(model.get("image_api") or "gpt-image")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise ApiError.invalid("'prompt' is required", "prompt")
    count = body.get("n", 1)
    if not isinstance(count, int) or not 1 <= count <= 10 or (api == "dall-e-3" and count != 1):
        raise ApiError.invalid("Invalid 'n': dall-e-3 takes 1, other models 1 to 10.", "n")
    size = body.get("size", "1024x1024")
    if size not in _SIZES[api]:
        raise ApiError.invalid(f"Invalid value: '{size}'. Supported values are: {sorted(_SIZES[api])}", "size")
    if "quality" in body and body["quality"] not in _QUALITIES[api]:
        raise ApiError.invalid(f"Invalid value for 'quality': {body['quality']!r}", "quality")
    if "style" in body and (api != "dall-e-3" or body["style"] not in ("vivid", "natural")):
        raise ApiError.invalid("'style' is only supported for dall-e-3: vivid or natural", "style")
    response_format = body.get("response_format")
    if api == "gpt-image" and response_format is not None:
        raise ApiError.invalid("Unknown parameter: 'response_format'.", "response_format", "unknown_parameter")
    width, _, height = ("1024x1024" if size == "auto" else size).partition("x")
    seed = hashlib.sha256(prompt.encode()).digest()
    data = []
    for i in range(count):
        png = tiny_png(int(width), int(height), seed[i:])
        item: dict[str, Any] = {}
        if response_format == "url" or (api != "gpt-image" and response_format is None):
            item["url"] = f"{base_url}/fake-images/{seed.hex()[:12]}-{i}.png"
        else:
            item["b64_json"] = base64.b64encode(png).decode("ascii")
        if api == "dall-e-3":
            item["revised_prompt"] = f"A detailed picture of {prompt}"
        data.append(item)
    out: dict[str, Any] = {"created": 1_700_000_000, "data": data}
    if api == "gpt-image":
        tokens = len(prompt.split())
        out["usage"] = {
            "input_tokens": tokens,
            "output_tokens": 272 * count,
            "total_tokens": tokens + 272 * count,
            "input_tokens_details": {"text_tokens": tokens, "image_tokens": 0},
        }
    return out
