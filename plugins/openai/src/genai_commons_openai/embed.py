"""Embedding calls, sync and async: the chunks' texts in batches within the API's limits, at most
``embedding_concurrency`` requests in flight, the vectors merged back in order with the usage summed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .calls import apost_json, parsed, post_json
from .embeddings import Batch, batches, embeddings_body, max_inputs, merge, timeout_of, vectors_of
from .errors import translated_errors

if TYPE_CHECKING:
    import httpx

    from genai_commons import ChunkCollection, DeployedModel, EmbeddingsOptions, EmbeddingsResponse

    from .endpoint import Endpoint
    from .plugin import OpenAIProvider

__all__ = ["embed", "embed_async"]


def _prepare(
    provider: OpenAIProvider, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions
) -> tuple[Endpoint, httpx.URL, list[tuple[dict[str, Any], int]]]:
    endpoint = provider.ready()
    spec = provider.spec(model.model_id)
    texts = chunks.texts
    bodies = [
        (embeddings_body(spec, texts[start:stop], options, endpoint, model.ref), stop - start)
        for start, stop in batches(texts, max_inputs(spec), endpoint.embedding_batch_tokens)
    ]
    return endpoint, provider.url("embeddings", spec.wire_id), bodies


def embed(
    provider: OpenAIProvider, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions
) -> EmbeddingsResponse:
    endpoint, url, bodies = _prepare(provider, model, chunks, options)
    client, timeout = provider.clients.sync(), timeout_of(options)

    def one(call: tuple[dict[str, Any], int]) -> Batch:
        data = post_json(client, endpoint, url, call[0], timeout)
        batch: Batch = parsed(data, lambda d: vectors_of(d, call[1]))
        return batch

    with translated_errors(provider.name, endpoint):
        if len(bodies) == 1:
            parts = [one(bodies[0])]
        else:
            from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - only for large collections

            with ThreadPoolExecutor(min(endpoint.embedding_concurrency, len(bodies))) as pool:
                parts = list(pool.map(one, bodies))
    return merge(chunks, parts)


async def embed_async(
    provider: OpenAIProvider, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions
) -> EmbeddingsResponse:
    endpoint, url, bodies = _prepare(provider, model, chunks, options)
    exchange, timeout = provider.clients.exchange(), timeout_of(options)
    gate = asyncio.Semaphore(endpoint.embedding_concurrency)

    async def one(call: tuple[dict[str, Any], int]) -> Batch:
        async with gate:
            data = await apost_json(exchange, endpoint, url, call[0], timeout)
        batch: Batch = parsed(data, lambda d: vectors_of(d, call[1]))
        return batch

    with translated_errors(provider.name, endpoint):
        parts = await asyncio.gather(*(one(call) for call in bodies))
    return merge(chunks, parts)
