"""The example provider: models as data, settings, and one short method per capability."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from attrs import frozen

from genai_commons import (
    ChatStreamEvent,
    ChunkCollection,
    DeployedModel,
    EmbeddingsOptions,
    EmbeddingsResponse,
    Modality,
    Provider,
    Request,
    Response,
    Secret,
)
from genai_commons.http import ClientOptions, Clients, Driver
from genai_commons.typed_settings import setting

from . import wire
from .errors import ExampleEndpoint

NAME = "example"
#: Where the engine's API would be; the default transport answers it in-process.
BASE_URL = "http://engine.example.invalid"

MODELS = (
    DeployedModel(provider=NAME, model_id="echo", display_name="Example Echo", supports_streaming=True),
    DeployedModel(provider=NAME, model_id="reverse", display_name="Example Reverse", supports_streaming=True),
    DeployedModel(provider=NAME, model_id="embed", display_name="Example Embed", output_modality=Modality.EMBEDDINGS),
)


@frozen(kw_only=True)
class ExampleSettings:
    """``[providers.example]``: unknown keys and wrong types are refused when the host starts."""

    #: What the echo model puts before the prompt.
    prefix: str = "You said:"
    #: Not needed by the local engine; read as a :class:`Secret` to show how, and sent as a bearer
    #: token. ``EXAMPLE_API_KEY`` in the environment wins over the file.
    api_key: Secret | None = setting(default=None, env="EXAMPLE_API_KEY")


class ExampleProvider(Provider):
    """Chat (echo or reverse the prompt), streaming chat and hashing-trick embeddings, over the
    engine's HTTP API (the core's HTTP layer: one operation per call, run sync or async).

    Settings: :class:`ExampleSettings` (``[providers.example]`` in the configuration file).

    :param transport: an httpx transport; by default the engine answers in-process
        (``httpx.MockTransport(EngineService())``), and tests pass one that fails on demand.
    """

    name = NAME
    description = "Example plugin: a deterministic rule-based chat and hashing embeddings."

    settings_class = ExampleSettings

    def __init__(self, transport: Any = None) -> None:
        super().__init__()
        self.transport = transport
        self._clients: Clients | None = None
        self._http: Driver | None = None

    def _settings(self) -> ExampleSettings:
        return self.typed_settings or ExampleSettings()  # the defaults when used without a host

    @property
    def prefix(self) -> str:
        return self._settings().prefix

    def _driver(self) -> Driver:
        if self._http is None:  # httpx loads with the first call, not with the host
            if self.transport is None:
                import httpx

                from .engine import EngineService

                self.transport = httpx.MockTransport(EngineService())
            self._clients = Clients(ClientOptions, self.transport)
            self._http = Driver(self._clients)
        return self._http

    def _endpoint(self) -> ExampleEndpoint:
        return ExampleEndpoint(self.name, BASE_URL, self._settings().api_key)

    def models(self) -> Iterable[DeployedModel]:
        return MODELS

    def chat(self, model: DeployedModel, request: Request) -> Response:
        return self._driver().run(self._endpoint(), wire.chat(model.model_id, request, self.prefix))

    async def chat_async(self, model: DeployedModel, request: Request) -> Response:
        return await self._driver().arun(self._endpoint(), wire.chat(model.model_id, request, self.prefix))

    def chat_stream(self, model: DeployedModel, request: Request) -> Iterator[ChatStreamEvent]:
        call = wire.chat_stream(model.model_id, request, self.prefix)
        for event in self._driver().events(self._endpoint(), call):
            yield wire.stream_event(event)

    async def chat_stream_async(self, model: DeployedModel, request: Request) -> AsyncIterator[ChatStreamEvent]:
        call = wire.chat_stream(model.model_id, request, self.prefix)
        async for event in self._driver().aevents(self._endpoint(), call):
            yield wire.stream_event(event)

    def embed(self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions) -> EmbeddingsResponse:
        return self._driver().run(self._endpoint(), wire.embed(model.model_id, chunks, options))

    async def embed_async(
        self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions
    ) -> EmbeddingsResponse:
        return await self._driver().arun(self._endpoint(), wire.embed(model.model_id, chunks, options))

    def close(self) -> None:
        if self._clients is not None:
            self._clients.close()

    async def aclose(self) -> None:
        if self._clients is not None:
            await self._clients.aclose()
