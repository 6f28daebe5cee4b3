"""The local store through the Host: bare names, the host embedding chunks and queries, the
ingestion pipeline, every management call, sync and async. The fake provider's embeddings stand
in for a model, except in the last tests, which use the real one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner
from local_helpers import needs_model

from genai_commons import (
    ChunkCollection,
    Eq,
    Host,
    KnowledgeBase,
    RetrievalQuery,
    UnknownModelError,
)
from genai_commons.cli import CliState, main
from genai_commons.config import KnowledgeSettings
from genai_commons.knowledge.loaders import Loader
from genai_commons.knowledge.pipeline import ingest_documents
from genai_commons.testing import FakeProvider, UsageRecorder
from genai_commons.testing.pytest_plugin import MakeHost
from genai_commons_local import LocalProvider

PETS = ChunkCollection().add_knowledge_base_chunk(
    "cats purr and sleep all day", "pets/cats.md", source_id="pets/cats.md", metadata={"topic": "pets"}, chunk_id="cat"
)
CHUNKS = (
    PETS.add_knowledge_base_chunk(
        "dogs bark at the postman", "pets/dogs.md", source_id="pets/dogs.md", metadata={"topic": "pets"}, chunk_id="dog"
    )
    .add_knowledge_base_chunk(
        "invoices are due in thirty days", "billing.md", source_id="billing.md", metadata={"topic": "money"},
        chunk_id="invoice",
    )
)  # fmt: skip


@pytest.fixture
def host(make_host: MakeHost, usage_recorder: UsageRecorder, genai_home: Path) -> Host:
    """The local provider, and the fake provider's embeddings as the default embedding model."""
    return make_host(
        LocalProvider,
        FakeProvider,
        usage_recorder,
        knowledge=KnowledgeSettings(default_embedding_model="fake:embed"),
    )


def test_a_bare_name_is_a_local_collection_created_by_its_first_ingestion(host: Host, usage_recorder: UsageRecorder):
    new = host.knowledge_base("notes")
    assert (new.provider, new.collection, new.embedding_model and new.embedding_model.ref) == (
        "local",
        "notes",
        "fake:embed",
    )
    result = host.ingest("notes", CHUNKS)
    assert result.inserted == 3
    assert usage_recorder.operations == ["embed", "ingest"]  # the host embedded the chunks
    stored = host.knowledge_base("notes")  # the store now knows it, and its embedding model
    assert stored.embedding_model == host.model("fake:embed")
    assert [kb.ref for kb in host.knowledge_bases("local")] == ["local:notes"]


def test_retrieve_embeds_the_query_text(host: Host):
    host.ingest("notes", CHUNKS)
    found = host.retrieve("notes", "do cats sleep", k=2)
    assert found.chunks[0].chunk_id == "cat"
    assert all(c.similarity is not None for c in found)
    filtered = host.retrieve("notes", RetrievalQuery(text="cats", k=5, filter=Eq(key="topic", value="money")))
    assert [c.chunk_id for c in filtered] == ["invoice"]
    with pytest.raises(UnknownModelError, match="genai kb ingest elsewhere PATH"):  # the host checks first
        host.retrieve("elsewhere", "anything")


def test_management_calls_through_the_host(host: Host):
    host.ingest("local:notes", CHUNKS)
    assert host.stored_chunk_ids("notes", ["pets/cats.md", "nope"]) == {"pets/cats.md": frozenset({"cat"})}
    assert [c.chunk_id for c in host.list_chunks("notes", Eq(key="topic", value="pets"))] == ["cat", "dog"]
    assert host.delete_chunks("notes", ["billing.md"]) == 1
    assert host.ingest("notes", PETS, "repopulate").deleted == 1
    assert [c.chunk_id for c in host.list_chunks("notes")] == ["cat"]
    assert host.delete_chunks("notes") == 1
    assert host.drop_collection("notes") is True
    assert host.knowledge_bases("local") == []


def test_the_async_api_agrees(host: Host):
    async def run() -> list[str]:
        await host.aingest("notes", CHUNKS)
        found = await host.aretrieve("notes", "barking dogs", k=1)
        assert await host.astored_chunk_ids("notes", ["billing.md"]) == {"billing.md": frozenset({"invoice"})}
        assert len(await host.alist_chunks("notes")) == 3
        assert await host.adelete_chunks("notes", ["billing.md"]) == 1
        assert await host.adrop_collection("notes") is True
        return [c.chunk_id for c in found]

    assert asyncio.run(run()) == ["dog"]


def test_the_pipeline_ingests_a_directory_and_resumes_without_duplicates(host: Host, tmp_path: Path):
    notes = tmp_path / "notes"
    (notes / "pets").mkdir(parents=True)
    (notes / "pets" / "cats.md").write_text("# Cats\n\nCats purr when they are content.\n\n## Food\n\nCats eat fish.\n")
    (notes / "billing.md").write_text("# Billing\n\nInvoices are due in thirty days.\n")
    first = ingest_documents(host, "notes", Loader().load([notes]), progress=False)
    assert first.inserted > 0 and first.unchanged == 0
    again = ingest_documents(host, "notes", Loader().load([notes]), progress=False)
    assert (again.inserted, again.unchanged) == (0, first.inserted)
    (notes / "billing.md").write_text("# Billing\n\nInvoices are now due in sixty days.\n")
    changed = ingest_documents(host, "notes", Loader().load([notes]), progress=False)
    assert changed.sources_replaced == 1
    chunks = host.list_chunks("notes", limit=1000)
    assert len({c.chunk_id for c in chunks}) == len(chunks) == first.inserted
    assert any("sixty" in c.input_text for c in chunks) and not any("thirty" in c.input_text for c in chunks)


# -- with the real model ---------------------------------------------------------------------


@needs_model
def test_documents_ingested_with_the_local_model_answer_a_search(make_host: MakeHost, sentence_models, tmp_path: Path):
    host = make_host(LocalProvider(models=sentence_models))  # the default embedding model: local:all-MiniLM-L6-v2
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pets.md").write_text("# Pets\n\nCats purr when they are happy. Dogs wag their tails.\n")
    (docs / "billing.md").write_text("# Billing\n\nInvoices must be paid within thirty days of receipt.\n")
    (docs / "travel.md").write_text("# Travel\n\nTrains to Lisbon leave every morning from the central station.\n")
    report = ingest_documents(host, "docs", Loader().load([docs]), progress=False)
    assert report.inserted >= 3
    kb = host.knowledge_base("docs")
    assert isinstance(kb, KnowledgeBase) and kb.embedding_model is not None
    assert kb.embedding_model.ref == "local:all-MiniLM-L6-v2" and kb.embedding_model.dimensions == 384
    assert host.retrieve("docs", "when do I have to pay the bill?", k=1).chunks[0].source_id == "billing.md"
    assert host.retrieve("docs", "how do I get to Portugal by rail", k=1).chunks[0].source_id == "travel.md"


def test_kb_sync_on_the_command_line_builds_a_local_collections_index(
    make_host: MakeHost, usage_recorder: UsageRecorder, genai_home: Path
):
    host = make_host(
        LocalProvider,
        FakeProvider,
        usage_recorder,
        knowledge=KnowledgeSettings(default_embedding_model="fake:embed"),
        providers={"local": {"index": "hnsw"}},
    )
    host.ingest("local:notes", CHUNKS)
    assert not list(genai_home.rglob("graph.faiss"))  # the maintainer waits for 2 quiet seconds
    result = CliRunner().invoke(main, ["kb", "sync", "local:notes", "--json"], obj=CliState(host=host))
    assert result.exit_code == 0, result.output
    assert '"index"' in result.output
    assert list(genai_home.rglob("graph.faiss"))  # the HNSW base, written now
    missing = CliRunner().invoke(main, ["kb", "sync", "local:nothing"], obj=CliState(host=host))
    assert missing.exit_code != 0 and "nothing" in missing.output
