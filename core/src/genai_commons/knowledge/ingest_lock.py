"""One ingestion at a time per knowledge base, across processes and threads.

The pipeline asks the store which chunk ids it holds before it embeds a batch
(:mod:`genai_commons.knowledge.pipeline`); two ingestions of the same files started together would
both find nothing stored and both embed everything. :class:`IngestionLock` is held while the
pipeline ingests into a knowledge base: a second ingestion into it waits, then finds what the
first stored and embeds nothing of it again.

The lock is a file, ``<home>/locks/ingest-<hash>.lock`` (the hash of the provider's name and the
collection's; :func:`lock_path`), locked with `filelock <https://py-filelock.readthedocs.io>`_
(``flock`` on Unix, ``msvcrt.locking`` on Windows; the operating system releases it when its
process dies), and, in front of it, a :class:`threading.Lock` per file within the process, so that
threads and async tasks of one process queue without relying on how the operating system treats
two locks of one process. It is re-entrant within one thread or task (a context variable records
what the caller holds): :meth:`Ingestor.ingest_paths
<genai_commons.knowledge.pipeline.Ingestor.ingest_paths>` holds it over all its paths, and the
ingestion of each path inside it does not wait for itself.

A wait is logged once (``ingestion_waiting``, info) and reported once to ``on_wait``; it ends when
the other ingestion finishes, or with :class:`~genai_commons.errors.DeadlineExceededError` when a
deadline is in force (:func:`genai_commons.deadline`) and passes first. An async ingestion waits
by polling every :data:`POLL_S` seconds with :func:`asyncio.sleep`: the event loop keeps running.

The lock covers ingestions on one machine that share a genai home (``GENAI_HOME``); ingestions
from elsewhere into a shared store (OpenSearch, a cloud knowledge base) are not serialised, and
stay correct: they only repeat each other's embedding work.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from contextvars import ContextVar, Token
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from .._log import get_logger
from ..deadlines import Bound, current
from ..errors import ConfigurationError, DeadlineExceededError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..host import Host
    from ..model import KnowledgeBase

__all__ = ["POLL_S", "IngestionLock", "lock_path"]

log = get_logger(__name__)

#: Seconds between two tries of an async ingestion waiting for the lock (and of the file lock's poll).
POLL_S = 0.1

#: The lock files held by the current thread or task (re-entry does not wait for itself).
_HELD: ContextVar[frozenset[str]] = ContextVar("genai_commons_ingestion_locks", default=frozenset())

_process_locks: dict[str, threading.Lock] = {}
_process_guard = threading.Lock()


def _forget_process_locks() -> None:
    """In a forked child: the parent's threads are gone, and so must be the locks they held."""
    global _process_guard  # noqa: PLW0603 - a fresh guard, in case a parent thread held it at fork
    _process_guard = threading.Lock()
    _process_locks.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_process_locks)


def lock_path(home: Path, knowledge_base: KnowledgeBase) -> Path:
    """The lock file of a knowledge base: under ``home/locks``, named by a hash of its provider and
    collection (any characters, any length)."""
    key = f"{knowledge_base.provider}\0{knowledge_base.collection}".encode()
    return home / "locks" / f"ingest-{hashlib.sha256(key).hexdigest()[:32]}.lock"


def _process_lock(path: str) -> threading.Lock:
    with _process_guard:
        return _process_locks.setdefault(path, threading.Lock())


def _left(bound: Bound | None) -> float:
    """Seconds a blocking wait may take: -1 (no limit) without a deadline, else what is left of it."""
    return -1 if bound is None else max(bound.end - time.monotonic(), 0.0)


class IngestionLock:
    """Held while the pipeline ingests into ``knowledge_base`` (a context manager, sync or async;
    one use per instance). See the module.

    :param on_wait: called once, with the knowledge base, when the lock is held elsewhere and this
        ingestion starts to wait (the CLI prints a line).
    """

    def __init__(
        self, host: Host, knowledge_base: KnowledgeBase, on_wait: Callable[[KnowledgeBase], None] | None = None
    ) -> None:
        self.knowledge_base = knowledge_base
        self.path = lock_path(host.config.home, knowledge_base)
        self._key = str(self.path)
        self._on_wait = on_wait
        self._waited = False
        self._thread_lock: threading.Lock | None = None
        self._file: FileLock | None = None
        self._token: Token[frozenset[str]] | None = None

    def _reentered(self) -> bool:
        return self._key in _HELD.get()

    def _waiting(self) -> None:
        if self._waited:
            return
        self._waited = True
        log.info("ingestion_waiting", knowledge_base=self.knowledge_base.ref, lock=self._key)
        if self._on_wait is not None:
            self._on_wait(self.knowledge_base)

    def _late(self, bound: Bound) -> DeadlineExceededError:
        kb = self.knowledge_base
        return DeadlineExceededError(
            f"another ingestion into {kb.ref} was still running when the deadline of {bound.seconds:g} s "
            f"(set by {bound.source}) passed; wait for it to finish and ingest again, or raise the deadline",
            provider=kb.provider,
        )

    def _file_lock(self) -> FileLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._unwritable(exc) from exc
        return FileLock(self.path, thread_local=False)

    def _unwritable(self, exc: OSError) -> ConfigurationError:
        return ConfigurationError(
            f"cannot create the ingestion lock {self.path} ({exc.strerror or exc}): make that directory "
            "writable, or set GENAI_HOME to a writable directory"
        )

    def _try_file(self, file: FileLock) -> bool:
        """One attempt at the file lock."""
        try:
            file.acquire(blocking=False)
        except Timeout:
            return False
        except OSError as exc:
            raise self._unwritable(exc) from exc
        return True

    def _held(self, thread_lock: threading.Lock, file: FileLock) -> None:
        self._thread_lock, self._file = thread_lock, file
        self._token = _HELD.set(_HELD.get() | {self._key})

    # -- sync -------------------------------------------------------------------------------------

    def __enter__(self) -> IngestionLock:
        if self._reentered():
            return self
        bound = current()
        thread_lock = _process_lock(self._key)
        if not thread_lock.acquire(blocking=False):
            self._waiting()
            if not thread_lock.acquire(timeout=_left(bound)):
                assert bound is not None  # only a wait with a deadline ends unlocked
                raise self._late(bound)
        try:
            file = self._file_lock()
            if not self._try_file(file):
                self._waiting()
                try:
                    file.acquire(timeout=_left(bound), poll_interval=POLL_S)
                except Timeout as exc:
                    assert bound is not None
                    raise self._late(bound) from exc
                except OSError as exc:
                    raise self._unwritable(exc) from exc
        except BaseException:
            thread_lock.release()
            raise
        self._held(thread_lock, file)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._token is None:
            return
        _HELD.reset(self._token)
        self._token = None
        assert self._file is not None and self._thread_lock is not None
        try:
            self._file.release()
        finally:
            self._thread_lock.release()

    # -- async: the same, polling with asyncio.sleep --------------------------------------------------

    async def _pause(self, bound: Bound | None) -> None:
        self._waiting()
        left = _left(bound)
        if bound is not None and left <= 0:
            raise self._late(bound)
        await asyncio.sleep(POLL_S if left < 0 else min(POLL_S, left))

    async def __aenter__(self) -> IngestionLock:
        if self._reentered():
            return self
        bound = current()
        thread_lock = _process_lock(self._key)
        while not thread_lock.acquire(blocking=False):
            await self._pause(bound)
        try:
            file = self._file_lock()
            while not self._try_file(file):
                await self._pause(bound)
        except BaseException:
            thread_lock.release()
            raise
        self._held(thread_lock, file)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)
