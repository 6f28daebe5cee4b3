"""The Amazon Bedrock provider: settings, the model catalogue, and one short method per capability,
each delegating to its module (``chat``, ``embeddings``, ``images``, ``invoke``, ``catalog``,
``knowledge``, ``rag``, ``ingestion``, ``agents``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs

from genai_commons import ConfigurationError, GenAIError, Provider, SearchType

from .settings import BedrockSettings

if TYPE_CHECKING:
    from genai_commons import (
        Agent,
        AgentEvent,
        AgentRequest,
        ChatStreamEvent,
        ChunkCollection,
        DeployedModel,
        EmbeddingsOptions,
        EmbeddingsResponse,
        ImageOptions,
        KnowledgeBase,
        ProviderSettings,
        Request,
        RerankRequest,
        RerankResponse,
        Response,
        RetrievalQuery,
        RetrievalResult,
        SyncResult,
    )

    from .clients import ClientFactory
    from .concurrency import WorkerPool
    from .ingestion import DataSource, IngestionJob, Progress
    from .invoke import InvokeModelResult

# The capability modules load on first use, not when the host imports the plugin at start-up
# (import time is benchmarked): ``from . import chat`` inside each method. So do the clients with
# the credential chain and the worker pool (at the first call). The settings class is small (attrs
# and the core only) and the host checks the table against it before ``configure``.

RUNTIME = "bedrock-runtime"
CONTROL = "bedrock"
AGENT_RUNTIME = "bedrock-agent-runtime"
AGENT = "bedrock-agent"


class BedrockProvider(Provider):
    """Amazon Bedrock through boto3: Converse chat and streaming for every family Bedrock serves
    that way, Titan and Cohere embeddings, Titan Image Generator and Nova Canvas images, the raw
    InvokeModel operation and the ListFoundationModels catalogue; knowledge bases (Retrieve,
    RetrieveAndGenerate, ingestion jobs), reranking (Rerank) and agents (InvokeAgent).

    Settings are ``[providers.bedrock]`` (see ``docs/bedrock.md``); credentials come from boto3's
    standard chain and are first needed by the first call, never by ``configure``.

    :param session: a ``boto3.Session`` to use instead of one built from the settings (its
        credentials, region and event handlers are kept; ``role_arn`` still applies on top).
    """

    name = "bedrock"  # errors.PROVIDER, without importing the errors module at start-up
    description = (
        "Amazon Bedrock: Converse chat and streaming, Titan and Cohere embeddings, Titan and Nova images, "
        "knowledge bases, reranking and agents"
    )
    #: Knowledge bases search by vector (SEMANTIC) or hybrid (HYBRID); see :mod:`.knowledge`.
    search_types = frozenset({SearchType.VECTOR, SearchType.HYBRID})
    settings_class = BedrockSettings

    @classmethod
    def option_classes(cls) -> tuple[type, ...]:
        """``ClaudeOptions`` and ``GuardrailOptions``, for ``genai chat -o top_k=50``."""
        from .options import ClaudeOptions, GuardrailOptions  # noqa: PLC0415 - loaded when asked

        return (ClaudeOptions, GuardrailOptions)

    def __init__(self, session: Any = None) -> None:
        super().__init__()
        self._session = session
        self._settings: BedrockSettings | None = None
        self._clients: ClientFactory | None = None
        self._workers: WorkerPool | None = None
        self._lock = threading.Lock()
        self._models: list[DeployedModel] | None = None
        self._not_set_up = False  # the models were listed while AWS was not set up
        self._knowledge_bases: dict[str, KnowledgeBase] = {}

    def configure(self, settings: ProviderSettings) -> None:
        # Checked by the host already when it passes its own table; checked here when called directly.
        fresh = settings is self.settings and isinstance(self.typed_settings, BedrockSettings)
        configured = self.typed_settings if fresh else BedrockSettings.from_provider_settings(settings)
        self.close()
        with self._lock:
            self._settings, self._clients, self._workers = configured, None, None
        self._models = None
        self._knowledge_bases = {}

    @property
    def bedrock_settings(self) -> BedrockSettings:
        """The plugin's settings (the defaults until :meth:`configure`)."""
        settings = self._settings
        if settings is None:
            with self._lock:
                if self._settings is None:
                    self._settings = BedrockSettings()
                settings = self._settings
        return settings

    @property
    def clients(self) -> ClientFactory:
        """The boto3 clients, one per service and region (made on first use); knowledge bases and
        agents use it too."""
        clients = self._clients
        if clients is None:
            from .clients import ClientFactory  # noqa: PLC0415

            settings = self.bedrock_settings
            with self._lock:
                if self._clients is None:
                    self._clients = ClientFactory(settings, self._session)
                clients = self._clients
        return clients

    @property
    def workers(self) -> WorkerPool:
        """The bounded pool that fans embedding calls out and runs async chat calls (its threads
        start on first use)."""
        workers = self._workers
        if workers is None:
            from .concurrency import WorkerPool  # noqa: PLC0415

            settings = self.bedrock_settings
            with self._lock:
                if self._workers is None:
                    self._workers = WorkerPool(settings.max_concurrency)
                workers = self._workers
        return workers

    def _client(self, service: str) -> tuple[Any, str | None]:
        client = self.clients.client(service)
        return client, self.clients.region(service)

    def _runtime(self) -> tuple[Any, str | None]:
        return self._client(RUNTIME)

    # -- discovery --------------------------------------------------------------------------

    def models(self) -> list[DeployedModel]:
        """The configured models (``models``), or every model ListFoundationModels lists with the
        configured filters; the built-in list when Bedrock cannot be asked — marked inactive when
        AWS is not set up (no region or credentials: logged at info, since a plugin installed but
        not set up is routine)."""
        if self._models is None:
            self._models = self._catalogue()
        return self._models

    def _catalogue(self) -> list[DeployedModel]:
        from . import catalog  # noqa: PLC0415

        settings = self.bedrock_settings
        listed = None
        self._not_set_up = False
        if settings.list_models:
            try:
                listed = self.list_foundation_models(**_filter_arguments(settings.model_filters))
            except ConfigurationError as exc:
                self._not_set_up = True
                _log().info("model_listing_skipped", reason=str(exc))  # the models are shown inactive
            except GenAIError as exc:
                _log().warning(
                    "model_listing_failed",
                    error=str(exc),
                    advice="showing the configured or built-in models; set list_models = false to skip listing",
                )
        if listed is None:
            shown = catalog.configured(settings.models, None) or catalog.built_in()
            return [attrs.evolve(m, active=False) for m in shown] if self._not_set_up else shown
        if not settings.models:
            return listed
        by_id = {m.model_id: m for m in listed}
        chosen = catalog.configured(settings.models, by_id)
        catalog.warn_about_lifecycle(chosen, by_id, complete=not settings.model_filters)
        return chosen

    def resolve_model(self, model_id: str) -> DeployedModel | None:
        """Any model id, inference-profile id or ARN: from the catalogue when it was listed, else
        described by its family (no network)."""
        from . import catalog  # noqa: PLC0415

        for model in () if self._not_set_up else self._models or ():  # inactive only until AWS is set up
            if model.model_id == model_id:
                return model
        entry = next((e for e in self.bedrock_settings.models if e.model_id == model_id), None)
        if entry is not None:
            return catalog.model_for_id(model_id, display_name=entry.display_name, like=entry.like)
        return catalog.model_for_id(model_id)

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
        from . import catalog  # noqa: PLC0415

        client = self.clients.client(CONTROL)
        return catalog.list_foundation_models(client, filters, region=self.clients.region(CONTROL))

    # -- capabilities -----------------------------------------------------------------------

    def chat(self, model: DeployedModel, request: Request) -> Response:
        from . import chat  # noqa: PLC0415

        client, region = self._runtime()
        return chat.chat(client, model, request, region=region)

    async def chat_async(self, model: DeployedModel, request: Request) -> Response:
        """:meth:`chat` in the plugin's worker pool rather than asyncio's default executor: at most
        ``max_concurrency`` calls in flight, the size of boto3's connection pool (a larger executor
        would open connections beyond the pool and drop them after each call)."""
        return await self.workers.run(self.chat, model, request)

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

    def rerank(self, model: DeployedModel, request: RerankRequest) -> RerankResponse:
        """Rerank (``bedrock-agent-runtime``) with a rerank model such as ``amazon.rerank-v1:0``."""
        from . import rerank  # noqa: PLC0415

        client, region = self._client(AGENT_RUNTIME)
        return rerank.rerank(client, model, request, region=region)

    # -- knowledge bases ----------------------------------------------------------------------

    def knowledge_bases(self) -> list[KnowledgeBase]:
        """Every knowledge base of the region (ListKnowledgeBases); none when AWS is not set up (no
        credentials or region: logged at info, since listing every provider's is routine)."""
        from . import knowledge  # noqa: PLC0415

        try:
            client, region = self._client(AGENT)
            found = knowledge.list_knowledge_bases(client, region=region)
        except ConfigurationError as exc:
            _log().info("knowledge_base_listing_skipped", reason=str(exc))
            return []
        self._knowledge_bases.update({kb.collection: kb for kb in found})
        return found

    def resolve_knowledge_base(self, name: str) -> KnowledgeBase | None:
        """The knowledge base of that id or name (GetKnowledgeBase or ListKnowledgeBases), cached."""
        known = self._knowledge_bases.get(name) or next(
            (kb for kb in self._knowledge_bases.values() if kb.name == name), None
        )
        if known is not None:
            return known
        from . import knowledge  # noqa: PLC0415

        client, region = self._client(AGENT)
        found = knowledge.find_knowledge_base(client, name, region=region)
        if found is not None:
            self._knowledge_bases[found.collection] = found
        return found

    def retrieve(self, knowledge_base: KnowledgeBase, query: RetrievalQuery) -> RetrievalResult:
        from . import knowledge  # noqa: PLC0415

        client, region = self._client(AGENT_RUNTIME)
        return knowledge.retrieve(client, knowledge_base, query, region=region)

    def retrieve_and_generate(
        self, knowledge_base: KnowledgeBase, model: DeployedModel | None, request: Request, query: RetrievalQuery
    ) -> Response:
        """RetrieveAndGenerate; the answer is a ``RetrieveAndGenerateResponse`` with the session id."""
        from . import rag  # noqa: PLC0415

        client, region = self._client(AGENT_RUNTIME)
        return rag.retrieve_and_generate(client, knowledge_base, model, request, query, region=region)

    def ingest_from_source(self, knowledge_base: KnowledgeBase, data_source_id: str | None, wait: bool) -> SyncResult:
        """An ingestion job per data source (or for the one given), waited for up to
        ``ingestion_timeout`` seconds when ``wait``."""
        from . import ingestion  # noqa: PLC0415

        client, region = self._client(AGENT)
        settings = self.bedrock_settings
        return ingestion.sync(
            client, knowledge_base.collection, data_source_id, wait=wait, timeout=settings.ingestion_timeout,
            poll_interval=settings.ingestion_poll_interval, region=region,
        )  # fmt: skip

    def list_data_sources(self, knowledge_base: KnowledgeBase | str) -> list[DataSource]:
        """The data sources of a knowledge base (object or id)."""
        from . import ingestion  # noqa: PLC0415

        client, region = self._client(AGENT)
        return ingestion.list_data_sources(client, _kb_id(knowledge_base), region=region)

    def start_ingestion_job(
        self, knowledge_base: KnowledgeBase | str, data_source_id: str, *, description: str | None = None
    ) -> IngestionJob:
        """StartIngestionJob: the data source is read again (not retried: a second start conflicts)."""
        from . import ingestion  # noqa: PLC0415

        client, region = self._client(AGENT)
        return ingestion.start_ingestion_job(
            client, _kb_id(knowledge_base), data_source_id, description=description, region=region
        )

    def get_ingestion_job(self, job: IngestionJob) -> IngestionJob:
        """GetIngestionJob: the job as it stands now, with its statistics."""
        from . import ingestion  # noqa: PLC0415

        client, region = self._client(AGENT)
        return ingestion.get_ingestion_job(client, job.knowledge_base_id, job.data_source_id, job.job_id, region=region)

    def wait_for_ingestion_job(
        self,
        job: IngestionJob,
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        progress: Progress | None = None,
    ) -> IngestionJob:
        """The job once finished, asking every ``poll_interval`` seconds (``progress`` is called
        with each state); ``ProviderTimeoutError`` after ``timeout`` (defaults: the settings)."""
        from . import ingestion  # noqa: PLC0415

        client, region = self._client(AGENT)
        settings = self.bedrock_settings
        return ingestion.wait_for_ingestion_job(
            client, job, timeout=settings.ingestion_timeout if timeout is None else timeout,
            poll_interval=settings.ingestion_poll_interval if poll_interval is None else poll_interval,
            progress=progress, region=region,
        )  # fmt: skip

    # -- agents -------------------------------------------------------------------------------

    def invoke_agent(self, agent: Agent, request: AgentRequest) -> Iterator[AgentEvent]:
        """InvokeAgent with the agent's alias (``agent_alias_id`` of the settings when it has none)."""
        from . import agents  # noqa: PLC0415

        client, region = self._client(AGENT_RUNTIME)
        return agents.invoke_agent(client, agent, request, alias_id=self.bedrock_settings.agent_alias_id, region=region)

    def close(self) -> None:
        """Close the clients' connections and stop the worker threads (``Host.close()`` calls it)."""
        with self._lock:
            clients, workers = self._clients, self._workers
        if clients is not None:
            clients.close()
        if workers is not None:
            workers.close()


def _kb_id(knowledge_base: KnowledgeBase | str) -> str:
    return knowledge_base if isinstance(knowledge_base, str) else knowledge_base.collection


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
