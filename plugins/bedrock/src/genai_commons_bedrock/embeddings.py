"""Embeddings through InvokeModel: Amazon Titan Text Embeddings (v2 and G1) and Cohere Embed (v3
English and Multilingual, v4).

Titan embeds one text per call, so the calls of one request run concurrently on the provider's
bounded worker pool; Cohere takes up to 96 texts a call, and its batches run the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from genai_commons import (
    ChunkCollection,
    DeployedModel,
    EmbeddingPurpose,
    EmbeddingsOptions,
    EmbeddingsResponse,
    ServiceUnavailableError,
    UnsupportedCapabilityError,
    ValidationError,
)

from .concurrency import WorkerPool
from .errors import PROVIDER
from .families import Wire, family_of
from .invoke import invoke_json

COHERE_BATCH = 96
TITAN_V2_DIMENSIONS = (256, 512, 1024)
COHERE_V4_DIMENSIONS = (256, 512, 1024, 1536)
_COHERE_INPUT_TYPE = {EmbeddingPurpose.DOCUMENT: "search_document", EmbeddingPurpose.QUERY: "search_query"}
_FIXED_DIMENSIONS = {Wire.TITAN_EMBED_V1: 1536, Wire.COHERE_EMBED_V3: 1024}


def titan_body(text: str, options: EmbeddingsOptions, wire: Wire) -> dict[str, Any]:
    """The InvokeModel body of one Titan embedding call."""
    body: dict[str, Any] = {"inputText": text}
    if wire is Wire.TITAN_EMBED_V2:
        if options.dimensions is not None:
            body["dimensions"] = options.dimensions
        body["normalize"] = options.normalize
    return body


def cohere_body(texts: Sequence[str], options: EmbeddingsOptions, wire: Wire) -> dict[str, Any]:
    """The InvokeModel body of one Cohere Embed call (at most 96 texts)."""
    body: dict[str, Any] = {
        "texts": list(texts),
        "input_type": _COHERE_INPUT_TYPE[options.purpose],
        "embedding_types": ["float"],
    }
    if wire is Wire.COHERE_EMBED_V4 and options.dimensions is not None:
        body["output_dimension"] = options.dimensions
    return body


def cohere_vectors(data: Mapping[str, Any]) -> list[list[float]]:
    """The float vectors of a Cohere answer, in either of its two shapes."""
    embeddings = data.get("embeddings")
    if isinstance(embeddings, Mapping):  # response_type "embeddings_by_type"
        embeddings = embeddings.get("float")
    if not isinstance(embeddings, list):
        raise ValueError("no float embeddings in the answer")
    return embeddings


def check_options(model: DeployedModel, wire: Wire, options: EmbeddingsOptions) -> None:
    """Refuse, before any call, dimensions the model cannot produce."""
    wanted = options.dimensions
    if wanted is None:
        return
    allowed = {Wire.TITAN_EMBED_V2: TITAN_V2_DIMENSIONS, Wire.COHERE_EMBED_V4: COHERE_V4_DIMENSIONS}.get(wire)
    if allowed is None:
        allowed = (_FIXED_DIMENSIONS[wire],)
    if wanted not in allowed:
        raise ValidationError(
            f"model {model.ref} makes vectors of {' or '.join(map(str, allowed))} dimensions, not {wanted}"
        )


def embed(
    client: Any,
    pool: WorkerPool,
    model: DeployedModel,
    chunks: ChunkCollection,
    options: EmbeddingsOptions,
    *,
    region: str | None,
) -> EmbeddingsResponse:
    """Embed every chunk with ``model``, in order."""
    wire = family_of(model.model_id).wire
    if wire not in (Wire.TITAN_EMBED_V1, Wire.TITAN_EMBED_V2, Wire.COHERE_EMBED_V3, Wire.COHERE_EMBED_V4):
        raise UnsupportedCapabilityError(
            f"model {model.ref} is not an embedding model this plugin can call; use Amazon Titan Text Embeddings "
            "or Cohere Embed",
            target=model.ref,
            capability="embeddings",
        )
    check_options(model, wire, options)
    texts = chunks.texts
    vectors: list[list[float]] = []
    tokens: list[int | None] = []
    if wire in (Wire.TITAN_EMBED_V1, Wire.TITAN_EMBED_V2):

        def titan(text: str) -> tuple[list[float], int | None]:
            data, _ = invoke_json(client, model.model_id, titan_body(text, options, wire), region=region)
            return _read(model, lambda: data["embedding"]), data.get("inputTextTokenCount")

        for vector, count in pool.map(titan, texts):
            vectors.append(vector)
            tokens.append(count)
    else:
        batches = [texts[i : i + COHERE_BATCH] for i in range(0, len(texts), COHERE_BATCH)]

        def cohere(batch: list[str]) -> tuple[list[list[float]], int | None]:
            data, result = invoke_json(client, model.model_id, cohere_body(batch, options, wire), region=region)
            found = _read(model, lambda: cohere_vectors(data))
            if len(found) != len(batch):
                raise _malformed(model, f"{len(found)} vectors for {len(batch)} texts")
            return found, result.input_tokens

        for found, count in pool.map(cohere, batches):
            vectors.extend(found)
            tokens.append(count)
    known = [t for t in tokens if t is not None]
    return EmbeddingsResponse(
        chunks=chunks.with_vectors(vectors),
        input_tokens=sum(known) if known else None,
        model_id=model.model_id,
    )


def _read(model: DeployedModel, get: Any) -> Any:
    try:
        return get()
    except (KeyError, TypeError, ValueError) as exc:
        raise _malformed(model, str(exc)) from exc


def _malformed(model: DeployedModel, detail: str) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"model {model.ref} answered an embedding call without the expected vectors ({detail}); try again",
        provider=PROVIDER,
    )
