"""Ingestions killed with SIGKILL at random points, for ``test_load_sigkill.py`` and
``bench_load.py --only sigkill``.

Each ingestion (:func:`load_ingest.ingest`) runs in a process forked from a ``forkserver`` that has
imported the pipeline and the plugins once, so that a round costs a fork rather than an interpreter
start-up; the process itself is an ordinary one, killed with SIGKILL.

:func:`kill_fresh_ingestion` and :func:`kill_reingestion` run the rounds and check, after each
kill, what the store may hold at that point; they raise :class:`AssertionError` on the first
violation.
"""

from __future__ import annotations

import multiprocessing
import random
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from load_ingest import BATCH_SIZE, DOCUMENTS, chunk_count, ingest, integrity_problems, stored

Chunks = dict[str, tuple[Any, ...]]

_FORKSERVER: Any = None


def _context() -> Any:
    global _FORKSERVER  # noqa: PLW0603 - one forkserver for every ingestion of the process
    if _FORKSERVER is None:
        _FORKSERVER = multiprocessing.get_context("forkserver")
        _FORKSERVER.set_forkserver_preload(["load_ingest", "genai_commons_local.store", "genai_commons_local.searcher"])
    return _FORKSERVER


def start_ingestion(database: Path, version: int, count: int = DOCUMENTS, batch_size: int = BATCH_SIZE) -> BaseProcess:
    """A process ingesting ``documents(version, count)`` into ``database``; it exits 0 once done."""
    process: BaseProcess = _context().Process(
        target=ingest, args=(database, version, count, batch_size), name=f"ingest-v{version}", daemon=True
    )
    process.start()
    return process


def kill_when(process: BaseProcess, ready: Callable[[], bool], extra_delay: float, timeout: float = 60) -> bool:
    """SIGKILL ``process`` ``extra_delay`` seconds after ``ready()`` holds (polled every few
    milliseconds); whether it was killed (False: it ended on its own first, with exit code 0)."""
    deadline = time.monotonic() + timeout
    while process.is_alive() and not ready():
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the ingestion made no progress in {timeout} s")
        time.sleep(0.003)
    time.sleep(extra_delay)
    if process.is_alive():
        process.kill()
    process.join(timeout=30)
    if process.exitcode not in (0, -signal.SIGKILL):
        raise AssertionError(f"the ingestion failed with exit code {process.exitcode} (its error is on stderr)")
    return process.exitcode == -signal.SIGKILL


def finish_ingestion(database: Path, version: int, count: int = DOCUMENTS, timeout: float = 120) -> None:
    """Run an ingestion process to its end; it must exit 0."""
    process = start_ingestion(database, version, count)
    process.join(timeout=timeout)
    if process.is_alive():
        process.kill()
        raise AssertionError(f"the ingestion did not end within {timeout} s")
    if process.exitcode != 0:
        raise AssertionError(f"the ingestion failed with exit code {process.exitcode} (its error is on stderr)")


def by_source(chunks: Chunks) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for chunk_id, row in chunks.items():
        out[row[0]].add(chunk_id)
    return out


def _check_intact(database: Path, where: str) -> Chunks:
    if database.exists():
        problems = integrity_problems(database)
        if problems:
            raise AssertionError(f"{where}: the store is damaged: {problems}")
    return stored(database)


def kill_fresh_ingestion(
    database: Path, expected: Chunks, rounds: int, rng: random.Random, count: int = DOCUMENTS
) -> int:
    """Start the ingestion of version 0 ``rounds`` times, each resuming the last, and kill it: the
    first time after a random delay, or as soon as the first chunks are stored (starting up,
    creating the collection, embedding, the first transaction), then once a random number of chunks
    is stored, in round ``k`` within the ``k``-th share of the whole, and a few random milliseconds
    more (embedding the next call's chunks, or writing them). After each kill, every stored chunk
    must be one of ``expected`` (a clean run's), unchanged. Returns how many ingestions were killed
    before they ended."""
    total = len(expected)
    killed = 0
    for round_ in range(rounds):
        process = start_ingestion(database, 0, count)
        if round_ == 0:
            started, delay = time.monotonic(), rng.uniform(0.0, 0.3)
            ready = lambda: time.monotonic() - started >= delay or chunk_count(database) > 0  # noqa: B023, E731
            killed += kill_when(process, ready, 0.0)
        else:
            target = int(total * (round_ + rng.random()) / (rounds + 1))
            killed += kill_when(process, lambda: chunk_count(database) >= target, rng.uniform(0, 0.008))  # noqa: B023
        now = _check_intact(database, f"after kill {round_}")
        wrong = [chunk_id for chunk_id, row in now.items() if expected.get(chunk_id) != row]
        if wrong:
            raise AssertionError(f"after kill {round_}: {len(wrong)} stored chunks are not a clean run's")
    return killed


def kill_reingestion(
    database: Path, old: Chunks, new: Chunks, rounds: int, rng: random.Random, count: int = DOCUMENTS
) -> int:
    """Re-ingest version 1 over a store holding version 0 ``rounds`` times, killing it each time
    once a random number of the changed sections is stored. After each kill, every source must be
    wholly old or wholly new (a changed source is replaced in one transaction), none missing.
    Returns how many kills left some changed sources replaced and others not yet."""
    old_sources, new_sources = by_source(old), by_source(new)
    changed = {source for source, ids in new_sources.items() if ids != old_sources.get(source)}
    revised = sum("(revised)" in row[2] for row in new.values())
    mixed = 0
    for round_ in range(rounds):
        target = int(revised * (round_ + 1 + rng.random()) / (rounds + 2))
        process = start_ingestion(database, 1, count)
        ready = lambda: chunk_count(database, "(revised)") >= target  # noqa: B023, E731
        if not kill_when(process, ready, rng.uniform(0, 0.008)):
            raise AssertionError(f"kill {round_}: the re-ingestion ended before it was killed")
        now = _check_intact(database, f"after kill {round_}")
        now_sources = by_source(now)
        if set(now_sources) != set(new_sources):
            raise AssertionError(f"after kill {round_}: sources missing: {sorted(set(new_sources) - set(now_sources))}")
        replaced = 0
        for source, ids in now_sources.items():
            if ids not in (old_sources[source], new_sources[source]):
                raise AssertionError(f"after kill {round_}: {source} is neither wholly old nor wholly new")
            version = new if ids == new_sources[source] else old
            if any(now[i] != version[i] for i in ids):
                raise AssertionError(f"after kill {round_}: a chunk of {source} differs from its version's")
            replaced += ids != old_sources[source]
        mixed += 0 < replaced < len(changed)
    return mixed
