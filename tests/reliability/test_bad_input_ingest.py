"""Ingesting a directory where some files are bad: unreadable (a FIFO, a dangling or looping
symbolic link, a link out of the directory, no read permission where the tests do not run as
root), undecodable (not UTF-8, a damaged or fake PDF), binary, empty, very large (over the
loader's limit: a sparse file, so the test stays fast), of an unsupported type, or JSON Lines with
bad records. Each bad file is reported once, by name, with its reason; the good ones are ingested
into the local store (embedded by the fake provider's model), through the pipeline and through
``genai kb ingest``, whose exit status is 0 when anything was ingested and 1 when every file was
skipped (docs/cli.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from badinput_cli import invoke

from genai_commons import Host
from genai_commons.cli import CliState
from genai_commons.config import KnowledgeSettings
from genai_commons.knowledge.loaders import Document, Loader, Skipped
from genai_commons.knowledge.pipeline import ingest_documents
from genai_commons.testing import FakeProvider
from genai_commons.testing.pytest_plugin import MakeHost
from genai_commons_local import LocalProvider

LIMIT = Loader().max_file_bytes
AS_ROOT = os.geteuid() == 0

#: The good sources (relative source ids) of the tree.
GOOD = {"guide.md", "notes.txt", "page.html", "sub/deep.txt", "records.jsonl#r1", "records.jsonl#r2"}
#: Each bad file or record (its name in the report) and a fragment of its reason.
BAD = {
    "binary.txt": "binary content",
    "empty.md": "empty file",
    "blank.txt": "empty file",
    "huge.txt": f"more than the limit of {LIMIT:,}",
    "latin1.txt": "not UTF-8 text (byte 0xe9",
    "broken.pdf": "not a readable PDF",
    "fake.pdf": "not a PDF file",
    "fifo.txt": "not a regular file",
    "dangling.txt": "no such file (a broken symbolic link?)",
    "loop.txt": "cannot read",
    "outside.txt": "outside",
    "image.png": "unsupported file type '.png'",
    "records.jsonl:2": "not valid JSON",
    "records.jsonl:3": "has no text field 'text'",
}
if not AS_ROOT:  # root reads any file, whatever its permissions
    BAD["locked.txt"] = "cannot read"


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "guide.md").write_text("# Guide\n\nHow the on-call rotation works.\n\n## Weekends\n\nSplit in two.\n")
    (root / "notes.txt").write_text("Cats purr and sleep all day.")
    (root / "page.html").write_text("<html><head><title>Page</title></head><body><p>Dogs bark.</p></body></html>")
    (root / "sub" / "deep.txt").write_text("A file in a subdirectory.")
    records = [
        {"id": "r1", "text": "First record."},
        "{not json",
        {"id": "r3", "body": "no text"},
        {"id": "r2", "text": "Second."},
    ]
    (root / "records.jsonl").write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")

    (root / "binary.txt").write_bytes(b"looks like text\x00\x01\x02 but is not")
    (root / "empty.md").write_bytes(b"")
    (root / "blank.txt").write_text("  \n\n\t \n")
    with (root / "huge.txt").open("wb") as huge:
        huge.truncate(LIMIT + 1)  # sparse: no data written, a size over the limit
    (root / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (root / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\nnot really a pdf")
    (root / "fake.pdf").write_bytes(b"\x00\x01\x02binary, not a pdf")
    os.mkfifo(root / "fifo.txt")  # reading it would block until a writer comes
    (root / "dangling.txt").symlink_to(root / "gone.txt")
    (root / "loop.txt").symlink_to(root / "loop.txt")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the directory: never read")
    (root / "outside.txt").symlink_to(secret)
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (root / "folder.md").mkdir()  # a directory named like a file: walked, not read
    (root / "folder.md" / "inside.txt").write_text("Inside a directory named like a file.")
    if not AS_ROOT:
        (root / "locked.txt").write_text("locked")
        (root / "locked.txt").chmod(0)
    yield root
    if not AS_ROOT:
        (root / "locked.txt").chmod(0o600)


GOOD_WITH_FOLDER = GOOD | {"folder.md/inside.txt"}


def report_names(sources: list[str], root: Path) -> list[str]:
    """Report sources as names relative to the tree (``records.jsonl:2`` for a record line)."""
    return [str(Path(source).relative_to(root)) for source in sources]


@pytest.fixture
def host(make_host: MakeHost) -> Host:
    """The local store, with the fake provider's embedding model as the default one."""
    return make_host(LocalProvider, FakeProvider, knowledge=KnowledgeSettings(default_embedding_model="fake:embed"))


def test_the_loader_reports_each_bad_file_once_and_reads_the_rest(tree: Path) -> None:
    items = list(Loader().load([tree]))
    skipped = [item for item in items if isinstance(item, Skipped)]
    names = report_names([item.source for item in skipped], tree)
    assert sorted(names) == sorted(BAD), "each bad file once, and nothing else"
    for item, name in zip(skipped, names, strict=True):
        assert BAD[name] in item.reason, (name, item.reason)
        assert "\n" not in item.reason
    read = {item.source_id for item in items if isinstance(item, Document)}
    assert read == GOOD_WITH_FOLDER
    assert all("never read" not in item.text for item in items if isinstance(item, Document))


def test_the_pipeline_ingests_the_good_files_and_reports_the_bad(tree: Path, host: Host) -> None:
    report = ingest_documents(host, "notes", Loader().load([tree]))
    assert sorted(report_names([s.source for s in report.skipped], tree)) == sorted(BAD)
    assert report.documents == len(GOOD_WITH_FOLDER) and report.files == len(GOOD_WITH_FOLDER) - 1
    stored = host.list_chunks("notes", limit=1000)
    assert {chunk.source_id for chunk in stored} == GOOD_WITH_FOLDER
    assert report.inserted == len(stored) > 0
    again = ingest_documents(host, "notes", Loader().load([tree]))
    assert (again.inserted, again.unchanged, len(again.skipped)) == (0, len(stored), len(BAD))


def test_kb_ingest_lists_each_bad_file_once_on_stderr_and_exits_0(tree: Path, host: Host) -> None:
    state = CliState(host=host)
    result = invoke(["kb", "ingest", "notes", str(tree)], state=state)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert all(line.startswith("skipped ") for line in lines), lines
    for name, reason in BAD.items():
        path = str(tree / name)
        [line] = [line for line in lines if line.startswith(f"skipped {path}: ")]
        assert reason in line
        assert result.stderr.count(f"{path}:") == 1, f"{name} reported more than once"
    assert len(lines) == len(BAD)
    assert result.stdout.splitlines()[0] == (
        f"ingested {len(GOOD_WITH_FOLDER)} document(s) from {len(GOOD_WITH_FOLDER) - 1} file(s) into local:notes"
    )
    assert f"skipped: {len(BAD)} (see above)" in result.stdout
    assert {c.source_id for c in host.list_chunks("notes", limit=1000)} == GOOD_WITH_FOLDER

    as_json = invoke(["kb", "ingest", "notes", str(tree), "--json"], state=state)
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["knowledge_base"] == "local:notes" and data["inserted"] == 0
    assert sorted(report_names([s["source"] for s in data["skipped"]], tree)) == sorted(BAD)
    assert all(s["reason"] for s in data["skipped"])


def test_kb_ingest_of_only_bad_files_lists_them_and_exits_1(tree: Path, host: Host) -> None:
    bad_files = [tree / name for name in ("binary.txt", "empty.md", "huge.txt", "fake.pdf", "fifo.txt")]
    result = invoke(["kb", "ingest", "notes", *map(str, bad_files)], state=CliState(host=host))
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert [line.partition(":")[0] for line in lines[:-1]] == [f"skipped {path}" for path in bad_files]
    assert lines[-1].startswith("error: nothing to ingest in ") and lines[-1].endswith("every file was skipped")
    assert "Traceback" not in result.output
    assert [kb.ref for kb in host.knowledge_bases("local")] == [], "nothing was stored"
