"""Splitting a document's text into chunks: fixed windows, Markdown sections, or none.

Strategies (:class:`ChunkingStrategy`):

* ``fixed`` — windows of at most ``size`` characters that overlap by at most ``overlap``
  characters; a window ends at a space in its second half when there is one, so words stay whole.
* ``tokens`` — windows of at most ``size`` tokens; consecutive windows share exactly ``overlap``
  tokens. A token is a run of letters and digits or one punctuation mark (:func:`tokens`): close
  enough to an embedding model's word pieces to size chunks, with no tokenizer to download.
* ``markdown`` — one chunk per section (a heading and what follows it, up to the next heading),
  with the heading path kept; a section over ``size`` tokens is cut between its blocks
  (paragraphs, lists, code blocks, tables), and a block over ``size`` tokens into token windows.
  Documents that are not Markdown are cut between paragraphs (blank lines) the same way.
  Markdown is parsed with markdown-it-py (CommonMark), so ``#`` lines in code blocks are not
  headings and setext headings are.
* ``none`` — the whole document as one chunk (one file per entity, as the Bedrock seed describes).

Every :class:`Piece` is a slice of the text (``text[start:end]``, outer whitespace trimmed), so
the chunks together cover every non-blank character of the document.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING

from attrs import field, frozen

from ..errors import ValidationError

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

__all__ = ["Chunker", "ChunkingStrategy", "Piece", "count_tokens", "tokens"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def tokens(text: str) -> Iterator[re.Match[str]]:
    """The tokens of ``text``: runs of letters/digits, and single punctuation marks."""
    return _TOKEN.finditer(text)


def count_tokens(text: str) -> int:
    """How many :func:`tokens` ``text`` has."""
    return len(_TOKEN.findall(text))


class ChunkingStrategy(StrEnum):
    """How documents are cut into chunks; see the module docstring."""

    FIXED = "fixed"
    TOKENS = "tokens"
    MARKDOWN = "markdown"
    NONE = "none"


#: (size, overlap) when not given: characters for ``fixed``, tokens for the others.
DEFAULTS: dict[ChunkingStrategy, tuple[int, int]] = {
    ChunkingStrategy.FIXED: (1000, 100),
    ChunkingStrategy.TOKENS: (200, 20),
    ChunkingStrategy.MARKDOWN: (200, 20),
    ChunkingStrategy.NONE: (0, 0),
}


@frozen(kw_only=True)
class Piece:
    """One chunk's text: ``text == document_text[start:end]``, under its heading path."""

    text: str
    start: int
    end: int
    headings: tuple[str, ...] = ()


def _trimmed(text: str, start: int, end: int, headings: tuple[str, ...] = ()) -> Piece | None:
    """The piece ``text[start:end]`` without outer whitespace, or None when blank."""
    segment = text[start:end]
    stripped = segment.strip()
    if not stripped:
        return None
    begin = start + (len(segment) - len(segment.lstrip()))
    return Piece(text=stripped, start=begin, end=begin + len(stripped), headings=headings)


def _skip_spaces(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def character_windows(text: str, size: int, overlap: int, offset: int = 0) -> list[tuple[int, int]]:
    """``(start, end)`` windows of ``text`` of at most ``size`` characters; each starts at most
    ``overlap`` characters before the previous one ends, at a word start where one is near."""
    spans: list[tuple[int, int]] = []
    start = _skip_spaces(text, 0)
    length = len(text)
    while start < length:
        end = min(start + size, length)
        if end < length and not text[end].isspace():
            # break at the last space of the window's second half, keeping the window longer than
            # the overlap so that the next window starts further on
            floor = start + max(size // 2, overlap + 1)
            cut = max((text.rfind(space, floor, end) for space in (" ", "\n", "\t")), default=-1)
            if cut > floor:
                end = cut
        spans.append((offset + start, offset + end))
        if end >= length:
            break
        following = max(end - overlap, start + 1)
        if 0 < following < end and not text[following - 1].isspace() and not text[following].isspace():
            space = next((i for i in range(following, end) if text[i].isspace()), end)
            following = space
        start = _skip_spaces(text, following)
    return spans


def token_windows(text: str, size: int, overlap: int, offset: int = 0) -> list[tuple[int, int]]:
    """``(start, end)`` windows of ``text`` of at most ``size`` tokens; consecutive windows share
    exactly ``overlap`` tokens."""
    spans = [m.span() for m in tokens(text)]
    windows: list[tuple[int, int]] = []
    first = 0
    while first < len(spans):
        last = min(first + size, len(spans))
        windows.append((offset + spans[first][0], offset + spans[last - 1][1]))
        if last == len(spans):
            break
        first = last - overlap
    return windows


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    return starts


@functools.cache
def _markdown_parser() -> MarkdownIt:
    """A CommonMark parser with tables that finds blocks only (inline markup is not needed)."""
    from markdown_it import MarkdownIt  # noqa: PLC0415 - loaded only to chunk Markdown

    return MarkdownIt("commonmark").enable("table").disable("inline")


def _markdown_blocks(text: str) -> list[tuple[int, int, int, str]]:
    """``(start, end, heading level or 0, heading text)`` of each top-level block, end to end."""
    parsed = _markdown_parser().parse(text)
    lines = _line_starts(text)
    found: list[tuple[int, int, str]] = []
    for index, token in enumerate(parsed):
        if token.level != 0 or token.map is None or token.nesting < 0:
            continue
        level = int(token.tag[1]) if token.type == "heading_open" else 0
        title = parsed[index + 1].content.strip() if level and index + 1 < len(parsed) else ""
        found.append((lines[min(token.map[0], len(lines) - 1)], level, title))
    if not found:  # nothing but link reference definitions, which make no block
        return [(0, len(text), 0, "")]
    found[0] = (0, found[0][1], found[0][2])  # what precedes the first block belongs to it
    blocks = []
    for number, (start, level, title) in enumerate(found):
        end = found[number + 1][0] if number + 1 < len(found) else len(text)
        blocks.append((start, end, level, title))
    return blocks


def _paragraph_blocks(text: str) -> list[tuple[int, int, int, str]]:
    bounds = [0, *(m.end() for m in _PARAGRAPH_BREAK.finditer(text)), len(text)]
    return [(bounds[i], bounds[i + 1], 0, "") for i in range(len(bounds) - 1) if bounds[i] < bounds[i + 1]]


def _sections(blocks: list[tuple[int, int, int, str]]) -> list[tuple[tuple[str, ...], list[tuple[int, int]]]]:
    """Blocks grouped under their heading path; a section holding only headings joins the next."""
    sections: list[tuple[tuple[str, ...], list[tuple[int, int]]]] = []
    path: list[tuple[int, str]] = []
    current: list[tuple[int, int]] = []
    only_headings = True
    for start, end, level, title in blocks:
        if level:
            if current and not only_headings:
                sections.append((tuple(t for _, t in path), current))
                current = []
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, title))
            only_headings = True
        else:
            only_headings = False
        current.append((start, end))
    if current:
        sections.append((tuple(t for _, t in path), current))
    return sections


@frozen(kw_only=True)
class Chunker:
    """Cuts texts into :class:`Piece` objects with one strategy.

    :param size: the most characters (``fixed``) or tokens (``tokens``, ``markdown``) of a chunk;
        default 1000 characters or 200 tokens.
    :param overlap: how much consecutive windows share; default a tenth of the default size.
    """

    strategy: ChunkingStrategy = field(default=ChunkingStrategy.MARKDOWN, converter=ChunkingStrategy)
    size: int | None = None
    overlap: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.strategy is ChunkingStrategy.NONE:
            return
        if self.max_size < 1:
            raise ValidationError(f"chunk size must be at least 1, got {self.max_size}")
        if not 0 <= self.max_overlap < self.max_size:
            raise ValidationError(
                f"chunk overlap must be at least 0 and less than the chunk size {self.max_size}, got {self.max_overlap}"
            )

    @property
    def max_size(self) -> int:
        return self.size if self.size is not None else DEFAULTS[self.strategy][0]

    @property
    def max_overlap(self) -> int:
        if self.overlap is not None:
            return self.overlap
        default = DEFAULTS[self.strategy][1]
        return default if default < self.max_size else self.max_size // 10

    @property
    def unit(self) -> str:
        """What ``size`` counts: ``characters`` or ``tokens``."""
        return "characters" if self.strategy is ChunkingStrategy.FIXED else "tokens"

    def split(self, text: str, *, markdown: bool = False) -> list[Piece]:
        """The pieces of ``text``; ``markdown`` says whether headings structure it."""
        if self.strategy is ChunkingStrategy.NONE:
            whole = _trimmed(text, 0, len(text))
            return [whole] if whole is not None else []
        if self.strategy is ChunkingStrategy.FIXED:
            spans = character_windows(text, self.max_size, self.max_overlap)
        elif self.strategy is ChunkingStrategy.TOKENS:
            spans = token_windows(text, self.max_size, self.max_overlap)
        else:
            return self._sections(text, markdown)
        return [piece for start, end in spans if (piece := _trimmed(text, start, end)) is not None]

    def _sections(self, text: str, markdown: bool) -> list[Piece]:
        blocks = _markdown_blocks(text) if markdown else _paragraph_blocks(text)
        size = self.max_size
        pieces: list[Piece] = []

        def emit(start: int, end: int, headings: tuple[str, ...]) -> None:
            piece = _trimmed(text, start, end, headings)
            if piece is not None:
                pieces.append(piece)

        for headings, spans in _sections(blocks):
            if count_tokens(text[spans[0][0] : spans[-1][1]]) <= size:
                emit(spans[0][0], spans[-1][1], headings)
                continue
            group_start, group_end, group_tokens = spans[0][0], spans[0][0], 0
            for start, end in spans:
                block_tokens = count_tokens(text[start:end])
                if group_tokens and group_tokens + block_tokens > size:
                    emit(group_start, group_end, headings)
                    group_start, group_tokens = start, 0
                if block_tokens > size:
                    for window_start, window_end in token_windows(text[start:end], size, self.max_overlap, start):
                        emit(window_start, window_end, headings)
                    group_start, group_end, group_tokens = end, end, 0
                    continue
                group_end = end
                group_tokens += block_tokens
            if group_tokens:
                emit(group_start, group_end, headings)
        return pieces
