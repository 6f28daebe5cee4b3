"""``genai kb ask``: only the references the answer cites (all with --all-references), numbered
as the answer's markers, in text and JSON; --min-similarity drops weak chunks before generation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from genai_commons import Capability, Config, Host, RetryPolicy
from genai_commons.cli import CliState, main
from genai_commons.config import KnowledgeSettings
from genai_commons.testing import FakeProvider


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def run(tmp_path: Path, fake: FakeProvider):  # type: ignore[no-untyped-def]
    config = Config.defaults(
        tmp_path / "home",
        retry=RetryPolicy(max_attempts=1),
        knowledge=KnowledgeSettings(default_provider="fake", default_embedding_model="fake:embed"),
    )
    state = CliState(host=Host(config, load_entry_points=False, plugins=[fake]))
    root = tmp_path / "notes"
    root.mkdir()
    (root / "cats.md").write_text("# Cats\n\nCats purr and sleep all day.\n\n## Food\n\nCats eat fish.\n")
    (root / "dogs.txt").write_text("Dogs bark at the mail carrier.")

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), obj=state)

    assert invoke("kb", "ingest", "notes", str(root)).exit_code == 0
    return invoke


ASK = ("kb", "ask", "notes", "What do cats eat?", "--model", "fake:chat", "-k", "3", "--search-type", "vector")


def test_only_the_cited_references_are_listed_under_their_numbers(run, fake: FakeProvider) -> None:  # type: ignore[no-untyped-def]
    fake.script("Cats eat fish [2].")
    result = run(*ASK)
    assert result.exit_code == 0, result.output
    answer, _, references = result.stdout.partition("\nReferences:\n")
    assert answer.strip() == "Cats eat fish [2]."
    assert [line.split(" ", 1)[0] for line in references.splitlines()] == ["[2]"]


def test_all_references_lists_every_chunk_given(run, fake: FakeProvider) -> None:  # type: ignore[no-untyped-def]
    fake.script("Cats eat fish [2].")
    result = run(*ASK, "--all-references")
    refs = result.stdout.partition("\nReferences:\n")[2].splitlines()
    assert [line.split(" ", 1)[0] for line in refs] == ["[1]", "[2]", "[3]"]


def test_an_answer_citing_nothing_lists_nothing_and_says_so(run, fake: FakeProvider) -> None:  # type: ignore[no-untyped-def]
    fake.script("I do not know.")
    result = run(*ASK)
    assert result.exit_code == 0 and "References:" not in result.stdout
    assert "cites none of the 3 references; --all-references lists them" in result.stderr


def test_json_lists_the_same_references_with_their_numbers(run, fake: FakeProvider) -> None:  # type: ignore[no-untyped-def]
    fake.script("Fish [2], and they purr [1].", "Fish [2].")
    cited = json.loads(run(*ASK, "--json").stdout)
    assert [r["number"] for r in cited["references"]] == [1, 2]
    assert all(r["citations"] for r in cited["references"])
    every = json.loads(run(*ASK, "--json", "--all-references").stdout)
    assert [r["number"] for r in every["references"]] == [1, 2, 3]
    assert every["message"]["content"] == "Fish [2]."


def test_min_similarity_drops_weak_chunks_before_generation(run, fake: FakeProvider) -> None:  # type: ignore[no-untyped-def]
    result = run(*ASK, "--min-similarity", "0.9999", "--all-references")
    assert result.exit_code == 0, result.output
    [retrieval] = [c for c in fake.calls_for(Capability.RETRIEVE)][-1:]
    assert retrieval.payload.min_similarity == 0.9999
    [chat] = fake.calls_for(Capability.CHAT)[-1:]
    assert "Sources:" not in (chat.payload.system_prompt or ""), "no chunk passed the threshold"
    assert "References:" not in result.stdout
