"""Search types through the host: the configured default and where it does not apply, explicit
types refused before anything is embedded or sent, keyword searches that embed nothing, the
fallback of a defaulted type a knowledge base refuses when called, retrieve-and-generate and the
command line — against the core's fake providers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from genai_commons import (
    Capability,
    ChunkCollection,
    Config,
    ConfigurationError,
    KnowledgeBase,
    ProviderInfo,
    RetrievalQuery,
    RetrievalResult,
    SearchType,
    UnsupportedCapabilityError,
    ValidationError,
)
from genai_commons.cli import CliState, main
from genai_commons.config import KnowledgeSettings
from genai_commons.knowledge.fusion import candidates, fuse, hybrid_similarity, keyword_similarity
from genai_commons.serialization import from_json, to_json
from genai_commons.testing import FakeProvider, make_fake_provider_class


def _docs() -> ChunkCollection:
    return (
        ChunkCollection()
        .add_knowledge_base_chunk("Invoices are due within 30 days.", "billing", source_id="billing")
        .add_knowledge_base_chunk("Cats purr when they are content.", "cats", source_id="cats")
        .add_knowledge_base_chunk("Dogs bark at the postman.", "dogs", source_id="dogs", metadata={"kind": "pet"})
    )


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def host(make_host, fake, usage_recorder):
    host = make_host(fake, usage_recorder)
    host.ingest("fake:docs", _docs())
    usage_recorder.clear()
    fake.calls.clear()
    return host


def retrieved(fake: FakeProvider) -> list[RetrievalQuery]:
    return [call.payload for call in fake.calls if call.capability is Capability.RETRIEVE]


def embedded(fake: FakeProvider) -> int:
    return sum(1 for call in fake.calls if call.capability is Capability.EMBED)


# -- the model ------------------------------------------------------------------------------


def test_the_search_type_is_portable_data() -> None:
    query = RetrievalQuery(text="q", search_type="keyword")
    assert query.search_type is SearchType.KEYWORD
    assert from_json(to_json(query), RetrievalQuery) == query
    assert RetrievalQuery(text="q").search_type is None
    with pytest.raises(ValidationError, match="not a valid SearchType; use one of 'vector', 'keyword', 'hybrid'"):
        RetrievalQuery(text="q", search_type="fuzzy")
    info = ProviderInfo(name="p", capabilities=["retrieve"])
    assert info.search_types == frozenset({SearchType.VECTOR})  # what a provider that says nothing honours
    assert from_json(to_json(info), ProviderInfo) == info
    assert SearchType.HYBRID.capability == "hybrid search"


def test_fusion_helpers() -> None:
    assert keyword_similarity(0) == 0 and keyword_similarity(-3) == 0
    assert keyword_similarity(10) == 0.5 and 0.9 < keyword_similarity(100) < 1
    assert candidates(1) == 50 and candidates(100) == 400 and candidates(5_000) == 10_000
    # Reciprocal rank fusion, equal weights: 'b' is second in both rankings, 'a' and 'c' first in
    # one only: 0.5/62 + 0.5/62 > 0.5/61; a tie keeps the vector ranking's 'a' first.
    fused = fuse([("a", 0.9), ("b", 0.5)], [("c", 7.0), ("b", 2.0)])
    assert [item for item, _ in fused] == ["b", "a", "c"]
    assert fuse([], []) == [] and fuse([("x", 0.3)], []) == [("x", 0.5 / 61)]
    assert hybrid_similarity(0.3, 0.6) == 0.6 and hybrid_similarity(None, 0.2) == 0.2
    assert hybrid_similarity(None, None) is None


# -- the default ----------------------------------------------------------------------------


def test_a_query_naming_no_type_runs_the_configured_default(host, fake, usage_recorder) -> None:
    assert host.config.knowledge.search_type == "hybrid"
    found = host.retrieve("fake:docs", "invoice due")
    assert retrieved(fake)[-1].search_type is SearchType.HYBRID
    assert found.chunks[0].source_id == "billing"
    assert usage_recorder.operations == ["embed", "retrieve"]  # hybrid embeds the query


def test_the_default_comes_from_the_configuration_and_the_environment(make_host, fake, tmp_path: Path) -> None:
    host = make_host(fake, knowledge=KnowledgeSettings(search_type="keyword"))
    host.ingest("fake:docs", _docs())
    fake.calls.clear()
    host.retrieve("fake:docs", "invoice")
    assert retrieved(fake)[-1].search_type is SearchType.KEYWORD and embedded(fake) == 0

    config = Config.load(environ={"GENAI_HOME": str(tmp_path), "GENAI_SEARCH_TYPE": "Vector"})
    assert config.knowledge.search_type == "vector"
    with pytest.raises(ConfigurationError, match="GENAI_SEARCH_TYPE='fuzzy': use one of vector, keyword, hybrid"):
        Config.load(environ={"GENAI_HOME": str(tmp_path), "GENAI_SEARCH_TYPE": "fuzzy"})
    file = tmp_path / "config.toml"
    file.write_text('[knowledge]\nsearch_type = "semantic"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"\[knowledge\] search_type = 'semantic': use one of"):
        Config.load(file, environ={"GENAI_HOME": str(tmp_path)})
    file.write_text('[knowledge]\nsearch_type = "keyword"\n', encoding="utf-8")
    assert Config.load(file, environ={"GENAI_HOME": str(tmp_path)}).knowledge.search_type == "keyword"


def test_a_provider_without_the_default_type_searches_by_vector(make_host, usage_recorder) -> None:
    vectors = make_fake_provider_class("vectors", search_types=["vector"])()
    host = make_host(vectors, usage_recorder)
    host.ingest("vectors:docs", _docs())
    assert host.provider("vectors").search_types == frozenset({SearchType.VECTOR})
    vectors.calls.clear()
    host.retrieve("vectors:docs", "invoice due")
    assert retrieved(vectors)[-1].search_type is SearchType.VECTOR  # hybrid is the default, not offered


def test_a_vector_only_query_runs_as_vector_search(host, fake) -> None:
    host.retrieve("fake:docs", RetrievalQuery(vector=[0.1] * 8))
    assert retrieved(fake)[-1].search_type is SearchType.VECTOR and embedded(fake) == 0
    with pytest.raises(ValidationError, match="a hybrid search needs the query's text"):
        host.retrieve("fake:docs", RetrievalQuery(vector=[0.1] * 8), search_type="hybrid")


# -- explicit types -------------------------------------------------------------------------


def test_a_keyword_search_embeds_nothing(host, fake, usage_recorder) -> None:
    found = host.retrieve("fake:docs", "are invoices due", k=3, search_type=SearchType.KEYWORD)
    assert [c.source_id for c in found] == ["billing", "cats"]  # 3 of 3 words, then "are"
    assert [round(c.similarity or 0, 2) for c in found] == [1.0, 0.33]
    assert embedded(fake) == 0 and usage_recorder.operations == ["retrieve"]
    assert retrieved(fake)[-1].vector is None


def test_the_keyword_argument_overrides_the_query(host, fake) -> None:
    host.retrieve("fake:docs", RetrievalQuery(text="cats", search_type="keyword"), search_type="vector")
    assert retrieved(fake)[-1].search_type is SearchType.VECTOR and embedded(fake) == 1
    host.retrieve("fake:docs", RetrievalQuery(text="cats", search_type="keyword"))
    assert retrieved(fake)[-1].search_type is SearchType.KEYWORD and embedded(fake) == 1


def test_a_type_the_provider_does_not_offer_is_refused_before_anything_is_sent(make_host, usage_recorder) -> None:
    vectors = make_fake_provider_class("vectors", search_types=["vector"])()
    host = make_host(vectors, usage_recorder)
    host.ingest("vectors:docs", _docs())
    vectors.calls.clear()
    usage_recorder.clear()
    for search_type in ("keyword", "hybrid"):
        with pytest.raises(UnsupportedCapabilityError) as info:
            host.retrieve("vectors:docs", "cats", search_type=search_type)
        assert str(info.value).startswith(
            f"knowledge base vectors:docs cannot run a {search_type} search: provider 'vectors' offers vector "
            "search only; use search_type='vector' (--search-type vector)"
        )
        assert info.value.capability == f"{search_type} search" and info.value.target == "vectors:docs"
    with pytest.raises(UnsupportedCapabilityError):
        asyncio.run(host.aretrieve("vectors:docs", "cats", search_type="keyword"))
    assert vectors.calls == [] and usage_recorder.operations == []  # nothing embedded, nothing retrieved


def test_async_retrieval_honours_the_search_type(host, fake) -> None:
    found = asyncio.run(host.aretrieve("fake:docs", "dogs postman", k=1, search_type="keyword"))
    assert found.chunks[0].source_id == "dogs" and embedded(fake) == 0
    asyncio.run(host.aretrieve("fake:docs", "dogs postman", k=1))
    assert retrieved(fake)[-1].search_type is SearchType.HYBRID and embedded(fake) == 1


def test_filters_apply_to_every_search_type(host) -> None:
    for search_type in SearchType:
        query = RetrievalQuery(text="dogs cats invoices", k=5, metadata={"kind": "pet"}, search_type=search_type)
        assert [c.source_id for c in host.retrieve("fake:docs", query)] == ["dogs"], search_type


# -- a defaulted type the knowledge base refuses when called ---------------------------------


class NoHybridHere(FakeProvider):
    """Declares hybrid search, but its knowledge base ``plain`` refuses it when called (as Bedrock's
    vector stores without a text field do)."""

    name = "picky"

    def retrieve(self, knowledge_base: KnowledgeBase, query: RetrievalQuery) -> RetrievalResult:
        if knowledge_base.name == "plain" and query.search_type is SearchType.HYBRID:
            self.refusals = getattr(self, "refusals", 0) + 1
            raise UnsupportedCapabilityError(
                "this store has no text search", target=knowledge_base.ref, capability="hybrid search"
            )
        return super().retrieve(knowledge_base, query)


@pytest.fixture
def picky(make_host) -> tuple[Any, NoHybridHere]:
    provider = NoHybridHere()
    host = make_host(provider, knowledge=KnowledgeSettings(default_embedding_model="picky:embed"))
    for name in ("plain", "docs"):
        host.ingest(f"picky:{name}", _docs())
    return host, provider


def test_a_refused_default_falls_back_to_vector_search_once(picky) -> None:
    host, provider = picky
    found = host.retrieve("picky:plain", "invoices")
    assert len(found) and provider.refusals == 1
    assert retrieved(provider)[-1].search_type is SearchType.VECTOR  # (the refused call is not recorded)
    host.retrieve("picky:plain", "invoices")  # remembered: straight to vector search
    assert provider.refusals == 1 and retrieved(provider)[-1].search_type is SearchType.VECTOR
    host.retrieve("picky:docs", "invoices")  # another knowledge base of the provider is asked as usual
    assert retrieved(provider)[-1].search_type is SearchType.HYBRID


def test_a_refused_explicit_type_is_an_error(picky) -> None:
    host, provider = picky
    with pytest.raises(UnsupportedCapabilityError, match="no text search"):
        host.retrieve("picky:plain", "invoices", search_type="hybrid")
    with pytest.raises(UnsupportedCapabilityError, match="no text search"):
        asyncio.run(host.aretrieve("picky:plain", "invoices", search_type="hybrid"))
    assert provider.refusals == 2


def test_async_retrieval_falls_back_too(picky) -> None:
    host, provider = picky
    asyncio.run(host.aretrieve("picky:plain", "cats"))
    assert provider.refusals == 1 and retrieved(provider)[-1].search_type is SearchType.VECTOR


def test_retrieve_and_generate_falls_back_by_itself(picky) -> None:
    host, provider = picky
    provider.script("They purr [1].")
    answer = host.retrieve_and_generate("picky:plain", "What do cats do?", model="picky:chat")
    assert answer.text == "They purr [1]." and provider.refusals == 1
    assert retrieved(provider)[-1].search_type is SearchType.VECTOR


# -- retrieve and generate ------------------------------------------------------------------


def test_retrieve_and_generate_passes_the_search_type(host, fake) -> None:
    fake.script("Within 30 days [1].")
    answer = host.retrieve_and_generate("fake:docs", "When are invoices due?", model="fake:chat", search_type="keyword")
    assert answer.references[0].title == "billing"
    assert retrieved(fake)[-1].search_type is SearchType.KEYWORD and embedded(fake) == 0
    fake.script("Within 30 days [1].")
    asyncio.run(host.aretrieve_and_generate("fake:docs", "When are invoices due?", model="fake:chat"))
    assert retrieved(fake)[-1].search_type is SearchType.HYBRID


# -- the command line -----------------------------------------------------------------------


def test_kb_search_and_ask_take_a_search_type(host, fake) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, ["kb", "search", "fake:docs", "invoices", "--search-type", "keyword", "--json"], obj=CliState(host=host)
    )
    assert result.exit_code == 0, result.output
    assert [c["source_id"] for c in json.loads(result.stdout)["chunks"]] == ["billing"]
    assert retrieved(fake)[-1].search_type is SearchType.KEYWORD and embedded(fake) == 0
    fake.script("Within 30 days [1].")
    result = runner.invoke(
        main,
        ["kb", "ask", "fake:docs", "When are invoices due?", "--model", "fake:chat", "--search-type", "vector"],
        obj=CliState(host=host),
    )
    assert result.exit_code == 0, result.output
    assert retrieved(fake)[-1].search_type is SearchType.VECTOR
    result = runner.invoke(main, ["kb", "search", "fake:docs", "x", "--search-type", "fuzzy"], obj=CliState(host=host))
    assert result.exit_code == 2 and "'fuzzy' is not one of 'vector', 'keyword', 'hybrid'" in result.output


def test_kb_search_says_which_types_a_knowledge_base_offers(make_host) -> None:
    vectors = make_fake_provider_class("vectors", search_types=["vector"])()
    host = make_host(vectors)
    host.ingest("vectors:docs", _docs())
    result = CliRunner().invoke(
        main, ["kb", "search", "vectors:docs", "cats", "--search-type", "keyword"], obj=CliState(host=host)
    )
    assert result.exit_code == 1
    assert "cannot run a keyword search: provider 'vectors' offers vector search only" in result.stderr
