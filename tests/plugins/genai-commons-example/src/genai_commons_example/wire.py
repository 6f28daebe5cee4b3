"""Translation between the genai_commons domain model and the engine's payloads; pure functions."""

from __future__ import annotations

from typing import Any

from genai_commons import (
    ChatStreamEvent,
    ChunkCollection,
    EmbeddingsOptions,
    EmbeddingsResponse,
    Request,
    Response,
    Role,
    StopReason,
    StreamEnd,
    TextDelta,
)

_STOP = {"stop": StopReason.END_TURN, "length": StopReason.MAX_TOKENS}


def chat_body(model_id: str, request: Request) -> dict[str, Any]:
    """The engine's completion payload for a chat request."""
    system = [m.content or "" for m in request.messages if m.role is Role.SYSTEM]
    if request.system_prompt:
        system.insert(0, request.system_prompt)
    return {
        "model": model_id,
        "system": "\n".join(system) or None,
        "messages": [
            {"role": m.role.value, "text": m.content or ""} for m in request.messages if m.role is not Role.SYSTEM
        ],
        "max_tokens": request.max_tokens,
    }


def chat_response(data: dict[str, Any]) -> Response:
    """A completion answer as a :class:`Response`."""
    return Response.of_text(
        data["text"],
        input_tokens=data["usage"]["in"],
        output_tokens=data["usage"]["out"],
        stop_reason=_STOP.get(data["finish"], StopReason.OTHER),
        provider_stop_reason=data["finish"],
        model_id=data["model"],
    )


def stream_event(data: dict[str, Any]) -> ChatStreamEvent:
    """One event of a streamed completion."""
    if data["type"] == "delta":
        return TextDelta(text=data["text"])
    return StreamEnd(
        stop_reason=_STOP.get(data["finish"], StopReason.OTHER),
        provider_stop_reason=data["finish"],
        input_tokens=data["usage"]["in"],
        output_tokens=data["usage"]["out"],
        model_id=data["model"],
    )


def embed_body(model_id: str, chunks: ChunkCollection, options: EmbeddingsOptions) -> dict[str, Any]:
    return {"model": model_id, "input": chunks.texts, "dimensions": options.dimensions}


def embeddings_response(data: dict[str, Any], chunks: ChunkCollection) -> EmbeddingsResponse:
    return EmbeddingsResponse(
        chunks=chunks.with_vectors(data["data"]), input_tokens=data["usage"]["in"], model_id=data["model"]
    )
