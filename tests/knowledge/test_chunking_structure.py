"""Heading paths in the chunk text, no bare-heading chunks, HTML headings, and the hard limit
measured with a pluggable length function."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from genai_commons.knowledge import Document, Loader
from genai_commons.knowledge._extract import html_page
from genai_commons.knowledge.chunking import Chunker, Piece, count_tokens, heading_path
from genai_commons.knowledge.ids import document_chunks

GUIDE = """# Guide

Intro words here.

## Install

### Linux

Run the installer with care.
"""


def check_slices_and_coverage(text: str, pieces: list[Piece]) -> None:
    covered = bytearray(len(text))
    for piece in pieces:
        assert text[piece.start : piece.end] == piece.text and piece.text == piece.text.strip()
        covered[piece.start : piece.end] = b"\x01" * (piece.end - piece.start)
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missing, f"not chunked: {text[missing[0] : missing[0] + 20]!r}"


def test_the_heading_path_leads_the_chunk_text_and_stays_in_metadata() -> None:
    document = Document(source_id="guide.md", text=GUIDE, title="Guide", format="markdown")
    pieces = Chunker(size=20, overlap=0).split(GUIDE, markdown=True, title=document.title)
    chunks = document_chunks(document, pieces)
    by_heading = {c.metadata.get("headings"): c.input_text for c in chunks}
    # the chunk that starts with its own headings does not repeat them in the path line
    assert by_heading["Guide"] == "# Guide\n\nIntro words here."
    assert by_heading["Guide > Install > Linux"] == "Guide\n\n## Install\n\n### Linux\n\nRun the installer with care."
    assert all(c.input_text.endswith(p.text) for c, p in zip(chunks, pieces, strict=True))


def test_a_chunk_inside_a_section_carries_the_whole_path() -> None:
    text = "# Guide\n\n## Install\n\n" + "\n\n".join(f"Step {n} does a thing." for n in range(6))
    pieces = Chunker(size=12, overlap=0).split(text, markdown=True, title="The guide")
    assert len(pieces) > 1
    assert pieces[0].content.startswith("The guide\n\n# Guide\n\n## Install")
    assert all(p.content == f"The guide > Guide > Install\n\n{p.text}" for p in pieces[1:])


def test_heading_path_adds_the_title_only_when_the_headings_do_not_start_with_it() -> None:
    assert heading_path(("Guide", "Install"), "Guide") == "Guide > Install"
    assert heading_path(("Install",), "My   guide") == "My guide > Install"
    assert heading_path((), "Guide") == ""


def test_a_heading_before_a_long_block_goes_into_the_blocks_first_window() -> None:
    code = "```\n" + "\n".join(f"line_{n} = {n}" for n in range(40)) + "\n```"
    text = f"# Title\n\nShort intro.\n\n## Example\n\n{code}\n"
    pieces = Chunker(size=30, overlap=3).split(text, markdown=True)
    check_slices_and_coverage(text, pieces)
    assert not any(p.text.strip() in {"## Example", "# Title"} for p in pieces)
    example = [p for p in pieces if p.headings == ("Title", "Example")]
    assert example[0].text.startswith("## Example\n\n```"), example[0].text[:40]
    assert all(count_tokens(p.text) <= 30 for p in pieces)


def test_headings_at_the_end_of_a_text_join_the_chunk_before_them() -> None:
    text = "# Notes\n\nSome words.\n\n## Later\n\n### Much later\n"
    pieces = Chunker(size=50).split(text, markdown=True)
    assert [p.text for p in pieces] == [text.strip()]


def markdown_documents() -> st.SearchStrategy[str]:
    line = st.one_of(
        st.builds(lambda n, w: "#" * n + " " + w, st.integers(1, 4), st.text("abcdef ", min_size=1, max_size=10)),
        st.text("abcdefgh xyz.", min_size=1, max_size=60),
        st.just("```"),
        st.just(""),
    )
    return st.lists(line, max_size=50).map("\n".join)


@given(text=markdown_documents(), size=st.integers(3, 40))
@settings(max_examples=200, deadline=None)
def test_no_chunk_is_only_headings_unless_the_text_is(text: str, size: int) -> None:
    from genai_commons.knowledge.chunking import _markdown_blocks

    pieces = Chunker(size=size, overlap=size // 4).split(text, markdown=True)
    check_slices_and_coverage(text, pieces)
    blocks = _markdown_blocks(text)
    if all(level or not text[start:end].strip() for start, end, level, _ in blocks):
        return  # nothing but headings: they are all there is to chunk
    if sum(count_tokens(text[start:end]) for start, end, level, _ in blocks if level) >= size:
        return  # headings longer than a chunk cannot all travel with a body
    heading_spans = [(start, end) for start, end, level, _ in blocks if level]
    for piece in pieces:
        inside = [b for b in blocks if piece.start <= b[0] < piece.end or b[0] <= piece.start < b[1]]
        bodies = [b for b in inside if not b[2] and text[max(b[0], piece.start) : min(b[1], piece.end)].strip()]
        assert bodies or not heading_spans, f"a chunk of headings only: {piece.text!r}"


def test_html_headings_give_the_same_paths_as_markdown() -> None:
    page = html_page(
        "<html><head><title>Site</title></head><body><h1>Guide</h1><p>Intro.</p>"
        "<h2>Install</h2><h3>Linux</h3><p>Run it.</p><h2>Use</h2><p>Daily.</p></body></html>"
    )
    assert [page.text[offset:].split("\n")[0] for offset, _ in page.headings] == ["Guide", "Install", "Linux", "Use"]
    assert [level for _, level in page.headings] == [1, 2, 3, 2]
    pieces = Chunker(size=10, overlap=0).split(page.text, title=page.title or "", headings=page.headings)
    assert [(p.headings, p.content) for p in pieces] == [
        (("Guide",), "Site\n\nGuide\n\nIntro."),
        (("Guide", "Install", "Linux"), "Site > Guide\n\nInstall\n\nLinux\n\nRun it."),
        (("Guide", "Use"), "Site > Guide\n\nUse\n\nDaily."),
    ]


def test_the_loader_passes_html_headings_to_the_chunks(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    (root / "page.html").write_text("<h1>Cats</h1><h2>Food</h2><p>Cats eat fish.</p>", encoding="utf-8")
    [document] = [d for d in Loader().load([root]) if isinstance(d, Document)]
    pieces = Chunker().split(document.text, title=document.title, headings=document.headings)
    chunks = document_chunks(document, pieces)
    assert [(c.input_text, c.metadata.get("headings")) for c in chunks] == [
        ("Cats\n\nFood\n\nCats eat fish.", "Cats > Food")
    ]


def characters(texts: Sequence[str]) -> list[int]:
    return [len(text) for text in texts]


@given(
    text=st.one_of(markdown_documents(), st.text("ab cd\n.#", max_size=600)),
    limit=st.integers(5, 120),
    strategy=st.sampled_from(["markdown", "tokens", "fixed", "none"]),
)
@settings(max_examples=300, deadline=None)
def test_every_piece_fits_the_limit_and_nothing_is_lost(text: str, limit: int, strategy: str) -> None:
    pieces = Chunker(strategy=strategy, limit=limit, length=characters).split(text, markdown=True, title="T")
    check_slices_and_coverage(text, pieces)
    assert all(len(p.content) <= limit or len(p.text) == 1 for p in pieces), [p.content for p in pieces]


def test_a_long_paragraph_is_cut_in_nearly_equal_parts_at_sentence_ends() -> None:
    text = "# Title\n\n" + " ".join(f"Sentence number {n} is here." for n in range(30))
    pieces = Chunker(size=1000, limit=60, length=lambda texts: [count_tokens(t) for t in texts]).split(
        text, markdown=True
    )
    body = [p for p in pieces if p.headings == ("Title",)]
    assert len(body) >= 3
    assert all(count_tokens(p.content) <= 60 for p in pieces)
    assert all(p.text.endswith(".") for p in body), [p.text[-20:] for p in body]
    sizes = [count_tokens(p.text) for p in body]
    assert max(sizes) - min(sizes) <= 20, sizes
    assert all(p.context == "" or p.context == "Title" for p in body)


def test_a_path_too_long_for_the_limit_is_left_out_rather_than_crowd_the_text() -> None:
    headings = "\n\n".join(f"{'#' * n} heading number {n} with many words" for n in range(1, 5))
    text = f"{headings}\n\n" + "word " * 80
    pieces = Chunker(size=1000, limit=20).split(text, markdown=True)
    check_slices_and_coverage(text, pieces)
    assert all(count_tokens(p.content) <= 20 for p in pieces)
