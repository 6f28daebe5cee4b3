"""Through the Host and the ``genai kb`` commands: a knowledge base configured with provider
"opensearch", embedded by the host, searched, managed and answered from (retrieve-and-generate)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from opensearch_standin import OpenSearchStandIn

from genai_commons import ChunkCollection, Eq, Host, RetrievalQuery, UnknownModelError, ValidationError
from genai_commons.cli import CliState, main

HANDBOOK = {
    "handbook": {
        "provider": "opensearch",
        "collection": "handbook-v1",
        "embedding_model": "fake:embed",
        "description": "Staff handbook",
    }
}


def handbook_chunks() -> ChunkCollection:
    return (
        ChunkCollection()
        .add_knowledge_base_chunk(
            "Holidays: every employee has 25 days of paid leave a year.",
            "handbook/leave.md",
            source_id="leave",
            metadata={"sourceUrl": "https://intranet.example/leave", "team": "hr"},
            chunk_id="leave-1",
        )
        .add_knowledge_base_chunk(
            "Expenses are reimbursed within 30 days of the claim.",
            "handbook/expenses.md",
            source_id="expenses",
            metadata={"team": "finance"},
            chunk_id="expenses-1",
        )
    )


def test_a_configured_knowledge_base_end_to_end(make_host: Callable[..., Host], standin: OpenSearchStandIn) -> None:
    host = make_host(knowledge_bases=HANDBOOK)
    kb = host.knowledge_base("handbook")
    assert (kb.provider, kb.collection, kb.embedding_model and kb.embedding_model.ref) == (
        "opensearch",
        "handbook-v1",
        "fake:embed",
    )
    result = host.ingest(kb, handbook_chunks())  # the host embeds the chunks with fake:embed
    assert result.inserted == 2
    assert standin.calls("PUT", "/genai-handbook-v1")[0].json()["mappings"]["properties"]["vector"]["dimension"] == 8

    found = host.retrieve("handbook", "paid leave days", k=1)
    assert [c.chunk_id for c in found] == ["leave-1"] and found.chunks[0].similarity is not None
    filtered = host.retrieve(
        "handbook", RetrievalQuery(text="paid leave days", k=2, filter=Eq(key="team", value="finance"))
    )
    assert [c.chunk_id for c in filtered] == ["expenses-1"]

    assert host.stored_chunk_ids("handbook", ["leave", "gone"]) == {"leave": frozenset({"leave-1"})}
    assert [c.chunk_id for c in host.list_chunks("handbook")] == ["expenses-1", "leave-1"]
    assert host.delete_chunks("handbook", ["expenses"]) == 1
    assert [kb.name for kb in host.knowledge_bases("opensearch")] == ["handbook-v1"]
    assert host.drop_collection("handbook") is True
    with pytest.raises(UnknownModelError, match="genai kb ingest handbook"):
        host.retrieve("handbook", "anything")


def test_an_existing_collection_brings_its_embedding_model(make_host: Callable[..., Host]) -> None:
    host = make_host()
    new = host.knowledge_base("opensearch:notes")  # unknown yet: the default embedding model
    assert new.embedding_model is not None and new.embedding_model.ref == "fake:embed"
    host.ingest(new, handbook_chunks())
    again = make_host().knowledge_base("opensearch:notes")
    assert again.embedding_model == new.embedding_model and again.collection == "notes"


def test_the_async_api(make_host: Callable[..., Host]) -> None:
    host = make_host(knowledge_bases=HANDBOOK)

    async def scenario() -> None:
        assert (await host.aingest("handbook", handbook_chunks(), "replace")).inserted == 2
        found = await host.aretrieve("handbook", "expenses reimbursed", k=1)
        assert [c.chunk_id for c in found] == ["expenses-1"]
        assert await host.astored_chunk_ids("handbook", ["leave"]) == {"leave": frozenset({"leave-1"})}
        assert len(await host.alist_chunks("handbook", limit=1)) == 1
        assert await host.adelete_chunks("handbook") == 2
        assert await host.adrop_collection("handbook") is True

    asyncio.run(scenario())


def test_retrieve_and_generate_cites_the_chunks(make_host: Callable[..., Host]) -> None:
    host = make_host(knowledge_bases=HANDBOOK)
    host.ingest("handbook", handbook_chunks())
    host.plugin_manager.get_plugin("fake").script("You have 25 days of paid leave [1].")
    answer = host.retrieve_and_generate("handbook", "How much paid leave do I get?", model="fake:chat", k=1)
    assert answer.text == "You have 25 days of paid leave [1]."
    assert [(r.title, r.source) for r in answer.references] == [("handbook/leave.md", "https://intranet.example/leave")]


def test_a_host_refuses_a_collection_name_opensearch_cannot_take(make_host: Callable[..., Host]) -> None:
    host = make_host()
    with pytest.raises(ValidationError, match="cannot be an OpenSearch index name"):
        host.ingest("opensearch:My Notes", handbook_chunks())


# -- genai kb ---------------------------------------------------------------------------------------


def test_genai_kb_commands(make_host: Callable[..., Host], tmp_path: Path) -> None:
    host = make_host(knowledge_bases=HANDBOOK)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "leave.md").write_text("# Leave\n\nEvery employee has 25 days of paid leave a year.\n")
    (notes / "expenses.md").write_text("# Expenses\n\nExpenses are reimbursed within 30 days.\n")

    def genai(*args: str) -> Result:
        result = CliRunner().invoke(main, list(args), obj=CliState(host=host))
        assert result.exit_code == 0, result.output
        return result

    first = json.loads(genai("kb", "ingest", "handbook", str(notes), "--json").stdout)
    assert first["inserted"] >= 2
    again = json.loads(genai("kb", "ingest", "handbook", str(notes), "--json").stdout)
    assert again["inserted"] == 0 and again["unchanged"] == first["inserted"]  # resumable: nothing rewritten
    found = json.loads(genai("kb", "search", "handbook", "employee leave", "-k", "1", "--json").stdout)
    assert "25 days" in found["chunks"][0]["input_text"]
    listed = json.loads(genai("kb", "list", "--json").stdout)
    assert {
        "ref": "opensearch:handbook-v1",
        "provider": "opensearch",
        "collection": "handbook-v1",
        "embedding_model": "fake:embed",
        "description": "Staff handbook",
    } in listed
    chunks = json.loads(genai("kb", "chunks", "handbook", "--json").stdout)
    assert len(chunks) == first["inserted"]
    genai("kb", "delete", "handbook", "-y")
    assert host.knowledge_bases("opensearch") == []
