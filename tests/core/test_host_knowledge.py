"""The host's knowledge-base calls: names, host-side embedding, retrieve-and-generate, the kb tool."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from genai_commons import (
    Capability,
    ChunkCollection,
    Config,
    DeployedModel,
    KnowledgeBase,
    Provider,
    Request,
    Response,
    RetrievalQuery,
    UnknownModelError,
    ValidationError,
)
from genai_commons.config import KnowledgeSettings
from genai_commons.knowledge.rag import knowledge_base_tool
from genai_commons.model import EmbeddingPurpose, Eq
from genai_commons.testing import FakeProvider, tool_call


def _docs() -> ChunkCollection:
    return (
        ChunkCollection()
        .add_knowledge_base_chunk(
            "Cats purr when they are content.", "Cats", source_id="cats", metadata={"sourceUrl": "https://x/cats"}
        )
        .add_knowledge_base_chunk(
            "Dogs bark at strangers.",
            "Dogs",
            source_id="dogs",
            metadata={"sourceUrl": "/srv/dogs.md", "knowledge": "DOGS: they bark"},
        )
        .add_knowledge_base_chunk("Stocks fell on Monday.", "Markets", source_id="news", metadata={"kind": "news"})
    )


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


# -- names ------------------------------------------------------------------------------------


def test_a_bare_name_is_a_collection_of_the_default_provider(make_host, fake) -> None:
    settings = KnowledgeSettings(default_provider="fake", default_embedding_model="fake:embed")
    host = make_host(fake, knowledge=settings)
    kb = host.knowledge_base("notes")
    assert (kb.provider, kb.name, kb.collection, kb.embedding_model.ref) == ("fake", "notes", "notes", "fake:embed")
    assert host.knowledge_base("docs").ref == "fake:docs"  # the provider knows it: its own definition wins


def test_a_configured_name_uses_its_table(make_host, fake) -> None:
    host = make_host(
        fake,
        knowledge=KnowledgeSettings(default_embedding_model="fake:embed"),
        knowledge_bases={"handbook": {"provider": "fake", "collection": "hb-2", "description": "HR"}},
    )
    kb = host.knowledge_base("handbook")
    assert (kb.provider, kb.name, kb.collection, kb.description) == ("fake", "handbook", "hb-2", "HR")
    assert kb.embedding_model == host.model("fake:embed")
    known = make_host(fake, knowledge_bases={"mine": {"provider": "fake", "collection": "docs"}}).knowledge_base("mine")
    assert (known.name, known.collection, known.embedding_model.ref) == ("mine", "docs", "fake:embed")


def test_a_configured_embedding_model_is_resolved(make_host, fake) -> None:
    host = make_host(fake, knowledge_bases={"hb": {"provider": "fake", "embedding_model": "fake:embed"}})
    assert host.knowledge_base("hb").embedding_model == host.model("fake:embed")
    bad = make_host(fake, knowledge_bases={"hb": {"provider": "fake", "embedding_model": 3}})
    with pytest.raises(Exception, match=r"\[knowledge_bases.hb\] embedding_model must be a string"):
        bad.knowledge_base("hb")


class RetrieveOnly(Provider):
    name = "ro"

    def retrieve(self, knowledge_base, query):  # pragma: no cover - never reached
        raise AssertionError


def test_an_unknown_name_of_a_provider_that_does_not_ingest_is_an_error(make_host) -> None:
    host = make_host(RetrieveOnly)
    with pytest.raises(UnknownModelError, match="provider 'ro' has no knowledge base 'x'; see `genai kb list`"):
        host.knowledge_base("ro:x")


# -- host-side embedding ------------------------------------------------------------------------


def test_ingest_embeds_in_batches_and_retrieve_embeds_the_query(make_host, fake, usage_recorder) -> None:
    host = make_host(fake, usage_recorder, knowledge=KnowledgeSettings(embed_batch_size=2, embed_concurrency=2))
    result = host.ingest("fake:docs", _docs())
    assert result.inserted == 3
    embeds = [c for c in fake.calls if c.capability is Capability.EMBED]
    assert sorted(len(c.payload) for c in embeds) == [1, 2]
    assert all(c.options.purpose is EmbeddingPurpose.DOCUMENT for c in embeds)
    assert all(c.vector is not None for c in fake.stored("docs"))
    found = host.retrieve("fake:docs", "cats purr", k=1)
    query_call = [c for c in fake.calls if c.capability is Capability.RETRIEVE][-1]
    assert query_call.payload.vector is not None and query_call.payload.text == "cats purr"
    assert [c.human_readable_id for c in found] == ["Cats"]
    assert usage_recorder.operations == ["embed", "embed", "ingest", "embed", "retrieve"]


def test_async_ingest_and_retrieve_embed_too(make_host, fake) -> None:
    host = make_host(fake, knowledge=KnowledgeSettings(embed_batch_size=1, embed_concurrency=3))

    async def go() -> list[str]:
        await host.aingest("fake:docs", _docs())
        found = await host.aretrieve("fake:docs", RetrievalQuery(text="stocks", filter=Eq(key="kind", value="news")))
        return [c.human_readable_id for c in found]

    assert asyncio.run(go()) == ["Markets"]
    assert sum(1 for c in fake.calls if c.capability is Capability.EMBED) == 4


def test_chunks_with_vectors_are_not_embedded_again(make_host, fake) -> None:
    host = make_host(fake)
    chunks = ChunkCollection(chunks=[c.with_vector([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]) for c in _docs()])
    host.ingest("fake:docs", chunks)
    assert not [c for c in fake.calls if c.capability is Capability.EMBED]


class ShortEmbedder(Provider):
    name = "short"

    def models(self):
        return [DeployedModel(provider="short", model_id="e", output_modality="embeddings")]

    def knowledge_bases(self):
        return [KnowledgeBase(provider="short", name="kb", embedding_model=self.models()[0])]

    def embed(self, model, chunks, options):
        from genai_commons import EmbeddingsResponse

        return EmbeddingsResponse(chunks=ChunkCollection(chunks=[chunks.chunks[0].with_vector([1.0])]))

    def ingest(self, knowledge_base, chunks, mode):  # pragma: no cover - never reached
        raise AssertionError


def test_an_embedding_model_returning_too_few_vectors_is_an_error(make_host) -> None:
    host = make_host(ShortEmbedder)
    with pytest.raises(ValidationError, match="embedding model short:e returned 1 vectors for 3 texts"):
        host.ingest("short:kb", _docs())


def test_management_arguments_are_checked(make_host, fake) -> None:
    host = make_host(fake)
    with pytest.raises(ValidationError, match="not a single string"):
        host.delete_chunks("fake:docs", "cats")
    with pytest.raises(ValidationError, match="at least one source object id"):
        host.delete_chunks("fake:docs", [])
    with pytest.raises(ValidationError, match="limit between 1 and 10000"):
        host.list_chunks("fake:docs", limit=0)


# -- retrieve and generate ----------------------------------------------------------------------


def test_retrieve_and_generate_grounds_the_model_and_returns_references(make_host, fake, usage_recorder) -> None:
    host = make_host(fake, usage_recorder)
    host.ingest("fake:docs", _docs())
    usage_recorder.clear()
    order = [c.human_readable_id for c in host.retrieve("fake:docs", "cats purr dogs bark", k=3)]
    number = {title: order.index(title) + 1 for title in order}
    usage_recorder.clear()
    fake.script(f"Cats purr when content [{number['Cats']}]. Dogs bark [{number['Dogs']}]. Unknown [7].")
    answer = host.retrieve_and_generate("fake:docs", "cats purr dogs bark", model="fake:chat", k=3)
    request = fake.calls[-1].payload
    assert f"[{number['Cats']}] Cats\nCats purr when they are content." in request.system_prompt
    assert "DOGS: they bark" in request.system_prompt and "Dogs bark at strangers" not in request.system_prompt
    assert [r.title for r in answer.references] == order
    cats, dogs = (answer.references[number[title] - 1] for title in ("Cats", "Dogs"))
    assert (cats.source, cats.source_type.value, dogs.source, dogs.source_type.value) == (
        "https://x/cats", "url", "/srv/dogs.md", "location",
    )  # fmt: skip
    assert [c.text for c in cats.citations] == [f"Cats purr when content [{number['Cats']}]."]
    citation = dogs.citations[0]
    assert answer.text[citation.start_index : citation.end_index] == f"Dogs bark [{number['Dogs']}]."
    assert not answer.references[number["Markets"] - 1].citations
    assert usage_recorder.operations == ["embed", "retrieve", "chat"]


def test_retrieve_and_generate_keeps_the_callers_system_prompt_and_history(make_host, fake) -> None:
    host = make_host(fake)
    host.ingest("fake:docs", _docs())
    request = Request(system_prompt="Be brief.").with_message("user", "hi").with_message("assistant", "hello")
    request = request.with_message("user", "stocks?")
    asyncio.run(host.aretrieve_and_generate("fake:docs", request, model="fake:chat", k=1))
    sent = fake.calls[-1].payload
    assert sent.system_prompt.startswith("Be brief.\n\nAnswer the user's question using only")
    assert [m.content for m in sent.messages] == ["hi", "hello", "stocks?"]
    assert "[1] Markets" in sent.system_prompt


def test_retrieve_and_generate_needs_a_model_without_a_native_operation(make_host, fake) -> None:
    host = make_host(fake)
    with pytest.raises(ValidationError, match="cannot answer by itself: give a chat model"):
        host.retrieve_and_generate("fake:docs", "question")


class NativeRag(Provider):
    name = "native"

    def knowledge_bases(self):
        return [KnowledgeBase(provider="native", name="kb")]

    def retrieve(self, knowledge_base, query):  # pragma: no cover - the native call answers
        raise AssertionError

    def retrieve_and_generate(self, knowledge_base, model, request, query):
        return Response.of_text(f"native answer to {query.text} (k={query.k})", input_tokens=4, output_tokens=5)


def test_a_native_retrieve_and_generate_answers_in_one_call(make_host, usage_recorder) -> None:
    host = make_host(NativeRag, usage_recorder)
    answer = host.retrieve_and_generate("native:kb", "what?", k=3)
    assert answer.text == "native answer to what? (k=3)"
    assert asyncio.run(host.aretrieve_and_generate("native:kb", "why?")).text.startswith("native answer to why?")
    assert usage_recorder.operations == ["retrieve_and_generate"] * 2
    assert usage_recorder.records[0].total_tokens == 9


# -- the knowledge base as a tool -------------------------------------------------------------


def test_a_knowledge_base_as_a_tool(make_host, fake, tmp_path: Path) -> None:
    host = make_host(fake)
    host.ingest("fake:docs", _docs())
    tool = knowledge_base_tool(host, "fake:docs", k=1)
    fake.script([tool_call("search_knowledge_base", {"query": "cats purr"})], "They purr when content.")
    response = host.chat("fake:chat", Request.from_prompt("Why do cats purr?").with_tool(tool))
    assert response.text == "They purr when content."
    tool_message = fake.calls[-1].payload.messages[-1]
    assert tool_message.content == "[1] Cats (https://x/cats)\nCats purr when they are content."
    assert "knowledge base 'docs'" in tool.description


def test_config_rejects_bad_knowledge_settings(tmp_path: Path) -> None:
    from genai_commons import ConfigurationError

    home = str(tmp_path)
    with pytest.raises(ConfigurationError, match="must be PROVIDER:MODEL"):
        Config.load(environ={"GENAI_HOME": home, "GENAI_EMBEDDING_MODEL": "nomodel"})
    with pytest.raises(ConfigurationError, match="at least 1"):
        KnowledgeSettings(embed_concurrency=0)
    loaded = Config.load(environ={"GENAI_HOME": home, "GENAI_EMBEDDING_MODEL": "a:b"})
    assert loaded.knowledge.default_embedding_model == "a:b"


def test_an_existing_collection_keeps_its_embedding_model(make_host, fake) -> None:
    host = make_host(fake)
    assert host.knowledge_base("fake:docs", embedding_model="fake:embed").embedding_model.ref == "fake:embed"
    with pytest.raises(ValidationError, match=r"fake:docs is embedded with fake:embed, not fake:chat.*genai kb delete"):
        host.knowledge_base("fake:docs", embedding_model="fake:chat")
    new = host.knowledge_base("fake:brand-new", embedding_model="fake:embed")
    assert (new.collection, new.embedding_model.ref) == ("brand-new", "fake:embed")


def test_retrieving_from_a_collection_not_created_yet_embeds_nothing(make_host, fake) -> None:

    host = make_host(fake, knowledge=KnowledgeSettings(default_provider="fake", default_embedding_model="fake:embed"))
    with pytest.raises(UnknownModelError, match=r"fake:empty holds nothing yet.*genai kb ingest empty PATH"):
        host.retrieve("empty", "anything")
    assert not fake.calls


def test_ingest_reports_the_embedding_tokens(make_host, fake, usage_recorder) -> None:
    host = make_host(fake, usage_recorder)
    result = host.ingest("fake:docs", _docs())
    embedded = sum(u.input_tokens for u in usage_recorder.records if u.operation == "embed")
    assert embedded > 0 and result.input_tokens == embedded
    ingest_usage = next(u for u in usage_recorder.records if u.operation == "ingest")
    assert ingest_usage.input_tokens == 0  # counted once, on the embed records
