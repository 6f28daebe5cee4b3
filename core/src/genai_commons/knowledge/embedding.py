"""Embedding chunks before they are stored: batches sized to the model, bounded concurrency.

The host calls these from ``ingest`` for the chunks that arrive without vectors. Each batch is
one embedding call (one usage record); a sync host runs the batches on a small thread pool, an
async host as concurrent tasks under a semaphore.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import ValidationError
from ..model.embeddings import EmbeddingsOptions
from ..model.enums import EmbeddingPurpose
from ..model.knowledge import Chunk, ChunkCollection, FloatArray

if TYPE_CHECKING:
    from ..config import KnowledgeSettings
    from ..host import Host
    from ..model import DeployedModel

_DOCUMENTS = EmbeddingsOptions(purpose=EmbeddingPurpose.DOCUMENT)


def batch_size(model: DeployedModel, settings: KnowledgeSettings) -> int:
    """Texts per embedding call: the model's own limit, else the configured size."""
    return model.max_batch_size or settings.embed_batch_size


def _batches(chunks: Sequence[Chunk], size: int) -> list[ChunkCollection]:
    return [ChunkCollection(chunks=chunks[i : i + size]) for i in range(0, len(chunks), size)]


def _merge(
    model: DeployedModel, chunks: ChunkCollection, missing: list[int], embedded: list[list[FloatArray]]
) -> ChunkCollection:
    vectors = [vector for batch in embedded for vector in batch]
    if len(vectors) != len(missing):
        raise ValidationError(f"embedding model {model.ref} returned {len(vectors)} vectors for {len(missing)} texts")
    out = list(chunks.chunks)
    for index, vector in zip(missing, vectors, strict=True):
        out[index] = out[index].with_vector(vector)
    return ChunkCollection(chunks=out)


def _missing(chunks: ChunkCollection) -> list[int]:
    return [i for i, chunk in enumerate(chunks.chunks) if chunk.vector is None]


def embed_missing(host: Host, model: DeployedModel, chunks: ChunkCollection) -> ChunkCollection:
    """``chunks`` with a vector on every chunk: those without one are embedded with ``model``."""
    missing = _missing(chunks)
    if not missing:
        return chunks
    settings = host.config.knowledge
    batches = _batches([chunks.chunks[i] for i in missing], batch_size(model, settings))

    def embed(batch: ChunkCollection) -> list[FloatArray]:
        return host.embed(model, batch, _DOCUMENTS).vectors

    if len(batches) == 1 or settings.embed_concurrency == 1:
        embedded = [embed(batch) for batch in batches]
    else:
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        with ThreadPoolExecutor(max_workers=min(settings.embed_concurrency, len(batches))) as pool:
            embedded = list(pool.map(embed, batches))
    return _merge(model, chunks, missing, embedded)


async def aembed_missing(host: Host, model: DeployedModel, chunks: ChunkCollection) -> ChunkCollection:
    """:func:`embed_missing`, async: at most ``embed_concurrency`` calls in flight."""
    import asyncio  # noqa: PLC0415

    missing = _missing(chunks)
    if not missing:
        return chunks
    settings = host.config.knowledge
    batches = _batches([chunks.chunks[i] for i in missing], batch_size(model, settings))
    gate = asyncio.Semaphore(settings.embed_concurrency)

    async def embed(batch: ChunkCollection) -> list[FloatArray]:
        async with gate:
            return (await host.aembed(model, batch, _DOCUMENTS)).vectors

    tasks = [asyncio.ensure_future(embed(batch)) for batch in batches]
    try:
        embedded = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:  # the first failure cancels the other batches, and is raised as it is
            task.cancel()
        raise
    return _merge(model, chunks, missing, list(embedded))
