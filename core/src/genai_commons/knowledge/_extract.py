"""Text out of file contents: decoding, HTML, PDF and Markdown front matter. Pure functions, no I/O.

Each function raises :class:`ExtractError` with a reason a user can act on; the loader turns it
into a per-file :class:`~genai_commons.knowledge.loaders.Skipped` entry and goes on.

HTML goes through the standard library's :mod:`html.parser`: it is maintained with Python,
tolerates broken markup, decodes character references, and is all that text extraction needs
(no CSS selectors, no DOM); a third-party parser would add a dependency for no gain here.
PDF goes through pypdf (pure Python, well kept), imported on first use. What pypdf says about a
damaged file (``EOF marker not found``, ``incorrect startxref pointer``) it logs through the
``logging`` logger ``pypdf``, which would reach standard error raw and without the file's name;
:func:`pdf_text` collects it instead, for the loader to report with the file named.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser

from attrs import frozen

#: How much of a file is looked at to tell binary from text.
_SNIFF_BYTES = 8192
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_:.-]+)""", re.IGNORECASE)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FRONT_MATTER_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.MULTILINE)
_ATX_TITLE = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


class ExtractError(Exception):
    """A file's content cannot be turned into text; the message is the reason."""


def normalize_newlines(text: str) -> str:
    """``\\r\\n`` and ``\\r`` become ``\\n``, so that offsets and line numbers agree everywhere."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def looks_binary(data: bytes) -> bool:
    """True when the start of ``data`` holds a NUL byte (no text encoding we read produces one)."""
    return b"\x00" in data[:_SNIFF_BYTES]


def decode_text(data: bytes, encoding: str | None = None) -> str:
    """Text from bytes: UTF-8 (a byte-order mark is dropped) unless ``encoding`` is given."""
    if looks_binary(data):
        raise ExtractError("binary content; only text, Markdown, HTML, PDF and JSON Lines files are read")
    try:
        return normalize_newlines(data.decode(encoding or "utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ExtractError(
            f"not {encoding or 'UTF-8'} text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "convert the file to UTF-8 or exclude it"
        ) from None
    except LookupError:
        raise ExtractError(f"unknown text encoding {encoding!r}") from None


# -- HTML ------------------------------------------------------------------------------------

_SKIPPED_ELEMENTS = frozenset({"script", "style", "noscript", "template", "svg", "math", "head", "iframe", "object"})
_BLOCK_ELEMENTS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "html", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "ul",
})  # fmt: skip
_VOID_ELEMENTS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
_SPACES = re.compile(r"[ \t\n\f\v]+")
_HEADINGS = {f"h{level}": level for level in range(1, 7)}


class _TextExtractor(HTMLParser):
    """Collects the visible text: block elements become paragraphs, ``<pre>`` keeps its layout."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        #: ``paragraph index -> level`` of the paragraphs that are headings (``<h1>`` to ``<h6>``).
        self.heading_levels: dict[int, int] = {}
        self._heading_level = 0
        self.title_parts: list[str] = []
        self.first_h1: str | None = None
        self._current: list[str] = []
        self._skip_depth = 0
        self._pre_depth = 0
        self._in_title = False
        self._h1_parts: list[str] | None = None

    def _flush(self) -> None:
        text = "".join(self._current)
        text = text.strip("\n") if self._pre_depth else _SPACES.sub(" ", text).strip()
        if text.strip():
            if self._heading_level:
                self.heading_levels[len(self.paragraphs)] = self._heading_level
            self.paragraphs.append(text)
        self._current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIPPED_ELEMENTS:
            self._skip_depth += tag not in _VOID_ELEMENTS
        elif self._skip_depth:
            return
        elif tag == "br":
            self._current.append("\n" if self._pre_depth else " ")
        elif tag in _BLOCK_ELEMENTS:
            self._flush()
            self._pre_depth += tag == "pre"
            if tag in _HEADINGS:
                self._heading_level = _HEADINGS[tag]
            if tag == "h1" and self.first_h1 is None:
                self._h1_parts = []
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self._current.append(f" {alt} ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIPPED_ELEMENTS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif self._skip_depth:
            return
        elif tag in _BLOCK_ELEMENTS:
            self._flush()
            if tag in _HEADINGS:
                self._heading_level = 0
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)
            if tag == "h1" and self._h1_parts is not None:
                self.first_h1 = _SPACES.sub(" ", "".join(self._h1_parts)).strip() or None
                self._h1_parts = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._skip_depth:
            self._current.append(data)
            if self._h1_parts is not None:
                self._h1_parts.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def html_charset(data: bytes) -> str | None:
    """The charset an HTML document declares in a ``<meta>`` near its start, if any."""
    match = _CHARSET.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


@frozen(kw_only=True)
class HtmlPage:
    """What :func:`html_page` read from an HTML document."""

    #: ``<title>``, else the first ``<h1>``.
    title: str | None
    #: The visible text, paragraphs separated by blank lines.
    text: str
    #: ``(offset, level)`` of each heading paragraph (``<h1>`` to ``<h6>``) in ``text``.
    headings: tuple[tuple[int, int], ...] = ()


def html_page(markup: str) -> HtmlPage:
    """The title, visible text and headings of an HTML document."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    title = _SPACES.sub(" ", "".join(parser.title_parts)).strip() or parser.first_h1
    headings: list[tuple[int, int]] = []
    offset = 0
    for index, paragraph in enumerate(parser.paragraphs):
        level = parser.heading_levels.get(index)
        if level:
            headings.append((offset + len(paragraph) - len(paragraph.lstrip()), level))
        offset += len(paragraph) + 2
    return HtmlPage(title=title, text="\n\n".join(parser.paragraphs), headings=tuple(headings))


def html_text(markup: str) -> tuple[str | None, str]:
    """The title (``<title>``, else the first ``<h1>``) and visible text of an HTML document;
    paragraphs are separated by blank lines."""
    page = html_page(markup)
    return page.title, page.text


# -- PDF -------------------------------------------------------------------------------------

#: The most pypdf messages kept for one file, and the most characters of each.
_MAX_NOTES = 5
_MAX_NOTE_CHARS = 200


@frozen(kw_only=True)
class PdfText:
    """What :func:`pdf_text` read from a PDF."""

    title: str | None
    #: The pages' text, separated by blank lines.
    text: str
    #: The offset at which each page's text starts.
    page_offsets: tuple[int, ...]
    #: What pypdf reported while repairing a damaged file it could still read (empty when intact).
    problems: tuple[str, ...] = ()


class _PypdfNotes(logging.Handler):
    """Keeps what pypdf logs on the thread that reads one file (pypdf reads synchronously, so no
    other file's messages arrive on that thread meanwhile)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.notes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread or len(self.notes) >= _MAX_NOTES:
            return
        try:
            note = " ".join(record.getMessage().split())[:_MAX_NOTE_CHARS]
        except Exception:  # a message that cannot be formatted is not worth failing the file for
            note = str(record.msg)[:_MAX_NOTE_CHARS]
        if note and note not in self.notes:
            self.notes.append(note)


@contextmanager
def _pypdf_notes() -> Iterator[list[str]]:
    """While the block runs, what pypdf logs on this thread is collected, not printed: a handler on
    the ``pypdf`` logger keeps :mod:`logging` from falling back to standard error. An application
    that configured logging still receives the records through its own handlers. (pypdf uses
    :mod:`warnings` only for deprecations in the calling code, never for a damaged file.)"""
    handler = _PypdfNotes()
    logger = logging.getLogger("pypdf")
    logger.addHandler(handler)
    try:
        yield handler.notes
    finally:
        logger.removeHandler(handler)


def pdf_text(data: bytes) -> PdfText:
    """The title (from the document information), the text and the offset at which each page's
    text starts, pages separated by blank lines, and what pypdf reported on a damaged file."""
    with _pypdf_notes() as notes:
        try:
            return _read_pdf(data, notes)
        except ExtractError as exc:
            if not notes:
                raise
            raise ExtractError(f"{exc}; pypdf reported: {'; '.join(notes)}") from None


def _read_pdf(data: bytes, notes: list[str]) -> PdfText:
    from pypdf import PdfReader  # noqa: PLC0415 - pypdf loads only when a PDF is read
    from pypdf.errors import PdfReadError  # noqa: PLC0415

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractError("encrypted PDF; decrypt it first (for example `qpdf --decrypt`)")
        title = reader.metadata.title if reader.metadata is not None else None
        offsets: list[int] = []
        parts: list[str] = []
        position = 0
        for page in reader.pages:
            text = normalize_newlines(page.extract_text() or "").strip()
            offsets.append(position)
            parts.append(text)
            position += len(text) + 2
    except ExtractError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        # pypdf raises more than its own errors on damaged files
        raise ExtractError(
            f"not a readable PDF: {exc} (damaged or truncated; repair it, for example with "
            "`qpdf damaged.pdf repaired.pdf`, or exclude it)"
        ) from None
    return PdfText(
        title=title.strip() if isinstance(title, str) and title.strip() else None,
        text="\n\n".join(parts),
        page_offsets=tuple(offsets),
        problems=tuple(notes),
    )


# -- Markdown --------------------------------------------------------------------------------


def split_front_matter(text: str) -> tuple[str | None, str]:
    """The ``title:`` of a YAML front-matter block at the start, and the text without the block."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return None, text
    title = _FRONT_MATTER_TITLE.search(match.group(1))
    value = title.group(1).strip().strip("\"'") if title else None
    return value or None, text[match.end() :]


def markdown_title(text: str) -> str | None:
    """The text of the first level-1 ATX heading (``# Title``), if any."""
    match = _ATX_TITLE.search(text)
    return match.group(1).strip() if match else None
