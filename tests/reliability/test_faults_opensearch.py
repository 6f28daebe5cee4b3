"""Faults between the OpenSearch plugin (opensearch-py over HTTP) and its cluster, through a host: a
loopback proxy in front of the OpenSearch stand-in (osmem-server, with k-NN answered by the stand-in)
answers 429s (with and without Retry-After), 500/502/503, resets and cuts connections mid-answer,
stalls, answers with something that is not an OpenSearch answer or with an oversized one; a closed
port refuses the connection. Retrieval and ingestion each end in the documented error or a
successful retry, never a hang, with one usage record for a success and none for a failure."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faults_servers import Cut, Drop, Fault, FaultProxy, Reply, Stall, big_json, refused_url
from faults_support import (
    FAST,
    MODES,
    SHORT_TIMEOUT,
    STALL,
    persistent_failure,
    retried_until_success,
)
from osmem_server import OsmemClone

from genai_commons import (
    ChunkCollection,
    Config,
    Host,
    IngestResult,
    KnowledgeBaseChunk,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    RetrievalQuery,
    RetrievalResult,
    ServiceUnavailableError,
)
from genai_commons.config import KnowledgeSettings
from genai_commons.testing import FakeProvider, UsageRecorder
from genai_commons_opensearch import OpenSearchProvider

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "opensearch"))

from opensearch_standin import OpenSearchStandIn

pytestmark = pytest.mark.timeout(60)

KB = "opensearch:docs"
INDEX = "genai-docs"
SEARCH = "/_search"
BULK = "/_bulk"
QUERY = RetrievalQuery(vector=[1.0, 0, 0, 0, 0, 0, 0, 0], k=2)


def cluster_error(status: int, kind: str, reason: str, **headers: str) -> Reply:
    """An error answer as OpenSearch sends it."""
    error = {"type": kind, "reason": reason}
    body = {"error": {**error, "root_cause": [error]}, "status": status}
    return Reply(status, json.dumps(body).encode(), {"content-type": "application/json", **headers})


REJECTED = "rejected execution of coordinating operation"
#: Faults the host retries: the fault, and the error when it persists.
RETRIED: dict[str, tuple[Fault, type[ProviderError]]] = {
    # opensearch-py does not pass the answer's headers on, so a Retry-After is not seen: the host
    # waits its own backoff either way.
    "429 with Retry-After": (cluster_error(429, "es_rejected_execution_exception", REJECTED, **{"retry-after": "30"}),
                             RateLimitError),
    "429 without Retry-After": (cluster_error(429, "es_rejected_execution_exception", REJECTED), RateLimitError),
    "500": (cluster_error(500, "exception", "internal failure"), ServiceUnavailableError),
    "502 from a proxy": (Reply(502, b"<html>502 Bad Gateway</html>", {"content-type": "text/html"}),
                         ServiceUnavailableError),
    "503": (cluster_error(503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE]"),
            ServiceUnavailableError),
    "connection reset mid-answer": (Cut(at=12, reset=True), ServiceUnavailableError),
    "connection closed mid-answer": (Cut(at=12), ServiceUnavailableError),
    "connection closed before answering": (Drop(), ServiceUnavailableError),
}  # fmt: skip


def chunks(*ids: str) -> ChunkCollection:
    """Chunks with 8-dimensional one-hot vectors (no embedding call needed)."""
    return ChunkCollection(
        chunks=tuple(
            KnowledgeBaseChunk(
                chunk_id=i, input_text=f"text of {i}", vector=[1.0 if d == n % 8 else 0.0 for d in range(8)]
            )
            for n, i in enumerate(ids)
        )
    )


@pytest.fixture
def standin(osmem_clone: OsmemClone) -> Iterator[OpenSearchStandIn]:
    with OpenSearchStandIn(osmem_clone.url) as running:
        yield running


@pytest.fixture
def proxy(standin: OpenSearchStandIn) -> Iterator[FaultProxy]:
    with FaultProxy(standin.url) as running:
        yield running
    assert running.problems == []


@pytest.fixture
def recorder() -> UsageRecorder:
    return UsageRecorder()


@pytest.fixture
def make_host(proxy: FaultProxy, recorder: UsageRecorder, tmp_path: Path) -> Iterator[Callable[..., Host]]:
    """``make_host(**settings)``: a host whose ``opensearch`` provider talks to the proxy, with the
    core's fake embedding model as the default."""
    hosts: list[Host] = []

    def make(**settings: Any) -> Host:
        table = {"url": proxy.url, "timeout": 10, "bulk_backoff": 0.0, **settings}
        config = Config.defaults(
            tmp_path,
            retry=FAST,
            knowledge=KnowledgeSettings(default_embedding_model="fake:embed"),
            providers={"opensearch": table},
        )
        host = Host(config, load_entry_points=False, plugins=[OpenSearchProvider, FakeProvider(), recorder])
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()


@pytest.fixture
def host(make_host: Callable[..., Host]) -> Host:
    """A host whose knowledge base ``docs`` holds chunks a, b, c, d."""
    made = make_host()
    made.ingest(KB, chunks("a", "b", "c", "d"))
    return made


def retrieve(host: Host, mode: str) -> RetrievalResult:
    if mode == "sync":
        return host.retrieve(KB, QUERY)
    return asyncio.run(host.aretrieve(KB, QUERY))


def ingest(host: Host, mode: str, collection: ChunkCollection) -> IngestResult:
    if mode == "sync":
        return host.ingest(KB, collection)
    return asyncio.run(host.aingest(KB, collection))


def stored(standin: OpenSearchStandIn) -> list[str]:
    """The chunk ids in the index, as the cluster holds them."""
    status, answer = standin.direct("POST", f"/{INDEX}/_search", {"size": 100, "_source": ["chunk_id"]})
    assert status == 200
    return sorted(hit["_source"]["chunk_id"] for hit in answer["hits"]["hits"])


# -- retrieval -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(RETRIED))
def test_a_fault_is_retried_and_when_it_persists_ends_in_its_error(
    case: str, mode: str, host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    fault, error = RETRIED[case]
    call = lambda: retrieve(host, mode)  # noqa: E731
    result = retried_until_success(proxy, recorder, call, [fault, fault], path=SEARCH, operation="retrieve")
    assert [c.chunk_id for c in result] == ["a", "b"]
    persistent_failure(proxy, recorder, call, fault, error, path=SEARCH)


MALFORMED = {
    "not JSON": Reply(200, b"<html>Sign in to the Wi-Fi</html>", {"content-type": "text/html"}),
    "JSON of another shape": Reply(200, b'{"took": 1, "results": []}'),
    "hits of another shape": Reply(200, b'{"hits": {"hits": [{"_id": "a"}]}}'),
    "an oversized answer": Reply(200, big_json(3_000_000)),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(MALFORMED))
def test_an_answer_that_is_not_opensearchs_is_an_error_not_retried(
    case: str, mode: str, host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    """opensearch-py reads every answer whole (there is no byte limit; see docs/reliability.md)."""
    error = persistent_failure(
        proxy, recorder, lambda: retrieve(host, mode), MALFORMED[case], ProviderError, path=SEARCH, attempts=1
    )
    assert "url in [providers.opensearch]" in str(error) and not error.retryable


@pytest.mark.parametrize("mode", MODES)
def test_a_slow_cluster_times_out_and_the_retry_succeeds(
    mode: str, make_host: Callable[..., Host], proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    host = make_host(timeout=SHORT_TIMEOUT)
    host.ingest(KB, chunks("a", "b"))
    started = time.perf_counter()
    call = lambda: retrieve(host, mode)  # noqa: E731
    retried_until_success(proxy, recorder, call, [Stall(STALL)], path=SEARCH, operation="retrieve")
    assert time.perf_counter() - started < STALL
    if mode == "sync":
        error = persistent_failure(proxy, recorder, call, Stall(STALL), ProviderTimeoutError, path=SEARCH)
        assert "did not answer in time" in str(error)


@pytest.mark.parametrize("mode", MODES)
def test_a_fault_while_the_collection_is_looked_up_is_retried_too(
    mode: str, host: Host, proxy: FaultProxy, recorder: UsageRecorder
) -> None:
    """Before it retrieves, the host looks the collection up (its index's mapping): a request of its own."""
    fault = cluster_error(503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE]")
    call = lambda: retrieve(host, mode)  # noqa: E731
    retried_until_success(proxy, recorder, call, [fault], path="/_mapping", operation="retrieve")
    persistent_failure(proxy, recorder, call, fault, ServiceUnavailableError, path="/_mapping")


def test_a_refused_connection_ends_in_service_unavailable(
    make_host: Callable[..., Host], recorder: UsageRecorder
) -> None:
    url = refused_url()
    host = make_host(url=url)
    with pytest.raises(ServiceUnavailableError, match=f"cannot reach OpenSearch at {url}") as info:
        host.retrieve(KB, QUERY)
    assert info.value.__cause__ is not None
    with pytest.raises(ServiceUnavailableError):
        host.ingest(KB, chunks("a"))
    assert recorder.records == []


# -- ingestion -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", ["503", "connection reset mid-answer", "connection closed before answering"])
def test_an_ingestion_is_retried_and_stores_each_chunk_once(
    case: str, mode: str, host: Host, proxy: FaultProxy, standin: OpenSearchStandIn, recorder: UsageRecorder
) -> None:
    """A reset after the cluster wrote the chunks loses only the answer: the retry finds them stored."""
    fault, error = RETRIED[case]
    written_before_the_fault = isinstance(fault, Cut)
    call = lambda: ingest(host, mode, chunks("e", "f"))  # noqa: E731
    requests = 1 if written_before_the_fault else 2  # the retry finds the chunks stored: nothing to send
    result = retried_until_success(proxy, recorder, call, [fault], path=BULK, operation="ingest", requests=requests)
    assert (result.inserted, result.unchanged) == ((0, 2) if written_before_the_fault else (2, 0))
    assert stored(standin) == ["a", "b", "c", "d", "e", "f"]
    if not written_before_the_fault:  # (a reset after the write cannot persist: the retry has nothing to send)
        persistent_failure(proxy, recorder, lambda: ingest(host, mode, chunks("g")), fault, error, path=BULK)
        assert "g" not in stored(standin)


def test_bulk_items_rejected_as_busy_are_sent_again_within_the_call(
    host: Host, standin: OpenSearchStandIn, recorder: UsageRecorder
) -> None:
    """Per-item 429s are the plugin's own business: resent alone, one call, one usage record."""
    standin.fail_bulk_items({"h"}, times=2)
    before = len(recorder.records)
    assert host.ingest(KB, chunks("h", "i")).inserted == 2
    assert [r.operation for r in recorder.records[before:]] == ["ingest"]
    assert len(standin.calls("POST", BULK)) == 4  # the seeding, the first try, and two resends of "h"
