"""Two ingestions of the same folder at once embed it once: the second waits for the first (a lock
per knowledge base under ``<home>/locks``), then finds everything stored — across processes,
threads and async tasks; the wait is logged and printed by the CLI, and bounded by a deadline."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs

from genai_commons import Config, DeadlineExceededError, Host, KnowledgeBase, deadline
from genai_commons.cli import CliState, main
from genai_commons.config import KnowledgeSettings
from genai_commons.knowledge import Ingestor
from genai_commons.knowledge.ingest_lock import IngestionLock, lock_path
from genai_commons.knowledge.loaders import Document, Loader
from genai_commons.model import (
    ChunkCollection,
    DeployedModel,
    EmbeddingsOptions,
    EmbeddingsResponse,
    KnowledgeBaseChunk,
)
from genai_commons.testing import FakeProvider
from genai_commons.testing.pytest_plugin import MakeHost

FAKE_KNOWLEDGE = KnowledgeSettings(default_provider="fake", default_embedding_model="fake:embed")
#: Seconds each embedding call takes: long enough that two ingestions started together overlap
#: (longer where a slow start or a blocked event loop must not pass unnoticed).
EMBED_S = 0.4
SLOW_EMBED_S = 1.0
FILES = 6

# A process ingesting FOLDER into the local store "notes" of HOME, embedding with the fake
# provider, which appends the size of every embedding call to COUNTS (shared by the processes).
CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from genai_commons import Config, Host
    from genai_commons.config import KnowledgeSettings
    from genai_commons.knowledge import Ingestor
    from genai_commons.testing import FakeProvider
    from genai_commons_local import LocalProvider

    home, folder, counts, go = (Path(a) for a in sys.argv[1:5])

    class CountingFake(FakeProvider):
        def embed(self, model, chunks, options):
            with counts.open("a") as file:
                file.write(f"{len(chunks)}\\n")
            time.sleep(float(sys.argv[5]))
            return super().embed(model, chunks, options)

    config = Config.defaults(home, knowledge=KnowledgeSettings(default_embedding_model="fake:embed"))
    host = Host(config, load_entry_points=False, plugins=[LocalProvider, CountingFake()])
    waited = []
    ingestor = Ingestor(host, "notes", on_wait=lambda kb: waited.append(kb.ref))
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.002)
    report = ingestor.ingest_paths([folder])
    print(json.dumps({"inserted": report.inserted, "unchanged": report.unchanged, "waited": waited}), flush=True)
    host.close()
    """
)


class CountingFake(FakeProvider):
    """The fake provider, counting the chunks it embeds; each embedding call takes ``delay`` seconds."""

    def __init__(self, delay: float = EMBED_S) -> None:
        super().__init__()
        self.delay = delay
        self.embedded = 0
        self._count_lock = threading.Lock()

    def embed(self, model: DeployedModel, chunks: ChunkCollection, options: EmbeddingsOptions) -> EmbeddingsResponse:
        with self._count_lock:
            self.embedded += len(chunks)
        time.sleep(self.delay)
        return super().embed(model, chunks, options)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    root.mkdir()
    for i in range(FILES):
        (root / f"note-{i}.md").write_text(f"# Note {i}\n\nNote number {i} is about topic {i * 7}.\n")
    return root


@pytest.fixture
def counting() -> CountingFake:
    return CountingFake()


@pytest.fixture
def host(make_host: MakeHost, counting: CountingFake) -> Host:
    return make_host(counting, knowledge=FAKE_KNOWLEDGE)


def chunk_count(host: Host, folder: Path) -> int:
    """Chunks one ingestion of the folder makes."""
    ingestor = Ingestor(host, "notes")
    return sum(len(ingestor.chunks_of(d)) for d in Loader().load([folder]) if isinstance(d, Document))


@pytest.mark.timeout(180)
def test_two_processes_ingesting_one_folder_embed_it_once(
    tmp_path: Path, genai_home: Path, make_host: MakeHost, folder: Path
) -> None:
    from genai_commons_local import LocalProvider

    script, counts, go = tmp_path / "child.py", tmp_path / "embedded.txt", tmp_path / "go"
    script.write_text(CHILD)
    children = [
        subprocess.Popen(
            [sys.executable, str(script), str(genai_home), str(folder), str(counts), str(go), str(SLOW_EMBED_S)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready", child.stderr and child.stderr.read()
        go.touch()  # both start now
        outputs = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for child, (_out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _err in outputs]

    host = make_host(LocalProvider, FakeProvider, knowledge=KnowledgeSettings(default_embedding_model="fake:embed"))
    expected = chunk_count(host, folder)
    embedded = sum(int(line) for line in counts.read_text().split())
    assert embedded == expected  # once, not twice
    assert sorted(r["inserted"] for r in reports) == [0, expected]
    assert sorted(r["unchanged"] for r in reports) == [0, expected]
    assert sorted(len(r["waited"]) for r in reports) == [0, 1]  # the second waited, once
    stored = host.list_chunks("notes", limit=1000)
    assert len(stored) == expected
    assert {c.source_id for c in stored} == {f"note-{i}.md" for i in range(FILES)}
    kb = host.knowledge_base("notes")
    assert lock_path(genai_home, kb).parent == genai_home / "locks"
    assert lock_path(genai_home, kb).exists()


def test_two_threads_ingesting_one_folder_embed_it_once_and_log_the_wait(
    host: Host, counting: CountingFake, folder: Path
) -> None:
    expected = chunk_count(host, folder)
    start = threading.Barrier(2)
    reports = []
    waited: list[str] = []

    def ingest() -> None:
        ingestor = Ingestor(host, "notes", on_wait=lambda kb: waited.append(kb.ref))
        start.wait()
        reports.append(ingestor.ingest_paths([folder]))

    with capture_logs() as logs:
        threads = [threading.Thread(target=ingest) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert counting.embedded == expected
    assert sorted(r.inserted for r in reports) == [0, expected]
    assert waited == ["fake:notes"]
    waits = [e for e in logs if e["event"] == "ingestion_waiting"]
    assert len(waits) == 1
    assert waits[0]["log_level"] == "info"
    assert waits[0]["knowledge_base"] == "fake:notes"
    assert len(counting.stored("notes")) == expected


@pytest.mark.timeout(30)  # an async wait that blocked the loop would deadlock the two tasks
async def test_two_async_ingestions_embed_once_without_blocking_the_loop(
    host: Host, counting: CountingFake, folder: Path
) -> None:
    counting.delay = SLOW_EMBED_S
    expected = chunk_count(host, folder)
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    reports = await asyncio.gather(*(Ingestor(host, "notes").aingest_paths([folder]) for _ in range(2)))
    elapsed = time.monotonic() - started
    done.set()
    await ticker
    assert counting.embedded == expected
    assert sorted(r.inserted for r in reports) == [0, expected]
    assert elapsed >= SLOW_EMBED_S
    assert max(gaps) < SLOW_EMBED_S / 2  # the loop kept running while the second waited


@pytest.fixture
def holder(host: Host) -> Iterator[threading.Event]:
    """Another ingestion (a thread) holds the lock of ``fake:notes`` until the event is set (or 1.5 s)."""
    release, held = threading.Event(), threading.Event()
    kb = host.knowledge_base("notes")

    def hold() -> None:
        with IngestionLock(host, kb):
            held.set()
            release.wait(1.5)

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    yield release
    release.set()
    thread.join(10)


def test_the_cli_says_it_waits_then_ingests(
    genai_home: Path, host: Host, folder: Path, holder: threading.Event
) -> None:
    started = time.monotonic()
    result = CliRunner().invoke(main, ["kb", "ingest", "notes", str(folder)], obj=CliState(host=host))
    assert result.exit_code == 0, result.output
    assert result.stderr.count("waiting for another ingestion into 'notes' to finish…") == 1
    assert "waiting" not in result.stdout
    assert time.monotonic() - started >= 1.0  # it waited for the holder
    assert "inserted" in result.stdout


def test_the_wait_ends_at_the_deadline(
    host: Host, counting: CountingFake, folder: Path, holder: threading.Event
) -> None:
    ingestor = Ingestor(host, "notes")
    with deadline(0.3), pytest.raises(DeadlineExceededError, match="another ingestion into fake:notes"):
        ingestor.ingest_paths([folder])
    with deadline(0.3), pytest.raises(DeadlineExceededError, match="raise the deadline"):
        asyncio.run(ingestor.aingest_paths([folder]))
    assert counting.embedded == 0
    holder.set()


def test_plain_host_ingest_with_vectors_is_not_locked(host: Host, holder: threading.Event) -> None:
    chunk = KnowledgeBaseChunk(chunk_id="c1", input_text="ready", source_id="s", vector=[0.1] * 8)
    started = time.monotonic()
    host.ingest("notes", ChunkCollection(chunks=[chunk]))
    assert time.monotonic() - started < 1.0


def test_the_lock_is_per_knowledge_base(tmp_path: Path) -> None:
    a = KnowledgeBase(provider="local", name="a")
    assert lock_path(tmp_path, a) != lock_path(tmp_path, KnowledgeBase(provider="local", name="b"))
    assert lock_path(tmp_path, a) != lock_path(tmp_path, KnowledgeBase(provider="other", name="a"))
    assert lock_path(tmp_path, a) == lock_path(tmp_path, KnowledgeBase(provider="local", name="a"))
    assert lock_path(tmp_path, a).parent == tmp_path / "locks"
    assert Config.defaults(tmp_path).home == tmp_path
