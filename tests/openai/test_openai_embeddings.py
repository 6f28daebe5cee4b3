"""Embeddings: base64 transfer decoded into float arrays, batching within the API's limits,
bounded concurrency, dimensions, usage summed — sync and async."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from array import array

import httpx
import pytest

from genai_commons import ChunkCollection, Config, EmbeddingsOptions, Host, UnsupportedCapabilityError
from genai_commons.testing import UsageRecorder
from genai_commons_openai import OpenAIEmbeddingsOptions, OpenAIProvider
from genai_commons_openai.embeddings_wire import batches, vector
from genai_commons_openai.testing import FakeOpenAI


def test_vectors_come_as_float_arrays_in_order_with_usage(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    texts = ["red apples", "green pears", "red apples"]
    result = host.embed("openai:text-embedding-3-small", texts, EmbeddingsOptions(dimensions=64))
    assert result.chunks.texts == texts
    vectors = result.vectors
    assert all(isinstance(v, array) and v.typecode == "f" and len(v) == 64 for v in vectors)
    assert list(vectors[0]) == list(vectors[2]) != list(vectors[1])
    assert abs(sum(x * x for x in vectors[0]) - 1) < 1e-5
    assert result.input_tokens == 6 and result.model_id == "text-embedding-3-small"
    body = service.calls[-1].body
    assert body == {"model": "text-embedding-3-small", "input": texts, "encoding_format": "base64", "dimensions": 64}


def test_base64_and_float_transfers_give_the_same_vectors(openai_host, service: FakeOpenAI) -> None:
    compact = openai_host().embed("openai:text-embedding-3-small", "same text", EmbeddingsOptions(dimensions=32))
    plain = openai_host(embedding_encoding="float").embed(
        "openai:text-embedding-3-small", "same text", EmbeddingsOptions(dimensions=32)
    )
    assert service.calls[-1].body["encoding_format"] == "float"
    assert compact.first_vector() == plain.first_vector()


def test_vector_decoding() -> None:
    values = array("f", [0.5, -1.25, 3.0])
    assert vector(base64.b64encode(values.tobytes()).decode()) == values
    assert vector([0.5, -1.25, 3.0]) == values


def test_batches_respect_inputs_and_estimated_tokens() -> None:
    texts = ["word " * 10] * 7
    assert list(batches(texts, 3, 10_000)) == [(0, 3), (3, 6), (6, 7)]
    assert list(batches(texts, 100, 60)) == [(0, 2), (2, 4), (4, 6), (6, 7)]  # 26 estimated tokens each
    assert list(batches(["x" * 1000], 5, 10)) == [(0, 1)]  # too long alone: sent alone, the API judges


def test_large_collections_are_batched_with_bounded_concurrency(
    openai_host, service: FakeOpenAI, recorder: UsageRecorder
) -> None:
    host = openai_host(embedding_concurrency=2, models={"text-embedding-3-small": {"max_batch_size": 10}})
    texts = [f"text number {i}" for i in range(45)]
    result = host.embed("openai:text-embedding-3-small", texts, EmbeddingsOptions(dimensions=16))
    assert sorted(len(c.body["input"]) for c in service.calls) == [5, 10, 10, 10, 10]  # concurrent: any order
    assert result.chunks.texts == texts
    single = host.embed("openai:text-embedding-3-small", texts[17], EmbeddingsOptions(dimensions=16))
    assert list(result.vectors[17]) == list(single.first_vector())
    assert result.input_tokens == 45 * 3
    assert [r.operation for r in recorder.records] == ["embed", "embed"]
    assert recorder.records[0].input_tokens == 135


def test_async_batches_run_at_most_concurrency_at_once(service: FakeOpenAI, tmp_path) -> None:
    lock = threading.Lock()
    in_flight = peak = 0
    inner = service.transport()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        try:
            return await inner.handle_async_request(request)
        finally:
            with lock:
                in_flight -= 1

    table = {
        "api_key": "sk-test",
        "embedding_concurrency": 3,
        "models": {"text-embedding-3-small": {"max_batch_size": 4}},
    }
    provider = OpenAIProvider(async_transport=httpx.MockTransport(handler))
    with Host(
        Config.defaults(tmp_path, providers={"openai": table}), load_entry_points=False, plugins=[provider]
    ) as host:
        texts = [f"item {i}" for i in range(30)]
        result = asyncio.run(host.aembed("openai:text-embedding-3-small", texts, EmbeddingsOptions(dimensions=8)))
    assert result.chunks.texts == texts and result.input_tokens == 60
    assert len(service.calls) == 8 and peak == 3


def test_answers_out_of_order_are_put_back_in_order(tmp_path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["input"]
        data = [{"object": "embedding", "index": i, "embedding": [float(i), 0.0]} for i in range(len(inputs))]
        return httpx.Response(200, json={"data": data[::-1], "model": "m", "usage": {"prompt_tokens": 1}})

    config = Config.defaults(tmp_path, providers={"openai": {"api_key": "k", "embedding_encoding": "float"}})
    with Host(config, load_entry_points=False, plugins=[OpenAIProvider(httpx.MockTransport(handler))]) as host:
        result = host.embed("openai:nomic-embed-text", ["a", "b", "c"])
    assert [v[0] for v in result.vectors] == [0.0, 1.0, 2.0]


def test_dimensions_for_a_model_that_cannot_shorten_are_refused_before_any_request(
    openai_host, service: FakeOpenAI
) -> None:
    host = openai_host()
    with pytest.raises(UnsupportedCapabilityError, match="1536 dimensions"):
        host.embed("openai:text-embedding-ada-002", "x", EmbeddingsOptions(dimensions=256))
    assert service.calls == []
    host.embed("openai:text-embedding-ada-002", "x", EmbeddingsOptions(dimensions=1536))
    assert "dimensions" not in service.calls[-1].body


def test_knowledge_base_chunks_keep_their_identity(openai_host) -> None:
    host = openai_host()
    chunks = ChunkCollection().add_knowledge_base_chunk(
        "Cats purr.", "cats.md", source_id="doc-1", metadata={"t": "pets"}
    )
    result = host.embed("openai:text-embedding-3-small", chunks, OpenAIEmbeddingsOptions(dimensions=8, user="u-9"))
    [chunk] = result.chunks
    assert chunk.human_readable_id == "cats.md" and chunk.vector is not None and len(chunk.vector) == 8


def test_user_and_timeout_options(openai_host, service: FakeOpenAI) -> None:
    host = openai_host()
    host.embed("openai:text-embedding-3-small", "x", OpenAIEmbeddingsOptions(dimensions=8, user="u-9", timeout=5))
    assert service.calls[-1].body["user"] == "u-9"
