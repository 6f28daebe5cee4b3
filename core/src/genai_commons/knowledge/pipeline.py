"""Ingesting documents into a knowledge base: chunk, identify, skip what is stored, write the rest.

:func:`ingest_documents` (and :func:`aingest_documents`) take documents a batch at a time:

1. cut each into chunks (:class:`~genai_commons.knowledge.chunking.Chunker`) with stable ids
   (:mod:`genai_commons.knowledge.ids`);
2. ask the store which chunk ids it holds for those sources (``host.stored_chunk_ids``);
3. per source: every id stored → nothing to write (*unchanged*); some ids missing and none stale
   → insert the missing ones (a run that was interrupted resumes here); some stored id no longer
   produced (the source changed) → replace the source: its chunks go in an ``ingest`` call in
   ``replace`` mode, which deletes the old chunks and stores the new ones in one transaction,
   so a reader never sees the source missing;
4. write in ``ingest`` calls of :func:`call_size` chunks. The host embeds each call's chunks in
   batches sized to the embedding model, several in flight. A call is committed on its own, so
   a crash loses at most the call in progress, and running the same ingestion again writes
   exactly what is missing.

Modes (:class:`~genai_commons.model.IngestMode`): ``insert`` does the above; ``replace`` replaces
every source given, unchanged or not (re-embedding it); ``repopulate`` empties the collection with
the first call and then writes everything. A source larger than one call is replaced by a first
call in ``replace`` mode and the rest inserted after it.

One ingestion at a time per knowledge base: a second one (another process on this machine, or
another thread) waits until the first has finished, then embeds only what the first did not store
(:mod:`genai_commons.knowledge.ingest_lock`). ``host.ingest`` itself, with chunks you give, is not
locked.

Sources are identified by ``Document.source_id``; a second document with the same source id in
one run is skipped and reported. Nothing here deletes sources that are no longer given: ingest
files and directories with :meth:`Ingestor.ingest_paths` (a sync: see
:mod:`genai_commons.knowledge.sync`), or use ``repopulate``, or :meth:`Ingestor.delete_sources`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from typing import TYPE_CHECKING, Any

import attrs
from attrs import field, frozen

from .._log import get_logger
from ..model.knowledge import ChunkCollection, KnowledgeBaseChunk
from ..model.retrieval import IngestMode, IngestResult
from .chunking import Chunker, count_tokens
from .ids import document_chunks
from .loaders import Document, DocumentFormat, Loader, Skipped
from .token_limits import within_window

if TYPE_CHECKING:
    import os

    from ..host import Host
    from ..model import KnowledgeBase
    from ..model.retrieval import Filter
    from .ingest_lock import IngestionLock

__all__ = ["IngestReport", "Ingestor", "aingest_documents", "call_size", "ingest_documents"]

log = get_logger(__name__)

#: Documents looked up in the store at once (one ``stored_chunk_ids`` call).
DOCUMENTS_PER_LOOKUP = 256


def _skipped(value: Iterable[Skipped]) -> tuple[Skipped, ...]:
    return tuple(value)


@frozen(kw_only=True)
class IngestReport:
    """What an ingestion read, skipped and wrote."""

    #: Documents chunked (a JSON Lines file gives one per record).
    documents: int = 0
    #: Distinct files the documents came from (metadata ``path``).
    files: int = 0
    #: Files and records not loaded, and documents not ingested, with the reason.
    skipped: tuple[Skipped, ...] = field(default=(), converter=_skipped)
    #: Chunks written (embedded and stored).
    inserted: int = 0
    #: Chunks already stored as they are: not written.
    unchanged: int = 0
    #: Chunks removed because their source changed (or, with ``repopulate``, the store's count).
    deleted: int = 0
    #: Sources whose chunks were replaced.
    sources_replaced: int = 0
    #: Sources deleted because they are gone from the paths ingested (:meth:`Ingestor.ingest_paths`).
    sources_deleted: int = 0
    #: Tokens of the chunks written (:func:`~genai_commons.knowledge.chunking.count_tokens`).
    tokens: int = 0
    #: Tokens the store reported for embedding, when it embeds itself.
    input_tokens: int | None = None
    #: ``ingest`` calls made.
    calls: int = 0
    duration_s: float = 0.0


def call_size(host: Host, knowledge_base: KnowledgeBase) -> int:
    """Chunks per ``ingest`` call: one embedding batch for each call the host keeps in flight."""
    settings = host.config.knowledge
    model = knowledge_base.embedding_model
    batch = (model.max_batch_size if model is not None else None) or settings.embed_batch_size
    return max(16, min(batch * settings.embed_concurrency, 2048))


@frozen(kw_only=True)
class _Call:
    mode: IngestMode
    chunks: tuple[KnowledgeBaseChunk, ...]


@frozen(kw_only=True)
class _Batch:
    """A group of documents, chunked."""

    documents: int
    files: frozenset[str]
    empty: tuple[Skipped, ...]
    produced: dict[str, list[KnowledgeBaseChunk]]


class _Tally:
    """The running figures of one ingestion (updated by the writing thread only)."""

    def __init__(self, mode: IngestMode) -> None:
        self.mode = mode
        self.started = time.perf_counter()
        self.documents = 0
        self.files: set[str] = set()
        self.skipped: list[Skipped] = []
        self.seen: set[str] = set()
        self.inserted = self.unchanged = self.deleted = self.replaced = self.tokens = self.calls = 0
        self.input_tokens: int | None = None
        #: Repopulate empties the collection with its first write.
        self.repopulate_pending = mode is IngestMode.REPOPULATE

    def add(self, batch: _Batch) -> None:
        self.documents += batch.documents
        self.files.update(batch.files)
        self.skipped.extend(batch.empty)

    def wrote(self, call: _Call, result: IngestResult) -> None:
        self.calls += 1
        self.inserted += len(call.chunks)
        self.tokens += sum(count_tokens(c.input_text) for c in call.chunks)
        if call.mode is IngestMode.REPOPULATE:
            self.deleted += result.deleted
        if result.input_tokens is not None:
            self.input_tokens = (self.input_tokens or 0) + result.input_tokens

    def report(self) -> IngestReport:
        return IngestReport(
            documents=self.documents,
            files=len(self.files),
            skipped=self.skipped,
            inserted=self.inserted,
            unchanged=self.unchanged,
            deleted=self.deleted,
            sources_replaced=self.replaced,
            tokens=self.tokens,
            input_tokens=self.input_tokens,
            calls=self.calls,
            duration_s=time.perf_counter() - self.started,
        )


def _groups(items: Iterable[Document | Skipped], tally: _Tally) -> Iterator[list[Document]]:
    """Documents in groups for one lookup each; skipped entries and duplicate sources are tallied."""
    group: list[Document] = []
    for item in items:
        if isinstance(item, Skipped):
            tally.skipped.append(item)
            continue
        if item.source_id in tally.seen:
            tally.skipped.append(
                Skipped(source=item.source_id, reason="a second document with the same source id in one ingestion")
            )
            continue
        tally.seen.add(item.source_id)
        group.append(item)
        if len(group) >= DOCUMENTS_PER_LOOKUP:
            yield group
            group = []
    if group:
        yield group


def _pack(units: Sequence[tuple[IngestMode, list[KnowledgeBaseChunk]]], size: int) -> list[_Call]:
    """Calls of at most ``size`` chunks. A ``replace`` unit (all chunks of one source) stays whole
    in one call when it fits; a larger one sends its first part in ``replace`` mode and the rest in
    ``insert`` mode, since a later ``replace`` call would delete the parts written before."""
    calls: list[_Call] = []
    mode = IngestMode.INSERT
    pending: list[KnowledgeBaseChunk] = []

    def flush() -> None:
        nonlocal pending
        if pending:
            calls.append(_Call(mode=mode, chunks=tuple(pending)))
            pending = []

    for unit_mode, chunks in units:
        if unit_mode is IngestMode.REPLACE:
            if mode is not IngestMode.REPLACE or len(pending) + len(chunks) > size:
                flush()
            mode = IngestMode.REPLACE
            pending.extend(chunks[:size])
            rest = chunks[size:]
            if not rest:
                continue
            flush()
            mode = IngestMode.INSERT
        else:
            rest = chunks
            if mode is not IngestMode.INSERT:
                flush()
                mode = IngestMode.INSERT
        for chunk in rest:
            if len(pending) >= size:
                flush()
            pending.append(chunk)
    flush()
    return calls


class Ingestor:
    """Ingestion and management of one knowledge base through a host.

    :param knowledge_base: a :class:`KnowledgeBase` or a reference (``local:notes``, ``notes``),
        resolved once, so that every call of an ingestion uses the same embedding model.
    :param chunker: how documents are cut; by Markdown sections of at most 200 tokens by default.
        Whatever the chunker, no chunk is longer than the embedding model's ``max_input_tokens``
        in its own tokens (:func:`~genai_commons.knowledge.token_limits.within_window`).
    :param metadata: key/values added to every chunk (after the document's own).
    :param batch_size: chunks per ``ingest`` call; default :func:`call_size`.
    :param progress: show a progress bar; default: when standard error is a terminal.
    :param on_wait: called once, with the knowledge base, when another ingestion into the same
        knowledge base is running and this one waits for it to finish
        (:mod:`genai_commons.knowledge.ingest_lock`).
    """

    def __init__(
        self,
        host: Host,
        knowledge_base: KnowledgeBase | str,
        *,
        chunker: Chunker | None = None,
        metadata: Mapping[str, str] | None = None,
        batch_size: int | None = None,
        progress: bool | None = None,
        on_wait: Callable[[KnowledgeBase], None] | None = None,
    ) -> None:
        self.host = host
        self.knowledge_base = host.knowledge_base(knowledge_base)
        self.chunker = within_window(chunker or Chunker(), host, self.knowledge_base.embedding_model)
        self.metadata = dict(metadata or {})
        self.batch_size = batch_size if batch_size is not None else call_size(host, self.knowledge_base)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        self.progress = progress
        self.on_wait = on_wait

    # -- planning (no I/O) ------------------------------------------------------------------

    def chunks_of(self, document: Document) -> list[KnowledgeBaseChunk]:
        """The chunks this ingestor makes of a document, with their ids."""
        pieces = self.chunker.split(
            document.text,
            markdown=document.format is DocumentFormat.MARKDOWN,
            title=document.title,
            headings=document.headings,
        )
        return document_chunks(document, pieces, self.metadata)

    def _plan(
        self, produced: Mapping[str, list[KnowledgeBaseChunk]], stored: Mapping[str, frozenset[str]], tally: _Tally
    ) -> list[_Call]:
        mode = tally.mode
        replace: list[tuple[IngestMode, list[KnowledgeBaseChunk]]] = []
        insert: list[tuple[IngestMode, list[KnowledgeBaseChunk]]] = []
        for source, chunks in produced.items():
            ids = {c.chunk_id for c in chunks}
            held = stored.get(source, frozenset())
            stale = held - ids
            if mode is IngestMode.REPOPULATE:
                insert.append((IngestMode.INSERT, chunks))
            elif stale or (mode is IngestMode.REPLACE and held):
                tally.replaced += 1
                tally.deleted += len(stale)
                replace.append((IngestMode.REPLACE, chunks))
            else:
                missing = [c for c in chunks if c.chunk_id not in held]
                tally.unchanged += len(chunks) - len(missing)
                if missing:
                    insert.append((IngestMode.INSERT, missing))
        calls = _pack([*replace, *insert], self.batch_size)
        if tally.repopulate_pending and calls:
            calls[0] = attrs.evolve(calls[0], mode=IngestMode.REPOPULATE)
            tally.repopulate_pending = False
        return calls

    def _chunk_group(self, group: list[Document]) -> _Batch:
        """The chunks of a group of documents (pure: run in a worker thread while the previous
        group is written)."""
        produced: dict[str, list[KnowledgeBaseChunk]] = {}
        empty: list[Skipped] = []
        for document in group:
            chunks = self.chunks_of(document)
            if chunks:
                produced[document.source_id] = chunks
            else:
                empty.append(Skipped(source=document.source_id, reason="no text to chunk"))
        files = frozenset(path for d in group if (path := d.metadata.get("path")))
        return _Batch(documents=len(group), files=files, empty=tuple(empty), produced=produced)

    # -- ingestion --------------------------------------------------------------------------

    def _lock(self) -> IngestionLock:
        """The lock held while this ingestor writes (one ingestion at a time per knowledge base)."""
        from .ingest_lock import IngestionLock  # noqa: PLC0415 - filelock loads only for an ingestion

        return IngestionLock(self.host, self.knowledge_base, self.on_wait)

    def ingest(self, documents: Iterable[Document | Skipped], mode: IngestMode | str = "insert") -> IngestReport:
        """Ingest the documents (and tally the skipped entries a loader yielded); see the module.

        Documents are read from ``documents`` in the calling thread; each group's chunking runs
        in a worker thread while the group before it is written. While another ingestion into the
        same knowledge base runs (another process or thread), this one waits for it first
        (:mod:`genai_commons.knowledge.ingest_lock`).
        """
        with self._lock():
            return self._ingest(documents, mode)

    def _ingest(self, documents: Iterable[Document | Skipped], mode: IngestMode | str) -> IngestReport:
        from concurrent.futures import Future, ThreadPoolExecutor  # noqa: PLC0415

        ingest_mode = IngestMode(mode)
        tally = _Tally(ingest_mode)
        with _Progress(self.progress, documents) as bar, ThreadPoolExecutor(1, "genai-chunking") as pool:
            pending: Future[_Batch] | None = None
            for group in _groups(documents, tally):
                chunking = pool.submit(self._chunk_group, group)
                if pending is not None:
                    self._write(pending.result(), tally, bar)
                pending = chunking
            if pending is not None:
                self._write(pending.result(), tally, bar)
        if tally.repopulate_pending:  # nothing to write: repopulating means emptying
            tally.deleted += self.host.delete_chunks(self.knowledge_base, None)
        return self._finish(tally)

    def _write(self, batch: _Batch, tally: _Tally, bar: _Progress) -> None:
        tally.add(batch)
        stored: Mapping[str, frozenset[str]] = {}
        if batch.produced and tally.mode is not IngestMode.REPOPULATE:
            stored = self.host.stored_chunk_ids(self.knowledge_base, list(batch.produced))
        for call in self._plan(batch.produced, stored, tally):
            result = self.host.ingest(self.knowledge_base, ChunkCollection(chunks=call.chunks), call.mode)
            tally.wrote(call, result)
            bar.wrote(len(call.chunks))
        bar.advance(batch.documents)

    async def aingest(self, documents: Iterable[Document | Skipped], mode: IngestMode | str = "insert") -> IngestReport:
        """:meth:`ingest`, async; chunking runs in the loop's default executor, and waiting for
        another ingestion does not block the event loop."""
        async with self._lock():
            return await self._aingest(documents, mode)

    async def _aingest(self, documents: Iterable[Document | Skipped], mode: IngestMode | str) -> IngestReport:
        import asyncio  # noqa: PLC0415

        loop = asyncio.get_running_loop()
        ingest_mode = IngestMode(mode)
        tally = _Tally(ingest_mode)
        pending: asyncio.Future[_Batch] | None = None
        try:
            with _Progress(self.progress, documents) as bar:
                for group in _groups(documents, tally):
                    chunking = loop.run_in_executor(None, self._chunk_group, group)
                    if pending is not None:
                        await self._awrite(await pending, tally, bar)
                    pending = chunking
                if pending is not None:
                    batch, pending = await pending, None
                    await self._awrite(batch, tally, bar)
        finally:
            if pending is not None:
                pending.cancel()
        if tally.repopulate_pending:
            tally.deleted += await self.host.adelete_chunks(self.knowledge_base, None)
        return self._finish(tally)

    async def _awrite(self, batch: _Batch, tally: _Tally, bar: _Progress) -> None:
        tally.add(batch)
        stored: Mapping[str, frozenset[str]] = {}
        if batch.produced and tally.mode is not IngestMode.REPOPULATE:
            stored = await self.host.astored_chunk_ids(self.knowledge_base, list(batch.produced))
        for call in self._plan(batch.produced, stored, tally):
            result = await self.host.aingest(self.knowledge_base, ChunkCollection(chunks=call.chunks), call.mode)
            tally.wrote(call, result)
            bar.wrote(len(call.chunks))
        bar.advance(batch.documents)

    def _finish(self, tally: _Tally) -> IngestReport:
        report = tally.report()
        log.info(
            "ingestion_completed",
            knowledge_base=self.knowledge_base.ref,
            mode=tally.mode.value,
            documents=report.documents,
            skipped=len(report.skipped),
            inserted=report.inserted,
            unchanged=report.unchanged,
            deleted=report.deleted,
            calls=report.calls,
            duration_s=round(report.duration_s, 3),
        )
        return report

    def ingest_paths(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        loader: Loader | None = None,
        mode: IngestMode | str = "insert",
        sync: bool = True,
    ) -> IngestReport:
        """Ingest files and directories, with source ids stable across roots; with ``sync`` (the
        default), delete the sources under each path that are gone. ``sync=False`` only adds and
        updates (append-only). See :mod:`genai_commons.knowledge.sync`.

        :param loader: how files are read (default: :class:`~genai_commons.knowledge.loaders.Loader`).
        """
        from .sync import ingest_paths  # noqa: PLC0415

        with self._lock():  # over every path, and the deletions of the sync
            return ingest_paths(self, paths, loader=loader, mode=mode, sync=sync)

    async def aingest_paths(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        loader: Loader | None = None,
        mode: IngestMode | str = "insert",
        sync: bool = True,
    ) -> IngestReport:
        """:meth:`ingest_paths`, async."""
        from .sync import aingest_paths  # noqa: PLC0415

        async with self._lock():
            return await aingest_paths(self, paths, loader=loader, mode=mode, sync=sync)

    # -- management -------------------------------------------------------------------------

    def delete_sources(self, source_ids: Sequence[str]) -> int:
        """Delete every chunk of these source objects; how many went."""
        return self.host.delete_chunks(self.knowledge_base, source_ids)

    async def adelete_sources(self, source_ids: Sequence[str]) -> int:
        """:meth:`delete_sources`, async."""
        return await self.host.adelete_chunks(self.knowledge_base, source_ids)

    def drop(self) -> bool:
        """Delete the collection itself; whether it existed."""
        return self.host.drop_collection(self.knowledge_base)

    async def adrop(self) -> bool:
        """:meth:`drop`, async."""
        return await self.host.adrop_collection(self.knowledge_base)

    def chunks(self, filter: Filter | None = None, *, offset: int = 0, limit: int = 100) -> list[KnowledgeBaseChunk]:
        """One page of stored chunks (no vectors), by source object then chunk id."""
        return self.host.list_chunks(self.knowledge_base, filter, offset=offset, limit=limit)

    def iter_chunks(self, filter: Filter | None = None, *, page_size: int = 500) -> Iterator[KnowledgeBaseChunk]:
        """Every stored chunk matching ``filter``, a page at a time."""
        offset = 0
        while True:
            page = self.chunks(filter, offset=offset, limit=page_size)
            yield from page
            if len(page) < page_size:
                return
            offset += len(page)


def ingest_documents(
    host: Host,
    knowledge_base: KnowledgeBase | str,
    documents: Iterable[Document | Skipped],
    *,
    mode: IngestMode | str = "insert",
    chunker: Chunker | None = None,
    metadata: Mapping[str, str] | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> IngestReport:
    """Chunk and ingest documents into a knowledge base; see the module docstring."""
    ingestor = Ingestor(
        host, knowledge_base, chunker=chunker, metadata=metadata, batch_size=batch_size, progress=progress
    )
    return ingestor.ingest(documents, mode)


async def aingest_documents(
    host: Host,
    knowledge_base: KnowledgeBase | str,
    documents: Iterable[Document | Skipped],
    *,
    mode: IngestMode | str = "insert",
    chunker: Chunker | None = None,
    metadata: Mapping[str, str] | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> IngestReport:
    """:func:`ingest_documents`, async."""
    ingestor = Ingestor(
        host, knowledge_base, chunker=chunker, metadata=metadata, batch_size=batch_size, progress=progress
    )
    return await ingestor.aingest(documents, mode)


class _Progress:
    """A rich progress bar on standard error when it is a terminal (or when asked); else nothing."""

    def __init__(self, enabled: bool | None, documents: Iterable[Any]) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._chunks = 0
        self._enabled = enabled
        self._total = len(documents) if isinstance(documents, Sized) else None

    def __enter__(self) -> _Progress:
        from rich.console import Console  # noqa: PLC0415 - rich loads only for an ingestion

        console = Console(stderr=True)
        if self._enabled is False or (self._enabled is None and not console.is_terminal):
            return self
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn("ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("documents, {task.fields[chunks]} chunks written"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task("ingest", total=self._total, chunks=0)
        return self

    def wrote(self, chunks: int) -> None:
        self._chunks += chunks
        if self._bar is not None:
            self._bar.update(self._task, chunks=self._chunks)

    def advance(self, documents: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, documents)

    def __exit__(self, *_exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
