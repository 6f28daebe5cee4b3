"""``genai kb ingest NAME DIR`` as a sync: the gone files' chunks deleted and reported (text and
``--json``), and ``--append-only`` keeping them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from genai_commons import Config, Host, RetryPolicy
from genai_commons.cli import CliState, main
from genai_commons.config import KnowledgeSettings
from genai_commons.testing import FakeProvider


@pytest.fixture
def state(tmp_path: Path) -> CliState:
    config = Config.defaults(
        tmp_path / "home",
        retry=RetryPolicy(max_attempts=1),
        knowledge=KnowledgeSettings(default_provider="fake", default_embedding_model="fake:embed"),
    )
    return CliState(host=Host(config, load_entry_points=False, plugins=[FakeProvider()]))


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text("# A\n\nAlpha.\n")
    (root / "sub" / "b.md").write_text("# B\n\nBeta.\n")
    return root


def run(state: CliState, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), obj=state)


def sources(state: CliState) -> set[str]:
    result = run(state, "kb", "chunks", "notes", "--json", "--limit", "100")
    assert result.exit_code == 0, result.output
    return {chunk["source_id"] for chunk in json.loads(result.stdout)}


def test_ingest_deletes_the_chunks_of_gone_files_and_says_so(state: CliState, docs: Path) -> None:
    assert run(state, "kb", "ingest", "notes", str(docs)).exit_code == 0
    (docs / "sub" / "b.md").unlink()
    result = run(state, "kb", "ingest", "notes", str(docs))
    assert result.exit_code == 0, result.output
    assert "chunks: 0 inserted, 1 unchanged, 1 deleted (1 source(s) gone)" in result.stdout
    assert sources(state) == {"a.md"}


def test_ingest_json_reports_sources_deleted(state: CliState, docs: Path) -> None:
    run(state, "kb", "ingest", "notes", str(docs))
    (docs / "a.md").unlink()
    result = run(state, "kb", "ingest", "notes", str(docs), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["deleted"], report["sources_deleted"]) == (1, 1)


def test_a_subfolder_after_its_parent_is_not_stored_twice(state: CliState, docs: Path) -> None:
    run(state, "kb", "ingest", "notes", str(docs))
    result = run(state, "kb", "ingest", "notes", str(docs / "sub"))
    assert "chunks: 0 inserted, 1 unchanged, 0 deleted" in result.stdout
    assert sources(state) == {"a.md", "sub/b.md"}


def test_append_only_keeps_the_chunks_of_gone_files(state: CliState, docs: Path) -> None:
    run(state, "kb", "ingest", "notes", str(docs))
    (docs / "a.md").unlink()
    result = run(state, "kb", "ingest", "notes", str(docs), "--append-only")
    assert result.exit_code == 0, result.output
    assert "0 deleted" in result.stdout
    assert sources(state) == {"a.md", "sub/b.md"}
