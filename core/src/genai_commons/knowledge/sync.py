"""Ingesting files and directories as a faithful sync: stable source identities, and the deletion
of the sources that are gone.

Every chunk ingested from a path records, in its metadata ``sourceRoot`` (:data:`ROOT_KEY`), the
resolved absolute directory its source id is relative to: the *recorded root*. A path's files get
their ids from the recorded root that contains it, whichever root the command line named:

* ingesting ``docs/sub`` after ``docs`` finds the recorded ancestor ``docs`` (one ``list_chunks``
  call with an ``In`` filter on the ancestors), so ``docs/sub/a.md`` stays ``sub/a.md``;
* ingesting ``docs`` after ``docs/sub`` records ``docs`` and takes the sources of ``docs/sub`` over:
  they are written again as ``sub/a.md`` and their old chunks (``a.md`` under root ``docs/sub``) are
  deleted after, once (re-embedded once);
* a path with no recorded root above it becomes a root (a named file: its directory).

After the documents are written (changed sources are replaced atomically by each backend's
``replace``), the stored chunks in the path's scope are listed (``list_chunks`` with an ``In``
filter on the roots concerned, 10,000 a page) and a source is deleted when its file is gone, when
its file was read in full and no longer yields it (a JSON Lines record removed), or when it was
taken over. A file that exists but was skipped this time (unreadable, a parse error, a bad record)
keeps its chunks. Chunks of other roots, other folders, and sources without ``sourceRoot`` (written
by :func:`~genai_commons.knowledge.pipeline.ingest_documents` from your own documents) are never
touched. New and changed chunks are written before anything is deleted, so a reader never finds a
source that still exists without chunks.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
from attrs import frozen

from .._log import get_logger
from ..errors import ValidationError
from ..model.retrieval import In, IngestMode
from .loaders import Document, Loader, Skipped

if TYPE_CHECKING:
    from ..model import KnowledgeBase, KnowledgeBaseChunk
    from .pipeline import Ingestor, IngestReport

__all__ = ["ROOT_KEY", "Scope", "aingest_paths", "check_metadata", "ingest_paths"]

log = get_logger(__name__)

#: Metadata key of the recorded root (a resolved absolute POSIX path) of a chunk's source.
ROOT_KEY = "sourceRoot"
#: Chunks per ``list_chunks`` call when listing a scope (the host's largest page).
LIST_PAGE = 10_000


@frozen(kw_only=True)
class Scope:
    """Where one path given to an ingestion lies among the collection's recorded roots.

    :param path: the path as given (what the loader reads).
    :param base: the resolved directory of the path (a named file: its directory), POSIX.
    :param root: the recorded root that the path's source ids are relative to.
    :param directory: whether the path is a directory (else one named file).
    """

    path: Path
    base: str
    root: str
    directory: bool

    @property
    def prefix(self) -> str:
        """``base`` relative to ``root``, with a trailing ``/`` (empty when they are the same)."""
        if self.base == self.root:
            return ""
        return posixpath.relpath(self.base, self.root) + "/"


def ancestors(directory: str) -> list[str]:
    """The directory and every directory above it, nearest first."""
    found = [directory]
    while (parent := posixpath.dirname(found[-1])) != found[-1]:
        found.append(parent)
    return found


def _base(path: Path) -> tuple[str, bool]:
    """The resolved directory of a path (a named file's own directory, its link not followed)."""
    if path.is_dir():
        return path.resolve().as_posix(), True
    return path.absolute().parent.resolve().as_posix(), False


def _outermost(candidates: list[str], root: str) -> list[str]:
    """The candidates strictly above ``root``."""
    return [c for c in candidates if len(c) < len(root)]


def _subdirectories(base: str) -> list[str]:
    """Every directory below ``base`` (resolved, POSIX): where a recorded root to take over may lie."""
    found: list[str] = []
    for directory, dirnames, _files in os.walk(base, followlinks=False):
        found.extend(posixpath.join(Path(directory).as_posix(), name) for name in dirnames)
    return found


class _Tracker:
    """What one path's loading produced, to tell a gone source from a skipped one."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.produced: set[str] = set()
        self.read: set[str] = set()
        self.skipped: set[str] = set()

    def rooted(self, items: Iterable[Document | Skipped]) -> Iterator[Document | Skipped]:
        """The loader's entries, with source ids, paths and human-readable ids relative to the root."""
        scope, prefix = self.scope, self.scope.prefix
        for item in items:
            if isinstance(item, Skipped):
                self.skipped.add(_skipped_file(item.source))
                yield item
                continue
            metadata = item.metadata.as_dict()
            relative = metadata.get("path", item.source_id)
            self.read.add(posixpath.join(scope.base, relative))
            metadata["path"] = prefix + relative
            metadata[ROOT_KEY] = scope.root
            source_id = prefix + item.source_id
            self.produced.add(source_id)
            readable = source_id if item.human_readable_id == item.source_id else item.human_readable_id
            yield attrs.evolve(item, source_id=source_id, human_readable_id=readable, metadata=metadata)

    def stale(self, chunk: KnowledgeBaseChunk) -> bool | None:
        """Whether a stored chunk's source is to be deleted; None when it lies outside the scope."""
        scope = self.scope
        root, path, source = chunk.metadata.get(ROOT_KEY), chunk.metadata.get("path"), chunk.source_id
        if root is None or path is None or source is None:
            return None
        if root == scope.root:
            inside = path.startswith(scope.prefix) if scope.directory else path == scope.prefix + scope.path.name
            if not inside:
                return None
            if source in self.produced:
                return False
        elif not (scope.directory and root.startswith(scope.base.rstrip("/") + "/")):
            return None
        file = posixpath.join(root, path)
        read_whole = file in self.read and file not in self.skipped
        return read_whole or not os.path.lexists(file)


def _skipped_file(source: str) -> str:
    """The resolved file of a skipped entry: ``FILE`` or ``FILE:LINE`` (a JSON Lines record)."""
    head, sep, line = source.rpartition(":")
    if sep and line.isdigit() and not os.path.lexists(source):
        source = head
    file = Path(source).absolute()
    return posixpath.join(file.parent.resolve().as_posix(), file.name)


def check_metadata(metadata: Mapping[str, str]) -> None:
    """Refuse metadata that would overwrite the recorded root (:data:`ROOT_KEY`)."""
    if ROOT_KEY in metadata:
        raise ValidationError(
            f"metadata key {ROOT_KEY!r} is where ingestion records the root of a source; choose another key"
        )


def _merged(reports: Sequence[IngestReport], deleted: int, sources_deleted: int) -> IngestReport:
    from .pipeline import IngestReport  # noqa: PLC0415

    tokens = [r.input_tokens for r in reports if r.input_tokens is not None]
    return IngestReport(
        documents=sum(r.documents for r in reports),
        files=sum(r.files for r in reports),
        skipped=[s for r in reports for s in r.skipped],
        inserted=sum(r.inserted for r in reports),
        unchanged=sum(r.unchanged for r in reports),
        deleted=sum(r.deleted for r in reports) + deleted,
        sources_replaced=sum(r.sources_replaced for r in reports),
        sources_deleted=sources_deleted,
        tokens=sum(r.tokens for r in reports),
        input_tokens=sum(tokens) if tokens else None,
        calls=sum(r.calls for r in reports),
        duration_s=sum(r.duration_s for r in reports),
    )


def _stale_sources(tracker: _Tracker, chunks: Iterable[KnowledgeBaseChunk]) -> list[str]:
    drop: set[str] = set()
    keep: set[str] = set()
    for chunk in chunks:
        verdict = tracker.stale(chunk)
        if verdict is None or chunk.source_id is None:
            continue
        (drop if verdict else keep).add(chunk.source_id)
    return sorted(drop - keep - tracker.produced)


def _scope_filter(scope: Scope) -> In:
    roots = [scope.root, *(_subdirectories(scope.base) if scope.directory else ())]
    return In(key=ROOT_KEY, values=roots)


def _paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    given = [Path(p) for p in paths]
    if not given:
        raise ValidationError("give at least one file or directory to ingest")
    return given


def _first_mode(mode: IngestMode | str, index: int) -> IngestMode:
    """Repopulate empties the collection once, with the first path; later paths are inserted."""
    chosen = IngestMode(mode)
    return IngestMode.INSERT if chosen is IngestMode.REPOPULATE and index else chosen


# -- the two drivers (sync and async): the same steps over the host's two APIs ------------------


def ingest_paths(
    ingestor: Ingestor,
    paths: Iterable[str | os.PathLike[str]],
    *,
    loader: Loader | None = None,
    mode: IngestMode | str = "insert",
    sync: bool = True,
) -> IngestReport:
    """Ingest files and directories with stable source ids; with ``sync``, delete the sources of
    each path that are gone (see the module). Paths are ingested one after another.

    Prefer :meth:`Ingestor.ingest_paths <genai_commons.knowledge.pipeline.Ingestor.ingest_paths>`.
    """
    check_metadata(ingestor.metadata)
    loader = loader or Loader()
    host, kb = ingestor.host, ingestor.knowledge_base
    reports: list[IngestReport] = []
    deleted = sources = 0
    for index, path in enumerate(_paths(paths)):
        scope = _resolve(host.list_chunks, kb, path)
        tracker = _Tracker(scope)
        ingest_mode = _first_mode(mode, index)
        reports.append(ingestor.ingest(tracker.rooted(loader.load([path])), ingest_mode))
        if not sync or ingest_mode is IngestMode.REPOPULATE:
            continue
        where, listed, offset = _scope_filter(scope), [], 0
        while True:
            page = host.list_chunks(kb, where, offset=offset, limit=LIST_PAGE)
            listed.extend(page)
            if len(page) < LIST_PAGE:
                break
            offset += len(page)
        stale = _stale_sources(tracker, listed)
        if stale:
            deleted += host.delete_chunks(kb, stale)
            sources += len(stale)
        _log_sync(kb, scope, len(listed), len(stale))
    return _merged(reports, deleted, sources)


async def aingest_paths(
    ingestor: Ingestor,
    paths: Iterable[str | os.PathLike[str]],
    *,
    loader: Loader | None = None,
    mode: IngestMode | str = "insert",
    sync: bool = True,
) -> IngestReport:
    """:func:`ingest_paths`, async."""
    check_metadata(ingestor.metadata)
    loader = loader or Loader()
    host, kb = ingestor.host, ingestor.knowledge_base
    reports: list[IngestReport] = []
    deleted = sources = 0
    for index, path in enumerate(_paths(paths)):
        scope = await _aresolve(host.alist_chunks, kb, path)
        tracker = _Tracker(scope)
        ingest_mode = _first_mode(mode, index)
        reports.append(await ingestor.aingest(tracker.rooted(loader.load([path])), ingest_mode))
        if not sync or ingest_mode is IngestMode.REPOPULATE:
            continue
        where, listed, offset = _scope_filter(scope), [], 0
        while True:
            page = await host.alist_chunks(kb, where, offset=offset, limit=LIST_PAGE)
            listed.extend(page)
            if len(page) < LIST_PAGE:
                break
            offset += len(page)
        stale = _stale_sources(tracker, listed)
        if stale:
            deleted += await host.adelete_chunks(kb, stale)
            sources += len(stale)
        _log_sync(kb, scope, len(listed), len(stale))
    return _merged(reports, deleted, sources)


def _resolve(list_chunks: _ListChunks, kb: KnowledgeBase, path: Path) -> Scope:
    """The path's scope: the outermost recorded root above it, or the path itself as a new root."""
    base, directory = _base(path)
    candidates, root = ancestors(base), base
    while candidates:
        page = list_chunks(kb, In(key=ROOT_KEY, values=candidates), offset=0, limit=1)
        found = page[0].metadata.get(ROOT_KEY) if page else None
        if found is None:
            break
        root, candidates = found, _outermost(candidates, found)
    return Scope(path=path, base=base, root=root, directory=directory)


async def _aresolve(list_chunks: _AListChunks, kb: KnowledgeBase, path: Path) -> Scope:
    """:func:`_resolve`, async."""
    base, directory = _base(path)
    candidates, root = ancestors(base), base
    while candidates:
        page = await list_chunks(kb, In(key=ROOT_KEY, values=candidates), offset=0, limit=1)
        found = page[0].metadata.get(ROOT_KEY) if page else None
        if found is None:
            break
        root, candidates = found, _outermost(candidates, found)
    return Scope(path=path, base=base, root=root, directory=directory)


def _log_sync(kb: KnowledgeBase, scope: Scope, listed: int, deleted: int) -> None:
    log.info("sources_synced", knowledge_base=kb.ref, root=scope.root, listed=listed, sources_deleted=deleted)


if TYPE_CHECKING:
    from collections.abc import Awaitable
    from typing import Protocol

    from ..model.retrieval import Filter

    class _ListChunks(Protocol):
        def __call__(
            self, knowledge_base: KnowledgeBase, filter: Filter | None = None, *, offset: int = 0, limit: int = 100
        ) -> list[KnowledgeBaseChunk]: ...

    class _AListChunks(Protocol):
        def __call__(
            self, knowledge_base: KnowledgeBase, filter: Filter | None = None, *, offset: int = 0, limit: int = 100
        ) -> Awaitable[list[KnowledgeBaseChunk]]: ...
