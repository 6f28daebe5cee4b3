"""The k-NN stand-in itself: it answers ``knn`` as the k-NN plugin does and refuses what it would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opensearch_standin import OpenSearchStandIn
from opensearchpy import OpenSearch
from opensearchpy.exceptions import RequestError


@pytest.fixture
def client(standin: OpenSearchStandIn) -> Iterator[OpenSearch]:
    os_client = OpenSearch(hosts=[standin.url], max_retries=0)
    os_client.indices.create(
        index="v",
        body={
            "settings": {"index": {"knn": True}},
            "mappings": {
                "properties": {
                    "vec": {
                        "type": "knn_vector",
                        "dimension": 2,
                        "method": {"name": "hnsw", "space_type": "cosinesimil", "engine": "lucene"},
                    },
                    "tag": {"type": "keyword"},
                }
            },
        },
    )
    lines = []
    for n, (vector, tag) in enumerate([([1, 0], "a"), ([1, 1], "b"), ([0, 1], "a"), ([-1, 0], "b")]):
        lines += [{"index": {"_index": "v", "_id": str(n)}}, {"vec": vector, "tag": tag}]
    os_client.bulk(body=lines, refresh="wait_for")
    yield os_client
    os_client.close()


def knn(client: OpenSearch, clause: dict[str, Any], **body: Any) -> list[tuple[str, float]]:
    answer = client.search(index="v", body={"query": {"knn": {"vec": clause}}, **body})
    return [(hit["_id"], round(hit["_score"], 4)) for hit in answer["hits"]["hits"]]


def test_scores_are_one_plus_cosine_over_two_best_first(client: OpenSearch) -> None:
    assert knn(client, {"vector": [1, 0], "k": 4}, size=4) == [("0", 1.0), ("1", 0.8536), ("2", 0.5), ("3", 0.0)]
    assert knn(client, {"vector": [1, 0], "k": 2}) == [("0", 1.0), ("1", 0.8536)]
    assert knn(client, {"vector": [1, 0], "k": 4}, size=1) == [("0", 1.0)]
    assert knn(client, {"vector": [1, 0], "k": 4}, min_score=0.6) == [("0", 1.0), ("1", 0.8536)]


def test_the_filter_applies_before_the_k_nearest(client: OpenSearch) -> None:
    assert knn(client, {"vector": [1, 0], "k": 1, "filter": {"term": {"tag": "b"}}}) == [("1", 0.8536)]


@pytest.mark.parametrize(
    ("clause", "reason"),
    [
        ({"vector": [1, 0, 0], "k": 1}, "invalid dimension"),
        ({"vector": [1, 0], "k": 0}, "k > 0"),
        ({"vector": [1, 0], "k": 1, "rescore": True}, "unknown or missing parameters"),
        ({"vector": [0, 0], "k": 1}, "zero vector"),
    ],
)
def test_malformed_knn_clauses_are_refused(client: OpenSearch, clause: dict[str, Any], reason: str) -> None:
    with pytest.raises(RequestError, match=reason):
        knn(client, clause)


def test_only_knn_vector_fields_and_known_keys(client: OpenSearch) -> None:
    with pytest.raises(RequestError, match="not knn_vector"):
        client.search(index="v", body={"query": {"knn": {"tag": {"vector": [1, 0], "k": 1}}}})
    with pytest.raises(RequestError, match="unsupported search keys"):
        knn(client, {"vector": [1, 0], "k": 1}, aggs={"t": {"terms": {"field": "tag"}}})
