"""Every capability has a sync and an async method, and they agree."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from genai_commons import (
    AgentRequest,
    ChunkCollection,
    EmbeddingsOptions,
    ImageOptions,
    IngestMode,
    RetrievalQuery,
)
from genai_commons.testing import FakeAsyncProvider, FakeProvider, UsageRecorder


@pytest.fixture(params=[FakeProvider, FakeAsyncProvider], ids=["sync-provider", "async-provider"])
def setup(request: Any, make_host: Any) -> tuple[Any, Any, UsageRecorder]:
    fake, recorder = request.param(), UsageRecorder()
    return make_host(fake, recorder), fake, recorder


def test_chat(setup: Any) -> None:
    host, _, _ = setup
    assert host.chat("fake:chat", "hi").text == asyncio.run(host.achat("fake:chat", "hi")).text == "echo: hi"


def test_embed_a_string_strings_and_a_chunk_collection(setup: Any) -> None:
    host, _, recorder = setup
    options = EmbeddingsOptions(dimensions=16)
    one = host.embed("fake:embed", "vendor neutral", options)
    again = asyncio.run(host.aembed("fake:embed", "vendor neutral", options))
    assert list(one.first_vector()) == list(again.first_vector())
    assert len(one.first_vector()) == 16
    many = host.embed("fake:embed", ["a", "b", "c"])
    assert len(many.vectors) == 3
    chunks = ChunkCollection().add_knowledge_base_chunk("text", "doc-1", metadata={"k": "v"})
    embedded = host.embed("fake:embed", chunks)
    assert embedded.chunks.chunks[0].vector is not None
    assert embedded.chunks.chunks[0].human_readable_id == "doc-1"  # type: ignore[attr-defined]
    assert [u.operation for u in recorder.records] == ["embed"] * 4
    assert all(u.input_tokens > 0 for u in recorder.records)


def test_images(setup: Any) -> None:
    host, _, recorder = setup
    options = ImageOptions(number_of_images=2, width=64, height=64)
    sync = host.generate_image("fake:image", "a lighthouse", options)
    async_ = asyncio.run(host.agenerate_image("fake:image", "a lighthouse", options))
    assert len(sync.generated_images()) == len(async_.generated_images()) == 2
    assert sync.generated_image().to_bytes().startswith(b"\x89PNG")
    assert [u.operation for u in recorder.records] == ["image", "image"]


def test_ingest_and_retrieve(setup: Any) -> None:
    host, _, recorder = setup
    chunks = (
        ChunkCollection()
        .add_knowledge_base_chunk("cats purr and sleep", "a", source_id="1", metadata={"topic": "cats"})
        .add_knowledge_base_chunk("dogs bark loudly", "b", source_id="2", metadata={"topic": "dogs"})
    )
    embedded = host.embed("fake:embed", chunks).chunks
    assert host.ingest("fake:docs", embedded).inserted == 2
    assert asyncio.run(host.aingest("fake:docs", embedded, IngestMode.REPOPULATE)).inserted == 2
    vector = host.embed("fake:embed", "cats purr").first_vector()
    sync = host.retrieve("fake:docs", RetrievalQuery(vector=vector, k=1))
    async_ = asyncio.run(host.aretrieve("fake:docs", RetrievalQuery(vector=vector, k=1)))
    assert [c.human_readable_id for c in sync] == [c.human_readable_id for c in async_] == ["a"]
    assert sync.chunks[0].similarity is not None
    assert "retrieve" in [u.operation for u in recorder.records]


def test_agents(setup: Any) -> None:
    host, _, recorder = setup
    request = AgentRequest(input_text="plan my trip", session_id="s-1", enable_trace=True)
    sync = host.invoke_agent("fake:travel", request)
    async_ = asyncio.run(host.ainvoke_agent("fake:travel", request))
    assert sync.text == async_.text != ""
    assert sync.session_id == "s-1"
    assert sync.traces and async_.traces
    events = list(host.stream_agent("fake:travel", "hello"))
    assert events
    assert [u.operation for u in recorder.records] == ["agent", "agent"]
