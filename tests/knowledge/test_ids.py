"""Chunk ids: stable for the same content, different for any change, unique within a source."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from genai_commons.knowledge.chunking import Chunker, Piece
from genai_commons.knowledge.ids import chunk_id, document_chunks, human_readable_ids
from genai_commons.knowledge.loaders import Document

DOC = Document(
    source_id="guide/a.md",
    text="# A\n\nSame.\n\n# B\n\nSame.\n\nSame.\n",
    format="markdown",
    metadata={"path": "guide/a.md", "sourceUrl": "file:///guide/a.md"},
)


def chunks_of(document: Document, metadata: dict[str, str] | None = None) -> list[str]:
    pieces = Chunker(strategy="markdown", size=2, overlap=0).split(document.text, markdown=True)
    return [c.chunk_id for c in document_chunks(document, pieces, metadata)]


def test_the_same_document_gives_the_same_ids_every_time() -> None:
    first = chunks_of(DOC)
    assert first == chunks_of(DOC) == chunks_of(Document(**{**DOC.__getstate__(), "title": "other title"}))
    assert len(set(first)) == len(first) == 5, "repeated text in one source gets distinct ids"
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in first)


def test_text_metadata_and_source_all_change_the_id() -> None:
    base = chunk_id("s", "text", metadata={"a": "1"}, source_type="file", human_readable_id="s")
    assert base == chunk_id("s", "text", metadata={"a": "1"}, source_type="file", human_readable_id="s")
    changed = [
        chunk_id("t", "text", metadata={"a": "1"}, source_type="file", human_readable_id="s"),
        chunk_id("s", "text!", metadata={"a": "1"}, source_type="file", human_readable_id="s"),
        chunk_id("s", "text", metadata={"a": "2"}, source_type="file", human_readable_id="s"),
        chunk_id("s", "text", metadata={"a": "1", "b": "1"}, source_type="file", human_readable_id="s"),
        chunk_id("s", "text", metadata={"a": "1"}, source_type="Ticket", human_readable_id="s"),
        chunk_id("s", "text", metadata={"a": "1"}, source_type="file", human_readable_id="s #2"),
        chunk_id("s", "text", occurrence=1, metadata={"a": "1"}, source_type="file", human_readable_id="s"),
    ]
    assert len({base, *changed}) == 8
    assert chunks_of(DOC, {"team": "blue"}) != chunks_of(DOC), "ingestion metadata is part of what is stored"


@given(
    source=st.text(min_size=1, max_size=5).filter(str.strip),
    texts=st.lists(st.sampled_from(["a", "b", "a b"]), min_size=1, max_size=8),
)
def test_ids_are_unique_within_a_source_whatever_repeats(source: str, texts: list[str]) -> None:
    text = "\n\n".join(texts)
    document = Document(source_id=source, text=text)
    pieces = Chunker(strategy="markdown", size=1).split(text)
    ids = [c.chunk_id for c in document_chunks(document, pieces)]
    assert len(set(ids)) == len(ids)


def test_human_readable_ids_name_the_heading_path_page_and_part() -> None:
    pieces = [
        Piece(text="x", start=0, end=1, headings=("Guide", "Install")),
        Piece(text="y", start=2, end=3, headings=("Guide", "Install")),
        Piece(text="z", start=4, end=5, headings=("Guide",)),
    ]
    assert human_readable_ids(DOC, pieces) == [
        "guide/a.md > Guide > Install #1",
        "guide/a.md > Guide > Install #2",
        "guide/a.md > Guide",
    ]
    paged = Document(source_id="r.pdf", text="p1\n\np2", page_offsets=(0, 4))
    two = [Piece(text="p1", start=0, end=2), Piece(text="p2", start=4, end=6)]
    assert human_readable_ids(paged, two) == ["r.pdf p. 1", "r.pdf p. 2"]
    chunks = document_chunks(paged, two, {"team": "blue"})
    assert [c.metadata.as_dict() for c in chunks] == [{"team": "blue", "page": "1"}, {"team": "blue", "page": "2"}]
    assert {(c.source_id, c.source_type) for c in chunks} == {("r.pdf", "file")}


def test_chunks_carry_the_documents_metadata_and_heading_path() -> None:
    pieces = Chunker(strategy="markdown", size=4).split(DOC.text, markdown=True)
    first = document_chunks(DOC, pieces)[0]
    assert first.metadata.as_dict() == {"path": "guide/a.md", "sourceUrl": "file:///guide/a.md", "headings": "A"}
    assert (first.input_text, first.human_readable_id, first.vector) == ("# A\n\nSame.", "guide/a.md > A", None)
