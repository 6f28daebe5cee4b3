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
  A heading never makes a chunk of its own: headings with no body join the next chunk (the
  first window of a long block after them), or the previous one at the end of a document.
  Documents that are not Markdown are cut between paragraphs (blank lines) the same way, with
  the headings the loader found (HTML ``<h1>`` to ``<h6>``) when it passes them.
  Markdown is parsed with markdown-it-py (CommonMark), so ``#`` lines in code blocks are not
  headings and setext headings are.
* ``none`` — the whole document as one chunk (one file per entity, as the Bedrock seed describes).

Every :class:`Piece` is a slice of the text (``text[start:end]``, outer whitespace trimmed), so
the chunks together cover every non-blank character of the document. A piece under headings also
carries its heading path as one line (:func:`heading_path`: ``Title > Section > Subsection``);
:attr:`Piece.content`, that line, a blank line and the slice, is what is embedded and indexed, so
that a chunk is found by the words of the headings above it.

A hard ``limit`` (the embedding model's input window), measured with a pluggable ``length``
function (the model's tokenizer), applies after any strategy: a piece whose content is longer is
cut into nearly equal parts at the best boundary near each cut (a blank line, a line end, a
sentence end, a space; a character only in a single longer word), never truncated.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

import attrs
from attrs import field, frozen

from ..errors import ValidationError

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

__all__ = ["Chunker", "ChunkingStrategy", "LengthFunction", "Piece", "count_tokens", "heading_path", "tokens"]

#: Lengths of texts, in order, in some unit (a model's tokens): what a :class:`Chunker` limits.
LengthFunction = Callable[[Sequence[str]], Sequence[int]]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def tokens(text: str) -> Iterator[re.Match[str]]:
    """The tokens of ``text``: runs of letters/digits, and single punctuation marks."""
    return _TOKEN.finditer(text)


def count_tokens(text: str) -> int:
    """How many :func:`tokens` ``text`` has."""
    return len(_TOKEN.findall(text))


def _token_lengths(texts: Sequence[str]) -> list[int]:
    return [count_tokens(text) for text in texts]


def _path_parts(headings: Sequence[str], title: str) -> list[str]:
    """The document's title (when the headings do not start with it), then the headings; empty
    with no headings."""
    if not headings:
        return []
    parts = list(headings)
    if title and title.strip() != parts[0]:
        parts.insert(0, " ".join(title.split()))
    return parts


def heading_path(headings: Sequence[str], title: str = "") -> str:
    """The heading-path line of a chunk: the document's title (when the headings do not start
    with it) and the headings above the chunk, joined by `` > ``; empty with no headings."""
    return " > ".join(_path_parts(headings, title))


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
    #: The heading-path line (:func:`heading_path`), or empty.
    context: str = ""

    @property
    def content(self) -> str:
        """What is embedded and indexed: the heading-path line, a blank line, then the text."""
        return f"{self.context}\n\n{self.text}" if self.context else self.text


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


def _paragraph_blocks(text: str, headings: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int, int, str]]:
    """Paragraphs (between blank lines); one starting at a ``(offset, level)`` of ``headings`` is
    a heading of that level."""
    levels = dict(headings)
    bounds = [0, *(m.end() for m in _PARAGRAPH_BREAK.finditer(text)), len(text)]
    blocks = []
    for i in range(len(bounds) - 1):
        start, end = bounds[i], bounds[i + 1]
        if start < end:
            level = levels.get(_skip_spaces(text, start), 0)
            blocks.append((start, end, level, " ".join(text[start:end].split()) if level else ""))
    return blocks


#: A block of a section: ``(start, end, whether it is a heading)``.
_Block = tuple[int, int, bool]


def _sections(blocks: list[tuple[int, int, int, str]]) -> list[tuple[tuple[str, ...], list[_Block]]]:
    """Blocks grouped under their heading path; a section holding only headings joins the next."""
    sections: list[tuple[tuple[str, ...], list[_Block]]] = []
    path: list[tuple[int, str]] = []
    current: list[_Block] = []
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
        current.append((start, end, bool(level)))
    if current:
        sections.append((tuple(t for _, t in path), current))
    return sections


def _windows_ending_with(
    text: str, start: int, headings: list[_Block], size: int, overlap: int
) -> list[tuple[int, int]]:
    """Token windows of ``text[start:]`` up to the end of ``headings`` (the last blocks of a text),
    the last window reaching back far enough to hold more than those headings when it can."""
    end = headings[-1][1]
    windows = token_windows(text[start:end], size, overlap, start)
    if len(windows) > 1 and windows[-1][0] >= headings[0][0]:
        spans = [m.span() for m in tokens(text[start:end])]
        back = spans[max(0, len(spans) - size)][0] + start
        windows[-1] = (min(back, windows[-1][0]), windows[-1][1])
    return windows


_BREAKS = (re.compile(r"\n[ \t]*\n"), re.compile(r"\n"), re.compile(r"[.!?;:](?=\s)"), re.compile(r"\s"))


def _cut_near(text: str, low: int, target: int, high: int, reach: int) -> int:
    """Where to cut ``text`` between ``low`` and ``high`` (exclusive), near ``target``: after the
    strongest break (blank line, line end, sentence end, space) within ``reach`` characters of
    it, the nearest of that kind; ``target`` itself when there is none."""
    reach = max(1, reach)
    lo, hi = max(low + 1, target - reach), min(high - 1, target + reach)
    for pattern in _BREAKS:
        found = [m.end() for m in pattern.finditer(text, lo, hi) if low < m.end() < high]
        if found:
            return min(found, key=lambda position: abs(position - target))
    return min(max(target, low + 1), high - 1)


@frozen(kw_only=True)
class Chunker:
    """Cuts texts into :class:`Piece` objects with one strategy.

    :param size: the most characters (``fixed``) or tokens (``tokens``, ``markdown``) of a chunk;
        default 1000 characters or 200 tokens.
    :param overlap: how much consecutive windows share; default a tenth of the default size.
    :param limit: the most ``length`` units (an embedding model's ``max_input_tokens``) of a
        piece's :attr:`~Piece.content`, heading path included; longer pieces are cut (see the
        module docstring). None: no limit.
    :param length: measures texts for ``limit``, a batch at a time (a model's tokenizer through
        :meth:`genai_commons.Host.count_tokens`); default :func:`count_tokens` of each text.
    """

    strategy: ChunkingStrategy = field(default=ChunkingStrategy.MARKDOWN, converter=ChunkingStrategy)
    size: int | None = None
    overlap: int | None = None
    limit: int | None = None
    length: LengthFunction | None = field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValidationError(f"chunk limit must be at least 1 token, got {self.limit}")
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

    def split(
        self, text: str, *, markdown: bool = False, title: str = "", headings: Sequence[tuple[int, int]] = ()
    ) -> list[Piece]:
        """The pieces of ``text``, each within ``limit``.

        :param markdown: whether Markdown headings structure it.
        :param title: the document's title, first in the heading paths when the headings do not
            start with it.
        :param headings: ``(offset, level)`` of the paragraphs of a non-Markdown text that are
            headings (HTML), for the ``markdown`` strategy.
        """
        if self.strategy is ChunkingStrategy.NONE:
            whole = _trimmed(text, 0, len(text))
            pieces = [whole] if whole is not None else []
        elif self.strategy is ChunkingStrategy.FIXED:
            spans = character_windows(text, self.max_size, self.max_overlap)
            pieces = [piece for start, end in spans if (piece := _trimmed(text, start, end)) is not None]
        elif self.strategy is ChunkingStrategy.TOKENS:
            spans = token_windows(text, self.max_size, self.max_overlap)
            pieces = [piece for start, end in spans if (piece := _trimmed(text, start, end)) is not None]
        else:
            blocks = _markdown_blocks(text) if markdown else _paragraph_blocks(text, headings)
            pieces = self._sections(text, blocks, title)
        return self._within_limit(text, pieces, title) if self.limit is not None else pieces

    def _sections(self, text: str, blocks: list[tuple[int, int, int, str]], title: str) -> list[Piece]:
        size = self.max_size
        pieces: list[Piece] = []
        heading_starts = [start for start, _, level, _ in blocks if level]
        heading_titles = [name for _, _, level, name in blocks if level]

        def emit(start: int, end: int, headings: tuple[str, ...]) -> None:
            piece = _trimmed(text, start, end, headings)
            if piece is None:
                return
            # the path line leaves out the last headings when the text starts with them already
            first = bisect_left(heading_starts, start)
            shown = set(heading_titles[first : bisect_left(heading_starts, end)])
            path = _path_parts(headings, title)
            while path and path[-1] in shown:
                path.pop()
            pieces.append(attrs.evolve(piece, context=" > ".join(path)))

        for headings, grouped in _sections(blocks):
            section = grouped
            if pieces and all(is_heading for _, _, is_heading in section):
                # headings with no body at the end of the text: with the chunk before them
                last = pieces.pop()
                for window_start, window_end in _windows_ending_with(text, last.start, section, size, self.max_overlap):
                    emit(window_start, window_end, last.headings)
                continue
            if all(is_heading for _, _, is_heading in section):  # a text of headings only
                section = [(start, end, False) for start, end, _ in section]
            if count_tokens(text[section[0][0] : section[-1][1]]) <= size:
                emit(section[0][0], section[-1][1], headings)
                continue
            # group_start..group_end: blocks not yet emitted; bare: the group holds headings only
            group_start, group_end, group_tokens, bare = section[0][0], section[0][0], 0, True
            for start, end, is_heading in section:
                block_tokens = count_tokens(text[start:end])
                if group_tokens and not bare and group_tokens + block_tokens > size:
                    emit(group_start, group_end, headings)
                    group_start, group_tokens, bare = start, 0, True
                if not is_heading and group_tokens + block_tokens > size:
                    # too long even alone (or with the headings before it): token windows, the
                    # headings in the first one
                    for window_start, window_end in token_windows(
                        text[group_start:end], size, self.max_overlap, group_start
                    ):
                        emit(window_start, window_end, headings)
                    group_start, group_end, group_tokens, bare = end, end, 0, True
                    continue
                group_end = end
                group_tokens += block_tokens
                bare = bare and is_heading
            if group_tokens:
                emit(group_start, group_end, headings)
        return pieces

    def _within_limit(self, text: str, pieces: list[Piece], title: str) -> list[Piece]:
        """``pieces`` with every one whose content is over ``limit`` cut into parts that fit."""
        assert self.limit is not None
        length = self.length or _token_lengths
        measured = list(length([piece.content for piece in pieces]))
        out: list[Piece] = []
        for piece, size in zip(pieces, measured, strict=True):
            if size <= self.limit:
                out.append(piece)
            else:
                out.extend(self._cut(text, piece, size, length, title))
        return out

    def _cut(self, text: str, piece: Piece, size: int, length: LengthFunction, title: str) -> list[Piece]:
        """``piece`` (``size`` units, over ``limit``) in nearly equal parts within ``limit``; the
        parts after the first carry the whole heading path (the first keeps the piece's)."""
        assert self.limit is not None
        limit = self.limit
        full = heading_path(piece.headings, title)
        if full and length([full])[0] * 2 > limit:  # a path that long would crowd the text out
            full = ""
        parts_needed = max(2, math.ceil(size / (limit * 0.9)))
        start, end = piece.start, piece.end
        step = (end - start) / parts_needed
        cuts = [start]
        for number in range(1, parts_needed):
            cut = _cut_near(text, cuts[-1], round(start + number * step), end, round(step / 4))
            if cut > cuts[-1]:
                cuts.append(cut)
        cuts.append(end)
        parts = [
            part
            for low, high in itertools.pairwise(cuts)
            if (part := _trimmed(text, low, high, piece.headings)) is not None
        ]
        parts = [
            attrs.evolve(
                part, context=piece.context if part.start == piece.start and len(piece.context) <= len(full) else full
            )
            for part in parts
        ]
        sizes = list(length([part.content for part in parts]))
        out: list[Piece] = []
        for part, part_size in zip(parts, sizes, strict=True):
            if part_size <= limit or part.end - part.start <= 1:
                out.append(part)  # a single character over the limit cannot be cut further
            else:
                out.extend(self._cut(text, part, part_size, length, title))
        return out
