"""Search types on OpenSearch: the BM25 request of a keyword search (nothing embedded), the two
requests of a hybrid search fused in the client, similarities and minimum similarity, and query
text that is only ever data — through the stand-in (osmem-server) and a host."""

from __future__ import annotations

import pytest
from opensearch_helpers import chunk, chunks, kb
from opensearch_standin import OpenSearchStandIn

from genai_commons import (
    Capability,
    ChunkCollection,
    Eq,
    IngestMode,
    NotFoundError,
    RetrievalQuery,
    SearchType,
    ValidationError,
)
from genai_commons.knowledge.fusion import keyword_similarity
from genai_commons_opensearch import OpenSearchProvider
from genai_commons_opensearch.retrieval import LUCENE_BM25_FACTOR

SOURCE = ["chunk_id", "source_id", "source_type", "human_readable_id", "text", "metadata"]
TEXTS = {
    "zebra": ("Zebras have black and white stripes.", [1.0, 0.0]),
    "both": ("The zebra crossing is painted on the road.", [0.9, 0.1]),
    "near": ("Horses gallop across open fields.", [0.95, 0.05]),
    "far": ("Invoices are due within thirty days.", [-1.0, 0.0]),
}


@pytest.fixture
def animals(provider: OpenSearchProvider) -> OpenSearchProvider:
    items = [
        chunk(cid, vector, text=text, source_id=cid, metadata={"kind": "money" if cid == "far" else "animal"})
        for cid, (text, vector) in TEXTS.items()
    ]
    provider.ingest(kb(), chunks(*items), IngestMode.INSERT)
    return provider


def test_a_keyword_search_is_one_bm25_request(animals: OpenSearchProvider, standin: OpenSearchStandIn) -> None:
    standin.reset()
    query = RetrievalQuery(text="zebra stripes", k=3, search_type="keyword", metadata={"kind": "animal"})
    found = animals.retrieve(kb(), query)
    (search,) = standin.calls("POST", "/genai-docs/_search")
    assert search.json() == {
        "size": 3,
        "_source": SOURCE,
        "query": {
            "bool": {
                "must": [{"match": {"text": {"query": "zebra stripes"}}}],
                "filter": [{"bool": {"filter": [{"term": {"metadata_pairs": '["kind","animal"]'}}]}}],
            }
        },
    }
    assert standin.knn_searches == []
    assert [c.chunk_id for c in found] == ["zebra", "both"]  # two words, then one ("zebras" is not stemmed here)
    assert all(0 < (c.similarity or 0) < 1 for c in found)
    assert found.chunks[0].similarity > found.chunks[1].similarity  # type: ignore[operator]


def test_keyword_similarity_puts_back_the_factor_lucene_leaves_out(animals: OpenSearchProvider) -> None:
    found = animals.retrieve(kb(), RetrievalQuery(text="zebra", k=2, search_type="keyword"))
    assert LUCENE_BM25_FACTOR == 2.2
    for hit in found:
        assert hit.similarity is not None and 0 < hit.similarity < 1
    # min_similarity applies to that similarity.
    top = found.chunks[0].similarity or 0
    strict = RetrievalQuery(text="zebra", k=2, search_type="keyword", min_similarity=top)
    assert [c.chunk_id for c in animals.retrieve(kb(), strict)] == [found.chunks[0].chunk_id]
    assert keyword_similarity(0) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("zebra AND NOT stripes", {"zebra", "both"}),  # words, not operators: NOT excludes nothing
        ('"zebra', {"both"}),  # the standard analyzer does not stem: "Zebras" is another word
        ("text:(horses OR invoices)", {"near", "far"}),  # no field syntax, no grouping
        ('title:* OR {"match_all":{}}', set()),
        ("*", set()),
        ("zebra*", {"both"}),  # no wildcard
        ("\\", set()),
    ],
)
def test_query_text_is_data_for_match(animals: OpenSearchProvider, text: str, expected: set[str]) -> None:
    found = animals.retrieve(kb(), RetrievalQuery(text=text, k=10, search_type="keyword"))
    assert {c.chunk_id for c in found} == expected


def test_a_hybrid_search_fuses_two_requests(animals: OpenSearchProvider, standin: OpenSearchStandIn) -> None:
    standin.reset()
    query = RetrievalQuery(
        text="zebra", vector=[1.0, 0.0], k=3, search_type="hybrid", filter=Eq(key="kind", value="animal")
    )
    found = animals.retrieve(kb(), query)
    knn, bm25 = standin.calls("POST", "/genai-docs/_search")
    assert knn.json()["size"] == 50 and knn.json()["query"]["knn"]["vector"]["k"] == 50
    assert "min_score" not in knn.json()
    assert bm25.json()["size"] == 50 and bm25.json()["query"]["bool"]["must"] == [
        {"match": {"text": {"query": "zebra"}}}
    ]
    # Vector ranking: zebra, near, both; keyword ranking: both ("Zebras" is another word). Fused:
    # both 1/63 + 1/61, zebra 1/61, near 1/62.
    assert [c.chunk_id for c in found] == ["both", "zebra", "near"]
    similarity = {c.chunk_id: c.similarity for c in found}
    assert similarity["zebra"] == pytest.approx(1.0, abs=1e-6)  # found by the k-NN search only
    assert similarity["both"] == pytest.approx(0.9939, abs=1e-3)  # the larger: its cosine similarity
    strict = RetrievalQuery(text="zebra", vector=[1.0, 0.0], k=3, search_type="hybrid", min_similarity=0.999)
    assert [c.chunk_id for c in animals.retrieve(kb(), strict)] == ["zebra"]


def test_arguments_and_a_missing_collection(animals: OpenSearchProvider) -> None:
    with pytest.raises(ValidationError, match="searches by vector for a hybrid search"):
        animals.retrieve(kb(), RetrievalQuery(text="zebra", search_type="hybrid"))
    with pytest.raises(ValidationError, match="a keyword search needs the query's text"):
        animals.retrieve(kb(), RetrievalQuery(vector=[1.0, 0.0], search_type="keyword"))
    for search_type in ("keyword", "hybrid"):
        with pytest.raises(NotFoundError, match="has no collection in OpenSearch yet"):
            animals.retrieve(kb("absent"), RetrievalQuery(text="x", vector=[1.0, 0.0], search_type=search_type))


def test_through_the_host_a_keyword_search_embeds_nothing(make_host, standin: OpenSearchStandIn) -> None:
    host = make_host()
    fake = host.plugin_manager.get_plugin("fake")
    host.ingest(
        "opensearch:notes",
        ChunkCollection()
        .add_knowledge_base_chunk("Zebras have stripes.", "zebra", source_id="zebra")
        .add_knowledge_base_chunk("Invoices are due in thirty days.", "billing", source_id="billing"),
    )
    fake.calls.clear()
    found = host.retrieve("opensearch:notes", "when are invoices due", search_type="keyword")
    assert found.chunks[0].human_readable_id == "billing"
    assert not [call for call in fake.calls if call.capability is Capability.EMBED]
    host.retrieve("opensearch:notes", "when are invoices due")  # hybrid, the default: embeds
    assert [call.capability for call in fake.calls] == [Capability.EMBED]
    assert host.provider("opensearch").search_types == frozenset(SearchType)
