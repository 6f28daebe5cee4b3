"""Chat calls: one request to ``chat/completions``, plain or streamed, each described once and run
sync or async by the core's driver. The provider gives the endpoint, the driver and the model's
spec; :mod:`.chat_wire` builds the body and reads the answer, :mod:`.stream` reads event streams, and
every failure is translated (:mod:`genai_commons.http`, :mod:`.errors`), raised ``from`` its cause.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from genai_commons.http import Call, Operation

from .calls import Api, parsed, post
from .chat_wire import chat_body, chat_response
from .errors import translated_errors
from .options import OpenAIChatOptions

if TYPE_CHECKING:
    from genai_commons import ChatStreamEvent, DeployedModel, Request, Response

    from .plugin import OpenAIProvider

__all__ = ["chat", "chat_async", "chat_stream", "chat_stream_async"]


def _call(provider: OpenAIProvider, model: DeployedModel, request: Request, *, stream: bool) -> tuple[Call, bool]:
    """The request, and whether it asks for the usage chunk at the end of a stream."""
    endpoint = provider.ready()
    spec = provider.spec(model.model_id)
    body = chat_body(spec, request, ref=model.ref, stream=stream, stream_usage=endpoint.stream_usage)
    options = request.option(OpenAIChatOptions) if request.provider_options else None
    call = post(provider.url("chat/completions", spec.wire_id), body, options.timeout if options else None)
    stream_options = body.get("stream_options")
    return call, isinstance(stream_options, dict) and bool(stream_options.get("include_usage"))


def _completion(call: Call) -> Operation[Response]:
    answer = yield call
    response: Response = parsed(answer.data, chat_response)
    return response


def chat(provider: OpenAIProvider, model: DeployedModel, request: Request) -> Response:
    call, _ = _call(provider, model, request, stream=False)
    with translated_errors(provider.name, provider.ready()):
        return provider.driver.run(provider.api(), _completion(call))


async def chat_async(provider: OpenAIProvider, model: DeployedModel, request: Request) -> Response:
    call, _ = _call(provider, model, request, stream=False)
    with translated_errors(provider.name, provider.ready()):
        return await provider.driver.arun(provider.api(), _completion(call))


def chat_stream(provider: OpenAIProvider, model: DeployedModel, request: Request) -> Iterator[ChatStreamEvent]:
    from .stream import iter_events  # noqa: PLC0415 - loaded with the first stream, not the first call

    call, usage = _call(provider, model, request, stream=True)
    api: Api = provider.api()
    with translated_errors(provider.name, api.endpoint), provider.driver.stream(api, call) as answer:
        yield from iter_events(answer, usage=usage)


async def chat_stream_async(
    provider: OpenAIProvider, model: DeployedModel, request: Request
) -> AsyncIterator[ChatStreamEvent]:
    from .stream import aiter_events  # noqa: PLC0415 - loaded with the first stream, not the first call

    call, usage = _call(provider, model, request, stream=True)
    api: Api = provider.api()
    with translated_errors(provider.name, api.endpoint):
        async with provider.driver.astream(api, call) as answer:
            async for event in aiter_events(answer, usage=usage):
                yield event
