"""Index names and layout: the name rule, the mapping osmem stores, the dimension it checks."""

from __future__ import annotations

from typing import Any

import pytest
from opensearch_helpers import chunk, chunks, kb
from opensearch_standin import OpenSearchStandIn

from genai_commons import ConfigurationError, DeployedModel, IngestMode, Modality, ValidationError
from genai_commons_opensearch import OpenSearchProvider
from genai_commons_opensearch.mapping import IndexLayout, index_body, index_info, index_name

EMBEDDER = DeployedModel(provider="fake", model_id="embed", output_modality=Modality.EMBEDDINGS, dimensions=3)


@pytest.mark.parametrize(
    ("collection", "index"),
    [("docs", "genai-docs"), ("Docs", "genai-docs"), ("team.v2_notes-1", "genai-team.v2_notes-1"), ("9x", "genai-9x")],
)
def test_collection_names_map_to_lower_case_index_names(collection: str, index: str) -> None:
    assert index_name("genai-", collection) == index


@pytest.mark.parametrize(
    "collection", ["a b", "a*b", "a?b", "a/b", 'a"b', "a,b", "a#b", "a:b", "_hidden", "-x", ".x", "ünï", "", "a\\b"]
)
def test_names_an_index_cannot_take_are_refused(collection: str) -> None:
    with pytest.raises(ValidationError, match="cannot be an OpenSearch index name"):
        index_name("genai-", collection)


def test_a_name_too_long_for_an_index_is_refused() -> None:
    with pytest.raises(ValidationError, match="exceeds 255 bytes"):
        index_name("genai-", "a" * 250)


@pytest.mark.parametrize("prefix", ["Genai-", "_x", "-x", "a b", "x*"])
def test_a_bad_prefix_is_a_configuration_error(make_provider: Any, prefix: str) -> None:
    with pytest.raises(ConfigurationError, match="index_prefix"):
        make_provider(index_prefix=prefix)


def test_an_invalid_collection_name_fails_before_any_request(
    provider: OpenSearchProvider, standin: OpenSearchStandIn
) -> None:
    with pytest.raises(ValidationError, match="cannot be an OpenSearch index name"):
        provider.ingest(kb("my docs"), chunks(chunk("a", [1.0, 0.0])), IngestMode.INSERT)
    assert standin.requests == []


def test_first_ingest_creates_the_index_with_the_layout(
    provider: OpenSearchProvider, standin: OpenSearchStandIn
) -> None:
    knowledge_base = kb("Handbook", embedding_model=EMBEDDER, description="the staff handbook")
    provider.ingest(knowledge_base, chunks(chunk("a", [1.0, 0.0, 0.0], source_id="s")), IngestMode.INSERT)
    created = standin.calls("PUT", "/genai-handbook")
    assert len(created) == 1
    body = created[0].json()
    assert body["settings"] == {"index": {"knn": True}}
    mappings = body["mappings"]
    assert mappings["dynamic"] == "strict"
    assert mappings["properties"]["vector"] == {
        "type": "knn_vector",
        "dimension": 3,
        "method": {
            "name": "hnsw",
            "space_type": "cosinesimil",
            "engine": "lucene",
            "parameters": {"m": 16, "ef_construction": 128},
        },
    }
    for name in ("chunk_id", "source_id", "source_type", "human_readable_id", "metadata_pairs"):
        assert mappings["properties"][name] == {"type": "keyword"}
    assert mappings["properties"]["metadata_numbers"]["type"] == "nested"
    meta = mappings["_meta"]["genai_commons"]
    assert meta["collection"] == "Handbook" and meta["description"] == "the staff handbook"
    assert meta["embedding_model"]["model_id"] == "embed"
    # osmem stored it: the plugin reads the collection back with its model.
    info = provider.resolve_knowledge_base("handbook")
    assert info is not None
    assert (info.collection, info.embedding_model, info.description) == ("Handbook", EMBEDDER, "the staff handbook")


def test_layout_settings_shape_new_indices(make_provider: Any, standin: OpenSearchStandIn) -> None:
    provider = make_provider(
        engine="faiss",
        hnsw_m=32,
        hnsw_ef_construction=256,
        number_of_shards=2,
        number_of_replicas=0,
        index_prefix="kb_",
    )
    provider.ingest(kb("x"), chunks(chunk("a", [1.0, 0.0])), IngestMode.INSERT)
    body = standin.calls("PUT", "/kb_x")[0].json()
    assert body["settings"]["index"] == {"knn": True, "number_of_shards": 2, "number_of_replicas": 0}
    method = body["mappings"]["properties"]["vector"]["method"]
    assert method["engine"] == "faiss" and method["parameters"] == {"m": 32, "ef_construction": 256}


def test_the_index_dimension_is_enforced(provider: OpenSearchProvider, standin: OpenSearchStandIn) -> None:
    provider.ingest(kb(), chunks(chunk("a", [1.0, 0.0, 0.0])), IngestMode.INSERT)
    # The plugin refuses other dimensions before writing...
    before = len(standin.calls("POST", "_bulk"))
    with pytest.raises(ValidationError, match="holds 3-dimensional vectors and these chunks have 2"):
        provider.ingest(kb(), chunks(chunk("b", [1.0, 0.0])), IngestMode.INSERT)
    assert len(standin.calls("POST", "_bulk")) == before
    # ...and the mapping makes the server refuse them too (osmem checks knn_vector dimensions).
    status, answer = standin.direct("POST", "/genai-docs/_doc/x", {"chunk_id": "x", "text": "t", "vector": [1.0, 0.0]})
    assert status == 400 and "dimension" in str(answer)


def test_one_ingest_needs_one_dimension(provider: OpenSearchProvider) -> None:
    with pytest.raises(ValidationError, match="2-dimensional vector and earlier chunks 3"):
        provider.ingest(kb(), chunks(chunk("a", [1.0, 0.0, 0.0]), chunk("b", [1.0, 0.0])), IngestMode.INSERT)


def test_an_index_of_another_embedding_model_is_refused(provider: OpenSearchProvider) -> None:
    provider.ingest(kb(embedding_model=EMBEDDER), chunks(chunk("a", [1.0, 0.0, 0.0])), IngestMode.INSERT)
    other = DeployedModel(provider="other", model_id="embed", output_modality=Modality.EMBEDDINGS)
    with pytest.raises(ValidationError, match="holds vectors of fake:embed, not of other:embed"):
        provider.ingest(kb(embedding_model=other), chunks(chunk("b", [1.0, 0.0, 0.0])), IngestMode.INSERT)


def test_indices_the_plugin_did_not_make_are_left_alone(
    provider: OpenSearchProvider, standin: OpenSearchStandIn
) -> None:
    standin.direct("PUT", "/genai-foreign", {"mappings": {"properties": {"title": {"type": "text"}}}})
    assert provider.knowledge_bases() == []
    with pytest.raises(ValidationError, match="was not created by genai-commons"):
        provider.ingest(kb("foreign"), chunks(chunk("a", [1.0, 0.0])), IngestMode.INSERT)
    with pytest.raises(ValidationError, match="was not created by genai-commons"):
        provider.drop_collection(kb("foreign"))
    assert provider.resolve_knowledge_base("foreign") is None
    assert standin.calls("DELETE") == [] and standin.calls("POST", "_bulk") == []


def test_index_info_reads_what_index_body_writes() -> None:
    body = index_body("Notes", 384, IndexLayout(), EMBEDDER, "d")
    info = index_info("genai-notes", body["mappings"])
    assert info is not None
    assert (info.collection, info.dimension, info.embedding_model, info.description) == ("Notes", 384, EMBEDDER, "d")
    assert index_info("x", {"properties": {"vector": {"type": "knn_vector", "dimension": 3}}}) is None
    assert index_info("x", {"_meta": {"genai_commons": {}}, "properties": {}}) is None
