"""A conformance suite every provider plugin runs against itself.

Subclass :class:`ProviderConformance` in a test module whose class name starts with ``Test``;
pytest collects the checks below for your plugin::

    from genai_commons.testing.conformance import ProviderConformance

    class TestMyProviderConformance(ProviderConformance):
        CHAT_MODEL = "my:small-model"      # None (the default) skips that group of checks
        STREAM_MODEL = "my:small-model"
        EMBEDDING_MODEL = "my:embedder"
        STRUCTURED_OUTPUT = False          # what a model cannot declare: see "Flags" below

        @pytest.fixture
        def plugin(self):  # a fresh instance, its transport a fake of the service
            self.service = MyFakeService()
            return MyProvider(transport=httpx.MockTransport(self.service))

        def fail_next(self, plugin, kind):  # make the next request fail like the service would
            self.service.fail_next(kind)

        def transport_calls(self, plugin):  # requests that reached the service (None: not counted)
            return self.service.requests

        def last_request(self, plugin):  # the last request body the service received
            return self.service.last_body

Fixtures (override them with ``@pytest.fixture`` methods of the same name): ``plugin`` (or set
``PLUGIN``), ``provider_settings`` (the ``[providers.NAME]`` table: fake credentials),
``retry_policy``, ``chat_model``, ``stream_model``, ``embedding_model``, ``image_model``,
``knowledge_base``, ``agent``, ``rerank_model`` (or set the upper-case class attributes), and
``host``/``recorder``, which you rarely need to touch. ``MyFakeService`` is yours (the example
plugin's ``EngineService`` is one: an ``httpx.MockTransport`` handler).

Hook methods (plain methods, not fixtures): :meth:`~ProviderConformance.fail_next` for every
kind of :data:`~genai_commons.testing.failures.FAILURE_KINDS` and ``EXTRA_KINDS``;
:meth:`~ProviderConformance.transport_calls`; :meth:`~.conformance_chat.ChatConformance.last_request`;
:meth:`~.conformance_chat.ChatConformance.structured_output` (when ``STRUCTURED_OUTPUT``).

Flags (class attributes, all true by default; set one to False only for a service that lacks
the feature): ``STOP_SEQUENCES``, ``STRUCTURED_OUTPUT``, ``STREAM_USAGE``, ``RETRY_AFTER``,
``DETERMINISTIC``. Everything else a check needs is read from the model's declaration
(``DeployedModel.supports_function_calling`` and the like): a check is skipped when the model
declares it lacks the capability, never because a hook is missing.

The checks: the provider is discovered with its capabilities; every declared capability works
and returns well-formed domain objects; an undeclared one is refused with
:class:`UnsupportedCapabilityError` before any request reaches the transport; each failure kind
becomes its core error with the transport error kept as ``__cause__``, for plain and streamed
calls, retryable kinds are retried and succeed, and no usage is recorded for a failure; usage is
recorded exactly once per successful call; the sync and async APIs agree; a stream's deltas
assemble into its response; each search type the provider declares
(:attr:`Provider.search_types`) retrieves — a keyword search without embedding the query — and
each other one is refused before the transport. The chat checks of
:mod:`~genai_commons.testing.conformance_chat`: a tool call round trip, tool calls while
streaming, the system prompt, history, image and document input reaching the service, stop
sequences, structured output, usage at the end of a stream, a stream closed early, a stream cut
midway, and a 429's Retry-After honoured. Async checks run with :func:`asyncio.run`, so
pytest-asyncio is not needed.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ..config import Config, RetryPolicy
from ..errors import UnsupportedCapabilityError
from ..host import Host
from ..model import (
    Agent,
    AgentRequest,
    AgentResponse,
    Capability,
    ChunkCollection,
    DeployedModel,
    EmbeddingsResponse,
    FileType,
    IngestResult,
    KnowledgeBase,
    Modality,
    Response,
    RetrievalResult,
    SearchType,
    StreamEnd,
    TextDelta,
    Usage,
)
from ..plugins import instantiate
from .conformance_chat import ChatConformance
from .failures import FAILURE_KINDS
from .fakes import UsageRecorder

__all__ = ["FAILURE_KINDS", "ProviderConformance"]

_PROMPT = "Say hello to the conformance suite"
_TEXTS = ["the quick brown fox", "jumps over the lazy dog"]


class ProviderConformance(ChatConformance):
    """Base class of a plugin's conformance tests; see the module docstring.

    Set the class attributes, or override the fixtures of the same name in lower case, to point
    the checks at your models; override :meth:`fail_next` (and, when you can count requests,
    :meth:`transport_calls`) so that the error checks run. The host reads no configuration file
    and no environment: give fake credentials through the ``provider_settings`` fixture.
    """

    #: The plugin: a class or a factory called once per test. Or override the ``plugin`` fixture.
    PLUGIN: ClassVar[Any] = None
    CHAT_MODEL: ClassVar[str | None] = None
    STREAM_MODEL: ClassVar[str | None] = None
    EMBEDDING_MODEL: ClassVar[str | None] = None
    IMAGE_MODEL: ClassVar[str | None] = None
    #: A knowledge base to ingest into and retrieve from (``provider:name``); for a provider that
    #: does not ingest, one that already holds "the quick brown fox" and "jumps over the lazy dog".
    KNOWLEDGE_BASE: ClassVar[str | None] = None
    #: An agent reference (``provider:agent_id``).
    AGENT: ClassVar[str | None] = None
    #: A rerank model (``provider:model``) of a provider that declares the rerank capability.
    RERANK_MODEL: ClassVar[str | None] = None
    #: Whether the same input gives the same output (true of a faked transport).
    DETERMINISTIC: ClassVar[bool] = True

    # -- fixtures a plugin may override ----------------------------------------------------

    @pytest.fixture
    def plugin(self) -> Any:
        """A fresh plugin object, its transport faked."""
        if self.PLUGIN is None:
            pytest.fail(f"{type(self).__name__}: set PLUGIN or override the 'plugin' fixture")
        return instantiate(self.PLUGIN)

    @pytest.fixture
    def provider_name(self, plugin: Any) -> str:
        """The provider under test: the plugin's ``name``."""
        return str(plugin.name)

    @pytest.fixture
    def provider_settings(self) -> Mapping[str, Any]:
        """The ``[providers.NAME]`` table the plugin is configured with (fake credentials…)."""
        return {}

    @pytest.fixture
    def retry_policy(self) -> RetryPolicy:
        """The host's retry policy: three attempts, no waiting."""
        return RetryPolicy(max_attempts=3, initial_delay=0, max_delay=0, max_retry_after=5)

    @pytest.fixture
    def recorder(self) -> UsageRecorder:
        return UsageRecorder()

    @pytest.fixture
    def host(
        self,
        plugin: Any,
        provider_name: str,
        provider_settings: Mapping[str, Any],
        retry_policy: RetryPolicy,
        recorder: UsageRecorder,
        tmp_path: Path,
    ) -> Iterator[Host]:
        """A host with only the plugin under test and a usage recorder."""
        config = Config.defaults(tmp_path, retry=retry_policy, providers={provider_name: dict(provider_settings)})
        host = Host(config, load_entry_points=False, plugins=[plugin, recorder])
        yield host
        host.close()

    @pytest.fixture
    def chat_model(self) -> str | None:
        return self.CHAT_MODEL

    @pytest.fixture
    def stream_model(self) -> str | None:
        return self.STREAM_MODEL

    @pytest.fixture
    def embedding_model(self) -> str | None:
        return self.EMBEDDING_MODEL

    @pytest.fixture
    def image_model(self) -> str | None:
        return self.IMAGE_MODEL

    @pytest.fixture
    def knowledge_base(self) -> str | None:
        return self.KNOWLEDGE_BASE

    @pytest.fixture
    def agent(self) -> str | None:
        return self.AGENT

    @pytest.fixture
    def rerank_model(self) -> str | None:
        return self.RERANK_MODEL

    # -- hooks a plugin implements ---------------------------------------------------------

    def fail_next(self, plugin: Any, kind: str) -> None:
        """Make the next request to the transport fail as the service does for ``kind`` (a key of
        ``FAILURE_KINDS``: answer 401, 403, 404, 429, 503, 400, a context-length 400, or time
        out); one request only, so that two calls make two requests fail. The default calls
        ``plugin.fail_next(kind)`` if the plugin has it, and skips the error checks otherwise."""
        fail = getattr(plugin, "fail_next", None)
        if not callable(fail):
            pytest.skip(f"{type(self).__name__} does not implement fail_next(plugin, kind)")
        fail(kind)

    def transport_calls(self, plugin: Any) -> int | None:
        """How many requests reached the transport so far, or None when unknown (then the checks
        that count them are skipped). The default reads ``len(plugin.calls)`` if there is one."""
        calls = getattr(plugin, "calls", None)
        return len(calls) if isinstance(calls, list) else None

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _need(ref: str | None, what: str) -> str:
        if ref is None:
            pytest.skip(f"no {what} given to the conformance suite")
        return ref

    @staticmethod
    def _one_usage(recorder: UsageRecorder, provider: str, operation: str) -> Usage:
        assert len(recorder.records) == 1, f"expected one usage event, got {recorder.operations}"
        usage = recorder.records[0]
        assert (usage.provider, usage.operation) == (provider, operation)
        assert usage.total_tokens >= 0 and usage.duration_ms >= 0
        return usage

    # -- discovery -------------------------------------------------------------------------

    def test_provider_is_discovered(self, host: Host, provider_name: str) -> None:
        info = host.providers().get(provider_name)
        assert info is not None, f"the plugin offers no provider named {provider_name!r}"
        assert info.capabilities, "the provider declares no capability"
        for model in host.models(provider_name):
            assert isinstance(model, DeployedModel) and model.provider == provider_name
            assert host.model(model.ref) == model

    def test_every_declared_capability_is_exercised(self, host: Host, provider_name: str, request: Any) -> None:
        given = {
            Capability.CHAT: "chat_model",
            Capability.CHAT_STREAM: "stream_model",
            Capability.EMBED: "embedding_model",
            Capability.IMAGE: "image_model",
            Capability.RETRIEVE: "knowledge_base",
            Capability.INGEST: "knowledge_base",
            Capability.AGENT: "agent",
            Capability.RERANK: "rerank_model",
        }
        missing = sorted(
            c.value for c in host.providers()[provider_name].capabilities if request.getfixturevalue(given[c]) is None
        )
        assert not missing, f"declared but not given to the conformance suite: {', '.join(missing)}"

    def test_undeclared_capabilities_are_refused_before_the_transport(
        self, host: Host, plugin: Any, provider_name: str, recorder: UsageRecorder
    ) -> None:
        declared = host.providers()[provider_name].capabilities
        before = self.transport_calls(plugin)

        def probe(output: Modality) -> DeployedModel:
            return DeployedModel(
                provider=provider_name, model_id="conformance-probe", output_modality=output, supports_streaming=True
            )

        kb = KnowledgeBase(provider=provider_name, name="conformance-probe")
        calls: dict[Capability, Callable[[], object]] = {
            Capability.CHAT: lambda: host.chat(probe(Modality.TEXT), _PROMPT),
            Capability.CHAT_STREAM: lambda: host.stream(probe(Modality.TEXT), _PROMPT).collect(),
            Capability.EMBED: lambda: host.embed(probe(Modality.EMBEDDINGS), _TEXTS),
            Capability.IMAGE: lambda: host.generate_image(probe(Modality.IMAGE), "a red square"),
            Capability.RETRIEVE: lambda: host.retrieve(kb, "anything"),
            Capability.INGEST: lambda: host.ingest(kb, ChunkCollection.of_texts(_TEXTS)),
            Capability.AGENT: lambda: host.invoke_agent(f"{provider_name}:conformance-probe", "hello"),
            Capability.RERANK: lambda: host.rerank(probe(Modality.RERANK), "anything", _TEXTS),
        }
        for capability, call in calls.items():
            if capability in declared:
                continue
            with pytest.raises(UnsupportedCapabilityError):
                call()
        assert self.transport_calls(plugin) == before, "a refused call reached the transport"
        assert recorder.records == []

    # -- capabilities ----------------------------------------------------------------------

    def test_chat(self, host: Host, chat_model: str | None, provider_name: str, recorder: UsageRecorder) -> None:
        response = host.chat(self._need(chat_model, "chat_model"), _PROMPT)
        assert isinstance(response, Response)
        assert isinstance(response.text, str) and response.text, "an empty reply"
        for tokens in (response.input_tokens, response.output_tokens, response.total_tokens):
            assert tokens is None or tokens >= 0
        usage = self._one_usage(recorder, provider_name, "chat")
        assert usage.input_tokens == (response.input_tokens or 0)
        assert usage.output_tokens == (response.output_tokens or 0)

    def test_chat_sync_and_async_agree(self, host: Host, chat_model: str | None, recorder: UsageRecorder) -> None:
        ref = self._need(chat_model, "chat_model")
        sync = host.chat(ref, _PROMPT)
        async_ = asyncio.run(host.achat(ref, _PROMPT))
        assert isinstance(async_, Response)
        if self.DETERMINISTIC:
            assert async_.text == sync.text
        assert recorder.operations == ["chat", "chat"]

    def test_stream_assembles_its_deltas(
        self, host: Host, stream_model: str | None, provider_name: str, recorder: UsageRecorder
    ) -> None:
        stream = host.stream(self._need(stream_model, "stream_model"), _PROMPT)
        events = list(stream)
        ends = [e for e in events if isinstance(e, StreamEnd)]
        assert len(ends) == 1 and events[-1] is ends[0], "a stream ends with exactly one StreamEnd"
        assert stream.response is not None
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == stream.response.text
        assert stream.response.text, "an empty reply"
        self._one_usage(recorder, provider_name, "chat")

    def test_stream_sync_and_async_agree(self, host: Host, stream_model: str | None) -> None:
        ref = self._need(stream_model, "stream_model")

        async def collect() -> Response:
            return await (await host.astream(ref, _PROMPT)).collect()

        sync = host.stream(ref, _PROMPT).collect()
        async_ = asyncio.run(collect())
        if self.DETERMINISTIC:
            assert async_.text == sync.text

    def test_embed(self, host: Host, embedding_model: str | None, provider_name: str, recorder: UsageRecorder) -> None:
        result = host.embed(self._need(embedding_model, "embedding_model"), _TEXTS)
        assert isinstance(result, EmbeddingsResponse)
        assert result.chunks.texts == _TEXTS, "chunks come back in order"
        vectors = result.vectors
        assert len({len(v) for v in vectors}) == 1 and len(vectors[0]) > 0
        assert all(math.isfinite(x) for v in vectors for x in v)
        self._one_usage(recorder, provider_name, "embed")

    def test_rerank(self, host: Host, rerank_model: str | None, provider_name: str, recorder: UsageRecorder) -> None:
        ref = self._need(rerank_model, "rerank_model")
        query, documents = "a fox", ["jumps over the lazy dog", "the quick brown fox", "an unrelated text"]
        result = host.rerank(ref, query, documents)
        indexes = [r.index for r in result.results]
        assert sorted(indexes) == list(range(len(documents))), "every candidate is scored once"
        scores = [r.relevance_score for r in result.results]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores), "best first, 0 to 1"
        assert [r.index for r in host.rerank(ref, query, documents, top_n=1).results] == indexes[:1]
        assert asyncio.run(host.arerank(ref, query, documents)).results == result.results
        assert [u.operation for u in recorder.records if u.provider == provider_name].count("rerank") == 3

    def test_embed_sync_and_async_agree(self, host: Host, embedding_model: str | None) -> None:
        ref = self._need(embedding_model, "embedding_model")
        sync = host.embed(ref, _TEXTS)
        async_ = asyncio.run(host.aembed(ref, _TEXTS))
        if self.DETERMINISTIC:
            assert [list(v) for v in async_.vectors] == [list(v) for v in sync.vectors]

    def test_generate_image(
        self, host: Host, image_model: str | None, provider_name: str, recorder: UsageRecorder
    ) -> None:
        response = host.generate_image(self._need(image_model, "image_model"), "a red square")
        images = response.generated_images()
        assert images and all(i.file_type is FileType.IMAGE for i in images)
        self._one_usage(recorder, provider_name, "image")

    def test_ingest_and_retrieve(
        self, host: Host, knowledge_base: str | None, provider_name: str, recorder: UsageRecorder
    ) -> None:
        ref = self._need(knowledge_base, "knowledge_base")
        kb = host.knowledge_base(ref)
        embeds = kb.embedding_model is not None  # the host embeds chunks and queries first
        # A provider without ingest (a knowledge base that reads its own data source) is given one
        # that already holds the texts.
        if Capability.INGEST in host.provider(kb.provider).capabilities:
            self._ingest(host, kb, provider_name, recorder, embeds=embeds)
        result = host.retrieve(kb, _TEXTS[0], k=1)
        assert isinstance(result, RetrievalResult) and len(result) <= 1
        similarities = [c.similarity for c in result]
        assert all(s is None or -1.0001 <= s <= 1.0001 for s in similarities)
        assert recorder.operations == (["embed", "retrieve"] if embeds else ["retrieve"])
        self._check_management(host, kb)

    def test_search_types(
        self, host: Host, plugin: Any, knowledge_base: str | None, provider_name: str, recorder: UsageRecorder
    ) -> None:
        ref = self._need(knowledge_base, "knowledge_base")
        kb = host.knowledge_base(ref)
        embeds = kb.embedding_model is not None
        offered = host.provider(kb.provider).search_types
        if Capability.INGEST in host.provider(kb.provider).capabilities:
            self._ingest(host, kb, provider_name, recorder, embeds=embeds)
        for search_type in SearchType:
            recorder.clear()
            before = self.transport_calls(plugin)
            if search_type in offered:
                result = host.retrieve(kb, _TEXTS[0], k=1, search_type=search_type)
                assert isinstance(result, RetrievalResult) and len(result) <= 1, search_type
                expected = ["embed", "retrieve"] if embeds and search_type is not SearchType.KEYWORD else ["retrieve"]
                assert recorder.operations == expected, f"{search_type.value} search: {recorder.operations}"
                continue
            with pytest.raises(UnsupportedCapabilityError):
                host.retrieve(kb, _TEXTS[0], k=1, search_type=search_type)
            assert recorder.operations == [], f"a refused {search_type.value} search recorded usage"
            if before is not None:
                assert self.transport_calls(plugin) == before, (
                    f"a refused {search_type.value} search reached the transport"
                )

    @staticmethod
    def _ingest(host: Host, kb: KnowledgeBase, provider_name: str, recorder: UsageRecorder, *, embeds: bool) -> None:
        chunks = ChunkCollection()
        for i, text in enumerate(_TEXTS):
            chunks = chunks.add_knowledge_base_chunk(
                text, f"conformance-{i}", source_id=f"conformance-{i}", metadata={"n": str(i)}
            )
        assert isinstance(host.ingest(kb, chunks, "repopulate"), IngestResult)
        ingested = [u for u in recorder.records if u.operation == "ingest"]
        assert [u.provider for u in ingested] == [provider_name], (
            f"expected one ingest event, got {recorder.operations}"
        )
        assert all(u.operation == "embed" for u in recorder.records if u not in ingested) and (
            embeds or len(recorder.records) == 1
        )
        recorder.clear()

    def _check_management(self, host: Host, kb: KnowledgeBase) -> None:
        if Capability.INGEST not in host.provider(kb.provider).capabilities:
            return
        stored = host.stored_chunk_ids(kb, ["conformance-0", "conformance-1", "absent"])
        assert set(stored) == {"conformance-0", "conformance-1"} and all(len(ids) == 1 for ids in stored.values())
        listed = host.list_chunks(kb, limit=10)
        assert sorted(c.human_readable_id for c in listed) == ["conformance-0", "conformance-1"]
        assert all(c.vector is None for c in listed), "list_chunks returns chunks without vectors"
        assert host.delete_chunks(kb, ["conformance-0"]) == 1
        assert [c.source_id for c in host.list_chunks(kb)] == ["conformance-1"]
        assert host.drop_collection(kb) is True

    def test_invoke_agent(self, host: Host, agent: str | None, provider_name: str, recorder: UsageRecorder) -> None:
        ref = self._need(agent, "agent")
        response = host.invoke_agent(ref, AgentRequest(input_text="hello", enable_trace=True))
        assert isinstance(response, AgentResponse) and isinstance(response.text, str)
        assert isinstance(host.agent(ref), Agent)
        self._one_usage(recorder, provider_name, "agent")

    # -- errors ----------------------------------------------------------------------------

    def _first_call(self, host: Host, refs: Mapping[str, str | None]) -> Callable[[], object]:
        chat, embed, image = refs["chat"], refs["embed"], refs["image"]
        if chat is not None:
            return lambda: host.chat(chat, _PROMPT)
        if embed is not None:
            return lambda: host.embed(embed, _TEXTS)
        if image is not None:
            return lambda: host.generate_image(image, "a red square")
        pytest.skip("the error checks need a chat, embedding or image model")

    @pytest.mark.parametrize("kind", list(FAILURE_KINDS))
    def test_errors_are_mapped(
        self,
        kind: str,
        host: Host,
        plugin: Any,
        provider_name: str,
        recorder: UsageRecorder,
        retry_policy: RetryPolicy,
        chat_model: str | None,
        embedding_model: str | None,
        image_model: str | None,
    ) -> None:
        call = self._first_call(host, {"chat": chat_model, "embed": embedding_model, "image": image_model})
        error = self._expect_failure(kind, call, plugin, provider_name, recorder, retry_policy, f"a {kind} failure")
        assert str(error), "the message says what went wrong"

    @pytest.mark.parametrize("kind", [k for k, cls in FAILURE_KINDS.items() if cls.retryable])
    def test_retryable_errors_are_retried(
        self,
        kind: str,
        host: Host,
        plugin: Any,
        recorder: UsageRecorder,
        chat_model: str | None,
        embedding_model: str | None,
        image_model: str | None,
    ) -> None:
        call = self._first_call(host, {"chat": chat_model, "embed": embedding_model, "image": image_model})
        before = self.transport_calls(plugin)
        self.fail_next(plugin, kind)
        call()  # the host retries; the second request succeeds
        assert len(recorder.records) == 1, "usage is recorded once, for the success only"
        if before is not None:
            assert self.transport_calls(plugin) == before + 2, f"a {kind} failure is retried once"
