"""Image generation calls, sync and async: one request, or one per image for DALL·E 3 (those run
concurrently in the async API), merged into one response."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .calls import apost_json, parsed, post_json
from .errors import translated_errors
from .images import image_body, image_requests, image_response, merge_images, timeout_of

if TYPE_CHECKING:
    import httpx

    from genai_commons import DeployedModel, ImageOptions, Response

    from .endpoint import Endpoint
    from .plugin import OpenAIProvider

__all__ = ["generate_image", "generate_image_async"]


def _prepare(
    provider: OpenAIProvider, model: DeployedModel, prompt: str, options: ImageOptions
) -> tuple[Endpoint, httpx.URL, list[dict[str, Any]]]:
    endpoint = provider.ready()
    spec = provider.spec(model.model_id)
    bodies = [image_body(spec, prompt, options, n, model.ref) for n in image_requests(spec, options)]
    return endpoint, provider.url("images/generations", spec.wire_id), bodies


def generate_image(provider: OpenAIProvider, model: DeployedModel, prompt: str, options: ImageOptions) -> Response:
    endpoint, url, bodies = _prepare(provider, model, prompt, options)
    client, timeout = provider.clients.sync(), timeout_of(options)
    with translated_errors(provider.name, endpoint):
        responses = [parsed(post_json(client, endpoint, url, body, timeout), image_response) for body in bodies]
    return merge_images(responses)


async def generate_image_async(
    provider: OpenAIProvider, model: DeployedModel, prompt: str, options: ImageOptions
) -> Response:
    endpoint, url, bodies = _prepare(provider, model, prompt, options)
    exchange, timeout = provider.clients.exchange(), timeout_of(options)

    async def one(body: dict[str, Any]) -> Response:
        response: Response = parsed(await apost_json(exchange, endpoint, url, body, timeout), image_response)
        return response

    with translated_errors(provider.name, endpoint):
        responses = await asyncio.gather(*(one(body) for body in bodies))
    return merge_images(list(responses))
