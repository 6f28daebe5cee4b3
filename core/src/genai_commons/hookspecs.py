"""Hook specifications: the whole contract between the host and its plugins.

Three kinds of hook, named in each docstring:

* **capability** — routed to the provider that owns the target: every implementation returns
  ``None`` unless ``model.provider`` (or ``knowledge_base.provider``, ``agent.provider``) is one
  of its own providers. Stops at the first non-None result. A cross-cutting plugin (cache,
  redaction, guardrail, tracing) sees every one of these calls, whatever the provider, by
  subclassing :class:`genai_commons.Middleware`; a raw ``@hookimpl(wrapper=True)`` works too (an
  ``_async`` hook's result is an awaitable or async iterator; a wrapper that changes it returns
  a new one).
* **discovery** — every plugin answers; all results are collected.
* **event** — broadcast to every plugin; return values are ignored.

The :class:`genai_commons.Provider` base class implements the capability and discovery hooks for
you; write hooks by hand only for cross-cutting plugins. Specs may gain parameters, never lose them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .config import Config
    from .model import (
        Agent,
        AgentEvent,
        AgentRequest,
        ChatStreamEvent,
        ChunkCollection,
        DeployedModel,
        EmbeddingsOptions,
        EmbeddingsResponse,
        ImageOptions,
        IngestMode,
        IngestResult,
        KnowledgeBase,
        KnowledgeBaseChunk,
        ProviderInfo,
        Request,
        RerankRequest,
        RerankResponse,
        Response,
        RetrievalQuery,
        RetrievalResult,
        SyncResult,
        Usage,
    )
    from .model.retrieval import Filter

PROJECT = "genai_commons"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -------------------------------------------------------------------------------------------
# lifecycle events
# -------------------------------------------------------------------------------------------


@hookspec
def genai_configure(config: Config) -> None:
    """**event** — the host's configuration, given once to each plugin as it is registered
    (entry point or in-process). Read your section with ``config.provider(name)``. A plugin that
    raises here is not registered: an entry-point plugin is reported as failed, the others load.

    :param config: the loaded configuration (file and environment).
    """


# -------------------------------------------------------------------------------------------
# discovery
# -------------------------------------------------------------------------------------------


@hookspec
def genai_providers() -> Sequence[ProviderInfo]:
    """**discovery** — the providers this plugin offers, with their capabilities."""
    return ()


@hookspec
def genai_models(provider: str | None) -> Sequence[DeployedModel]:
    """**discovery** — the deployed models this plugin offers.

    :param provider: when set, only that provider's models are wanted; other plugins return an
        empty list without doing any work (listing may need the network).
    """
    return ()


@hookspec(firstresult=True)
def genai_resolve_model(provider: str, model_id: str) -> DeployedModel | None:
    """**discovery** — the deployed model for ``provider:model_id``, from the provider that owns
    it, without listing everything. Stops at the first non-None result.

    :param provider: the provider name before the first colon of the reference.
    :param model_id: the rest of the reference (it may contain colons).
    """


@hookspec
def genai_knowledge_bases(provider: str | None) -> Sequence[KnowledgeBase]:
    """**discovery** — the knowledge bases this plugin offers.

    :param provider: when set, only that provider's knowledge bases are wanted.
    """
    return ()


@hookspec(firstresult=True)
def genai_resolve_knowledge_base(provider: str, name: str) -> KnowledgeBase | None:
    """**discovery** — the knowledge base ``provider:name`` from the provider that owns it.
    Stops at the first non-None result.

    :param provider: the provider name.
    :param name: the knowledge base's name.
    """


# -------------------------------------------------------------------------------------------
# capabilities: chat
# -------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def genai_chat(model: DeployedModel, request: Request) -> Response | None:
    """**capability** — one chat completion (one model call; the host runs the tool loop).
    Stops at the first non-None result.

    :param model: the deployed model; answer only if its provider is yours.
    :param request: the conversation, already checked against the model's capabilities.
    """


@hookspec(firstresult=True)
def genai_chat_async(model: DeployedModel, request: Request) -> Awaitable[Response] | None:
    """**capability** — :func:`genai_chat`, returning an awaitable. Stops at the first non-None result.

    :param model: the deployed model; answer only if its provider is yours.
    :param request: the conversation, already checked against the model's capabilities.
    """


@hookspec(firstresult=True)
def genai_chat_stream(model: DeployedModel, request: Request) -> Iterator[ChatStreamEvent] | None:
    """**capability** — a streamed chat completion: text and tool-call deltas, then one
    :class:`StreamEnd`. Stops at the first non-None result.

    :param model: the deployed model; answer only if its provider is yours.
    :param request: the conversation, already checked against the model's capabilities.
    """


@hookspec(firstresult=True)
def genai_chat_stream_async(model: DeployedModel, request: Request) -> AsyncIterator[ChatStreamEvent] | None:
    """**capability** — :func:`genai_chat_stream` as an async iterator. Stops at the first
    non-None result.

    :param model: the deployed model; answer only if its provider is yours.
    :param request: the conversation, already checked against the model's capabilities.
    """


# -------------------------------------------------------------------------------------------
# capabilities: embeddings and images
# -------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def genai_embed(model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions) -> EmbeddingsResponse | None:
    """**capability** — embed every chunk; the response carries the chunks with their vectors,
    in order. The provider batches to its own limits. Stops at the first non-None result.

    :param model: the deployed model (output modality embeddings); answer only if it is yours.
    :param chunks: the chunks to embed (never empty).
    :param options: dimensions, purpose (document or query) and normalisation.
    """


@hookspec(firstresult=True)
def genai_embed_async(
    model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions
) -> Awaitable[EmbeddingsResponse] | None:
    """**capability** — :func:`genai_embed`, returning an awaitable. Stops at the first non-None result.

    :param model: the deployed model (output modality embeddings); answer only if it is yours.
    :param chunks: the chunks to embed (never empty).
    :param options: dimensions, purpose (document or query) and normalisation.
    """


@hookspec(firstresult=True)
def genai_count_tokens(model: DeployedModel, texts: Sequence[str]) -> Sequence[int] | None:
    """**capability** — how many tokens the model reads for each text, counted with its own
    tokenizer (special tokens included), in order; ``None`` when the provider cannot count for
    that model (the host then estimates). Used to size chunks within ``model.max_input_tokens``.
    Stops at the first non-None result.

    :param model: the deployed model; answer only if it is yours and you know its tokenizer.
    :param texts: the texts to count (may be empty).
    """


@hookspec(firstresult=True)
def genai_generate_image(model: DeployedModel, prompt: str, options: ImageOptions) -> Response | None:
    """**capability** — generate images from a text; the response message carries them as files.
    Stops at the first non-None result.

    :param model: the deployed model (output modality image); answer only if it is yours.
    :param prompt: the description of the image.
    :param options: size, number of images, seed and cfg scale.
    """


@hookspec(firstresult=True)
def genai_generate_image_async(model: DeployedModel, prompt: str, options: ImageOptions) -> Awaitable[Response] | None:
    """**capability** — :func:`genai_generate_image`, returning an awaitable. Stops at the first
    non-None result.

    :param model: the deployed model (output modality image); answer only if it is yours.
    :param prompt: the description of the image.
    :param options: size, number of images, seed and cfg scale.
    """


# -------------------------------------------------------------------------------------------
# capabilities: reranking
# -------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def genai_rerank(model: DeployedModel, request: RerankRequest) -> RerankResponse | None:
    """**capability** — score how relevant each of ``request.documents`` is to ``request.query``
    with a rerank model; the results (at most ``request.wanted``) name the documents by index,
    most relevant first, scored 0 to 1. A chat model serving as a reranker never reaches this
    hook: the host prompts it through :func:`genai_chat`. Stops at the first non-None result.

    :param model: the deployed model (output modality rerank); answer only if it is yours.
    :param request: the query, the candidate texts (never empty) and ``top_n``.
    """


@hookspec(firstresult=True)
def genai_rerank_async(model: DeployedModel, request: RerankRequest) -> Awaitable[RerankResponse] | None:
    """**capability** — :func:`genai_rerank`, returning an awaitable. Stops at the first non-None result.

    :param model: the deployed model (output modality rerank); answer only if it is yours.
    :param request: the query, the candidate texts (never empty) and ``top_n``.
    """


# -------------------------------------------------------------------------------------------
# capabilities: knowledge bases
# -------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def genai_retrieve(knowledge_base: KnowledgeBase, query: RetrievalQuery) -> RetrievalResult | None:
    """**capability** — the chunks of the knowledge base's collection that best answer the query,
    best first, with their similarity, ranked as ``query.search_type`` says (vector, keyword or
    hybrid; the host has settled it to one the provider declares in ``ProviderInfo.search_types``).
    Stops at the first non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    :param query: text or vector, k, minimum similarity, metadata filters and search type.
    """


@hookspec(firstresult=True)
def genai_retrieve_async(knowledge_base: KnowledgeBase, query: RetrievalQuery) -> Awaitable[RetrievalResult] | None:
    """**capability** — :func:`genai_retrieve`, returning an awaitable. Stops at the first
    non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    :param query: text or vector, k, minimum similarity and metadata filters.
    """


@hookspec(firstresult=True)
def genai_ingest(knowledge_base: KnowledgeBase, chunks: ChunkCollection, mode: IngestMode) -> IngestResult | None:
    """**capability** — store knowledge-base chunks in the collection. Stops at the first
    non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    :param chunks: the chunks, with vectors when the host embedded them.
    :param mode: insert, replace by source object, or repopulate the collection.
    """


@hookspec(firstresult=True)
def genai_ingest_async(
    knowledge_base: KnowledgeBase, chunks: ChunkCollection, mode: IngestMode
) -> Awaitable[IngestResult] | None:
    """**capability** — :func:`genai_ingest`, returning an awaitable. Stops at the first
    non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    :param chunks: the chunks, with vectors when the host embedded them.
    :param mode: insert, replace by source object, or repopulate the collection.
    """


@hookspec(firstresult=True)
def genai_retrieve_and_generate(
    knowledge_base: KnowledgeBase, model: DeployedModel | None, request: Request, query: RetrievalQuery
) -> Response | None:
    """**capability** — answer the request's last user message from the knowledge base in one
    service call (Bedrock's RetrieveAndGenerate), with references and citations. Optional: when
    no plugin answers, the host retrieves, builds the prompt and calls ``model`` itself. Stops at
    the first non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    :param model: the chat model that generates the answer, when the caller chose one.
    :param request: the conversation; its last user message is the question.
    :param query: the retrieval part: the question's text, k and metadata filters.
    """


@hookspec(firstresult=True)
def genai_retrieve_and_generate_async(
    knowledge_base: KnowledgeBase, model: DeployedModel | None, request: Request, query: RetrievalQuery
) -> Awaitable[Response] | None:
    """**capability** — :func:`genai_retrieve_and_generate`, returning an awaitable. Stops at the
    first non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    :param model: the chat model that generates the answer, when the caller chose one.
    :param request: the conversation; its last user message is the question.
    :param query: the retrieval part: the question's text, k and metadata filters.
    """


@hookspec(firstresult=True)
def genai_ingest_from_source(
    knowledge_base: KnowledgeBase, data_source_id: str | None, wait: bool
) -> SyncResult | None:
    """**capability** — start the provider-side ingestion of the knowledge base from its own data
    source (Bedrock's ingestion jobs: the service reads its bucket or site again), for a knowledge
    base that does not take chunks through :func:`genai_ingest`. Optional: when no plugin answers,
    the knowledge base has no data source of its own. Stops at the first non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    :param data_source_id: the one data source to read, or None for every data source.
    :param wait: whether to return only when the jobs have finished (or the provider's own wait
        limit passed) rather than as soon as they started.
    """


@hookspec(firstresult=True)
def genai_ingest_from_source_async(
    knowledge_base: KnowledgeBase, data_source_id: str | None, wait: bool
) -> Awaitable[SyncResult] | None:
    """**capability** — :func:`genai_ingest_from_source`, returning an awaitable. Stops at the first
    non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    :param data_source_id: the one data source to read, or None for every data source.
    :param wait: whether to return only when the jobs have finished rather than once started.
    """


# -------------------------------------------------------------------------------------------
# capabilities: knowledge-base management (offered with ingest)
# -------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def genai_stored_chunk_ids(
    knowledge_base: KnowledgeBase, source_ids: Sequence[str]
) -> Mapping[str, frozenset[str]] | None:
    """**capability** — the ids of the chunks stored for each of the source objects, so that
    ingestion skips unchanged chunks and resumes where it stopped. Sources with no chunk are left
    out. Stops at the first non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    :param source_ids: the source objects (the seed's MxObjectID) to look up.
    """


@hookspec(firstresult=True)
def genai_stored_chunk_ids_async(
    knowledge_base: KnowledgeBase, source_ids: Sequence[str]
) -> Awaitable[Mapping[str, frozenset[str]]] | None:
    """**capability** — :func:`genai_stored_chunk_ids`, returning an awaitable. Stops at the first
    non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    :param source_ids: the source objects (the seed's MxObjectID) to look up.
    """


@hookspec(firstresult=True)
def genai_delete_chunks(knowledge_base: KnowledgeBase, source_ids: Sequence[str] | None) -> int | None:
    """**capability** — delete the chunks of the given source objects, or every chunk of the
    collection when ``source_ids`` is None; returns how many were deleted. Stops at the first
    non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    :param source_ids: the source objects whose chunks go, or None for all.
    """


@hookspec(firstresult=True)
def genai_delete_chunks_async(knowledge_base: KnowledgeBase, source_ids: Sequence[str] | None) -> Awaitable[int] | None:
    """**capability** — :func:`genai_delete_chunks`, returning an awaitable. Stops at the first
    non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    :param source_ids: the source objects whose chunks go, or None for all.
    """


@hookspec(firstresult=True)
def genai_drop_collection(knowledge_base: KnowledgeBase) -> bool | None:
    """**capability** — delete the knowledge base's collection itself; returns whether it
    existed. Stops at the first non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    """


@hookspec(firstresult=True)
def genai_drop_collection_async(knowledge_base: KnowledgeBase) -> Awaitable[bool] | None:
    """**capability** — :func:`genai_drop_collection`, returning an awaitable. Stops at the first
    non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    """


@hookspec(firstresult=True)
def genai_list_chunks(
    knowledge_base: KnowledgeBase, filter: Filter | None, offset: int, limit: int
) -> Sequence[KnowledgeBaseChunk] | None:
    """**capability** — one page of the stored chunks, without vectors, in a stable order (by
    source object, then chunk id). Stops at the first non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    :param filter: a portable metadata filter, or None for every chunk.
    :param offset: how many chunks to skip.
    :param limit: the most chunks to return.
    """


@hookspec(firstresult=True)
def genai_list_chunks_async(
    knowledge_base: KnowledgeBase, filter: Filter | None, offset: int, limit: int
) -> Awaitable[Sequence[KnowledgeBaseChunk]] | None:
    """**capability** — :func:`genai_list_chunks`, returning an awaitable. Stops at the first
    non-None result.

    :param knowledge_base: the knowledge base; answer only if its provider is yours.
    :param filter: a portable metadata filter, or None for every chunk.
    :param offset: how many chunks to skip.
    :param limit: the most chunks to return.
    """


# -------------------------------------------------------------------------------------------
# capabilities: agents
# -------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def genai_invoke_agent(agent: Agent, request: AgentRequest) -> Iterator[AgentEvent] | None:
    """**capability** — one turn with a hosted agent, streamed as text chunks and traces.
    Stops at the first non-None result.

    :param agent: the agent; answer only if its provider is yours.
    :param request: the input text, session and trace settings.
    """


@hookspec(firstresult=True)
def genai_invoke_agent_async(agent: Agent, request: AgentRequest) -> AsyncIterator[AgentEvent] | None:
    """**capability** — :func:`genai_invoke_agent` as an async iterator. Stops at the first
    non-None result.

    :param agent: the agent; answer only if its provider is yours.
    :param request: the input text, session and trace settings.
    """


# -------------------------------------------------------------------------------------------
# usage events
# -------------------------------------------------------------------------------------------


@hookspec
def genai_usage_recorded(usage: Usage) -> None:
    """**event** — one complete interaction succeeded; usage stores persist ``usage`` when
    enabled. Called once per successful call, after the tool loop and after retries, never for
    a failure. Holds metadata only, never prompt or response text.

    :param usage: provider, model, tokens, duration and time of the interaction.
    """
