"""Embedding calls: the chunks' texts in batches within the API's limits, at most
``embedding_concurrency`` requests in flight, the vectors merged back in order with the usage
summed; described once and run sync or async by the core's driver."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genai_commons.http import Call, Operation, run_all

from .calls import parsed, post
from .embeddings_wire import Batch, batches, embeddings_body, max_inputs, merge, timeout_of, vectors_of
from .errors import translated_errors

if TYPE_CHECKING:
    from genai_commons import ChunkCollection, DeployedModel, EmbeddingsOptions, EmbeddingsResponse

    from .plugin import OpenAIProvider

__all__ = ["embed", "embed_async"]


def _embeddings(chunks: ChunkCollection, calls: list[tuple[Call, int]]) -> Operation[EmbeddingsResponse]:
    answers = yield from run_all([call for call, _ in calls])
    parts: list[Batch] = [_batch(answer.data, size) for answer, (_, size) in zip(answers, calls, strict=True)]
    return merge(chunks, parts)


def _batch(data: dict[str, Any], size: int) -> Batch:
    batch: Batch = parsed(data, lambda answer: vectors_of(answer, size))
    return batch


def _calls(
    provider: OpenAIProvider, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions
) -> list[tuple[Call, int]]:
    endpoint = provider.ready()
    spec = provider.spec(model.model_id)
    url, timeout, texts = provider.url("embeddings", spec.wire_id), timeout_of(options), chunks.texts
    return [
        (post(url, embeddings_body(spec, texts[start:stop], options, endpoint, model.ref), timeout), stop - start)
        for start, stop in batches(texts, max_inputs(spec), endpoint.embedding_batch_tokens)
    ]


def embed(
    provider: OpenAIProvider, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions
) -> EmbeddingsResponse:
    calls = _calls(provider, model, chunks, options)
    with translated_errors(provider.name, provider.ready()):
        return provider.driver.run(provider.api(), _embeddings(chunks, calls))


async def embed_async(
    provider: OpenAIProvider, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions
) -> EmbeddingsResponse:
    calls = _calls(provider, model, chunks, options)
    with translated_errors(provider.name, provider.ready()):
        return await provider.driver.arun(provider.api(), _embeddings(chunks, calls))
