"""The providers: ``openai`` (OpenAI and any OpenAI-compatible server) and ``azure`` (Azure OpenAI).

Both speak the same HTTP API through httpx; they differ in where requests go and how they
authenticate (:mod:`.endpoint`) and in what a model reference names: an OpenAI model id
(``openai:gpt-4o-mini``, ``openai:llama3.2`` on Ollama) or an Azure deployment
(``azure:my-gpt4o``). Every method makes one API call per batch; the host owns retries, the tool
loop and usage. The modules that build and read requests load with the first call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from genai_commons import DeployedModel, Provider, ProviderSettings

from .catalog import KNOWN, ModelSpec, listed_remotely, spec_for, specs_from_settings
from .endpoint import Endpoint, azure_endpoint, openai_endpoint
from .settings import AzureSettings, OpenAISettings

if TYPE_CHECKING:
    import httpx

    from genai_commons import (
        ChatStreamEvent,
        ChunkCollection,
        EmbeddingsOptions,
        EmbeddingsResponse,
        ImageOptions,
        Request,
        Response,
    )
    from genai_commons.http import ClientOptions, Clients, Driver

    from .calls import Api

__all__ = ["AzureOpenAIProvider", "OpenAIProvider"]

_LISTING_TIMEOUT = 10.0


def _log() -> Any:
    from genai_commons import get_logger  # noqa: PLC0415 - quiet by default: warnings to stderr

    return get_logger(__name__)


class OpenAIProvider(Provider):
    """OpenAI's API, or any server that speaks it (Ollama, vLLM, llama.cpp server, LM Studio).

    Settings (``[providers.openai]``, :class:`.settings.OpenAISettings`; the environment variable wins): ``api_key``
    (``OPENAI_API_KEY``), ``base_url`` (``OPENAI_BASE_URL``), ``organization``
    (``OPENAI_ORG_ID``), ``project`` (``OPENAI_PROJECT_ID``), ``timeout``, ``connect_timeout``,
    ``max_connections``, ``max_keepalive_connections``, ``stream_usage``, ``embedding_encoding``,
    ``embedding_batch_tokens``, ``embedding_concurrency``, ``discover`` (list ``GET /models``) and
    ``[providers.openai.models.ID]`` tables; see ``docs/openai.md``.

    :param transport: an ``httpx`` transport to use instead of the network (tests).
    :param async_transport: the same for the async API; by default ``transport`` when it can.
    """

    name = "openai"
    description = "OpenAI and OpenAI-compatible servers (Ollama, vLLM, llama.cpp, LM Studio)"
    settings_class: ClassVar[type | None] = OpenAISettings

    @classmethod
    def option_classes(cls) -> tuple[type, ...]:
        """``OpenAIChatOptions``, for ``genai chat -o seed=7``."""
        from .options import OpenAIChatOptions  # noqa: PLC0415 - loaded when asked

        return (OpenAIChatOptions,)

    _section = "models"

    def __init__(
        self, transport: httpx.BaseTransport | None = None, *, async_transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__()
        from genai_commons.http import Clients, Driver  # noqa: PLC0415 - no httpx until the first call

        self.clients: Clients = Clients(self._client_options, transport, async_transport)
        self.driver: Driver = Driver(self.clients)
        self.endpoint: Endpoint | None = None
        self._api: Api | None = None
        self._configured: dict[str, ModelSpec] = {}
        self._specs: dict[str, ModelSpec] = {}
        self._remote: list[str] | None = None
        self._discover = True
        self._urls: dict[tuple[str, str | None], httpx.URL] = {}

    # -- configuration and discovery ----------------------------------------------------------

    def _make_endpoint(self, typed: Any) -> Endpoint:
        return openai_endpoint(typed, self.name)

    def configure(self, settings: ProviderSettings) -> None:
        # Checked by the host already when it passes its own table; checked here when called directly.
        fresh = settings is self.settings and self.typed_settings is not None
        typed = self.typed_settings if fresh else settings.typed(self.settings_class or OpenAISettings)
        self.typed_settings = typed
        endpoint = self._make_endpoint(typed)
        configured = specs_from_settings(self.name, self._section, getattr(typed, self._section), azure=endpoint.azure)
        self._discover = not endpoint.azure and typed.discover
        self.endpoint, self._api = endpoint, None
        self.clients.configure(self._client_options)
        self._configured, self._specs, self._remote, self._urls = configured, {}, None, {}

    def _client_options(self) -> ClientOptions:
        """What the clients are made with; asked when the first call makes them, so that missing
        credentials fail the call, not the host's start."""
        from genai_commons.http import ClientOptions  # noqa: PLC0415

        endpoint = self.ready()
        endpoint.check_credentials()
        return ClientOptions(
            timeout=endpoint.timeout,
            connect_timeout=endpoint.connect_timeout,
            max_connections=endpoint.max_connections,
            max_keepalive_connections=endpoint.max_keepalive_connections,
            max_response_bytes=endpoint.max_response_bytes,
            headers=endpoint.auth_headers(),
            concurrency=endpoint.embedding_concurrency,
        )

    def api(self) -> Api:
        """The endpoint as the core's driver takes it."""
        api = self._api
        if api is None:
            from .calls import Api  # noqa: PLC0415

            api = self._api = Api(self.ready())
        return api

    def ready(self) -> Endpoint:
        """The endpoint; a provider used without a host configures itself from the environment."""
        if self.endpoint is None:  # used without a host: the environment alone
            self.configure(ProviderSettings(name=self.name))
        assert self.endpoint is not None
        return self.endpoint

    def spec(self, model_id: str) -> ModelSpec:
        """What the plugin knows about ``model_id``: its capabilities and wire details."""
        spec = self._specs.get(model_id)
        if spec is None:
            self.ready()
            spec = self._specs[model_id] = spec_for(model_id, self._configured)
        return spec

    def url(self, operation: str, wire_id: str | None = None) -> httpx.URL:
        """The URL of an operation, parsed once (httpx would parse a string on every request)."""
        url = self._urls.get((operation, wire_id))
        if url is None:
            import httpx  # noqa: PLC0415

            url = self._urls[operation, wire_id] = httpx.URL(self.ready().url(operation, wire_id))
        return url

    def _remote_ids(self) -> list[str]:
        """Ids from ``GET /models``, once per provider; none when listing is off or fails."""
        endpoint = self.ready()
        if self._remote is not None or not self._discover or (endpoint.official and endpoint.api_key is None):
            return self._remote or []
        from genai_commons.http import Call  # noqa: PLC0415

        from .errors import translated_errors  # noqa: PLC0415

        try:
            with translated_errors(self.name, endpoint):  # what is logged holds no key the server quoted
                call = Call(method="GET", path=self.url("models"), timeout=_LISTING_TIMEOUT)  # type: ignore[arg-type]
                data = self.driver.call(self.api(), call).data
                self._remote = [str(item["id"]) for item in data["data"]]
        except Exception as exc:
            _log().warning("models_listing_failed", provider=self.name, error=f"{type(exc).__name__}: {exc}")
            return []
        return self._remote

    def models(self) -> Iterable[DeployedModel]:
        endpoint = self.ready()
        ids = dict.fromkeys(self._configured)
        if endpoint.official:
            ids.update(dict.fromkeys(KNOWN))
        ids.update(dict.fromkeys(i for i in self._remote_ids() if listed_remotely(i)))
        return [self.spec(model_id).deployed(self.name, model_id) for model_id in ids]

    def resolve_model(self, model_id: str) -> DeployedModel | None:
        """Any id resolves: known and configured ones with their capabilities, others with
        conservative defaults (the server says whether it has the model)."""
        return self.spec(model_id).deployed(self.name, model_id)

    # -- capabilities: each in its own module, loaded with the first call --------------------

    def chat(self, model: DeployedModel, request: Request) -> Response:
        from .chat import chat  # noqa: PLC0415

        return chat(self, model, request)

    async def chat_async(self, model: DeployedModel, request: Request) -> Response:
        from .chat import chat_async  # noqa: PLC0415

        return await chat_async(self, model, request)

    def chat_stream(self, model: DeployedModel, request: Request) -> Iterator[ChatStreamEvent]:
        from .chat import chat_stream  # noqa: PLC0415

        return chat_stream(self, model, request)

    def chat_stream_async(self, model: DeployedModel, request: Request) -> AsyncIterator[ChatStreamEvent]:
        from .chat import chat_stream_async  # noqa: PLC0415

        return chat_stream_async(self, model, request)

    def embed(self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions) -> EmbeddingsResponse:
        from .embeddings import embed  # noqa: PLC0415

        return embed(self, model, chunks, options)

    async def embed_async(
        self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions
    ) -> EmbeddingsResponse:
        from .embeddings import embed_async  # noqa: PLC0415

        return await embed_async(self, model, chunks, options)

    def generate_image(self, model: DeployedModel, prompt: str, options: ImageOptions) -> Response:
        from .images import generate_image  # noqa: PLC0415

        return generate_image(self, model, prompt, options)

    async def generate_image_async(self, model: DeployedModel, prompt: str, options: ImageOptions) -> Response:
        from .images import generate_image_async  # noqa: PLC0415

        return await generate_image_async(self, model, prompt, options)

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the pooled clients (``Host.close()`` calls this)."""
        self.clients.close()

    async def aclose(self) -> None:
        """Close the pooled clients from async code."""
        await self.clients.aclose()


class AzureOpenAIProvider(OpenAIProvider):
    """Azure OpenAI: the deployments of one resource, by ``api-key`` or Entra ID bearer token.

    Settings (``[providers.azure]``, :class:`.settings.AzureSettings`; the environment variable wins): ``endpoint``
    (``AZURE_OPENAI_ENDPOINT``), ``api_key`` (``AZURE_OPENAI_API_KEY``), ``ad_token``
    (``AZURE_OPENAI_AD_TOKEN``), ``api_version`` (``OPENAI_API_VERSION``), the client settings of
    ``openai``, and ``[providers.azure.deployments.NAME]`` tables naming each deployment's model.

    :param token_provider: returns a fresh Entra ID token for each request (for example
        ``azure.identity.get_bearer_token_provider(credential, "https://cognitiveservices.azure.com/.default")``).
    """

    name = "azure"
    description = "Azure OpenAI deployments (api-key or Entra ID)"
    settings_class = AzureSettings
    _section = "deployments"

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        *,
        async_transport: httpx.AsyncBaseTransport | None = None,
        token_provider: Callable[[], str] | None = None,
    ) -> None:
        super().__init__(transport, async_transport=async_transport)
        self._token_provider = token_provider

    def _make_endpoint(self, typed: Any) -> Endpoint:
        return azure_endpoint(typed, self._token_provider, self.name)

    def models(self) -> Iterable[DeployedModel]:
        self.ready()
        return [self.spec(name).deployed(self.name, name) for name in self._configured]
