"""Embeddings through /invoke in the Cohere format."""

from __future__ import annotations

import asyncio

import pytest

from genai_commons import ChunkCollection, EmbeddingPurpose, EmbeddingsOptions, Host, ValidationError
from genai_commons.testing import UsageRecorder
from genai_commons_mxcloud.testing import FakeMxCloud


def test_one_text(host: Host, service: FakeMxCloud, recorder: UsageRecorder) -> None:
    result = host.embed("mxcloud:cohere", "Hello World!")
    assert len(result.first_vector()) == 16
    assert result.input_tokens == 2 and result.model_id == "cohere"
    [call] = service.calls("/invoke")
    assert call.body == {
        "texts": ["Hello World!"],
        "input_type": "search_document",
        "truncate": "NONE",
        "embedding_types": ["float"],
    }
    assert call.headers["content-type"] == "application/json"
    assert recorder.last.input_tokens == 2 and recorder.operations == ["embed"]


def test_the_purpose_chooses_the_input_type(host: Host, service: FakeMxCloud) -> None:
    host.embed("mxcloud:cohere", "find me", EmbeddingsOptions(purpose=EmbeddingPurpose.QUERY))
    assert service.calls("/invoke")[0].body["input_type"] == "search_query"


def test_more_than_96_texts_are_split_into_calls_in_order(host: Host, service: FakeMxCloud) -> None:
    texts = [f"text number {i}" for i in range(250)]
    result = host.embed("mxcloud:cohere", ChunkCollection.of_texts(texts))
    sizes = sorted(len(c.body["texts"]) for c in service.calls("/invoke"))
    assert sizes == [58, 96, 96]
    assert result.chunks.texts == texts
    single = host.embed("mxcloud:cohere", "text number 137").first_vector()
    assert list(result.vectors[137]) == list(single)  # the right vector for each text, whatever the batch order
    assert result.input_tokens == 3 * 250


def test_async_embeddings_agree(host: Host) -> None:
    texts = [f"t {i}" for i in range(100)]
    sync = host.embed("mxcloud:cohere", ChunkCollection.of_texts(texts))
    async_ = asyncio.run(host.aembed("mxcloud:cohere", ChunkCollection.of_texts(texts)))
    assert [list(v) for v in sync.vectors] == [list(v) for v in async_.vectors]


def test_the_dimensions_cannot_be_chosen(host: Host, service: FakeMxCloud) -> None:
    with pytest.raises(ValidationError, match="1024-dimension vectors and cannot shorten them"):
        host.embed("mxcloud:cohere", "x", EmbeddingsOptions(dimensions=256))
    assert service.requests == []


def test_the_embeddings_key_of_a_knowledge_base_key_embeds(host: Host, service: FakeMxCloud) -> None:
    assert len(host.embed("mxcloud:kb/embeddings", "hello").first_vector()) == 16
    assert service.calls("/invoke")
