"""Chat calls, sync and async, plain and streamed: one request to ``chat/completions`` each.

The provider gives the endpoint, the pooled clients and the model's spec; :mod:`.wire` builds
the body and reads the answer, :mod:`.stream` reads event streams, and every failure is
translated by :mod:`.errors`, raised ``from`` its cause.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from .calls import apost_json, astream_chat, parsed, post_json, stream_chat
from .errors import translated_errors
from .options import OpenAIChatOptions
from .wire import chat_body, chat_response

if TYPE_CHECKING:
    import httpx

    from genai_commons import ChatStreamEvent, DeployedModel, Request, Response

    from .endpoint import Endpoint
    from .plugin import OpenAIProvider

__all__ = ["chat", "chat_async", "chat_stream", "chat_stream_async"]


def _prepare(
    provider: OpenAIProvider, model: DeployedModel, request: Request, stream: bool
) -> tuple[Endpoint, httpx.URL, dict[str, Any], float | None]:
    endpoint = provider.ready()
    spec = provider.spec(model.model_id)
    body = chat_body(spec, request, ref=model.ref, stream=stream, stream_usage=endpoint.stream_usage)
    options = request.option(OpenAIChatOptions) if request.provider_options else None
    return endpoint, provider.url("chat/completions", spec.wire_id), body, options.timeout if options else None


def chat(provider: OpenAIProvider, model: DeployedModel, request: Request) -> Response:
    endpoint, url, body, timeout = _prepare(provider, model, request, stream=False)
    with translated_errors(provider.name, endpoint):
        data = post_json(provider.clients.sync(), endpoint, url, body, timeout)
        response: Response = parsed(data, chat_response)
    return response


async def chat_async(provider: OpenAIProvider, model: DeployedModel, request: Request) -> Response:
    endpoint, url, body, timeout = _prepare(provider, model, request, stream=False)
    with translated_errors(provider.name, endpoint):
        data = await apost_json(provider.clients.exchange(), endpoint, url, body, timeout)
        response: Response = parsed(data, chat_response)
    return response


def chat_stream(provider: OpenAIProvider, model: DeployedModel, request: Request) -> Iterator[ChatStreamEvent]:
    endpoint, url, body, timeout = _prepare(provider, model, request, stream=True)
    with translated_errors(provider.name, endpoint):
        yield from stream_chat(provider.clients.sync(), endpoint, url, body, timeout)


async def chat_stream_async(
    provider: OpenAIProvider, model: DeployedModel, request: Request
) -> AsyncIterator[ChatStreamEvent]:
    endpoint, url, body, timeout = _prepare(provider, model, request, stream=True)
    with translated_errors(provider.name, endpoint):
        async for event in astream_chat(provider.clients.async_(), endpoint, url, body, timeout):
            yield event
