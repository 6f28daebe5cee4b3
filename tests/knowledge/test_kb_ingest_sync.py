"""Ingestion as a faithful sync (``Ingestor.ingest_paths``), one test body per scenario run on every
backend that stores chunks: the core's fake, the local SQLite store, OpenSearch (osmem through the
in-repo stand-in) and Mendix Cloud (the fake service on a loopback port).

Deletes, renames, moves between subfolders, a subfolder after its parent and the reverse, a skipped
file keeping its chunks, the append-only opt-out, JSON Lines records removed, and what lies outside
a path's scope (other roots, sources ingested from documents without a root) staying untouched.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from genai_commons import Config, Host, RetryPolicy
from genai_commons.config import KnowledgeSettings
from genai_commons.knowledge import Ingestor, IngestReport, Loader, ingest_documents, load_records
from genai_commons.knowledge.sync import ROOT_KEY
from genai_commons.testing import FakeProvider
from genai_commons.testing.pytest_plugin import MakeHost

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "opensearch"))

BACKENDS = ["fake", "local", "opensearch", "mxcloud"]


class Backend:
    """A host and a knowledge base on one backend, with the helpers the scenarios use."""

    def __init__(self, host: Host, name: str) -> None:
        self.host = host
        self.kb = host.knowledge_base(name)

    def ingest(self, *paths: Path, sync: bool = True, loader: Loader | None = None) -> IngestReport:
        ingestor = Ingestor(self.host, self.kb, progress=False)
        return ingestor.ingest_paths(paths, loader=loader, sync=sync)

    def sources(self) -> dict[str, str]:
        """Each stored source id and the root recorded with it ('' for none); fails on a source
        stored under two roots (a duplicate)."""
        found: dict[str, str] = {}
        offset = 0
        while page := self.host.list_chunks(self.kb, offset=offset, limit=1000):
            for chunk in page:
                assert chunk.source_id is not None
                root = chunk.metadata.get(ROOT_KEY) or ""
                assert found.setdefault(chunk.source_id, root) == root, f"{chunk.source_id} under two roots"
            offset += len(page)
        return found


@pytest.fixture(scope="module")
def osmem_server() -> Iterator[object]:
    from osmem_server import OsmemServer

    server = OsmemServer.start(japanese=False)
    yield server
    server.close()


def _fake(make_host: MakeHost) -> Backend:
    knowledge = KnowledgeSettings(default_provider="fake", default_embedding_model="fake:embed")
    return Backend(make_host(FakeProvider(), knowledge=knowledge), "notes")


def _local(make_host: MakeHost) -> Backend:
    from genai_commons_local import LocalProvider

    knowledge = KnowledgeSettings(default_embedding_model="fake:embed")
    return Backend(make_host(LocalProvider, FakeProvider, knowledge=knowledge), "notes")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, make_host: MakeHost, tmp_path: Path) -> Iterator[Backend]:
    name = request.param
    if name == "fake":
        yield _fake(make_host)
    elif name == "local":
        yield _local(make_host)
    elif name == "opensearch":
        from opensearch_standin import OpenSearchStandIn

        from genai_commons_opensearch import OpenSearchProvider

        clone = request.getfixturevalue("osmem_clone")
        with OpenSearchStandIn(clone.url) as standin:
            config = Config.defaults(
                tmp_path / "os-home",
                retry=RetryPolicy(max_attempts=2, initial_delay=0, max_delay=0),
                knowledge=KnowledgeSettings(default_embedding_model="fake:embed"),
                providers={"opensearch": {"url": standin.url, "bulk_backoff": 0.0}},
            )
            host = Host(config, load_entry_points=False, plugins=[OpenSearchProvider, FakeProvider()])
            try:
                yield Backend(host, "opensearch:docs")
            finally:
                host.close()
    else:
        from genai_commons_mxcloud import MxCloudProvider
        from genai_commons_mxcloud.testing import FakeMxCloud, FakeMxCloudServer

        with FakeMxCloudServer(FakeMxCloud(dimensions=16)) as server:
            keys = [
                server.service.issue_key("EMBEDDINGS_GENERATION", name="cohere", token="tok-cohere"),
                server.service.issue_key("KNOWLEDGE_BASE", name="kb", token="tok-kb"),
            ]
            config = Config(
                home=tmp_path / "mx-home",
                retry=RetryPolicy(max_attempts=2, initial_delay=0, max_delay=0),
                providers={"mxcloud": {"keys": keys}},
                environ={},
            )
            host = Host(config, load_entry_points=False, plugins=[MxCloudProvider])
            try:
                yield Backend(host, "mxcloud:kb/docs")
            finally:
                host.close()


Write = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """``write("docs/a.md", text)``: a file under the test's directory, folders made."""

    def make(relative: str, text: str | None = None) -> Path:
        path = tmp_path / "files" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text if text is not None else f"# {relative}\n\nThe text of {relative}.\n")
        return path

    return make


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return tmp_path / "files"


def test_a_deleted_file_is_deleted_and_reported(backend: Backend, write: Write, files: Path) -> None:
    write("docs/a.md")
    write("docs/b.md")
    first = backend.ingest(files / "docs")
    assert (first.deleted, first.sources_deleted) == (0, 0)
    (files / "docs" / "b.md").unlink()
    again = backend.ingest(files / "docs")
    assert (again.deleted, again.sources_deleted, again.inserted) == (1, 1, 0)
    assert set(backend.sources()) == {"a.md"}
    assert backend.sources()["a.md"] == (files / "docs").resolve().as_posix()


def test_renames_and_moves_between_subfolders_leave_one_source_each(
    backend: Backend, write: Write, files: Path
) -> None:
    write("docs/x/a.md")
    write("docs/x/b.md")
    write("docs/y/c.md")
    backend.ingest(files / "docs")
    (files / "docs" / "x" / "a.md").rename(files / "docs" / "y" / "a.md")  # a move
    (files / "docs" / "x" / "b.md").rename(files / "docs" / "x" / "renamed.md")  # a rename
    report = backend.ingest(files / "docs")
    assert set(backend.sources()) == {"y/a.md", "x/renamed.md", "y/c.md"}
    assert report.sources_deleted == 2


def test_a_subfolder_after_its_parent_keeps_the_parent_ids_and_syncs_only_itself(
    backend: Backend, write: Write, files: Path
) -> None:
    write("docs/top.md")
    write("docs/sub/a.md")
    write("docs/sub/gone.md")
    backend.ingest(files / "docs")
    (files / "docs" / "sub" / "gone.md").unlink()
    (files / "docs" / "top.md").unlink()  # outside the subfolder: not this ingestion's business
    report = backend.ingest(files / "docs" / "sub")
    assert (report.inserted, report.sources_deleted) == (0, 1)
    sources = backend.sources()
    assert set(sources) == {"top.md", "sub/a.md"}
    assert set(sources.values()) == {(files / "docs").resolve().as_posix()}


def test_a_parent_after_its_subfolder_takes_the_subfolder_sources_over(
    backend: Backend, write: Write, files: Path
) -> None:
    write("docs/top.md")
    write("docs/sub/a.md")
    backend.ingest(files / "docs" / "sub")
    assert set(backend.sources()) == {"a.md"}
    report = backend.ingest(files / "docs")
    assert set(backend.sources()) == {"top.md", "sub/a.md"}
    assert report.sources_deleted == 1  # a.md, now sub/a.md
    again = backend.ingest(files / "docs" / "sub")
    assert (again.inserted, again.sources_deleted) == (0, 0)
    assert set(backend.sources()) == {"top.md", "sub/a.md"}


def test_a_file_skipped_this_time_keeps_its_chunks(backend: Backend, write: Write, files: Path) -> None:
    write("docs/a.md")
    broken = write("docs/b.md")
    write("docs/r.jsonl", '{"id": "1", "text": "one"}\n{"id": "2", "text": "two"}\n')
    backend.ingest(files / "docs")
    broken.write_bytes(b"\x00 not text any more")
    write("docs/r.jsonl", '{"id": "1", "text": "one"}\n{not json\n')  # record 2 cannot be read
    report = backend.ingest(files / "docs")
    assert report.sources_deleted == 0
    assert {item.source.rsplit("/", 1)[-1] for item in report.skipped} == {"b.md", "r.jsonl:2"}
    assert set(backend.sources()) == {"a.md", "b.md", "r.jsonl#1", "r.jsonl#2"}


def test_json_lines_records_removed_from_a_file_are_deleted(backend: Backend, write: Write, files: Path) -> None:
    write("docs/r.jsonl", "".join(f'{{"id": "{i}", "text": "record {i}"}}\n' for i in range(1, 4)))
    backend.ingest(files / "docs")
    write("docs/r.jsonl", '{"id": "1", "text": "record 1"}\n{"id": "3", "text": "record 3"}\n')
    report = backend.ingest(files / "docs")
    assert report.sources_deleted == 1
    assert set(backend.sources()) == {"r.jsonl#1", "r.jsonl#3"}


def test_append_only_keeps_the_chunks_of_files_that_are_gone(backend: Backend, write: Write, files: Path) -> None:
    write("docs/a.md")
    write("docs/b.md")
    backend.ingest(files / "docs")
    (files / "docs" / "b.md").unlink()
    report = backend.ingest(files / "docs", sync=False)
    assert (report.deleted, report.sources_deleted) == (0, 0)
    assert set(backend.sources()) == {"a.md", "b.md"}
    assert backend.ingest(files / "docs").sources_deleted == 1


def test_other_roots_and_sources_without_a_root_are_untouched(backend: Backend, write: Write, files: Path) -> None:
    write("docs/a.md")
    write("other/o.md")
    backend.ingest(files / "docs")
    backend.ingest(files / "other")
    ingest_documents(backend.host, backend.kb, load_records([{"id": "r1", "text": "a record"}]), progress=False)
    (files / "docs" / "a.md").unlink()
    (files / "other" / "o.md").unlink()
    write("docs/new.md")
    report = backend.ingest(files / "docs")
    assert report.sources_deleted == 1
    assert backend.sources() == {
        "new.md": (files / "docs").resolve().as_posix(),
        "o.md": (files / "other").resolve().as_posix(),
        "r1": "",
    }


def test_a_named_file_takes_the_id_of_its_recorded_root(backend: Backend, write: Write, files: Path) -> None:
    write("docs/sub/a.md")
    backend.ingest(files / "docs")
    changed = write("docs/sub/a.md", "# Changed\n\nNew text.\n")
    report = backend.ingest(changed)
    assert (report.sources_replaced, report.sources_deleted) == (1, 0)
    assert set(backend.sources()) == {"sub/a.md"}


def test_the_async_ingestion_syncs_the_same(make_host: MakeHost, write: Write, files: Path) -> None:
    backend = _fake(make_host)
    write("docs/a.md")
    write("docs/b.md")
    backend.ingest(files / "docs")
    (files / "docs" / "b.md").unlink()
    ingestor = Ingestor(backend.host, backend.kb, progress=False)
    report = asyncio.run(ingestor.aingest_paths([files / "docs"]))
    assert (report.deleted, report.sources_deleted) == (1, 1)
    assert set(backend.sources()) == {"a.md"}


def test_metadata_may_not_overwrite_the_recorded_root(make_host: MakeHost, write: Write, files: Path) -> None:
    from genai_commons import ValidationError

    backend = _fake(make_host)
    write("docs/a.md")
    ingestor = Ingestor(backend.host, backend.kb, metadata={ROOT_KEY: "/elsewhere"}, progress=False)
    with pytest.raises(ValidationError, match="sourceRoot"):
        ingestor.ingest_paths([files / "docs"])
