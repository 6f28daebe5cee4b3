"""Retrieval: the exact k-NN request the plugin sends, and its answers through the stand-in."""

from __future__ import annotations

import math

import pytest
from opensearch_helpers import chunk, chunks, kb
from opensearch_standin import OpenSearchStandIn

from genai_commons import (
    BadRequestError,
    Eq,
    IngestMode,
    MetadataCollection,
    NotFoundError,
    Range,
    RetrievalQuery,
    ValidationError,
)
from genai_commons_opensearch import OpenSearchProvider

VECTORS = {
    "north": [0.0, 1.0],
    "east": [1.0, 0.0],
    "north-east": [1.0, 1.0],
    "south": [0.0, -1.0],
    "west": [-1.0, 0.0],
}


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))


@pytest.fixture
def compass(provider: OpenSearchProvider) -> OpenSearchProvider:
    provider.ingest(
        kb(),
        chunks(
            *(
                chunk(name, vector, source_id=f"src-{name}", metadata={"side": name.split("-")[0], "rank": str(i)})
                for i, (name, vector) in enumerate(VECTORS.items())
            )
        ),
        IngestMode.INSERT,
    )
    return provider


def test_the_knn_request_body(compass: OpenSearchProvider, standin: OpenSearchStandIn) -> None:
    standin.reset()
    query = RetrievalQuery(
        vector=[0.1, 0.9],
        k=3,
        min_similarity=0.5,
        metadata=MetadataCollection.of({"side": "north"}),
        filter=Range(key="rank", lt=4),
    )
    compass.retrieve(kb(), query)
    (search,) = standin.calls("POST", "/genai-docs/_search")
    assert search.params == {}
    assert search.json() == {
        "size": 3,
        "_source": ["chunk_id", "source_id", "source_type", "human_readable_id", "text", "metadata"],
        "query": {
            "knn": {
                "vector": {
                    "vector": [0.100000001, 0.899999976],  # the float32 values, to nine digits
                    "k": 3,
                    "filter": {
                        "bool": {
                            "filter": [
                                {"bool": {"filter": [{"term": {"metadata_pairs": '["side","north"]'}}]}},
                                {
                                    "nested": {
                                        "path": "metadata_numbers",
                                        "query": {
                                            "bool": {
                                                "filter": [
                                                    {"term": {"metadata_numbers.key": "rank"}},
                                                    {"range": {"metadata_numbers.value": {"lt": 4.0}}},
                                                ]
                                            }
                                        },
                                    }
                                },
                            ]
                        }
                    },
                }
            }
        },
        "min_score": 0.75,  # cosine 0.5 as a cosinesimil score, (1 + 0.5) / 2
    }


def test_nearest_first_with_cosine_similarity(compass: OpenSearchProvider) -> None:
    query_vector = [0.2, 1.0]
    result = compass.retrieve(kb(), RetrievalQuery(vector=query_vector, k=3))
    assert [c.chunk_id for c in result] == ["north", "north-east", "east"]
    for found in result:
        assert found.similarity == pytest.approx(cosine(query_vector, VECTORS[found.chunk_id]), abs=1e-6)
        assert found.vector is None
    first = result.chunks[0]
    assert (first.source_id, first.human_readable_id, first.input_text) == ("src-north", "north.md", "text of north")
    assert first.metadata.as_dict() == {"side": "north", "rank": "0"}


def test_min_similarity_and_k(compass: OpenSearchProvider) -> None:
    everything = compass.retrieve(kb(), RetrievalQuery(vector=[0.0, 1.0], k=10))
    assert len(everything) == 5 and everything.chunks[-1].chunk_id == "south"
    assert everything.chunks[-1].similarity == pytest.approx(-1.0)
    positive = compass.retrieve(kb(), RetrievalQuery(vector=[0.0, 1.0], k=10, min_similarity=0.0))
    assert [c.chunk_id for c in positive] == ["north", "north-east", "east", "west"]  # cos 0 is kept
    close = compass.retrieve(kb(), RetrievalQuery(vector=[0.0, 1.0], k=10, min_similarity=0.7))
    assert [c.chunk_id for c in close] == ["north", "north-east"]
    assert [c.chunk_id for c in compass.retrieve(kb(), RetrievalQuery(vector=[0.0, 1.0], k=1))] == ["north"]


def test_filters_apply_before_the_k_nearest_are_chosen(compass: OpenSearchProvider) -> None:
    # Efficient filtering: k hits among the matching chunks, not k hits filtered afterwards.
    result = compass.retrieve(kb(), RetrievalQuery(vector=[0.0, 1.0], k=2, filter=Eq(key="side", value="south")))
    assert [c.chunk_id for c in result] == ["south"]
    by_rank = compass.retrieve(kb(), RetrievalQuery(vector=[0.0, 1.0], k=2, filter=Range(key="rank", gte=3)))
    assert [c.chunk_id for c in by_rank] == ["west", "south"]


def test_collections_are_isolated(compass: OpenSearchProvider) -> None:
    compass.ingest(kb("other"), chunks(chunk("elsewhere", [0.0, 1.0])), IngestMode.INSERT)
    assert "elsewhere" not in {c.chunk_id for c in compass.retrieve(kb(), RetrievalQuery(vector=[0.0, 1.0], k=10))}
    assert [c.chunk_id for c in compass.retrieve(kb("other"), RetrievalQuery(vector=[0.0, 1.0], k=10))] == ["elsewhere"]


def test_a_missing_collection_says_how_to_create_it(provider: OpenSearchProvider) -> None:
    with pytest.raises(NotFoundError, match="genai kb ingest notes PATH") as info:
        provider.retrieve(kb("notes"), RetrievalQuery(vector=[1.0, 0.0]))
    assert info.value.code == "index_not_found_exception" and info.value.__cause__ is not None


def test_a_query_without_a_vector_is_refused(provider: OpenSearchProvider, standin: OpenSearchStandIn) -> None:
    with pytest.raises(ValidationError, match="give it an embedding model"):
        provider.retrieve(kb(), RetrievalQuery(text="no vector"))
    assert standin.requests == []


def test_a_vector_of_the_wrong_dimension_is_the_clusters_bad_request(compass: OpenSearchProvider) -> None:
    with pytest.raises(BadRequestError, match="invalid dimension: 3") as info:
        compass.retrieve(kb(), RetrievalQuery(vector=[1.0, 0.0, 0.0]))
    assert info.value.status == 400 and "Dimension should be: 2" in (info.value.body or "")


def test_a_cluster_without_knn_says_so(compass: OpenSearchProvider, standin: OpenSearchStandIn) -> None:
    standin.fail_next(400, "unsupported_operation_exception", "[knn] query is not supported", path="_search")
    with pytest.raises(BadRequestError, match="install or enable the k-NN plugin"):
        compass.retrieve(kb(), RetrievalQuery(vector=[1.0, 0.0]))
