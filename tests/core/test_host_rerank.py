"""Reranking through the host: rerank models through ``genai_rerank``, chat models through the
documented prompt, usage records, errors, and the reranking stage of retrievals, retrieve-and-
generate and the command line — against the core's fake providers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from genai_commons import (
    Capability,
    ChunkCollection,
    ConfigurationError,
    DeployedModel,
    Modality,
    ProviderError,
    RerankRequest,
    RerankResponse,
    RerankResult,
    RetrievalQuery,
    UnsupportedCapabilityError,
    ValidationError,
)
from genai_commons.cli import CliState, main
from genai_commons.config import Config, KnowledgeSettings, UsageSettings
from genai_commons.testing import FakeProvider
from genai_commons.usage import SQLiteUsageStore


class Reranker(FakeProvider):
    """A fake with one rerank model: relevance is the share of the query's words in the text."""

    name = "ranker"

    def __init__(self) -> None:
        super().__init__(
            models=[DeployedModel(provider="ranker", model_id="rerank", output_modality=Modality.RERANK)],
            knowledge_bases=[],
        )
        self.requests: list[RerankRequest] = []

    def rerank(self, model: DeployedModel, request: RerankRequest) -> RerankResponse:
        self.requests.append(request)
        words = set(request.query.lower().split())
        scores = [len(words & set(d.lower().rstrip(".").split())) / len(words) for d in request.documents]
        order = sorted(range(len(scores)), key=lambda i: -scores[i])[: request.wanted]
        return RerankResponse(results=[RerankResult(index=i, relevance_score=scores[i]) for i in order], input_tokens=7)


def _docs() -> ChunkCollection:
    return (
        ChunkCollection()
        .add_knowledge_base_chunk("Invoices are due within 30 days.", "billing", source_id="billing")
        .add_knowledge_base_chunk("Cats purr when they are content.", "cats", source_id="cats")
        .add_knowledge_base_chunk("Dogs bark at the postman.", "dogs", source_id="dogs")
    )


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def ranker() -> Reranker:
    return Reranker()


@pytest.fixture
def host(make_host, fake, ranker, usage_recorder):
    host = make_host(fake, ranker, usage_recorder)
    host.ingest("fake:docs", _docs())
    usage_recorder.clear()
    fake.calls.clear()
    return host


def test_a_rerank_model_is_called_through_its_hook_and_recorded(host, ranker, usage_recorder) -> None:
    result = host.rerank("ranker:rerank", "dogs bark", ["Cats purr.", "Dogs bark loudly.", "Dogs sleep."], top_n=2)
    assert result.indexes == [1, 2]
    assert [r.relevance_score for r in result] == [1.0, 0.5]
    assert ranker.requests[-1].top_n == 2 and ranker.requests[-1].documents[0] == "Cats purr."
    assert usage_recorder.operations == ["rerank"]
    assert usage_recorder.last.model_id == "rerank" and usage_recorder.last.input_tokens == 7
    assert result.duration_ms is not None


def test_chunks_are_reranked_by_their_text_and_async_works(host) -> None:
    chunks = list(_docs().chunks)
    result = asyncio.run(host.arerank("ranker:rerank", "cats purr", chunks))
    assert result.indexes[0] == 1


def test_a_chat_model_reranks_through_the_prompt(host, fake, usage_recorder) -> None:
    fake.script('Here you go:\n```json\n{"scores": {"1": 2, "2": 9, "3": "4"}}\n```')
    result = host.rerank("fake:chat", "when are invoices due?", ["Cats purr.", "Invoices: 30 days.", "Dogs bark."])
    assert result.indexes == [1, 2, 0]
    assert [r.relevance_score for r in result] == [0.9, 0.4, 0.2]
    prompt = fake.last_request.messages[-1].content
    assert "Query: when are invoices due?" in prompt and "[2] Invoices: 30 days." in prompt
    assert '{"scores": {"1": 7, "2": 0}}' in prompt
    assert usage_recorder.operations == ["rerank"]  # one record, not also "chat"
    assert usage_recorder.last.model_id == "chat" and usage_recorder.last.output_tokens > 0


def test_candidates_the_chat_model_left_out_follow_in_their_order(host, fake) -> None:
    fake.script('[{"passage": 3, "score": 8}]')
    result = host.rerank("fake:chat", "q", ["a", "b", "c", "d"], top_n=3)
    assert result.indexes == [2, 0, 1]
    assert [r.relevance_score for r in result] == [0.8, 0.0, 0.0]


def test_an_unreadable_answer_is_a_provider_error(host, fake, usage_recorder) -> None:
    fake.script("I think the second one is best.")
    with pytest.raises(ProviderError, match="no readable relevance scores") as info:
        host.rerank("fake:chat", "q", ["a", "b"])
    assert info.value.provider == "fake" and not info.value.retryable
    fake.script('{"scores": {"7": 3}}')
    with pytest.raises(ProviderError, match="scored no passage numbered 1 to 2"):
        host.rerank("fake:chat", "q", ["a", "b"])
    assert usage_recorder.records == []


def test_models_that_cannot_rerank_and_bad_input_are_refused_before_any_call(host, fake) -> None:
    with pytest.raises(UnsupportedCapabilityError, match="produces embeddings, so it cannot rerank"):
        host.rerank("fake:embed", "q", ["a"])
    with pytest.raises(ValidationError, match="nothing to rerank"):
        host.rerank("fake:chat", "q", [])
    with pytest.raises(ValidationError, match="not a single string"):
        host.rerank("fake:chat", "q", "abc")
    with pytest.raises(ValidationError, match="query must not be empty"):
        host.rerank("fake:chat", "  ", ["a"])
    assert fake.calls == []


def test_a_provider_answering_an_unknown_index_is_an_error(make_host) -> None:
    class Broken(Reranker):
        def rerank(self, model: DeployedModel, request: RerankRequest) -> RerankResponse:
            return RerankResponse(results=[RerankResult(index=len(request.documents), relevance_score=0.5)])

    host = make_host(Broken())
    with pytest.raises(ProviderError, match=r"candidate indexes \[2\] for 2 candidates"):
        host.rerank("ranker:rerank", "q", ["a", "b"])


def test_a_retrieval_reranks_a_wider_pool_and_keeps_k(host, fake, ranker, usage_recorder) -> None:
    result = host.retrieve("fake:docs", "dogs bark postman", k=1, rerank="ranker:rerank")
    retrieved = [c.payload for c in fake.calls if c.capability is Capability.RETRIEVE]
    assert retrieved[-1].k == 20  # max(4 * k, 20)
    assert len(ranker.requests[-1].documents) == 3 and ranker.requests[-1].top_n == 1
    [chunk] = result.chunks
    assert chunk.source_id == "dogs" and chunk.similarity == 1.0
    assert usage_recorder.operations == ["embed", "retrieve", "rerank"]
    plain = host.retrieve("fake:docs", "dogs bark postman", k=3, rerank=False)
    assert chunk.retrieval_similarity == next(c.similarity for c in plain.chunks if c.source_id == "dogs")
    result = host.retrieve("fake:docs", "dogs bark", k=2, rerank="ranker:rerank", rerank_candidates=2)
    assert [c.payload for c in fake.calls if c.capability is Capability.RETRIEVE][-1].k == 2
    assert len(result.chunks) == 2


def test_async_retrieval_reranks_too(host, ranker) -> None:
    result = asyncio.run(host.aretrieve("fake:docs", RetrievalQuery(text="cats purr", k=1), rerank="ranker:rerank"))
    assert result.chunks[0].source_id == "cats" and result.chunks[0].similarity == 1.0


def test_the_configured_reranker_applies_unless_switched_off(make_host, fake, ranker, genai_home: Path) -> None:
    host = make_host(fake, ranker, knowledge=KnowledgeSettings(rerank_model="ranker:rerank", rerank_candidates=3))
    host.ingest("fake:docs", _docs())
    host.retrieve("fake:docs", "dogs bark", k=1)
    assert len(ranker.requests) == 1 and len(ranker.requests[0].documents) == 3
    result = host.retrieve("fake:docs", "dogs bark", k=1, rerank=False)
    assert len(ranker.requests) == 1 and result.chunks[0].retrieval_similarity is None


def test_rerank_settings_are_checked(make_host, fake) -> None:
    with pytest.raises(ConfigurationError, match="rerank_model = 'nocolon' must be PROVIDER:MODEL"):
        KnowledgeSettings(rerank_model="nocolon")
    with pytest.raises(ConfigurationError, match="rerank_candidates must be between 1 and 10000"):
        KnowledgeSettings(rerank_candidates=0)
    config = Config.load(environ={"GENAI_RERANK_MODEL": "ranker:rerank", "GENAI_HOME": "/nonexistent-home"})
    assert config.knowledge.rerank_model == "ranker:rerank"
    host = make_host(fake)
    host.ingest("fake:docs", _docs())
    with pytest.raises(ValidationError, match="rerank_candidates needs a rerank model"):
        host.retrieve("fake:docs", "dogs", rerank_candidates=5)
    with pytest.raises(ValidationError, match="reranking needs the query's text"):
        host.retrieve("fake:docs", RetrievalQuery(vector=[0.1] * 8), rerank="fake:chat")


def test_retrieve_and_generate_answers_from_the_reranked_chunks(host, fake, ranker) -> None:
    fake.script("Dogs bark at the postman [1].")
    response = host.retrieve_and_generate(
        "fake:docs", "who do dogs bark at?", model="fake:chat", k=1, rerank="ranker:rerank"
    )
    assert [r.title for r in response.references] == ["dogs"]
    system = fake.last_request.system_prompt or ""
    assert "Dogs bark at the postman." in system and "Cats purr" not in system


def test_kb_search_and_ask_take_rerank_options(host, fake, ranker) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "kb",
            "search",
            "fake:docs",
            "cats purr",
            "-k",
            "1",
            "--rerank",
            "ranker:rerank",
            "--rerank-candidates",
            "3",
            "--json",
        ],
        obj=CliState(host=host),
    )
    assert result.exit_code == 0, result.output
    [chunk] = json.loads(result.stdout)["chunks"]
    assert chunk["source_id"] == "cats" and chunk["similarity"] == 1.0 and chunk["retrieval_similarity"] is not None
    fake.script("Cats purr [1].")
    result = runner.invoke(
        main,
        ["kb", "ask", "fake:docs", "cats?", "--model", "fake:chat", "-k", "1", "--rerank", "ranker:rerank"],
        obj=CliState(host=host),
    )
    assert result.exit_code == 0, result.output
    assert len(ranker.requests) == 2
    result = runner.invoke(main, ["kb", "search", "fake:docs", "x", "--rerank", "nocolon"], obj=CliState(host=host))
    assert result.exit_code == 2 and "is not a model reference" in result.output
    result = runner.invoke(
        main, ["kb", "search", "fake:docs", "x", "--rerank-candidates", "0"], obj=CliState(host=host)
    )
    assert result.exit_code == 2
    result = runner.invoke(main, ["kb", "search", "fake:docs", "x", "--rerank", "none"], obj=CliState(host=host))
    assert result.exit_code == 0 and len(ranker.requests) == 2


def test_the_usage_store_and_genai_usage_show_rerank_calls(make_host, fake) -> None:
    store = SQLiteUsageStore()
    host = make_host(fake, store, usage=UsageSettings(store=True))
    fake.script('{"scores": {"1": 5}}')
    host.rerank("fake:chat", "q", ["a"])
    assert [r.operation for r in store.database.records()] == ["rerank"]
    result = CliRunner().invoke(main, ["usage", "report", "--by", "operation", "--json"], obj=CliState(host=host))
    assert result.exit_code == 0, result.output
    assert "rerank" in result.stdout
