"""Embedding chunks before they are stored: batches sized to the model, bounded concurrency.

The host calls these from ``ingest`` for the chunks that arrive without vectors. Each batch is
one embedding call (one usage record); a sync host runs the batches on its embedding thread pool
(kept for the host's life), an async host as concurrent tasks under a semaphore.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Protocol

from ..errors import ValidationError
from ..model.embeddings import EmbeddingsOptions, EmbeddingsResponse
from ..model.enums import EmbeddingPurpose
from ..model.knowledge import Chunk, ChunkCollection, FloatArray

if TYPE_CHECKING:
    from ..config import Config, KnowledgeSettings
    from ..model import DeployedModel

_DOCUMENTS = EmbeddingsOptions(purpose=EmbeddingPurpose.DOCUMENT)


class Embedder(Protocol):
    """What embedding chunks needs of the host (the host is one; this module does not import it)."""

    @property
    def config(self) -> Config: ...

    def embed(
        self, model: DeployedModel, inputs: ChunkCollection, options: EmbeddingsOptions
    ) -> EmbeddingsResponse: ...

    async def aembed(
        self, model: DeployedModel, inputs: ChunkCollection, options: EmbeddingsOptions
    ) -> EmbeddingsResponse: ...

    def embedding_pool(self) -> Executor: ...


def batch_size(model: DeployedModel, settings: KnowledgeSettings) -> int:
    """Texts per embedding call: the model's own limit, else the configured size."""
    return model.max_batch_size or settings.embed_batch_size


def _batches(chunks: ChunkCollection, missing: list[int], size: int) -> list[ChunkCollection]:
    todo: list[Chunk] = [chunks.chunks[i] for i in missing]
    return [ChunkCollection(chunks=todo[i : i + size]) for i in range(0, len(todo), size)]


def _missing(chunks: ChunkCollection) -> list[int]:
    return [i for i, chunk in enumerate(chunks.chunks) if chunk.vector is None]


def _tokens(responses: Sequence[EmbeddingsResponse]) -> int | None:
    counts = [r.input_tokens for r in responses if r.input_tokens is not None]
    return sum(counts) if counts else None


def _merge(
    model: DeployedModel, chunks: ChunkCollection, missing: list[int], responses: Sequence[EmbeddingsResponse]
) -> ChunkCollection:
    vectors: list[FloatArray] = [vector for response in responses for vector in response.vectors]
    if len(vectors) != len(missing):
        raise ValidationError(f"embedding model {model.ref} returned {len(vectors)} vectors for {len(missing)} texts")
    out = list(chunks.chunks)
    for index, vector in zip(missing, vectors, strict=True):
        out[index] = out[index].with_vector(vector)
    return ChunkCollection(chunks=out)


def embed_missing(host: Embedder, model: DeployedModel, chunks: ChunkCollection) -> tuple[ChunkCollection, int | None]:
    """``chunks`` with a vector on every chunk (those without one are embedded with ``model``),
    and the tokens the embedding calls reported."""
    missing = _missing(chunks)
    if not missing:
        return chunks, None
    settings = host.config.knowledge
    batches = _batches(chunks, missing, batch_size(model, settings))

    def embed(batch: ChunkCollection) -> EmbeddingsResponse:
        return host.embed(model, batch, _DOCUMENTS)

    if len(batches) == 1 or settings.embed_concurrency == 1:
        responses = [embed(batch) for batch in batches]
    else:
        responses = list(host.embedding_pool().map(embed, batches))
    return _merge(model, chunks, missing, responses), _tokens(responses)


async def aembed_missing(
    host: Embedder, model: DeployedModel, chunks: ChunkCollection
) -> tuple[ChunkCollection, int | None]:
    """:func:`embed_missing`, async: at most ``embed_concurrency`` calls in flight."""
    import asyncio  # noqa: PLC0415

    missing = _missing(chunks)
    if not missing:
        return chunks, None
    settings = host.config.knowledge
    gate = asyncio.Semaphore(settings.embed_concurrency)

    async def embed(batch: ChunkCollection) -> EmbeddingsResponse:
        async with gate:
            return await host.aembed(model, batch, _DOCUMENTS)

    tasks = [asyncio.ensure_future(embed(batch)) for batch in _batches(chunks, missing, batch_size(model, settings))]
    try:
        responses = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:  # the first failure cancels the other batches, and is raised as it is
            task.cancel()
        raise
    return _merge(model, chunks, missing, responses), _tokens(responses)
