"""Documents from files, directories and in-memory records, ready to chunk.

:class:`Loader` reads files and walks directories (recursively, in name order, with include and
exclude globs); :func:`load_records` turns records you already hold (rows, API results) into
documents. Formats: plain text, Markdown, HTML, PDF and JSON Lines (one record per line, the text
in a configurable field, chosen fields kept as metadata).

Nothing stops at one bad file: a binary, empty, unreadable, oversized or undecodable file, a
symbolic link that leads out of the directory being walked, or a bad JSON Lines record is
yielded as a :class:`Skipped` entry with the reason, and loading goes on. A damaged PDF is one
too, with what pypdf reported; one that pypdf can repair is read, and a ``pdf_repaired`` warning
names the file (pypdf's own log lines never reach standard error raw).

A document's ``source_id`` (the seed's MxObjectID) is stable: the file's path relative to the
directory given (``guide/intro.md``), or ``FILE#ID`` for a JSON Lines record. Its metadata holds
``path`` and ``sourceUrl`` (the file's ``file://`` URI, or ``base_url`` joined with the path), the
link retrieve-and-generate puts on its references.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote

from attrs import field, frozen

from .._log import get_logger
from ..errors import ValidationError
from ..jsonparse import loads
from ..model._validators import in_range, non_empty
from ..model.knowledge import MetadataCollection
from ._extract import (
    ExtractError,
    decode_text,
    html_charset,
    html_page,
    looks_binary,
    markdown_title,
    normalize_newlines,
    pdf_text,
    split_front_matter,
)

__all__ = ["Document", "DocumentFormat", "Loader", "RecordFields", "Skipped", "load_records"]

log = get_logger(__name__)


class DocumentFormat(StrEnum):
    """How a document's text is structured, which the Markdown chunking strategy uses."""

    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"
    PDF = "pdf"
    #: A record of JSON Lines or of :func:`load_records`.
    RECORD = "record"


#: File name extensions read in a directory walk, and their format.
EXTENSIONS: Mapping[str, DocumentFormat | None] = {
    ".txt": DocumentFormat.TEXT,
    ".text": DocumentFormat.TEXT,
    ".rst": DocumentFormat.TEXT,
    ".md": DocumentFormat.MARKDOWN,
    ".markdown": DocumentFormat.MARKDOWN,
    ".html": DocumentFormat.HTML,
    ".htm": DocumentFormat.HTML,
    ".xhtml": DocumentFormat.HTML,
    ".pdf": DocumentFormat.PDF,
    ".jsonl": None,  # records, each its own document
    ".ndjson": None,
}


def _metadata(value: MetadataCollection | Mapping[str, str]) -> MetadataCollection:
    return value if isinstance(value, MetadataCollection) else MetadataCollection(items=value)


def _offsets(value: Iterable[int]) -> tuple[int, ...]:
    return tuple(value)


def _heading_marks(value: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((int(offset), int(level)) for offset, level in value)


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValidationError(f"expected a list of strings, got the string {value!r}")
    return tuple(value)


@frozen(kw_only=True)
class Document:
    """A text to chunk and the identity of what it came from.

    :param source_id: the stable identity of the source object (a relative path, a record id);
        chunk ids derive from it, and replacing or deleting by source uses it.
    :param source_type: the kind of source object (the seed's MxEntity): ``file`` for files.
    :param human_readable_id: what users recognise (a path, a title); defaults to ``source_id``.
    :param page_offsets: where each page's text starts in ``text`` (PDF), for page numbers.
    :param headings: ``(offset, level)`` of each heading paragraph in ``text`` when the format is
        not Markdown but the loader knows them (HTML ``<h1>`` to ``<h6>``), for heading paths.
    """

    source_id: str = field(validator=non_empty)
    text: str
    title: str = ""
    source_type: str = field(default="file", validator=non_empty)
    format: DocumentFormat = field(default=DocumentFormat.TEXT, converter=DocumentFormat)
    human_readable_id: str = ""
    metadata: MetadataCollection = field(factory=MetadataCollection, converter=_metadata)
    page_offsets: tuple[int, ...] = field(default=(), converter=_offsets)
    headings: tuple[tuple[int, int], ...] = field(default=(), converter=_heading_marks)

    def __attrs_post_init__(self) -> None:
        if not self.human_readable_id:
            object.__setattr__(self, "human_readable_id", self.source_id)

    def page_at(self, offset: int) -> int | None:
        """The page (from 1) on which the text at ``offset`` lies, for paged documents."""
        if not self.page_offsets:
            return None
        return max(1, bisect_right(self.page_offsets, offset))


@frozen(kw_only=True)
class Skipped:
    """A file or record that was not loaded, and why."""

    source: str
    reason: str


@frozen(kw_only=True)
class RecordFields:
    """Which fields of a record (JSON Lines, :func:`load_records`) hold what.

    :param text: the text to chunk (required in every record).
    :param id: the record's identity; without it (None, or absent in a record) the record's
        position is used, which changes when records are added or removed before it.
    :param title: the record's title, also its human-readable id.
    :param url: the link of the record (stored as ``sourceUrl``).
    :param metadata: fields kept as metadata, as strings (lists and objects as JSON).
    :param source_type: the source type (MxEntity) of the records' documents.
    """

    text: str = field(default="text", validator=non_empty)
    id: str | None = "id"
    title: str | None = "title"
    url: str | None = "url"
    metadata: tuple[str, ...] = field(default=(), converter=_strings)
    source_type: str = field(default="record", validator=non_empty)


def _scalar(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def record_document(
    record: object,
    position: int,
    fields: RecordFields,
    *,
    prefix: str = "",
    metadata: Mapping[str, str] | None = None,
) -> Document:
    """A document from one record; ``position`` (from 1) names it when it has no id.

    :raises ValidationError: the record is not an object or has no usable text.
    """
    if not isinstance(record, Mapping):
        raise ValidationError(f"a record is a JSON object, got {type(record).__name__}")
    text = record.get(fields.text)
    if not isinstance(text, str):
        missing = "has no" if text is None else "has a non-string"
        raise ValidationError(f"record {missing} text field {fields.text!r}; choose the field with text_field")
    if not text.strip():
        raise ValidationError(f"record's text field {fields.text!r} is empty")
    identity = record.get(fields.id) if fields.id else None
    key = _scalar(identity) if identity not in (None, "") else str(position)
    source_id = f"{prefix}#{key}" if prefix else key
    title_value = record.get(fields.title) if fields.title else None
    title = _scalar(title_value) if title_value not in (None, "") else ""
    pairs = dict(metadata or {})
    pairs.update({name: _scalar(record[name]) for name in fields.metadata if record.get(name) is not None})
    url = record.get(fields.url) if fields.url else None
    if url not in (None, ""):
        pairs["sourceUrl"] = _scalar(url)
    return Document(
        source_id=source_id,
        text=normalize_newlines(text),
        title=title,
        source_type=fields.source_type,
        format=DocumentFormat.RECORD,
        human_readable_id=title or source_id,
        metadata={k: v for k, v in pairs.items() if k and v},
    )


def load_records(
    records: Iterable[object], fields: RecordFields | None = None, *, prefix: str = ""
) -> Iterator[Document | Skipped]:
    """Documents from in-memory records (mappings); a record without usable text is skipped.

    :param prefix: put before each record's id in its source id (``PREFIX#ID``).
    """
    fields = fields or RecordFields()
    for position, record in enumerate(records, start=1):
        try:
            yield record_document(record, position, fields, prefix=prefix)
        except ValidationError as exc:
            yield Skipped(source=f"{prefix or 'record'}#{position}", reason=str(exc))


def _glob_match(relative: str, patterns: tuple[str, ...]) -> bool:
    """gitignore-like: a pattern without ``/`` matches the name at any depth, one with ``/`` the
    path relative to the directory walked (``*`` and ``**`` both cross directories)."""
    name = relative.rsplit("/", 1)[-1]
    for given in patterns:
        pattern = given.strip().rstrip("/")
        if not pattern:
            continue
        if "/" not in pattern:
            if fnmatch.fnmatchcase(name, pattern):
                return True
            continue
        anchored = pattern.removeprefix("/")
        if fnmatch.fnmatchcase(relative, anchored):
            return True
        if anchored.startswith("**/") and fnmatch.fnmatchcase(relative, anchored[3:]):
            return True
    return False


def _within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


@frozen(kw_only=True)
class Loader:
    """Reads files and directories into :class:`Document` entries (see the module docstring).

    :param include: globs a file in a directory walk must match (any of them); a file named by
        an include glob is read as plain text even when its extension is not a known format.
    :param exclude: globs of files and directories a walk leaves out.
    :param base_url: when set, ``sourceUrl`` is this URL joined with the relative path instead of
        the file's ``file://`` URI (for a site built from the files).
    :param records: the fields of JSON Lines records.
    :param max_file_bytes: larger files are skipped.
    :param include_hidden: walk into names starting with a dot too (skipped silently otherwise).
    """

    include: tuple[str, ...] = field(default=(), converter=_strings)
    exclude: tuple[str, ...] = field(default=(), converter=_strings)
    base_url: str | None = None
    records: RecordFields = field(factory=RecordFields)
    source_type: str = field(default="file", validator=non_empty)
    max_file_bytes: int = field(default=100 * 1024 * 1024, validator=in_range(1, None))
    include_hidden: bool = False
    encoding: str | None = None

    def load(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[Document | Skipped]:
        """Documents from each path: a file, or every supported file below a directory.

        A file named directly is read whatever its extension (unknown ones as plain text) and its
        source id is its name; include and exclude globs apply to directory walks.
        """
        seen: dict[str, str] = {}
        for given in paths:
            path = Path(given)
            if path.is_dir():
                entries = self._walk(path)
            elif path.exists() or path.is_symlink():
                entries = iter([(path, path.name, True)])
            else:
                yield Skipped(source=str(path), reason="no such file or directory")
                continue
            for entry in entries:
                if isinstance(entry, Skipped):
                    yield entry
                    continue
                file, relative, named = entry
                for item in self._read(file, relative, named):
                    if isinstance(item, Document):
                        first = seen.setdefault(item.source_id, str(file))
                        if first != str(file):
                            yield Skipped(
                                source=str(file),
                                reason=f"same source id {item.source_id!r} as {first}; ingest the two separately",
                            )
                            continue
                    yield item

    def _walk(self, root: Path) -> Iterator[tuple[Path, str, bool] | Skipped]:
        real_root = root.resolve()
        for directory, dirnames, filenames in os.walk(root, followlinks=False):
            base = Path(directory)
            kept: list[str] = []
            for name in sorted(dirnames):
                relative = (base / name).relative_to(root).as_posix()
                if (name.startswith(".") and not self.include_hidden) or _glob_match(relative, self.exclude):
                    continue
                if (base / name).is_symlink():
                    yield self._link_refused(base / name, real_root, "directory")
                    continue
                kept.append(name)
            dirnames[:] = kept
            for name in sorted(filenames):
                file = base / name
                relative = file.relative_to(root).as_posix()
                if (name.startswith(".") and not self.include_hidden) or _glob_match(relative, self.exclude):
                    continue
                if self.include and not _glob_match(relative, self.include):
                    continue
                if file.is_symlink():
                    target = Path(os.path.realpath(file))
                    if not _within(target, real_root):
                        yield self._link_refused(file, real_root, "file")
                        continue
                yield file, relative, bool(self.include)

    @staticmethod
    def _link_refused(link: Path, real_root: Path, kind: str) -> Skipped:
        target = Path(os.path.realpath(link))
        if not _within(target, real_root):
            return Skipped(
                source=str(link), reason=f"symbolic link to {target}, outside {real_root}: refused (copy it in instead)"
            )
        return Skipped(source=str(link), reason=f"symbolic link to a {kind} inside the directory: read where it lies")

    def _source_url(self, file: Path, relative: str) -> str:
        if self.base_url:
            return f"{self.base_url.rstrip('/')}/{quote(relative)}"
        return Path(os.path.abspath(file)).as_uri()

    def _read(self, file: Path, relative: str, named: bool) -> Iterator[Document | Skipped]:
        suffix = file.suffix.lower()
        if suffix in EXTENSIONS:
            document_format = EXTENSIONS[suffix]
        elif named:
            document_format = DocumentFormat.TEXT
        else:
            yield Skipped(
                source=str(file),
                reason=f"unsupported file type {suffix or '(no extension)'!r}; include it by name to read it as text",
            )
            return
        try:
            data = self._bytes(file)
            if document_format is None:
                yield from self._records(file, relative, data)
                return
            yield self._document(file, relative, document_format, data)
        except ExtractError as exc:
            yield Skipped(source=str(file), reason=str(exc))

    def _bytes(self, file: Path) -> bytes:
        try:
            info = file.stat()
            if not stat.S_ISREG(info.st_mode):
                raise ExtractError("not a regular file")
            if info.st_size > self.max_file_bytes:
                raise ExtractError(
                    f"{info.st_size:,} bytes, more than the limit of {self.max_file_bytes:,}; raise max_file_bytes "
                    "or split the file"
                )
            with file.open("rb") as handle:
                data = handle.read(self.max_file_bytes + 1)
        except FileNotFoundError:
            raise ExtractError("no such file (a broken symbolic link?)") from None
        except OSError as exc:
            raise ExtractError(f"cannot read: {exc.strerror or exc}") from None
        if len(data) > self.max_file_bytes:
            raise ExtractError(f"more than the limit of {self.max_file_bytes:,} bytes; raise max_file_bytes")
        if not data.strip():
            raise ExtractError("empty file")
        return data

    def _document(self, file: Path, relative: str, document_format: DocumentFormat, data: bytes) -> Document:
        title: str | None = None
        page_offsets: tuple[int, ...] = ()
        headings: tuple[tuple[int, int], ...] = ()
        if document_format is DocumentFormat.PDF:
            if looks_binary(data) and not data.lstrip().startswith(b"%PDF"):
                raise ExtractError("not a PDF file (no %PDF header)")
            pdf = pdf_text(data)
            title, text, page_offsets = pdf.title, pdf.text, pdf.page_offsets
            if not text.strip():
                raise ExtractError("no text in the PDF (a scan? run OCR on it first)")
            if pdf.problems:  # read, but pypdf had to repair it: some text may be missing
                log.warning("pdf_repaired", path=str(file), problems="; ".join(pdf.problems))
        elif document_format is DocumentFormat.HTML:
            try:
                markup = decode_text(data, self.encoding)
            except ExtractError:
                markup = decode_text(data, html_charset(data) or "cp1252")
            page = html_page(markup)
            title, text, headings = page.title, page.text, page.headings
        else:
            text = decode_text(data, self.encoding)
            if document_format is DocumentFormat.MARKDOWN:
                title, text = split_front_matter(text)
                title = title or markdown_title(text)
        if not text.strip():
            raise ExtractError("no text in the file")
        metadata = {"path": relative, "sourceUrl": self._source_url(file, relative)}
        return Document(
            source_id=relative,
            text=text,
            title=title or file.stem,
            source_type=self.source_type,
            format=document_format,
            human_readable_id=relative,
            metadata=metadata,
            page_offsets=page_offsets,
            headings=headings,
        )

    def _records(self, file: Path, relative: str, data: bytes) -> Iterator[Document | Skipped]:
        text = decode_text(data, self.encoding)
        url = self._source_url(file, relative)
        found = False
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            where = f"{file}:{number}"
            try:
                record = loads(line)
                document = record_document(
                    record,
                    number,
                    self.records,
                    prefix=relative,
                    metadata={"path": relative, "sourceUrl": url},
                )
            except json.JSONDecodeError as exc:
                yield Skipped(source=where, reason=f"not valid JSON: {exc.msg} at column {exc.colno}")
                continue
            except ValidationError as exc:
                yield Skipped(source=where, reason=str(exc))
                continue
            found = True
            yield document
        if not found and not text.strip():
            raise ExtractError("empty file")
