"""The sync of a knowledge base that ingests from its own data source: the hook pair, the host's
``ingest_from_source`` and ``aingest_from_source``, and ``genai kb sync`` / ``genai kb ingest NAME``."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner, Result

from genai_commons import (
    KnowledgeBase,
    Provider,
    RateLimitError,
    RetryPolicy,
    SyncJob,
    SyncResult,
    SyncStatus,
    UnsupportedCapabilityError,
)
from genai_commons.cli import CliState, main
from genai_commons.testing import FakeProvider


class Synced(Provider):
    """Knowledge bases that read their own data sources: one job per source, finished on waiting."""

    name = "synced"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str | None, bool]] = []
        self.throttle_first = False

    def knowledge_bases(self) -> list[KnowledgeBase]:
        return [KnowledgeBase(provider="synced", name="docs", collection="KB1")]

    def retrieve(self, knowledge_base, query):  # pragma: no cover - not the subject here
        raise AssertionError

    def ingest_from_source(self, knowledge_base, data_source_id, wait):
        self.calls.append((knowledge_base.collection, data_source_id, wait))
        if self.throttle_first:
            self.throttle_first = False
            raise RateLimitError("slow down", provider="synced")
        sources = [data_source_id] if data_source_id else ["DS1", "DS2"]
        status = SyncStatus.COMPLETE if wait else SyncStatus.STARTING
        if data_source_id == "BROKEN":
            status = SyncStatus.FAILED
        jobs = [
            SyncJob(
                job_id=f"job-{source}",
                data_source_id=source,
                status=status,
                documents_scanned=3,
                documents_added=2 if wait else 0,
                failure_reasons=["bucket is empty"] if status is SyncStatus.FAILED else [],
                started_at=datetime(2024, 5, 1, tzinfo=UTC),
            )
            for source in sources
        ]
        return SyncResult(jobs=jobs)


class AsyncSynced(Provider):
    """The same with an async method only: the base class bridges the sync API."""

    name = "asynced"

    def knowledge_bases(self) -> list[KnowledgeBase]:
        return [KnowledgeBase(provider="asynced", name="docs")]

    def retrieve(self, knowledge_base, query):  # pragma: no cover
        raise AssertionError

    async def ingest_from_source_async(self, knowledge_base, data_source_id, wait):
        await asyncio.sleep(0)
        return SyncResult(jobs=[SyncJob(job_id="j", data_source_id="d", status="complete")], duration_ms=5.0)


def test_the_host_syncs_every_data_source_and_records_usage(make_host, usage_recorder) -> None:
    plugin = Synced()
    host = make_host(plugin, usage_recorder)
    result = host.ingest_from_source("synced:docs")
    assert plugin.calls == [("KB1", None, True)]
    assert [job.data_source_id for job in result.jobs] == ["DS1", "DS2"]
    assert result.finished and result.succeeded and result.duration_ms is not None
    usage = usage_recorder.records[0]
    assert (usage.provider, usage.operation, usage.model_id, usage.total_tokens) == ("synced", "sync", "KB1", 0)
    started = host.ingest_from_source("synced:docs", "DS2", wait=False)
    assert plugin.calls[-1] == ("KB1", "DS2", False)
    assert not started.finished and not started.succeeded and started.jobs[0].status is SyncStatus.STARTING


def test_async_twins_agree_and_the_base_class_bridges(make_host) -> None:
    host = make_host(Synced(), AsyncSynced())
    result = asyncio.run(host.aingest_from_source("synced:docs", "DS1"))
    assert [job.job_id for job in result.jobs] == ["job-DS1"]
    assert host.ingest_from_source("asynced:docs").jobs[0].status is SyncStatus.COMPLETE
    assert asyncio.run(host.aingest_from_source("asynced:docs")).duration_ms == 5.0


def test_starting_a_sync_is_retried(make_host) -> None:
    plugin = Synced()
    plugin.throttle_first = True
    host = make_host(plugin, retry=RetryPolicy(max_attempts=2, initial_delay=0, max_delay=0))
    assert host.ingest_from_source("synced:docs").succeeded
    assert len(plugin.calls) == 2


def test_a_knowledge_base_without_its_own_data_source_is_refused(make_host) -> None:
    fake = FakeProvider()
    host = make_host(fake)
    with pytest.raises(UnsupportedCapabilityError, match=r"`genai kb ingest docs PATH\.\.\.`"):
        host.ingest_from_source("fake:docs")
    with pytest.raises(UnsupportedCapabilityError, match="no data source of its own"):
        asyncio.run(host.aingest_from_source("fake:docs"))


def test_sync_results_check_their_fields() -> None:
    with pytest.raises(ValueError, match="not a valid SyncStatus"):
        SyncJob(job_id="j", data_source_id="d", status="done")
    with pytest.raises(ValueError, match="not a single string"):
        SyncJob(job_id="j", data_source_id="d", status="failed", failure_reasons="oops")
    assert SyncStatus.STOPPED.finished and not SyncStatus.STOPPING.finished
    assert SyncResult().succeeded  # nothing to do is success


# -- the command line ---------------------------------------------------------------------------


def run(make_host, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), obj=CliState(host=make_host(Synced(), FakeProvider())))


def test_kb_sync_prints_each_job(make_host) -> None:
    result = run(make_host, "kb", "sync", "synced:docs")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "DS1  job job-DS1: complete (3 scanned, 2 added, 0 modified, 0 deleted, 0 failed)",
        "DS2  job job-DS2: complete (3 scanned, 2 added, 0 modified, 0 deleted, 0 failed)",
        "synced synced:docs: 2 job(s) finished",
    ]
    started = run(make_host, "kb", "sync", "synced:docs", "--data-source", "DS2", "--no-wait")
    assert started.exit_code == 0 and started.stdout.endswith("1 job(s) started, still running\n")


def test_kb_ingest_without_a_path_syncs(make_host) -> None:
    result = run(make_host, "kb", "ingest", "synced:docs", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["knowledge_base"] == "synced:docs"
    assert [job["status"] for job in data["jobs"]] == ["complete", "complete"]
    assert data["jobs"][0]["started_at"].startswith("2024-05-01")


def test_a_failed_sync_exits_with_its_reasons(make_host) -> None:
    result = run(make_host, "kb", "sync", "synced:docs", "--data-source", "BROKEN")
    assert result.exit_code == 1
    assert "bucket is empty" in result.stderr and "the sync of synced:docs failed" in result.stderr


def test_kb_ingest_without_a_path_refuses_file_options_and_file_stores(make_host) -> None:
    options = run(make_host, "kb", "ingest", "synced:docs", "--strategy", "fixed", "--metadata", "a=b")
    assert options.exit_code == 2 and "--strategy, --metadata apply to files" in options.stderr
    files_only = run(make_host, "kb", "ingest", "fake:docs")
    assert files_only.exit_code == 1
    assert "`genai kb ingest docs PATH...`" in files_only.stderr
