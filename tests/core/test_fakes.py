"""The fake providers of genai_commons.testing behave as documented, through a real Host."""

from __future__ import annotations

import struct
import zlib

import pytest

from genai_commons import (
    AgentRequest,
    AgentTextChunk,
    AgentTrace,
    Capability,
    ChunkCollection,
    EmbeddingsOptions,
    Eq,
    ImageOptions,
    IngestMode,
    Message,
    RateLimitError,
    Request,
    Response,
    RetrievalQuery,
    RetryPolicy,
    ServiceUnavailableError,
    StopReason,
    StreamEnd,
    TextDelta,
    ToolCallDelta,
    UnsupportedCapabilityError,
    ValidationError,
)
from genai_commons.testing import (
    FAILURE_KINDS,
    FakeAsyncProvider,
    FakeChatProvider,
    FakeProvider,
    StreamFailure,
    UsageRecorder,
    make_fake_provider_class,
    tool_call,
)
from genai_commons.testing._data import cosine, hash_vector, tiny_png

FAST_RETRY = RetryPolicy(max_attempts=3, initial_delay=0, max_delay=0)


@pytest.fixture(params=[FakeProvider, FakeAsyncProvider], ids=["sync", "async"])
def fake(request: pytest.FixtureRequest) -> FakeProvider:
    return request.param()


def test_default_models_and_capabilities(make_host, fake):
    host = make_host(fake)
    # no rerank model: the fake's chat models rerank through the host's prompt
    assert host.providers()["fake"].capabilities == frozenset(Capability) - {Capability.RERANK}
    models = {m.ref: m for m in host.models("fake")}
    assert set(models) == {"fake:chat", "fake:basic", "fake:embed", "fake:image"}
    assert models["fake:chat"].supports_function_calling and models["fake:chat"].supports_streaming
    assert not models["fake:basic"].supports_system_prompt and not models["fake:basic"].supports_history
    assert host.knowledge_base("fake:docs").embedding_model == models["fake:embed"]


def test_name_and_models_are_configurable(make_host):
    fake = FakeProvider(name="other")
    host = make_host(fake)
    assert host.model("other:chat").provider == "other"
    assert host.chat("other:chat", "hi").text == "echo: hi"
    assert fake.calls[0].target == "other:chat"


def test_echo_with_word_counts(make_host, fake, usage_recorder):
    host = make_host(fake, usage_recorder)
    response = host.chat("fake:chat", Request.from_prompt("hello big world", system_prompt="be brief"))
    assert response.text == "echo: hello big world"
    assert (response.input_tokens, response.output_tokens, response.total_tokens) == (5, 4, 9)
    assert response.stop_reason is StopReason.END_TURN
    assert usage_recorder.last.input_tokens == 5
    assert fake.last_request.system_prompt == "be brief"


def test_scripted_items_in_order(make_host, fake):
    host = make_host(fake)
    fake.script("first", Response.of_text("second", input_tokens=1, output_tokens=2))
    assert host.chat("fake:chat", "a").text == "first"
    second = host.chat("fake:chat", "b")
    assert (second.text, second.input_tokens, second.output_tokens) == ("second", 1, 2)
    assert host.chat("fake:chat", "c").text == "echo: c"
    assert fake.pending == 0
    assert fake.calls[0].scripted == "first"


def test_scripted_tool_calls_drive_the_host_tool_loop(make_host, fake):
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    host = make_host(fake)
    fake.script([tool_call("add", {"a": 2, "b": 3})], "five")
    response = host.chat("fake:chat", Request.from_prompt("add").with_function(add))
    assert response.text == "five"
    assert len(fake.calls_for("chat")) == 2
    tool_message = fake.last_request.messages[-1]
    assert tool_message.content == "5"


def test_scripted_exception_is_raised_and_call_recorded(make_host, fake, usage_recorder):
    host = make_host(fake, usage_recorder)
    fake.script(ValueError("boom"))
    with pytest.raises(ValueError, match="boom"):
        host.chat("fake:chat", "x")
    assert len(fake.calls) == 1
    assert usage_recorder.records == []


def test_fail_next_maps_kinds_with_cause(make_host, fake):
    host = make_host(fake, retry=RetryPolicy(max_attempts=1))
    for kind, error_class in FAILURE_KINDS.items():
        fake.fail_next(kind)
        with pytest.raises(error_class) as info:
            host.chat("fake:chat", "x")
        assert info.value.__cause__ is not None
        assert info.value.provider == "fake"


def test_retryable_failures_are_retried(make_host, fake, usage_recorder):
    host = make_host(fake, usage_recorder, retry=FAST_RETRY)
    fake.fail_next("unavailable", times=2)
    assert host.chat("fake:chat", "x").text == "echo: x"
    assert len(fake.calls) == 3
    assert len(usage_recorder.records) == 1


def test_exceptions_apply_to_any_capability_but_responses_only_to_chat(make_host, fake):
    host = make_host(fake, retry=RetryPolicy(max_attempts=1))
    fake.script("for chat")
    assert len(host.embed("fake:embed", "x").vectors) == 1
    assert fake.pending == 1
    assert host.chat("fake:chat", "y").text == "for chat"
    fake.fail_next("rate_limit")
    with pytest.raises(RateLimitError):
        host.embed("fake:embed", "x")


def test_stream_events(make_host, fake, usage_recorder):
    host = make_host(fake, usage_recorder)
    call = tool_call("lookup", {"q": "weather"})
    fake.script(Response(message=Message(role="assistant", content="it is", tool_calls=[call])))
    stream = host.stream("fake:chat", "what")
    events = list(stream)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["it", " is"]
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert len(deltas) == 2 and deltas[0].id == call.id and deltas[0].name == "lookup"
    assert "".join(d.arguments for d in deltas) == call.arguments
    assert isinstance(events[-1], StreamEnd) and events[-1].input_tokens == 1
    assert stream.response is not None
    assert stream.response.text == "it is" and stream.response.tool_calls == (call,)
    assert usage_recorder.operations == ["chat"]
    assert fake.calls[-1].capability is Capability.CHAT_STREAM


def test_stream_failure_midway(make_host, fake, usage_recorder):
    host = make_host(fake, usage_recorder)
    fake.script(StreamFailure(error=ServiceUnavailableError("dropped", provider="fake"), after=2))
    stream = host.stream("fake:chat", "one two three")
    seen = []
    with pytest.raises(ServiceUnavailableError):
        for event in stream:
            seen.append(event)
    assert [e.text for e in seen] == ["echo:", " one"]
    assert usage_recorder.records == []


async def test_async_api(make_host, fake):
    host = make_host(fake)
    assert (await host.achat("fake:chat", "hi")).text == "echo: hi"
    stream = await host.astream("fake:chat", "a b")
    assert (await stream.collect()).text == "echo: a b"
    vectors = (await host.aembed("fake:embed", ["x y"])).vectors
    assert list(vectors[0]) == pytest.approx(hash_vector("x y"))
    assert all(c.is_async is isinstance(fake, FakeAsyncProvider) for c in fake.calls)


def test_embeddings_are_deterministic_and_normalised(make_host, fake):
    host = make_host(fake)
    result = host.embed("fake:embed", ["the cat sat", "the cat sat", "stock prices"])
    first, again, other = (list(v) for v in result.vectors)
    assert first == again != other
    assert len(first) == 8
    assert sum(v * v for v in first) == pytest.approx(1.0, abs=1e-5)
    assert result.input_tokens == 8
    wide = host.embed("fake:embed", "x", EmbeddingsOptions(dimensions=32, normalize=False))
    assert len(wide.first_vector()) == 32
    call = fake.calls_for("embed")[-1]
    assert call.options.dimensions == 32 and call.payload.texts == ["x"]


def test_shared_words_make_similar_vectors():
    assert cosine(hash_vector("red apples", 64), hash_vector("red apples are sweet", 64)) > cosine(
        hash_vector("red apples", 64), hash_vector("tax law reform", 64)
    )


def test_images_are_valid_pngs(make_host, fake):
    host = make_host(fake)
    response = host.generate_image("fake:image", "a red fox", ImageOptions(number_of_images=3, seed=7))
    images = response.generated_images()
    assert len(images) == 3 and all(i.extension == "png" for i in images)
    data = images[0].to_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    length = struct.unpack(">I", data[8:12])[0]
    assert data[12:16] == b"IHDR" and struct.unpack(">II", data[16:24]) == (1, 1)
    crc = struct.unpack(">I", data[16 + length : 20 + length])[0]
    assert crc == zlib.crc32(data[12 : 16 + length]) & 0xFFFFFFFF
    assert fake.calls[-1].payload == "a red fox"


def test_tiny_png_colour_depends_on_seed():
    assert tiny_png("a") != tiny_png("b")


def _docs() -> ChunkCollection:
    return (
        ChunkCollection()
        .add_knowledge_base_chunk("cats purr softly", "doc-1", source_id="1", metadata={"kind": "pet"})
        .add_knowledge_base_chunk("dogs bark loudly", "doc-2", source_id="2", metadata={"kind": "pet"})
        .add_knowledge_base_chunk("stocks fell today", "doc-3", source_id="3", metadata={"kind": "news"})
    )


def test_ingest_and_retrieve(make_host, fake, usage_recorder):
    host = make_host(fake, usage_recorder)
    result = host.ingest("fake:docs", _docs())
    assert (result.inserted, result.deleted) == (3, 0)
    found = host.retrieve("fake:docs", "cats purr", k=2)
    assert len(found) == 2
    assert found.chunks[0].input_text == "cats purr softly"
    assert found.chunks[0].similarity >= found.chunks[1].similarity
    filtered = host.retrieve("fake:docs", RetrievalQuery(text="cats purr", filter=Eq(key="kind", value="news")))
    assert [c.human_readable_id for c in filtered] == ["doc-3"]
    strict = host.retrieve("fake:docs", RetrievalQuery(text="cats purr softly", min_similarity=0.99))
    assert [c.human_readable_id for c in strict] == ["doc-1"]
    assert usage_recorder.operations == ["embed", "ingest", *["embed", "retrieve"] * 3]


def test_ingest_modes(make_host, fake):
    host = make_host(fake)
    host.ingest("fake:docs", _docs())
    again = host.ingest("fake:docs", _docs(), IngestMode.INSERT)
    assert again.inserted == 3 and len(fake.stored("docs")) == 6
    replacement = ChunkCollection().add_knowledge_base_chunk("cats sleep", "doc-1b", source_id="1")
    replaced = host.ingest("fake:docs", replacement, IngestMode.REPLACE)
    assert (replaced.inserted, replaced.deleted) == (1, 2)
    assert sorted(c.human_readable_id for c in fake.stored("docs")).count("doc-1") == 0
    repopulated = host.ingest("fake:docs", replacement, "repopulate")
    assert (repopulated.inserted, repopulated.deleted) == (1, 5)
    assert len(fake.stored()) == 1


def test_agent_events(make_host, fake, usage_recorder):
    host = make_host(fake, usage_recorder)
    events = list(host.stream_agent("fake:helper", AgentRequest(input_text="hi there", enable_trace=True)))
    assert isinstance(events[0], AgentTrace)
    assert "".join(e.text for e in events if isinstance(e, AgentTextChunk)) == "echo: hi there"
    fake.script("scripted answer")
    response = host.invoke_agent("fake:helper", "q")
    assert response.text == "scripted answer" and response.traces == ()
    assert response.references[0].source == "fake://agent/fake:helper"
    assert usage_recorder.operations == ["agent"]


def test_chat_only_fake_refuses_other_capabilities_before_any_call(make_host):
    fake = FakeChatProvider()
    host = make_host(fake)
    assert host.providers()["fake"].capabilities == {Capability.CHAT, Capability.CHAT_STREAM}
    with pytest.raises(UnsupportedCapabilityError):
        host.embed("fake:embed", "x")
    with pytest.raises(UnsupportedCapabilityError):
        host.invoke_agent("fake:a", "x")
    assert fake.calls == []


@pytest.mark.parametrize("async_native", [False, True])
def test_make_fake_provider_class(make_host, async_native):
    cls = make_fake_provider_class("emb", ["embed"], async_native=async_native)
    assert cls.capabilities() == {Capability.EMBED}
    fake = cls()
    host = make_host(fake)
    assert host.embed("emb:embed", "x").input_tokens == 1
    with pytest.raises(UnsupportedCapabilityError):
        host.chat("emb:chat", "x")
    assert [c.capability for c in fake.calls] == [Capability.EMBED]


def test_usage_recorder_and_close(make_host, fake):
    recorder = UsageRecorder()
    host = make_host(fake, recorder)
    host.chat("fake:chat", "x")
    assert recorder.operations == ["chat"]
    recorder.clear()
    with pytest.raises(LookupError):
        _ = recorder.last
    host.close()
    assert fake.closed


def test_unknown_failure_kind():
    with pytest.raises(ValueError, match="unknown failure kind"):
        FakeProvider().fail_next("gremlins")


def test_host_validation_runs_before_the_fake(make_host, fake):
    host = make_host(fake)
    with pytest.raises(UnsupportedCapabilityError):
        host.chat("fake:basic", Request.from_prompt("x", system_prompt="sys"))
    with pytest.raises(ValidationError):
        host.embed("fake:embed", [])
    assert fake.calls == []


def test_genai_home_fixture_isolates_the_configuration(genai_home):
    import os

    from genai_commons import Config

    assert os.environ["GENAI_HOME"] == str(genai_home)
    assert Config.load().home == genai_home


def test_make_host_builds_isolated_hosts(make_host, fake_provider, genai_home):
    first = make_host(fake_provider)
    second = make_host(FakeProvider, retry=RetryPolicy(max_attempts=1))
    assert first.home == genai_home
    assert [p.name for p in first.plugins()] == ["fake"]
    first.chat("fake:chat", "x")
    assert len(fake_provider.calls) == 1
    assert second.chat("fake:chat", "y").text == "echo: y"
    assert second.config.retry.max_attempts == 1
    assert len(fake_provider.calls) == 1, "hosts share no plugin instance"


def test_pytest_plugin_imports_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys, genai_commons.testing.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.startswith('genai_commons.testing.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['genai_commons.testing.pytest_plugin']"
