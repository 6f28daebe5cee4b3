"""Against a real OpenSearch cluster with the k-NN plugin: runs only when GENAI_OPENSEARCH_URL names one.

Optional: GENAI_OPENSEARCH_USERNAME and GENAI_OPENSEARCH_PASSWORD (basic auth), and
GENAI_OPENSEARCH_TEST_VERIFY_CERTS=false for a development cluster with a self-signed certificate
(the opensearchproject/opensearch container). The test works in a collection of its own, named at
random, and drops it at the end.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator

import pytest
from opensearch_helpers import chunk, chunks, kb

from genai_commons import Eq, IngestMode, ProviderSettings, Range, RetrievalQuery
from genai_commons_opensearch import OpenSearchProvider

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("GENAI_OPENSEARCH_URL"),
        reason="set GENAI_OPENSEARCH_URL to an OpenSearch cluster with the k-NN plugin to run this test",
    ),
    pytest.mark.filterwarnings("ignore::Warning"),  # unverified TLS to a development cluster
]


@pytest.fixture
def real() -> Iterator[tuple[OpenSearchProvider, str]]:
    provider = OpenSearchProvider()
    values: dict[str, object] = {"index_prefix": "genai-test-"}
    if os.environ.get("GENAI_OPENSEARCH_TEST_VERIFY_CERTS", "").lower() in ("0", "false", "no"):
        values["verify_certs"] = False
    provider.configure(ProviderSettings(name="opensearch", values=values, environ=dict(os.environ)))
    collection = f"t{uuid.uuid4().hex[:12]}"
    yield provider, collection
    provider.drop_collection(kb(collection))
    provider.close()


def test_knn_retrieval_on_a_real_cluster(real: tuple[OpenSearchProvider, str]) -> None:
    provider, collection = real
    angles = {f"c{n}": math.radians(n * 30) for n in range(7)}  # 0 to 180 degrees
    items = [
        chunk(cid, [math.cos(a), math.sin(a), 0.0], source_id=f"s{n % 2}", metadata={"n": str(n)})
        for n, (cid, a) in enumerate(angles.items())
    ]
    assert provider.ingest(kb(collection), chunks(*items), IngestMode.INSERT).inserted == 7
    result = provider.retrieve(kb(collection), RetrievalQuery(vector=[1.0, 0.0, 0.0], k=3))
    assert [c.chunk_id for c in result] == ["c0", "c1", "c2"]
    for found in result:
        assert found.similarity == pytest.approx(math.cos(angles[found.chunk_id]), abs=1e-3)
    near = provider.retrieve(kb(collection), RetrievalQuery(vector=[1.0, 0.0, 0.0], k=7, min_similarity=0.4))
    assert [c.chunk_id for c in near] == ["c0", "c1", "c2"]  # cos 60 degrees = 0.5, 90 degrees = 0
    filtered = provider.retrieve(
        kb(collection), RetrievalQuery(vector=[1.0, 0.0, 0.0], k=2, filter=Range(key="n", gte=4))
    )
    assert [c.chunk_id for c in filtered] == ["c4", "c5"]
    exact = provider.retrieve(
        kb(collection), RetrievalQuery(vector=[0.0, 1.0, 0.0], k=5, filter=Eq(key="n", value="6"))
    )
    assert [c.chunk_id for c in exact] == ["c6"]
    assert provider.stored_chunk_ids(kb(collection), ["s0"]) == {"s0": frozenset({"c0", "c2", "c4", "c6"})}
    assert provider.delete_chunks(kb(collection), ["s1"]) == 3
    assert [c.chunk_id for c in provider.list_chunks(kb(collection), None, 0, 10)] == ["c0", "c2", "c4", "c6"]
    assert collection in {k.collection for k in provider.knowledge_bases()}
