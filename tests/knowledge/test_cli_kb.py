"""``genai kb``: ingest, search, ask, list, chunks, delete — output, JSON and errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from genai_commons import Config, DeployedModel, Host, RetryPolicy
from genai_commons.cli import CliState, main
from genai_commons.config import KnowledgeSettings
from genai_commons.testing import FakeProvider, default_models

KNOWLEDGE = KnowledgeSettings(default_provider="fake", default_embedding_model="fake:embed")


@pytest.fixture
def fake() -> FakeProvider:
    small = DeployedModel(provider="fake", model_id="embed-small", output_modality="embeddings")
    return FakeProvider(models=[*default_models(), small])


@pytest.fixture
def state(tmp_path: Path, fake: FakeProvider) -> CliState:
    config = Config.defaults(
        tmp_path / "home",
        retry=RetryPolicy(max_attempts=1),
        knowledge=KNOWLEDGE,
        knowledge_bases={"team": {"provider": "fake", "collection": "team-notes", "description": "Team notes"}},
    )
    return CliState(host=Host(config, load_entry_points=False, plugins=[fake]))


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    root.mkdir()
    (root / "cats.md").write_text("# Cats\n\nCats purr and sleep all day.\n\n## Food\n\nCats eat fish.\n")
    (root / "dogs.txt").write_text("Dogs bark at the mail carrier.")
    (root / "blob.txt").write_bytes(b"\x00\x01\x02")
    return root


Run = Callable[..., Result]


@pytest.fixture
def run(state: CliState) -> Run:
    def invoke(*args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), obj=state, input=stdin)

    return invoke


def assert_error(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_ingest_reports_what_it_wrote_and_skipped(run: Run, notes: Path, fake: FakeProvider) -> None:
    result = run("kb", "ingest", "notes", str(notes), "--metadata", "team=blue")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "ingested 2 document(s) from 2 file(s) into fake:notes",
        "chunks: 3 inserted, 0 unchanged, 0 deleted",
    ]
    assert f"skipped {notes / 'blob.txt'}: binary content" in result.stderr
    assert {c.metadata.get("team") for c in fake.stored("notes")} == {"blue"}
    again = run("kb", "ingest", "notes", str(notes), "--metadata", "team=blue")
    assert "chunks: 0 inserted, 3 unchanged, 0 deleted" in again.stdout


def test_ingest_options_and_json(run: Run, notes: Path, fake: FakeProvider) -> None:
    result = run(
        "kb", "ingest", "notes", str(notes), "--strategy", "tokens", "--chunk-size", "4", "--overlap", "1",
        "--include", "*.md", "--mode", "repopulate", "--base-url", "https://site/", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["knowledge_base"] == "fake:notes"
    assert (report["documents"], report["inserted"], report["skipped"]) == (1, 5, [])
    assert {c.metadata.get("sourceUrl") for c in fake.stored("notes")} == {"https://site/cats.md"}


def test_ingest_jsonl_fields(run: Run, tmp_path: Path, fake: FakeProvider) -> None:
    data = tmp_path / "tickets.jsonl"
    data.write_text('{"key": "T-1", "body": "Printer jams", "prio": 2}\n')
    args = ["--text-field", "body", "--id-field", "key", "--metadata-field", "prio"]
    result = run("kb", "ingest", "tickets", str(data), *args)
    assert result.exit_code == 0, result.output
    [chunk] = fake.stored("tickets")
    assert (chunk.source_id, chunk.metadata.get("prio")) == ("tickets.jsonl#T-1", "2")


def test_ingest_with_a_new_embedding_model_and_its_conflict(run: Run, notes: Path, fake: FakeProvider) -> None:
    result = run("kb", "ingest", "fresh", str(notes / "dogs.txt"), "--embedding-model", "fake:embed-small")
    assert result.exit_code == 0, result.output
    assert {c.target for c in fake.calls_for("embed")} == {"fake:embed-small"}
    # the fake store reports its collections as embedded with fake:embed
    conflict = run("kb", "ingest", "fresh", str(notes / "dogs.txt"), "--embedding-model", "fake:embed-small")
    assert_error(conflict, 1, "knowledge base fresh is embedded with fake:embed", "genai kb delete fresh")


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["--metadata", "novalue"], 2, "'novalue' is not KEY=VALUE"),
        (["--chunk-size", "0"], 2, "chunk size must be at least 1"),
        (["--overlap", "300"], 2, "less than the chunk size 200"),
        (["--embedding-model", "nocolon"], 2, "is not a model reference"),
        (["--strategy", "pages"], 2, "'pages' is not one of"),
        (["--include", "*.nothing"], 1, "nothing to ingest"),
    ],
)
def test_ingest_argument_errors(run: Run, notes: Path, args: list[str], code: int, fragment: str) -> None:
    assert_error(run("kb", "ingest", "notes", str(notes), *args), code, fragment)


def test_ingest_of_a_missing_path_is_a_usage_error(run: Run, tmp_path: Path) -> None:
    assert_error(run("kb", "ingest", "notes", str(tmp_path / "absent")), 2, "does not exist")


@pytest.fixture
def ingested(run: Run, notes: Path) -> Path:
    assert run("kb", "ingest", "notes", str(notes)).exit_code == 0
    return notes


def test_search_prints_the_nearest_chunks(run: Run, ingested: Path) -> None:
    result = run("kb", "search", "notes", "cats sleep all day", "-k", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("1. ") and lines[0].endswith("cats.md > Cats")
    assert lines[1] == "   # Cats Cats purr and sleep all day."
    assert lines[2] == f"   {(ingested / 'cats.md').as_uri()}"
    assert sum(line[:1].isdigit() for line in lines) == 2
    filtered = run("kb", "search", "notes", "cats purr", "--filter", "path=dogs.txt", "--json")
    assert [c["source_id"] for c in json.loads(filtered.stdout)["chunks"]] == ["dogs.txt"]
    none = run("kb", "search", "notes", "cats", "--min-similarity", "0.9999", "--filter", "path=dogs.txt")
    assert none.exit_code == 0 and none.stdout == "" and "no chunks matched" in none.stderr


def test_ask_prints_the_answer_then_the_references(run: Run, ingested: Path) -> None:
    result = run("kb", "ask", "notes", "What do cats eat?", "--model", "fake:chat", "-k", "2", "--all-references")
    assert result.exit_code == 0, result.output
    answer, _, references = result.stdout.partition("\nReferences:\n")
    assert answer.strip() == "echo: What do cats eat?"
    refs = references.splitlines()
    assert len(refs) == 2 and refs[0].startswith("[1] ") and f" - {(ingested / 'cats.md').as_uri()}" in refs[0]
    as_json = json.loads(
        run("kb", "ask", "notes", "Cats?", "--model", "fake:chat", "--json", "--all-references").stdout
    )
    assert as_json["references"] and as_json["message"]["content"] == "echo: Cats?"
    assert_error(run("kb", "ask", "notes", "Cats?"), 2, "Missing option '--model'")


def test_list_shows_every_providers_collections_and_configured_names(run: Run, ingested: Path) -> None:
    result = run("kb", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["REF", "COLLECTION", "EMBEDDING", "MODEL", "DESCRIPTION"]
    assert [line.split()[0] for line in lines[1:]] == ["fake:docs", "fake:notes", "team"]
    assert lines[-1].split()[:3] == ["team", "team-notes", "fake:embed"] and lines[-1].endswith("Team notes")
    rows = json.loads(run("kb", "list", "--json").stdout)
    assert rows[1] == {
        "ref": "fake:notes", "provider": "fake", "collection": "notes", "embedding_model": "fake:embed",
        "description": None,
    }  # fmt: skip


def test_chunks_pages_by_source_and_filter(run: Run, ingested: Path) -> None:
    result = run("kb", "chunks", "notes")
    assert result.exit_code == 0, result.output
    sources = [line.split()[1] for line in result.stdout.splitlines() if not line.startswith("   ")]
    assert sources == ["cats.md", "cats.md", "dogs.txt"]
    cats = json.loads(run("kb", "chunks", "notes", "--source", "cats.md", "--json").stdout)
    assert sorted(c["human_readable_id"] for c in cats) == ["cats.md > Cats", "cats.md > Cats > Food"]
    assert all(c["vector"] is None for c in cats)
    assert json.loads(run("kb", "chunks", "notes", "--source", "cats.md", "--offset", "1", "--json").stdout) == cats[1:]
    filtered = json.loads(run("kb", "chunks", "notes", "--filter", "path=dogs.txt", "--json").stdout)
    assert [c["source_id"] for c in filtered] == ["dogs.txt"]
    limited = json.loads(run("kb", "chunks", "notes", "--limit", "1", "--offset", "1", "--json").stdout)
    assert limited == cats[1:]
    empty = run("kb", "chunks", "notes", "--offset", "10")
    assert empty.stdout == "" and "no chunks at this offset" in empty.stderr
    assert_error(run("kb", "chunks", "notes", "--limit", "0"), 2, "--limit")


def test_delete_sources_then_the_collection(run: Run, ingested: Path, fake: FakeProvider) -> None:
    result = run("kb", "delete", "notes", "--source", "dogs.txt", "--source", "nothing")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "deleted 1 chunk(s) of 2 source(s) from fake:notes"
    refused = run("kb", "delete", "notes", stdin="n\n")
    assert refused.exit_code == 1 and "Delete knowledge base fake:notes" in refused.stderr
    assert len(fake.stored("notes")) == 2
    confirmed = run("kb", "delete", "notes", stdin="y\n")
    assert confirmed.exit_code == 0 and confirmed.stdout.strip() == "deleted knowledge base fake:notes"
    assert "notes" not in fake.store.collections()
    assert_error(run("kb", "delete", "notes", "--yes"), 1, "fake:notes does not exist")


def test_errors_are_one_line(run: Run) -> None:
    result = run("kb", "search", "nowhere:notes", "query")
    assert_error(result, 1, "no provider named 'nowhere'")
    assert len(result.stderr.strip().splitlines()) == 1
    assert_error(run("kb", "search", "notes", "   "), 2, "QUERY is empty")


def test_every_kb_command_and_option_is_documented() -> None:
    import click

    from genai_commons.cli.kb import kb_group

    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    assert "## `genai kb`" in text
    for name, command in kb_group.commands.items():
        assert f"`genai kb {name}" in text, f"docs/cli.md does not document genai kb {name}"
        assert CliRunner().invoke(main, ["kb", name, "--help"]).exit_code == 0
        for param in command.params:
            if isinstance(param, click.Option):
                for opt in param.opts:
                    assert f"`{opt}" in text, f"docs/cli.md does not document genai kb {name} {opt}"


def test_a_new_knowledge_base_needs_no_default_embedding_model_when_one_is_named(
    tmp_path: Path, fake: FakeProvider, notes: Path
) -> None:
    config = Config.defaults(tmp_path / "home", knowledge=KnowledgeSettings(default_provider="fake"))
    state = CliState(host=Host(config, load_entry_points=False, plugins=[fake]))
    without = CliRunner().invoke(main, ["kb", "ingest", "notes", str(notes)], obj=state)
    assert_error(without, 1, "no provider named 'local'")  # the default model, local:all-MiniLM-L6-v2
    named = ["kb", "ingest", "fake:other", str(notes), "--embedding-model", "fake:embed-small"]
    result = CliRunner().invoke(main, named, obj=state)
    assert result.exit_code == 0, result.output
    assert "into fake:other" in result.stdout and len(fake.stored("other")) == 3
    unknown = ["kb", "ingest", "nowhere:x", str(notes), "--embedding-model", "fake:embed-small"]
    assert_error(CliRunner().invoke(main, unknown, obj=state), 1, "no provider named 'nowhere'")
