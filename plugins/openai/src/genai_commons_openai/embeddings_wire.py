"""Embeddings: batches within the API's limits, base64 transfer decoded straight into float arrays,
bounded concurrency for large collections, usage summed over the batches.

``POST /embeddings`` takes at most 2048 inputs and 300,000 tokens per request. Tokens are estimated
from the UTF-8 length without a tokenizer (at least one token per two bytes of text, a bound no
real tokenizer exceeds for natural text), so a batch never exceeds the limit by our count. With
``encoding_format: base64`` each vector arrives as the base64 of little-endian float32 values,
which :func:`vector` turns into an ``array('f')`` without building a list of Python floats.
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Iterator, Sequence
from typing import Any

from genai_commons import (
    ChunkCollection,
    EmbeddingsOptions,
    EmbeddingsResponse,
    UnsupportedCapabilityError,
)

from .catalog import ModelSpec
from .endpoint import Endpoint
from .options import OpenAIEmbeddingsOptions

__all__ = ["Batch", "batches", "embeddings_body", "merge", "vectors_of"]

#: One answer: its vectors in input order, its prompt tokens and the model id it reports.
Batch = tuple[list["array[float]"], int | None, str | None]

_MAX_INPUTS = 2048
_BIG_ENDIAN = sys.byteorder == "big"


def estimated_tokens(text: str) -> int:
    return len(text.encode()) // 2 + 1


def batches(texts: Sequence[str], max_inputs: int, max_tokens: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` ranges of ``texts``, each within both limits (a single text over the
    token limit goes alone, and the API judges it)."""
    start, tokens = 0, 0
    for index, text in enumerate(texts):
        cost = estimated_tokens(text)
        if index > start and (index - start >= max_inputs or tokens + cost > max_tokens):
            yield start, index
            start, tokens = index, 0
        tokens += cost
    if start < len(texts):
        yield start, len(texts)


def embeddings_body(
    spec: ModelSpec, texts: Sequence[str], options: EmbeddingsOptions, endpoint: Endpoint, ref: str
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": spec.wire_id, "input": list(texts), "encoding_format": endpoint.embedding_encoding}
    if options.dimensions is not None:
        if spec.dimensions is not None and not spec.shortenable and options.dimensions != spec.dimensions:
            raise UnsupportedCapabilityError(
                f"model {ref} always returns {spec.dimensions} dimensions; leave dimensions unset or use "
                "text-embedding-3-small/large",
                target=ref,
                capability="shortened embeddings",
            )
        if spec.shortenable or spec.dimensions is None:
            body["dimensions"] = options.dimensions
    if isinstance(options, OpenAIEmbeddingsOptions) and options.user is not None:
        body["user"] = options.user
    return body


def timeout_of(options: EmbeddingsOptions) -> float | None:
    return options.timeout if isinstance(options, OpenAIEmbeddingsOptions) else None


def vector(raw: str | list[float]) -> array[float]:
    """One embedding: base64 of little-endian float32 (or, from servers that ignore the encoding,
    a JSON list of floats)."""
    if isinstance(raw, str):
        values = array("f")
        values.frombytes(base64.b64decode(raw))
        if _BIG_ENDIAN:
            values.byteswap()
        return values
    return array("f", raw)


def vectors_of(data: dict[str, Any], expected: int) -> Batch:
    """The vectors of one answer in input order, its prompt tokens and model id."""
    items = data["data"]
    if len(items) != expected:
        raise ValueError(f"got {len(items)} embeddings for {expected} inputs")
    ordered: list[array[float] | None] = [None] * expected
    for position, item in enumerate(items):
        ordered[item.get("index", position)] = vector(item["embedding"])
    if any(v is None for v in ordered):
        raise ValueError("the answer's indexes do not cover every input")
    usage = data.get("usage") or {}
    return [v for v in ordered if v is not None], usage.get("prompt_tokens"), data.get("model")


def merge(chunks: ChunkCollection, parts: Sequence[Batch]) -> EmbeddingsResponse:
    """One response for all batches: the vectors in order and the tokens summed."""
    vectors = [v for part_vectors, _, _ in parts for v in part_vectors]
    counted = [tokens for _, tokens, _ in parts if tokens is not None]
    return EmbeddingsResponse(
        chunks=chunks.with_vectors(vectors), input_tokens=sum(counted) if counted else None, model_id=parts[0][2]
    )


def max_inputs(spec: ModelSpec) -> int:
    return spec.max_batch_size or _MAX_INPUTS
