"""Chunking strategies: properties (slices, coverage, size, overlap) and Markdown structure."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_commons.errors import ValidationError
from genai_commons.knowledge.chunking import Chunker, Piece, count_tokens, tokens

WORDS = st.text(alphabet="abcdefghij xyz", min_size=1, max_size=12)
TEXTS = st.text(alphabet=st.sampled_from(list("abc de\n\t.,;#*-`>[]():!0123456789 ")), max_size=800)
MARKDOWN_LINES = st.one_of(
    st.builds(lambda n, t: "#" * n + " " + t, st.integers(1, 6), WORDS),
    WORDS,
    st.just(""),
    st.just("```"),
    st.just("- item"),
    st.just("> quote"),
    st.just("---"),
    st.just("[ref]: https://example.com"),
    st.just("| a | b |"),
    st.just("|---|---|"),
)
MARKDOWN = st.lists(MARKDOWN_LINES, max_size=60).map("\n".join)


def check_slices(text: str, pieces: list[Piece]) -> None:
    for piece in pieces:
        assert text[piece.start : piece.end] == piece.text
        assert piece.text and piece.text == piece.text.strip()


def check_coverage(text: str, pieces: list[Piece]) -> None:
    covered = bytearray(len(text))
    for piece in pieces:
        covered[piece.start : piece.end] = b"\x01" * (piece.end - piece.start)
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missing, f"characters not in any chunk at {missing[:5]}: {text[missing[0] : missing[0] + 20]!r}"


@given(text=TEXTS, size=st.integers(1, 120), data=st.data())
@settings(max_examples=300, deadline=None)
def test_fixed_windows_cover_the_text_within_size_and_overlap(text: str, size: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(0, size - 1))
    pieces = Chunker(strategy="fixed", size=size, overlap=overlap).split(text)
    check_slices(text, pieces)
    check_coverage(text, pieces)
    assert all(len(p.text) <= size for p in pieces)
    for before, after in itertools.pairwise(pieces):
        assert before.start < after.start, "windows move forward"
        assert before.end - after.start <= overlap, "consecutive windows share at most the overlap"


def test_fixed_windows_end_at_spaces_and_overlap_by_whole_words() -> None:
    text = " ".join(f"word{i:02d}" for i in range(40))  # 7 characters a word, 279 in all
    pieces = Chunker(strategy="fixed", size=50, overlap=15).split(text)
    assert all(re.fullmatch(r"word\d\d( word\d\d)*", p.text) for p in pieces), [p.text for p in pieces]
    assert [p.text.split()[0] for p in pieces[1:]] == [pieces[i].text.split()[-2] for i in range(len(pieces) - 1)]


@given(text=TEXTS, size=st.integers(1, 60), data=st.data())
@settings(max_examples=300, deadline=None)
def test_token_windows_share_exactly_the_overlap(text: str, size: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(0, size - 1))
    pieces = Chunker(strategy="tokens", size=size, overlap=overlap).split(text)
    check_slices(text, pieces)
    check_coverage(text, pieces)
    spans = [m.span() for m in tokens(text)]
    starts = {start: index for index, (start, _) in enumerate(spans)}
    ends = {end: index for index, (_, end) in enumerate(spans)}
    ranges = [(starts[p.start], ends[p.end] + 1) for p in pieces]
    assert all(count_tokens(p.text) == last - first <= size for p, (first, last) in zip(pieces, ranges, strict=True))
    assert all(after[0] == before[1] - overlap for before, after in itertools.pairwise(ranges))
    assert not spans or (ranges[0][0] == 0 and ranges[-1][1] == len(spans))


@given(text=st.one_of(MARKDOWN, TEXTS), size=st.integers(1, 40), markdown=st.booleans())
@settings(max_examples=300, deadline=None)
def test_markdown_sections_cover_the_text_within_the_size(text: str, size: int, markdown: bool) -> None:
    pieces = Chunker(strategy="markdown", size=size, overlap=size // 3).split(text, markdown=markdown)
    check_slices(text, pieces)
    check_coverage(text, pieces)
    assert all(count_tokens(p.text) <= size for p in pieces)
    assert all(p.headings == () for p in pieces) or markdown


@given(text=TEXTS)
def test_none_is_the_whole_text(text: str) -> None:
    pieces = Chunker(strategy="none").split(text)
    assert [p.text for p in pieces] == ([text.strip()] if text.strip() else [])


GUIDE = """\
Preamble line.

# Guide

## Install

Run the installer.

```sh
# not a heading
pip install x
```

## Use
### Daily

Use it daily.

Setext heading
--------------

Under setext.

# Appendix

Last words.
"""


def test_markdown_sections_keep_their_heading_path() -> None:
    pieces = Chunker(strategy="markdown", size=200).split(GUIDE, markdown=True)
    assert [(p.headings, p.text.splitlines()[0]) for p in pieces] == [
        ((), "Preamble line."),
        (("Guide", "Install"), "# Guide"),  # a heading alone joins the section under it
        (("Guide", "Use", "Daily"), "## Use"),
        (("Guide", "Setext heading"), "Setext heading"),
        (("Appendix",), "# Appendix"),
    ]
    assert "# not a heading" in pieces[1].text, "a # line in a code block is code"


def test_a_long_section_is_cut_between_blocks_then_into_token_windows() -> None:
    paragraphs = [" ".join(f"p{n}w{i}" for i in range(8)) for n in range(6)]
    long_paragraph = " ".join(f"long{i}" for i in range(25))
    text = "# Title\n\n" + "\n\n".join([*paragraphs, long_paragraph])
    pieces = Chunker(strategy="markdown", size=20, overlap=5).split(text, markdown=True)
    assert all(p.headings == ("Title",) for p in pieces)
    assert [p.text for p in pieces[:3]] == [
        f"# Title\n\n{paragraphs[0]}\n\n{paragraphs[1]}",
        f"{paragraphs[2]}\n\n{paragraphs[3]}",
        f"{paragraphs[4]}\n\n{paragraphs[5]}",
    ]
    windows = [p.text.split() for p in pieces[3:]]
    assert [w[0] for w in windows] == ["long0", "long15"] and [len(w) for w in windows] == [20, 10]


def test_plain_text_is_cut_between_paragraphs() -> None:
    text = "one two three\n\nfour five\n  \nsix seven eight nine"
    pieces = Chunker(strategy="markdown", size=5).split(text)
    assert [p.text for p in pieces] == ["one two three\n\nfour five", "six seven eight nine"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"strategy": "fixed", "size": 0}, "at least 1"),
        ({"strategy": "tokens", "size": 10, "overlap": 10}, "less than the chunk size 10"),
        ({"strategy": "markdown", "overlap": -1}, "at least 0"),
    ],
)
def test_bad_sizes_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Chunker(**options)  # type: ignore[arg-type]


def test_defaults_and_units() -> None:
    assert (Chunker().max_size, Chunker().max_overlap, Chunker().unit) == (200, 20, "tokens")
    assert (Chunker(strategy="fixed").max_size, Chunker(strategy="fixed").unit) == (1000, "characters")
    assert Chunker(strategy="tokens", size=10).max_overlap == 1, "the default overlap shrinks with a small size"
    with pytest.raises(ValueError, match="'pages' is not a valid ChunkingStrategy"):
        Chunker(strategy="pages")
