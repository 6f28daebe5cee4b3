"""Translation between the genai_commons domain model and the engine's HTTP API; pure functions.

Each call is described once as an operation (a generator of :class:`~genai_commons.http.Call`,
see :mod:`genai_commons.http`): the provider runs it with the core's sync or async driver.
"""

from __future__ import annotations

import json
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
from genai_commons.formats.sse import Event
from genai_commons.http import Call, Operation

_STOP = {"stop": StopReason.END_TURN, "length": StopReason.MAX_TOKENS}


def chat_body(model_id: str, request: Request, prefix: str) -> dict[str, Any]:
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
        "stop": list(request.stop_sequences),
        "prefix": prefix,
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


def stream_event(event: Event) -> ChatStreamEvent:
    """One server-sent event of a streamed completion."""
    data = json.loads(event.data)
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


def chat(model_id: str, request: Request, prefix: str) -> Operation[Response]:
    answer = yield Call(method="POST", path="/v1/complete", body=chat_body(model_id, request, prefix))
    return chat_response(answer.data)


def chat_stream(model_id: str, request: Request, prefix: str) -> Call:
    """The streamed call; its events are read with :func:`stream_event`."""
    return Call(method="POST", path="/v1/stream", body=chat_body(model_id, request, prefix))


def embed(model_id: str, chunks: ChunkCollection, options: EmbeddingsOptions) -> Operation[EmbeddingsResponse]:
    answer = yield Call(method="POST", path="/v1/embed", body=embed_body(model_id, chunks, options))
    return embeddings_response(answer.data, chunks)
