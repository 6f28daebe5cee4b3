"""Embeddings through ``POST /invoke`` in the Cohere Embed format: at most 96 texts a call (more
are split into calls that run concurrently), ``input_type`` from the purpose (``search_document``
to store, ``search_query`` to search), token counts from the response headers."""

from __future__ import annotations

from genai_commons import ChunkCollection, DeployedModel, EmbeddingsOptions, EmbeddingsResponse, ValidationError
from genai_commons.http import Call, Operation, run_all

from .limits import EMBED_BATCH
from .wire import INPUT_TOKENS_HEADER, embed_body, embed_vectors, token_count

__all__ = ["embed"]


def embed(model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions) -> Operation[EmbeddingsResponse]:
    """Embed every chunk, in batches of :data:`~.limits.EMBED_BATCH`."""
    if options.dimensions is not None and options.dimensions != model.dimensions:
        fixed = f"{model.dimensions}-dimension" if model.dimensions else "fixed-length"
        raise ValidationError(f"{model.ref} returns {fixed} vectors and cannot shorten them: leave dimensions unset")
    texts = chunks.texts
    batches = [texts[i : i + EMBED_BATCH] for i in range(0, len(texts), EMBED_BATCH)]
    calls = [Call(method="POST", path="/invoke", body=embed_body(batch, options.purpose)) for batch in batches]
    answers = yield from run_all(calls)
    vectors: list[list[float]] = []
    tokens: int | None = 0
    for batch, answer in zip(batches, answers, strict=True):
        vectors.extend(embed_vectors(answer.data, len(batch)))
        counted = token_count(answer.headers, INPUT_TOKENS_HEADER)
        tokens = None if counted is None or tokens is None else tokens + counted
    return EmbeddingsResponse(chunks=chunks.with_vectors(vectors), input_tokens=tokens, model_id=model.model_id)
