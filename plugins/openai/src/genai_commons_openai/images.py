"""Image generation: one request, or one per image for DALL·E 3 (those run concurrently), merged
into one response; described once and run sync or async by the core's driver."""

from __future__ import annotations

from typing import TYPE_CHECKING

from genai_commons.http import Call, Operation, run_all

from .calls import parsed, post
from .errors import translated_errors
from .images_wire import image_body, image_requests, image_response, merge_images, timeout_of

if TYPE_CHECKING:
    from genai_commons import DeployedModel, ImageOptions, Response

    from .plugin import OpenAIProvider

__all__ = ["generate_image", "generate_image_async"]


def _images(calls: list[Call]) -> Operation[Response]:
    answers = yield from run_all(calls)
    return merge_images([parsed(answer.data, image_response) for answer in answers])


def _calls(provider: OpenAIProvider, model: DeployedModel, prompt: str, options: ImageOptions) -> list[Call]:
    spec = provider.spec(model.model_id)
    url, timeout = provider.url("images/generations", spec.wire_id), timeout_of(options)
    return [post(url, image_body(spec, prompt, options, n, model.ref), timeout) for n in image_requests(spec, options)]


def generate_image(provider: OpenAIProvider, model: DeployedModel, prompt: str, options: ImageOptions) -> Response:
    calls = _calls(provider, model, prompt, options)
    with translated_errors(provider.name, provider.ready()):
        return provider.driver.run(provider.api(), _images(calls))


async def generate_image_async(
    provider: OpenAIProvider, model: DeployedModel, prompt: str, options: ImageOptions
) -> Response:
    calls = _calls(provider, model, prompt, options)
    with translated_errors(provider.name, provider.ready()):
        return await provider.driver.arun(provider.api(), _images(calls))
