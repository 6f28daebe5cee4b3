"""Load: an ingestion into the local store killed with SIGKILL at random points (seeded), then run
again to completion, ends with exactly the chunks a clean ingestion gives — same ids, texts,
metadata and vectors, none twice, the file intact; a re-ingestion of changed sources killed
midway leaves every source either wholly old or wholly new (each is replaced in one transaction).

The killed processes run ``load_ingest.ingest`` (the core pipeline, the ``local`` provider, a
deterministic embedding model; 16 chunks per ``ingest`` call), see ``load_kill``.
``bench_load.py --only sigkill`` runs more kills over more documents."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest
from load_helpers import baseline_resources, resources, settled
from load_ingest import COLLECTION, chunk_count, documents, ingest, ingestion_host, integrity_problems, stored
from load_kill import by_source, finish_ingestion, kill_fresh_ingestion, kill_reingestion

from genai_commons.knowledge.pipeline import ingest_documents

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses SIGKILL and the forkserver")

SEED = 20240607


def reference(tmp_path: Path, version: int) -> dict[str, tuple[Any, ...]]:
    """What a clean ingestion of ``version`` into a fresh store holds."""
    database = tmp_path / f"reference-{version}" / "knowledge.db"
    ingest(database, version)
    return stored(database)


@pytest.mark.timeout(120)
def test_an_ingestion_killed_at_random_points_resumes_to_exactly_a_clean_runs_chunks(tmp_path: Path):
    expected = reference(tmp_path, 0)
    database = tmp_path / "store" / "knowledge.db"
    rounds = 5

    killed = kill_fresh_ingestion(database, expected, rounds, random.Random(SEED))

    assert killed == rounds, f"only {killed} of {rounds} ingestions were killed before they ended"
    assert 0 < chunk_count(database) < len(expected), "the kills left nothing to resume: the test proved nothing"
    finish_ingestion(database, 0)
    assert integrity_problems(database) == []
    assert stored(database) == expected


@pytest.mark.timeout(120)
def test_a_reingestion_killed_midway_replaces_each_changed_source_whole(tmp_path: Path):
    database = tmp_path / "store" / "knowledge.db"
    ingest(database, 0)
    old, new = stored(database), reference(tmp_path, 1)
    changed = [source for source, ids in by_source(new).items() if ids != by_source(old)[source]]
    assert len(changed) == 40

    mixed = kill_reingestion(database, old, new, 3, random.Random(SEED + 1))

    assert mixed >= 1, "no kill landed in the middle of the re-ingestion: the test proved nothing"
    finish_ingestion(database, 1)
    assert integrity_problems(database) == []
    assert stored(database) == new


def test_a_finished_ingestion_leaves_no_thread_or_descriptor_behind(tmp_path: Path):
    """The host's embedding pool (several embedding calls per ``ingest`` call) and the store's
    connections end with ``Host.close()``."""
    baseline = baseline_resources()
    host = ingestion_host(tmp_path / "knowledge.db")
    report = ingest_documents(host, f"local:{COLLECTION}", documents(0), progress=False)
    assert report.inserted > 0
    assert any(name.startswith("genai-embed") for name in resources().thread_names), "the pool was not used"
    host.close()
    after = settled(baseline)
    assert after.delta(baseline) == {"fds": 0, "sockets": 0, "threads": 0}, (
        f"{after.delta(baseline)}: threads {after.thread_names}, "
        f"descriptors {sorted(set(after.targets) - set(baseline.targets))}"
    )
