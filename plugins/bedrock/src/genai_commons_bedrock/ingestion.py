"""Ingestion jobs: a Bedrock knowledge base reads its data source (an S3 bucket, a web site, …)
again — StartIngestionJob, GetIngestionJob and ListDataSources of ``bedrock-agent`` — and a wait
until a job has finished, with progress and a timeout.

Bedrock only answers from what existed at the last sync, so a data source is synchronised
whenever its documents change (the connector's *Adding Data from Your App*). :func:`sync` is the
core's ``genai_ingest_from_source``: one job per data source, optionally waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from attrs import field, frozen

from genai_commons import (
    NotFoundError,
    ProviderTimeoutError,
    RateLimitError,
    ServiceUnavailableError,
    get_logger,
)
from genai_commons.model import SyncJob, SyncResult, SyncStatus

from .errors import PROVIDER, Resource, translated_errors

#: Bedrock's job states that end a job.
FINISHED = frozenset({"COMPLETE", "FAILED", "STOPPED"})
_STATUS = {status.value.upper(): status for status in SyncStatus}
#: Errors of one status poll that the next poll may not see (the job runs on regardless).
_TRANSIENT = (RateLimitError, ServiceUnavailableError, ProviderTimeoutError)

#: Called with each job's state as a wait learns it.
Progress = Callable[["IngestionJob"], None]


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int) and value >= 0 else 0


@frozen(kw_only=True)
class IngestionStatistics:
    """The seed's ``IngestionJobStats``: what an ingestion job did to the documents."""

    documents_scanned: int = 0
    metadata_documents_scanned: int = 0
    new_documents_indexed: int = 0
    modified_documents_indexed: int = 0
    metadata_documents_modified: int = 0
    documents_deleted: int = 0
    documents_failed: int = 0
    documents_skipped: int = 0

    @classmethod
    def from_wire(cls, data: dict[str, Any] | None) -> IngestionStatistics:
        data = data or {}
        return cls(
            documents_scanned=_count(data.get("numberOfDocumentsScanned")),
            metadata_documents_scanned=_count(data.get("numberOfMetadataDocumentsScanned")),
            new_documents_indexed=_count(data.get("numberOfNewDocumentsIndexed")),
            modified_documents_indexed=_count(data.get("numberOfModifiedDocumentsIndexed")),
            metadata_documents_modified=_count(data.get("numberOfMetadataDocumentsModified")),
            documents_deleted=_count(data.get("numberOfDocumentsDeleted")),
            documents_failed=_count(data.get("numberOfDocumentsFailed")),
            documents_skipped=_count(data.get("numberOfDocumentsSkipped")),
        )


def _reasons(value: Sequence[str]) -> tuple[str, ...]:
    return tuple(value)


@frozen(kw_only=True)
class IngestionJob:
    """The seed's ``IngestionJob``: one sync of one data source, as Bedrock last reported it.

    :param status: Bedrock's status: ``STARTING``, ``IN_PROGRESS``, ``COMPLETE``, ``FAILED``,
        ``STOPPING`` or ``STOPPED``.
    """

    knowledge_base_id: str
    data_source_id: str
    job_id: str
    status: str
    statistics: IngestionStatistics = field(factory=IngestionStatistics)
    failure_reasons: tuple[str, ...] = field(default=(), converter=_reasons)
    description: str | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> IngestionJob:
        return cls(
            knowledge_base_id=data["knowledgeBaseId"],
            data_source_id=data["dataSourceId"],
            job_id=data["ingestionJobId"],
            status=data["status"],
            statistics=IngestionStatistics.from_wire(data.get("statistics")),
            failure_reasons=data.get("failureReasons") or (),
            description=data.get("description"),
            started_at=data.get("startedAt"),
            updated_at=data.get("updatedAt"),
        )

    def sync_job(self) -> SyncJob:
        """The job in the core's terms."""
        stats = self.statistics
        return SyncJob(
            job_id=self.job_id,
            data_source_id=self.data_source_id,
            status=_STATUS.get(self.status, SyncStatus.IN_PROGRESS),
            documents_scanned=stats.documents_scanned,
            documents_added=stats.new_documents_indexed,
            documents_modified=stats.modified_documents_indexed,
            documents_deleted=stats.documents_deleted,
            documents_failed=stats.documents_failed,
            failure_reasons=self.failure_reasons,
            started_at=self.started_at,
            updated_at=self.updated_at,
        )


@frozen(kw_only=True)
class DataSource:
    """A data source of a knowledge base (ListDataSources): where its documents come from."""

    knowledge_base_id: str
    data_source_id: str
    name: str
    status: str
    description: str | None = None
    updated_at: datetime | None = None


def _data_source_resource(knowledge_base_id: str, data_source_id: str | None = None) -> Resource:
    name = f"{data_source_id} of knowledge base {knowledge_base_id}" if data_source_id else ""
    return Resource("data source", name)


def list_data_sources(client: Any, knowledge_base_id: str, *, region: str | None) -> list[DataSource]:
    """The data sources of a knowledge base (every page)."""
    found: list[DataSource] = []
    with translated_errors(region=region, resource=_data_source_resource(knowledge_base_id)):
        for page in client.get_paginator("list_data_sources").paginate(knowledgeBaseId=knowledge_base_id):
            found.extend(
                DataSource(
                    knowledge_base_id=item["knowledgeBaseId"],
                    data_source_id=item["dataSourceId"],
                    name=item["name"],
                    status=item["status"],
                    description=item.get("description"),
                    updated_at=item.get("updatedAt"),
                )
                for item in page.get("dataSourceSummaries", ())
            )
    return found


def start_ingestion_job(
    client: Any, knowledge_base_id: str, data_source_id: str, *, description: str | None = None, region: str | None
) -> IngestionJob:
    """StartIngestionJob: the data source is read again."""
    kwargs = {"knowledgeBaseId": knowledge_base_id, "dataSourceId": data_source_id}
    if description:
        kwargs["description"] = description
    with translated_errors(region=region, resource=_data_source_resource(knowledge_base_id, data_source_id)):
        job = IngestionJob.from_wire(client.start_ingestion_job(**kwargs)["ingestionJob"])
    _log().info("ingestion_job_started", knowledge_base=knowledge_base_id, data_source=data_source_id, job=job.job_id)
    return job


def get_ingestion_job(
    client: Any, knowledge_base_id: str, data_source_id: str, job_id: str, *, region: str | None
) -> IngestionJob:
    """GetIngestionJob: how a job stands, with its statistics."""
    with translated_errors(region=region, resource=_data_source_resource(knowledge_base_id, data_source_id)):
        answer = client.get_ingestion_job(
            knowledgeBaseId=knowledge_base_id, dataSourceId=data_source_id, ingestionJobId=job_id
        )
    return IngestionJob.from_wire(answer["ingestionJob"])


def poll(
    client: Any,
    jobs: Sequence[IngestionJob],
    *,
    timeout: float,
    poll_interval: float,
    progress: Progress | None = None,
    region: str | None,
) -> list[IngestionJob]:
    """Ask how each job stands every ``poll_interval`` seconds until all have finished or
    ``timeout`` seconds passed; the jobs as last seen, finished or not. A throttled or failed
    status request is asked again at the next interval: the job runs on meanwhile."""
    deadline = time.monotonic() + timeout
    current = list(jobs)
    while True:
        pending = [i for i, job in enumerate(current) if not job.finished]
        if not pending or time.monotonic() >= deadline:
            return current
        time.sleep(max(0.0, min(poll_interval, deadline - time.monotonic())))
        for i in pending:
            job = current[i]
            try:
                current[i] = get_ingestion_job(
                    client, job.knowledge_base_id, job.data_source_id, job.job_id, region=region
                )
            except _TRANSIENT as exc:
                _log().warning("ingestion_job_poll_failed", job=job.job_id, error=str(exc))
                continue
            stats = current[i].statistics
            _log().info(
                "ingestion_job_polled", job=job.job_id, status=current[i].status,
                scanned=stats.documents_scanned, indexed=stats.new_documents_indexed + stats.modified_documents_indexed,
            )  # fmt: skip
            if progress is not None:
                progress(current[i])


def wait_for_ingestion_job(
    client: Any,
    job: IngestionJob,
    *,
    timeout: float,
    poll_interval: float,
    progress: Progress | None = None,
    region: str | None,
) -> IngestionJob:
    """The job once it has finished; :class:`ProviderTimeoutError` when it has not after ``timeout``
    seconds (it keeps running on Bedrock)."""
    last = poll(client, [job], timeout=timeout, poll_interval=poll_interval, progress=progress, region=region)[0]
    if not last.finished:
        raise ProviderTimeoutError(
            f"ingestion job {job.job_id} of data source {job.data_source_id} is still {last.status} after "
            f"{timeout:g} s; it keeps running on Bedrock: wait again, or check it with get_ingestion_job",
            provider=PROVIDER,
        )
    return last


def sync(
    client: Any,
    knowledge_base_id: str,
    data_source_id: str | None,
    *,
    wait: bool,
    timeout: float,
    poll_interval: float,
    region: str | None,
) -> SyncResult:
    """Start an ingestion job for the data source, or for every data source of the knowledge
    base, and with ``wait`` follow them until they finish or ``timeout`` passes."""
    if data_source_id is not None:
        sources = [data_source_id]
    else:
        sources = [ds.data_source_id for ds in list_data_sources(client, knowledge_base_id, region=region)]
        if not sources:
            raise NotFoundError(
                f"knowledge base {knowledge_base_id} has no data source to ingest from: add one (an S3 bucket, a web "
                "site, …) in the Bedrock console",
                provider=PROVIDER,
            )
    started = time.perf_counter()
    jobs = [start_ingestion_job(client, knowledge_base_id, source, region=region) for source in sources]
    if wait:  # poll() absorbs transient failures: the host must not retry, which would start the jobs again
        jobs = poll(client, jobs, timeout=timeout, poll_interval=poll_interval, region=region)
    return SyncResult(jobs=[job.sync_job() for job in jobs], duration_ms=(time.perf_counter() - started) * 1000)


def _log() -> Any:
    return get_logger(__name__)
