"""The Amazon Bedrock provider: settings, the model catalogue, and one short method per capability,
each delegating to its module (``chat``, ``embeddings``, ``images``, ``invoke``, ``catalogue``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from genai_commons import GenAIError, Provider

from .clients import ClientFactory
from .concurrency import WorkerPool
from .errors import PROVIDER
from .settings import BedrockSettings

if TYPE_CHECKING:
    from genai_commons import (
        ChatStreamEvent,
        ChunkCollection,
        DeployedModel,
        EmbeddingsOptions,
        EmbeddingsResponse,
        ImageOptions,
        ProviderSettings,
        Request,
        Response,
    )

    from .invoke import InvokeModelResult

# The capability modules load on first use, not when the host imports the plugin at start-up
# (import time is benchmarked): ``from . import chat`` inside each method.

RUNTIME = "bedrock-runtime"
CONTROL = "bedrock"


class BedrockProvider(Provider):
    """Amazon Bedrock through boto3: Converse chat and streaming for every family Bedrock serves
    that way, Titan and Cohere embeddings, Titan Image Generator and Nova Canvas images, the raw
    InvokeModel operation and the ListFoundationModels catalogue.

    Settings are ``[providers.bedrock]`` (see ``docs/bedrock.md``); credentials come from boto3's
    standard chain and are first needed by the first call, never by ``configure``.

    :param session: a ``boto3.Session`` to use instead of one built from the settings (its
        credentials, region and event handlers are kept; ``role_arn`` still applies on top).
    """

    name = PROVIDER
    description = "Amazon Bedrock: Converse chat and streaming, Titan and Cohere embeddings, Titan and Nova images"

    def __init__(self, session: Any = None) -> None:
        super().__init__()
        self._session = session
        self.bedrock_settings = BedrockSettings()
        #: The boto3 clients, one per service and region; knowledge bases and agents use it too.
        self.clients = ClientFactory(self.bedrock_settings, session)
        #: The bounded pool that fans embedding calls out.
        self.workers = WorkerPool(self.bedrock_settings.max_concurrency)
        self._models: list[DeployedModel] | None = None

    def configure(self, settings: ProviderSettings) -> None:
        self.close()
        self.bedrock_settings = BedrockSettings.from_provider_settings(settings)
        self.clients = ClientFactory(self.bedrock_settings, self._session)
        self.workers = WorkerPool(self.bedrock_settings.max_concurrency)
        self._models = None

    def _runtime(self) -> tuple[Any, str | None]:
        client = self.clients.client(RUNTIME)
        return client, self.clients.region(RUNTIME)

    # -- discovery --------------------------------------------------------------------------

    def models(self) -> list[DeployedModel]:
        """The configured models (``models``), or every model ListFoundationModels lists with the
        configured filters; the built-in list when Bedrock cannot be asked (no credentials)."""
        if self._models is None:
            self._models = self._catalogue()
        return self._models

    def _catalogue(self) -> list[DeployedModel]:
        from . import catalogue  # noqa: PLC0415

        settings = self.bedrock_settings
        listed = None
        if settings.list_models:
            try:
                listed = self.list_foundation_models(**_filter_arguments(settings.model_filters))
            except GenAIError as exc:
                _log().warning(
                    "model_listing_failed",
                    error=str(exc),
                    advice="showing the configured or built-in models; set list_models = false to skip listing",
                )
        if listed is None:
            return catalogue.configured(settings.models, None) or catalogue.built_in()
        if not settings.models:
            return listed
        by_id = {m.model_id: m for m in listed}
        chosen = catalogue.configured(settings.models, by_id)
        catalogue.warn_about_lifecycle(chosen, by_id, complete=not settings.model_filters)
        return chosen

    def resolve_model(self, model_id: str) -> DeployedModel | None:
        """Any model id, inference-profile id or ARN: from the catalogue when it was listed, else
        described by its family (no network)."""
        from . import catalogue  # noqa: PLC0415

        for model in self._models or ():
            if model.model_id == model_id:
                return model
        entry = next((e for e in self.bedrock_settings.models if e.model_id == model_id), None)
        if entry is not None:
            return catalogue.model_for_id(model_id, display_name=entry.display_name, like=entry.like)
        return catalogue.model_for_id(model_id)

    def list_foundation_models(
        self,
        *,
        by_provider: str | None = None,
        by_customization_type: str | None = None,
        by_output_modality: str | None = None,
        by_inference_type: str | None = None,
    ) -> list[DeployedModel]:
        """ListFoundationModels with the seed's filters, as deployed models (with modalities,
        streaming support and lifecycle status)."""
        filters = {
            key: value
            for key, value in (
                ("byProvider", by_provider),
                ("byCustomizationType", by_customization_type),
                ("byOutputModality", by_output_modality),
                ("byInferenceType", by_inference_type),
            )
            if value
        }
        from . import catalogue  # noqa: PLC0415

        client = self.clients.client(CONTROL)
        return catalogue.list_foundation_models(client, filters, region=self.clients.region(CONTROL))

    # -- capabilities -----------------------------------------------------------------------

    def chat(self, model: DeployedModel, request: Request) -> Response:
        from . import chat  # noqa: PLC0415

        client, region = self._runtime()
        return chat.chat(client, model, request, region=region)

    def chat_stream(self, model: DeployedModel, request: Request) -> Iterator[ChatStreamEvent]:
        from . import chat  # noqa: PLC0415

        client, region = self._runtime()
        return chat.chat_stream(client, model, request, region=region)

    def embed(self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions) -> EmbeddingsResponse:
        from . import embeddings  # noqa: PLC0415

        client, region = self._runtime()
        return embeddings.embed(client, self.workers, model, chunks, options, region=region)

    def generate_image(self, model: DeployedModel, prompt: str, options: ImageOptions) -> Response:
        from . import images  # noqa: PLC0415

        client, region = self._runtime()
        return images.generate_image(client, model, prompt, options, region=region)

    def invoke_model(
        self,
        model_id: str,
        body: bytes | str,
        *,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> InvokeModelResult:
        """InvokeModel with the model's own request body (the seed's Invoke Model operation), for
        anything the core's operations do not cover. Not retried: wrap it in your own policy."""
        from .invoke import invoke_model  # noqa: PLC0415

        client, region = self._runtime()
        return invoke_model(client, model_id, body, content_type=content_type, accept=accept, region=region)

    def close(self) -> None:
        """Close the clients' connections and stop the worker threads (``Host.close()`` calls it)."""
        self.clients.close()
        self.workers.close()


def _filter_arguments(filters: dict[str, str] | Any) -> dict[str, str]:
    names = {
        "byProvider": "by_provider",
        "byCustomizationType": "by_customization_type",
        "byOutputModality": "by_output_modality",
        "byInferenceType": "by_inference_type",
    }
    return {names[key]: value for key, value in filters.items()}


def _log() -> Any:
    from genai_commons import get_logger  # noqa: PLC0415 - quiet by default: warnings to stderr

    return get_logger(__name__)
