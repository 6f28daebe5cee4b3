"""The ingestion pipeline against the fake provider's in-memory store: incremental writes,
replacement of changed sources, resumption after a crash, repopulate, replace, deletes, paging."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from genai_commons import ChunkCollection, DeployedModel, Host, IngestMode, IngestResult, KnowledgeBase
from genai_commons.knowledge.chunking import Chunker
from genai_commons.knowledge.loaders import Document, Loader, Skipped
from genai_commons.knowledge.pipeline import Ingestor, aingest_documents, call_size, ingest_documents
from genai_commons.model.retrieval import Eq
from genai_commons.testing import FakeAsyncProvider, FakeProvider, default_models

MakeKbHost = Callable[..., Host]

SMALL = Chunker(strategy="markdown", size=12, overlap=2)


def make_docs(count: int = 5, changed: dict[int, str] | None = None) -> list[Document]:
    docs = []
    for n in range(count):
        body = (changed or {}).get(n) or (
            f"Paragraph one of doc {n}.\n\nParagraph two of doc {n}, a little longer.\n\nThird paragraph of doc {n}."
        )
        docs.append(Document(source_id=f"doc-{n}.md", text=f"# Doc {n}\n\n{body}\n", format="markdown"))
    return docs


def expected_chunks(host: Host, kb: str, documents: Sequence[Document]) -> dict[str, str]:
    ingestor = Ingestor(host, kb, chunker=SMALL)
    return {c.chunk_id: c.input_text for d in documents for c in ingestor.chunks_of(d)}


def stored(fake: FakeProvider, collection: str = "notes") -> dict[str, str]:
    return {c.chunk_id: c.input_text for c in fake.stored(collection)}


def ingest_calls(fake: FakeProvider) -> list[tuple[IngestMode, int]]:
    return [(c.options, len(c.payload)) for c in fake.calls if isinstance(c.options, IngestMode)]


def test_first_ingestion_writes_every_chunk_embedded(host: Host, fake: FakeProvider) -> None:
    docs = make_docs()
    report = ingest_documents(host, "notes", [*docs, Skipped(source="x.bin", reason="binary")], chunker=SMALL)
    want = expected_chunks(host, "notes", docs)
    assert stored(fake) == want and len(want) == 15
    assert (report.documents, report.inserted, report.unchanged, report.deleted) == (5, 15, 0, 0)
    assert report.skipped == (Skipped(source="x.bin", reason="binary"),)
    assert report.tokens > 0 and report.calls == len(ingest_calls(fake)) >= 1 and report.duration_s > 0
    assert all(c.vector is not None and len(c.vector) == 8 for c in fake.stored("notes")), "the host embedded them"
    assert [c.capability.value for c in fake.calls].count("embed") >= 1


def test_unchanged_content_writes_nothing(host: Host, fake: FakeProvider) -> None:
    ingest_documents(host, "notes", make_docs(), chunker=SMALL)
    fake.reset()
    report = ingest_documents(host, "notes", make_docs(), chunker=SMALL)
    assert (report.inserted, report.unchanged, report.deleted, report.calls) == (0, 15, 0, 0)
    assert ingest_calls(fake) == [] and fake.calls_for("embed") == []
    assert [c.options for c in fake.calls] == ["stored_chunk_ids"]


def test_changed_content_replaces_its_source_and_only_it(host: Host, fake: FakeProvider) -> None:
    ingest_documents(host, "notes", make_docs(), chunker=SMALL)
    fake.reset()
    changed = make_docs(changed={2: "Paragraph one of doc 2.\n\nNew words.\n\nThird paragraph of doc 2."})
    report = ingest_documents(host, "notes", changed, chunker=SMALL)
    assert stored(fake) == expected_chunks(host, "notes", changed)
    # the third paragraph's chunk is the same text, but its human-readable id moved from "#3" to "#2"
    assert (report.inserted, report.unchanged, report.deleted, report.sources_replaced) == (2, 12, 3, 1)
    assert ingest_calls(fake) == [(IngestMode.REPLACE, 2)], "the source is replaced whole, in one call"


def test_added_text_inserts_only_the_new_chunk(host: Host, fake: FakeProvider) -> None:
    ingest_documents(host, "notes", make_docs(), chunker=SMALL)
    fake.reset()
    grown = make_docs()
    grown[0] = Document(source_id="doc-0.md", text=grown[0].text + "\n## More\n\nAppended words.\n", format="markdown")
    report = ingest_documents(host, "notes", grown, chunker=SMALL)
    assert (report.inserted, report.unchanged, report.deleted, report.sources_replaced) == (1, 15, 0, 0)
    assert ingest_calls(fake) == [(IngestMode.INSERT, 1)]
    assert stored(fake) == expected_chunks(host, "notes", grown)


def test_ingestion_metadata_is_stored_and_a_change_of_it_replaces(host: Host, fake: FakeProvider) -> None:
    ingest_documents(host, "notes", make_docs(2), chunker=SMALL, metadata={"team": "blue"})
    assert {c.metadata.get("team") for c in fake.stored("notes")} == {"blue"}
    report = ingest_documents(host, "notes", make_docs(2), chunker=SMALL, metadata={"team": "red"})
    assert (report.inserted, report.deleted, report.sources_replaced) == (6, 6, 2)
    assert {c.metadata.get("team") for c in fake.stored("notes")} == {"red"}


class Crash(Exception):
    """The process dies in the middle of an ingest call."""


class CrashingProvider(FakeProvider):
    """The fake store, losing power during its ``crash_at``-th ingest call (nothing of it is kept)."""

    def __init__(self) -> None:
        super().__init__()
        self.crash_at: int | None = None
        self.ingests = 0

    def ingest(self, knowledge_base: KnowledgeBase, chunks: ChunkCollection, mode: IngestMode) -> IngestResult:
        self.ingests += 1
        if self.ingests == self.crash_at:
            raise Crash("power cut")
        return super().ingest(knowledge_base, chunks, mode)


@pytest.mark.parametrize("crash_at", [1, 2, 4])
def test_an_interrupted_ingestion_resumes_with_exactly_the_missing_chunks(
    make_kb_host: MakeKbHost, crash_at: int
) -> None:
    provider = CrashingProvider()
    host = make_kb_host(provider)
    docs = make_docs(8)
    provider.crash_at = crash_at
    with pytest.raises(Crash):
        ingest_documents(host, "notes", docs, chunker=SMALL, batch_size=4)
    kept = len(provider.stored("notes"))
    assert kept == 4 * (crash_at - 1), "every call before the crash is committed, the one in progress is lost"
    provider.crash_at = None
    report = ingest_documents(host, "notes", docs, chunker=SMALL, batch_size=4)
    assert (report.inserted, report.unchanged, report.deleted) == (24 - kept, kept, 0)
    assert stored(provider) == expected_chunks(host, "notes", docs), "no chunk lost, none duplicated"


def test_a_changed_source_larger_than_a_call_is_replaced_then_completed(make_kb_host: MakeKbHost) -> None:
    provider = CrashingProvider()
    host = make_kb_host(provider)
    words = " ".join(f"w{i}" for i in range(100))
    big = [Document(source_id="big.txt", text=words)]
    chunker = Chunker(strategy="tokens", size=10, overlap=0)
    ingest_documents(host, "notes", big, chunker=chunker, batch_size=4)
    assert len(provider.stored("notes")) == 10
    provider.calls.clear()
    changed = [Document(source_id="big.txt", text=words.replace("w55", "CHANGED"))]
    provider.crash_at = provider.ingests + 2  # dies after the first (replace) call of the new version
    with pytest.raises(Crash):
        ingest_documents(host, "notes", changed, chunker=chunker, batch_size=4)
    assert [c.options for c in provider.calls if isinstance(c.options, IngestMode)] == [IngestMode.REPLACE]
    assert len(provider.stored("notes")) == 4, "the old version went with the first call of the new one"
    provider.crash_at = None
    report = ingest_documents(host, "notes", changed, chunker=chunker, batch_size=4)
    assert (report.inserted, report.unchanged, report.deleted) == (6, 4, 0)
    assert stored(provider) == {
        c.chunk_id: c.input_text for c in Ingestor(host, "notes", chunker=chunker).chunks_of(changed[0])
    }


def test_repopulate_empties_the_collection_first(host: Host, fake: FakeProvider) -> None:
    ingest_documents(host, "notes", make_docs(5), chunker=SMALL)
    fake.reset()
    fewer = make_docs(2)
    report = ingest_documents(host, "notes", fewer, chunker=SMALL, mode="repopulate", batch_size=4)
    assert stored(fake) == expected_chunks(host, "notes", fewer)
    assert (report.inserted, report.deleted, report.unchanged) == (6, 15, 0)
    assert [mode for mode, _ in ingest_calls(fake)] == [IngestMode.REPOPULATE, IngestMode.INSERT]
    assert "stored_chunk_ids" not in [c.options for c in fake.calls]
    emptied = ingest_documents(host, "notes", [], mode="repopulate")
    assert (emptied.deleted, emptied.inserted, stored(fake)) == (6, 0, {})


def test_replace_mode_rewrites_unchanged_sources(host: Host, fake: FakeProvider) -> None:
    ingest_documents(host, "notes", make_docs(3), chunker=SMALL)
    before = stored(fake)
    fake.reset()
    report = ingest_documents(host, "notes", make_docs(3), chunker=SMALL, mode=IngestMode.REPLACE)
    assert (report.inserted, report.unchanged, report.deleted, report.sources_replaced) == (9, 0, 0, 3)
    assert ingest_calls(fake) == [(IngestMode.REPLACE, 9)] and stored(fake) == before


def test_duplicate_sources_and_empty_documents_are_reported(host: Host, fake: FakeProvider) -> None:
    docs = [*make_docs(1), Document(source_id="doc-0.md", text="again"), Document(source_id="blank", text="  ")]
    report = ingest_documents(host, "notes", docs, chunker=SMALL)
    assert [(s.source, s.reason) for s in report.skipped] == [
        ("doc-0.md", "a second document with the same source id in one ingestion"),
        ("blank", "no text to chunk"),
    ]
    assert report.inserted == 3 and report.documents == 2


def test_management_delete_sources_drop_and_paging(host: Host, fake: FakeProvider) -> None:
    ingest_documents(host, "notes", make_docs(4), chunker=SMALL, metadata={"team": "blue"})
    ingest_documents(host, "notes", make_docs(6)[4:], chunker=SMALL, metadata={"team": "red"})
    ingestor = Ingestor(host, "notes")
    every = list(ingestor.iter_chunks(page_size=7))
    assert len(every) == 18 and every == sorted(every, key=lambda c: (c.source_id, c.chunk_id))
    assert all(c.vector is None for c in every)
    red = list(ingestor.iter_chunks(Eq(key="team", value="red"), page_size=2))
    assert {c.source_id for c in red} == {"doc-4.md", "doc-5.md"} and len(red) == 6
    assert ingestor.chunks(offset=3, limit=2) == every[3:5]
    assert ingestor.delete_sources(["doc-1.md", "doc-5.md", "absent"]) == 6
    assert {c.source_id for c in ingestor.iter_chunks()} == {"doc-0.md", "doc-2.md", "doc-3.md", "doc-4.md"}
    assert "fake:notes" in [kb.ref for kb in host.knowledge_bases()], "a collection made by ingestion is listed"
    assert ingestor.drop() is True and ingestor.drop() is False
    assert "fake:notes" not in [kb.ref for kb in host.knowledge_bases()]


def test_calls_are_sized_by_the_embedding_model_and_concurrency(make_kb_host: MakeKbHost) -> None:
    models = [
        *default_models()[:2],
        DeployedModel(provider="fake", model_id="embed", output_modality="embeddings", max_batch_size=3),
    ]
    provider = FakeProvider(models=models)
    host = make_kb_host(provider)
    kb = host.knowledge_base("notes")
    assert call_size(host, kb) == 16, "at least 16 chunks a call"
    assert Ingestor(host, kb).batch_size == 16
    report = ingest_documents(host, kb, make_docs(8), chunker=SMALL)
    assert [n for _, n in ingest_calls(provider)] == [16, 8] and report.calls == 2
    embedded = [len(c.payload) for c in provider.calls_for("embed")]
    assert max(embedded) == 3 and sum(embedded) == 24, "the host embeds in the model's batches"


async def test_the_async_pipeline_gives_the_same_store(make_kb_host: MakeKbHost, tmp_path: Path) -> None:
    fake_async = FakeAsyncProvider()
    host = make_kb_host(fake_async)
    (tmp_path / "a.md").write_text("# A\n\nalpha words here\n\n## B\n\nbeta words")
    (tmp_path / "c.txt").write_text("gamma")
    items = list(Loader().load([tmp_path]))
    report = await aingest_documents(host, "notes", items, chunker=SMALL, progress=False)
    assert report.inserted == 3 and report.files == 2
    assert all(c.is_async for c in fake_async.calls)
    again = await aingest_documents(host, "notes", items, chunker=SMALL)
    assert (again.inserted, again.unchanged) == (0, 3)
    ingestor = Ingestor(host, "notes")
    assert await ingestor.adelete_sources(["c.txt"]) == 1
    assert await ingestor.adrop() is True
    emptied = await aingest_documents(host, "notes", [], mode="repopulate")
    assert emptied.deleted == 0


def test_a_progress_bar_can_be_forced_off_a_terminal(
    host: Host, fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    report = ingest_documents(host, "notes", make_docs(2), chunker=SMALL, progress=True)
    assert report.inserted == 6
    ingest_documents(host, "other", make_docs(2), chunker=SMALL)
    assert capsys.readouterr().out == "", "nothing on standard output"


def test_a_bad_batch_size_is_refused(host: Host) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Ingestor(host, "notes", batch_size=0)
