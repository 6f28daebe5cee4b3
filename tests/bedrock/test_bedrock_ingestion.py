"""Ingestion jobs: StartIngestionJob, GetIngestionJob with statistics, ListDataSources, the wait
with progress and a timeout (botocore's Stubber), and the core's sync end to end against the
local service — a document added to the data source is found after the sync, a removed one is
gone, a conflicting job is refused with advice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from genai_commons import BadRequestError, Host, KnowledgeBase, NotFoundError, ProviderTimeoutError, SyncStatus
from genai_commons_bedrock import BedrockProvider, IngestionStatistics
from genai_commons_bedrock.testing import Document, LocalBedrock, attach

STARTED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
KB_ID, DS_ID, JOB_ID = "KB00000001", "DS00000001", "JOB0000001"
FAST = {"ingestion_poll_interval": 0.001}


def job(status: str, **statistics: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "knowledgeBaseId": KB_ID,
        "dataSourceId": DS_ID,
        "ingestionJobId": JOB_ID,
        "status": status,
        "startedAt": STARTED,
        "updatedAt": STARTED,
    }
    if statistics:
        data["statistics"] = statistics
    return {"ingestionJob": data}


GET = {"knowledgeBaseId": KB_ID, "dataSourceId": DS_ID, "ingestionJobId": JOB_ID}


@pytest.fixture
def stubbed(make_host: Callable[..., Host], session: Any) -> Iterator[tuple[Host, BedrockProvider, Stubber]]:
    plugin = BedrockProvider(session=session)
    host = make_host(plugin, FAST)
    stubber = Stubber(plugin.clients.client("bedrock-agent"))
    stubber.activate()
    yield host, plugin, stubber
    stubber.assert_no_pending_responses()
    stubber.deactivate()


def test_start_get_and_wait_with_progress(stubbed) -> None:
    _, plugin, stubber = stubbed
    stubber.add_response("start_ingestion_job", job("STARTING"), {"knowledgeBaseId": KB_ID, "dataSourceId": DS_ID})
    stubber.add_response("get_ingestion_job", job("IN_PROGRESS", numberOfDocumentsScanned=3), GET)
    stubber.add_client_error("get_ingestion_job", "ThrottlingException", "slow down", 429)  # asked again next time
    stubber.add_response(
        "get_ingestion_job",
        job(
            "COMPLETE", numberOfDocumentsScanned=3, numberOfNewDocumentsIndexed=2, numberOfModifiedDocumentsIndexed=1,
            numberOfDocumentsDeleted=1, numberOfDocumentsFailed=0, numberOfMetadataDocumentsScanned=3,
        ),
        GET,
    )  # fmt: skip
    started = plugin.start_ingestion_job(KB_ID, DS_ID)
    assert (started.job_id, started.status, started.finished) == (JOB_ID, "STARTING", False)
    seen: list[str] = []
    done = plugin.wait_for_ingestion_job(started, progress=lambda j: seen.append(j.status))
    assert seen == ["IN_PROGRESS", "COMPLETE"]
    assert done.statistics == IngestionStatistics(
        documents_scanned=3, metadata_documents_scanned=3, new_documents_indexed=2, modified_documents_indexed=1,
        documents_deleted=1,
    )  # fmt: skip
    assert done.started_at == STARTED
    core = done.sync_job()
    assert (core.status, core.documents_added, core.documents_modified, core.documents_deleted) == (
        SyncStatus.COMPLETE, 2, 1, 1,
    )  # fmt: skip
    stubber.add_response("get_ingestion_job", job("COMPLETE"), GET)
    assert plugin.get_ingestion_job(started).status == "COMPLETE"


def test_a_running_job_is_a_conflict_with_advice(stubbed) -> None:
    _, plugin, stubber = stubbed
    stubber.add_client_error("start_ingestion_job", "ConflictException", "There is an ongoing ingestion job", 409)
    with pytest.raises(BadRequestError, match="An ingestion job is already running for this data source") as info:
        plugin.start_ingestion_job(KB_ID, DS_ID)
    assert info.value.code == "ConflictException" and info.value.status == 409


def test_sync_starts_a_job_per_data_source(stubbed) -> None:
    host, plugin, stubber = stubbed
    plugin._knowledge_bases[KB_ID] = KnowledgeBase(provider="bedrock", name="handbook", collection=KB_ID)
    summary = {"knowledgeBaseId": KB_ID, "name": "docs", "status": "AVAILABLE", "updatedAt": STARTED}
    stubber.add_response(
        "list_data_sources",
        {"dataSourceSummaries": [{**summary, "dataSourceId": DS_ID}], "nextToken": "n"},
        {"knowledgeBaseId": KB_ID},
    )
    stubber.add_response(
        "list_data_sources",
        {"dataSourceSummaries": [{**summary, "dataSourceId": "DS00000002", "name": "web"}]},
        {"knowledgeBaseId": KB_ID, "nextToken": "n"},
    )
    second = {**job("STARTING")["ingestionJob"], "dataSourceId": "DS00000002", "ingestionJobId": "JOB0000002"}
    stubber.add_response("start_ingestion_job", job("STARTING"), {"knowledgeBaseId": KB_ID, "dataSourceId": DS_ID})
    stubber.add_response(
        "start_ingestion_job", {"ingestionJob": second},
        {"knowledgeBaseId": KB_ID, "dataSourceId": "DS00000002"},
    )  # fmt: skip
    result = host.ingest_from_source("bedrock:handbook", wait=False)
    assert [(j.data_source_id, j.status) for j in result.jobs] == [
        (DS_ID, SyncStatus.STARTING),
        ("DS00000002", SyncStatus.STARTING),
    ]
    assert not result.finished
    stubber.add_response("list_data_sources", {"dataSourceSummaries": []}, {"knowledgeBaseId": KB_ID})
    with pytest.raises(NotFoundError, match="has no data source to ingest from"):
        host.ingest_from_source("bedrock:handbook")


# -- end to end against the local service ------------------------------------------------------


@pytest.fixture
def local(make_host: Callable[..., Host], session: Any) -> tuple[Host, BedrockProvider, LocalBedrock]:
    service = attach(session, LocalBedrock())
    service.add_knowledge_base(
        "handbook",
        [Document(uri="s3://docs/oncall.md", text="The rotation changes on Monday.")],
        knowledge_base_id="KBHANDBOOK",
        data_source_id="DSHANDBOOK",
    )
    plugin = BedrockProvider(session=session)
    return make_host(plugin, FAST), plugin, service


def test_a_sync_indexes_what_changed_in_the_data_source(local, recorder) -> None:
    host, _, service = local
    assert not host.retrieve("bedrock:handbook", "lunch menu").chunks[0].input_text.startswith("Lunch")
    service.knowledge.put_document("KBHANDBOOK", Document(uri="s3://docs/lunch.md", text="Lunch is served at noon."))
    service.knowledge.put_document("KBHANDBOOK", Document(uri="s3://docs/oncall.md", text="Rotation on Tuesday."))
    service.knowledge.put_document("KBHANDBOOK", Document(uri="s3://docs/empty.md", text="  "))
    recorder.clear()
    result = host.ingest_from_source("bedrock:handbook")
    (synced,) = result.jobs
    assert (synced.data_source_id, synced.status, synced.documents_scanned) == ("DSHANDBOOK", SyncStatus.COMPLETE, 3)
    assert (synced.documents_added, synced.documents_modified, synced.documents_failed) == (1, 1, 1)
    assert synced.failure_reasons == ("s3://docs/empty.md: the document holds no text to index",)
    assert result.succeeded and recorder.operations == ["sync"]
    assert host.retrieve("bedrock:handbook", "lunch served noon").chunks[0].input_text == "Lunch is served at noon."
    service.knowledge.remove_document("KBHANDBOOK", "s3://docs/lunch.md")
    assert host.ingest_from_source("bedrock:handbook", "DSHANDBOOK").jobs[0].documents_deleted == 1
    assert all("Lunch" not in c.input_text for c in host.retrieve("bedrock:handbook", "lunch served noon"))


def test_a_second_job_while_one_runs_conflicts(local) -> None:
    host, plugin, service = local
    service.knowledge.ingestion_polls = 100
    started = host.ingest_from_source("bedrock:handbook", wait=False)
    assert started.jobs[0].status is SyncStatus.STARTING
    with pytest.raises(BadRequestError, match="already running"):
        host.ingest_from_source("bedrock:handbook")
    assert [ds.name for ds in plugin.list_data_sources("KBHANDBOOK")] == ["documents"]


def test_a_wait_times_out_and_the_job_runs_on(local) -> None:
    _, plugin, service = local
    service.knowledge.ingestion_polls = 10_000
    running = plugin.start_ingestion_job("KBHANDBOOK", "DSHANDBOOK", description="nightly")
    with pytest.raises(ProviderTimeoutError, match=r"still IN_PROGRESS after 0\.03 s; it keeps running"):
        plugin.wait_for_ingestion_job(running, timeout=0.03, poll_interval=0.01)
    assert service.calls("start_ingestion_job")[0].body["description"] == "nightly"
    assert plugin.get_ingestion_job(running).status == "IN_PROGRESS"


def test_a_sync_that_does_not_finish_in_time_returns_unfinished(make_host, session) -> None:
    service = attach(session, LocalBedrock())
    service.add_knowledge_base("kb", [Document(uri="s3://a/b.txt", text="text")], knowledge_base_id="KBSLOW0001")
    service.knowledge.ingestion_polls = 10_000
    host = make_host(BedrockProvider(session=session), {"ingestion_timeout": 0.05, "ingestion_poll_interval": 0.01})
    result = host.ingest_from_source("bedrock:kb")
    assert not result.finished and result.jobs[0].status is SyncStatus.IN_PROGRESS
    assert len(service.calls("start_ingestion_job")) == 1  # not started again by a retry
