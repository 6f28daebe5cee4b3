"""The JSON form of every class and enum of the domain model: ``from_json(to_json(x), type(x)) == x``.

``EXAMPLES`` holds at least one instance of every attrs class that ``genai_commons.model`` exports;
``test_every_model_class_has_an_example`` fails when a class is added without one.
"""

from __future__ import annotations

import enum
import json
from array import array
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

import genai_commons.model as model
from genai_commons.errors import ValidationError
from genai_commons.model import (
    Agent,
    AgentRequest,
    AgentResponse,
    AgentTextChunk,
    AgentTrace,
    And,
    Capability,
    Chunk,
    ChunkCollection,
    Citation,
    DeployedModel,
    EmbeddingPurpose,
    EmbeddingsOptions,
    EmbeddingsResponse,
    Eq,
    FileCollection,
    FileContent,
    FileType,
    Function,
    ImageOptions,
    In,
    IngestResult,
    KnowledgeBase,
    KnowledgeBaseChunk,
    Message,
    Metadata,
    MetadataCollection,
    Modality,
    Not,
    Or,
    OutputSchema,
    ProviderInfo,
    Range,
    Reference,
    Request,
    RerankRequest,
    RerankResponse,
    RerankResult,
    Response,
    RetrievalQuery,
    RetrievalResult,
    Role,
    SourceType,
    StopReason,
    StreamEnd,
    SyncJob,
    SyncResult,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolExecution,
    Usage,
)
from genai_commons.serialization import from_json, register_provider_options, structure, to_json, unstructure


def lookup_weather(city: str, days: int = 1) -> str:
    """Look up the weather forecast.

    Args:
        city: Name of the city.
        days: Number of days to forecast.
    """
    return f"sunny in {city} for {days} day(s)"


@register_provider_options
@attrs.frozen(kw_only=True)
class DemoOptions:
    """A plugin's own provider options, registered for the JSON form."""

    guardrail: str
    trace: bool = False


PNG = b"\x89PNG\r\n\x1a\n fake image bytes"
FILES = FileCollection.of(
    FileContent.from_url("https://example.com/cat.png", FileType.IMAGE, text_content="a cat"),
    FileContent.from_bytes(PNG, FileType.IMAGE, extension="png"),
    FileContent.from_bytes(b"%PDF-1.7", FileType.DOCUMENT, extension="pdf", text_content="report"),
)
TOOL_CALL = ToolCall(id="call_1", name="lookup_weather", arguments='{"city": "Paris"}')
METADATA = MetadataCollection.of({"lang": "en"}, year="2024")
EMBEDDER = DeployedModel(
    provider="local",
    model_id="all-MiniLM-L6-v2",
    output_modality=Modality.EMBEDDINGS,
    input_modalities=[Modality.TEXT],
)
KB_CHUNK = KnowledgeBaseChunk(
    input_text="Paris is the capital of France.",
    vector=[0.25, -0.5, 1.0],
    chunk_id="chunk-1",
    human_readable_id="geo/france#1",
    source_id="42",
    source_type="Article",
    metadata=METADATA,
    similarity=0.875,
)
REFERENCE = Reference(
    title="France",
    content="Paris is the capital.",
    source="https://example.com/france",
    source_type=SourceType.URL,
    citations=[Citation(start_index=0, end_index=5, text="Paris", quote="Paris is the capital.")],
)
FILTER = And(
    filters=[
        Eq(key="lang", value="en"),
        Or(filters=[In(key="topic", values=["geo", "history"]), Range(key="year", gte=2000, lt=2025.5)]),
        Not(filter=Eq(key="draft", value="true")),
    ]
)

#: One or more instances of every attrs class of the model, keyed by class.
EXAMPLES: dict[type, list[Any]] = {
    Agent: [Agent(provider="bedrock", agent_id="AGENT1", alias_id="ALIAS1"), Agent(provider="bedrock", agent_id="A2")],
    AgentRequest: [
        AgentRequest(
            input_text="Book a table",
            session_id="s-1",
            enable_trace=True,
            end_session=False,
            session_attributes={"user": "ann"},
            prompt_session_attributes={"time": "noon"},
        )
    ],
    AgentResponse: [
        AgentResponse(
            text="Booked.",
            session_id="s-1",
            references=[REFERENCE],
            traces=[AgentTrace(step="orchestration", content={"steps": [1, 2]}, rationale="needs a booking")],
            duration_ms=12.5,
        )
    ],
    AgentTextChunk: [AgentTextChunk(text="Booked", references=[REFERENCE])],
    AgentTrace: [AgentTrace(step="pre_processing", content={"ok": True, "nested": {"a": [1, "x", None]}})],
    And: [FILTER, And(filters=[])],
    Chunk: [Chunk(input_text="hello"), Chunk(input_text="hello", vector=array("f", [0.5, 1.5]))],
    ChunkCollection: [
        ChunkCollection(),
        ChunkCollection(chunks=[Chunk(input_text="plain", vector=[1.0, 2.0]), KB_CHUNK]),
    ],
    Citation: [Citation(start_index=3, end_index=9, text="cited", quote="the quote"), Citation()],
    DeployedModel: [
        DeployedModel(
            provider="openai",
            model_id="gpt-4o-mini",
            display_name="GPT-4o mini",
            input_modalities=[Modality.TEXT, Modality.IMAGE],
            supports_function_calling=True,
            supports_streaming=True,
            lifecycle="ACTIVE",
        ),
        EMBEDDER,
    ],
    EmbeddingsOptions: [EmbeddingsOptions(), EmbeddingsOptions(dimensions=256, purpose=EmbeddingPurpose.QUERY)],
    EmbeddingsResponse: [
        EmbeddingsResponse(
            chunks=ChunkCollection.of_texts(["a", "b"]).with_vectors([[0.1, 0.2], [0.3, 0.4]]),
            input_tokens=4,
            duration_ms=3.0,
            model_id="text-embedding-3-small",
        )
    ],
    Eq: [Eq(key="lang", value="en")],
    FileCollection: [FILES],
    FileContent: list(FILES),
    Function: [Function.from_callable(lookup_weather)],
    ImageOptions: [ImageOptions(), ImageOptions(height=512, width=768, number_of_images=2, seed=7, cfg_scale=7.5)],
    In: [In(key="topic", values=["geo"])],
    IngestResult: [IngestResult(inserted=3, deleted=1, unchanged=2, input_tokens=30, duration_ms=8.25)],
    SyncJob: [
        SyncJob(job_id="JOB1", data_source_id="DS1", status="in_progress"),
        SyncJob(
            job_id="JOB2",
            data_source_id="DS2",
            status="failed",
            documents_scanned=12,
            documents_added=4,
            documents_modified=1,
            documents_deleted=2,
            documents_failed=5,
            failure_reasons=["s3://bucket/a.pdf: too large"],
            started_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
            updated_at=datetime(2024, 5, 1, 12, 3, 30, tzinfo=UTC),
        ),
    ],
    SyncResult: [
        SyncResult(),
        SyncResult(jobs=[SyncJob(job_id="JOB1", data_source_id="DS1", status="complete")], duration_ms=1500.5),
    ],
    KnowledgeBase: [
        KnowledgeBase(provider="sqlite", name="docs", embedding_model=EMBEDDER, description="product docs"),
        KnowledgeBase(provider="opensearch", name="kb", collection="kb-index"),
    ],
    KnowledgeBaseChunk: [KB_CHUNK],
    Message: [
        Message(role=Role.USER, content="What is in these files?", files=FILES),
        Message(role=Role.ASSISTANT, tool_calls=[TOOL_CALL]),
        Message(role=Role.TOOL, content="sunny", tool_call_id="call_1"),
        Message(role=Role.TOOL, content="city unknown", tool_call_id="call_2", is_error=True),
        Message(role=Role.SYSTEM, content="Be brief."),
    ],
    Metadata: [Metadata(key="lang", value="en")],
    MetadataCollection: [METADATA, MetadataCollection()],
    Not: [Not(filter=In(key="topic", values=["sport"]))],
    Or: [Or(filters=[Eq(key="a", value="1"), Range(key="n", gt=1)])],
    OutputSchema: [
        OutputSchema.of(
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, name="weather"
        )
    ],
    ProviderInfo: [
        ProviderInfo(name="openai", capabilities=[Capability.CHAT, Capability.EMBED], description="OpenAI", version="1")
    ],
    Range: [Range(key="year", gte=2000), Range(key="score", gt=0.5, lte=1)],
    Reference: [REFERENCE, Reference()],
    Request: [
        Request(
            system_prompt="You are a weather bot.",
            max_tokens=256,
            temperature=0.2,
            top_p=0.9,
            stop_sequences=["END"],
            messages=[
                Message(role=Role.USER, content="Weather in Paris? See the files.", files=FILES),
                Message(role=Role.ASSISTANT, tool_calls=[TOOL_CALL]),
                Message(role=Role.TOOL, content="sunny", tool_call_id="call_1"),
            ],
            tools=[
                Function.from_callable(lookup_weather),
                Tool(name="search", description="Search the web", parameters={"type": "object", "properties": {}}),
            ],
            tool_choice=ToolChoice.TOOL,
            tool_choice_name="lookup_weather",
            provider_options=[DemoOptions(guardrail="strict", trace=True)],
        ),
        Request.from_prompt("Hello"),
        Request(),
    ],
    Response: [
        Response(
            message=Message(role=Role.ASSISTANT, content="Paris is sunny."),
            input_tokens=10,
            output_tokens=5,
            duration_ms=120.5,
            stop_reason=StopReason.END_TURN,
            provider_stop_reason="stop",
            references=[REFERENCE],
            model_id="gpt-4o-mini-2024-07-18",
        ),
        Response(message=Message(role=Role.ASSISTANT, files=FileCollection.of(FileContent.from_bytes(PNG, "image")))),
    ],
    RetrievalQuery: [
        RetrievalQuery(text="capital of France", k=3, min_similarity=0.5, metadata=METADATA, filter=FILTER),
        RetrievalQuery(vector=[0.25, 0.5]),
    ],
    RerankRequest: [RerankRequest(query="a fox", documents=["the quick brown fox", "a lazy dog"], top_n=1)],
    RerankResult: [RerankResult(index=1, relevance_score=0.25)],
    RerankResponse: [
        RerankResponse(
            results=[RerankResult(index=0, relevance_score=0.9)], input_tokens=7, duration_ms=3.5, model_id="m"
        ),
        RerankResponse(),
    ],
    RetrievalResult: [RetrievalResult(chunks=[KB_CHUNK], input_tokens=4, duration_ms=1.5), RetrievalResult()],
    StreamEnd: [
        StreamEnd(stop_reason=StopReason.TOOL_USE, input_tokens=3, output_tokens=4, total_tokens=7),
        StreamEnd(),
    ],
    TextDelta: [TextDelta(text="Par")],
    Tool: [Tool(name="search"), Tool(name="get-time", description="Current time", tool_type="function")],
    ToolCall: [TOOL_CALL],
    ToolCallDelta: [ToolCallDelta(index=0, id="call_1", name="lookup_weather", arguments='{"ci')],
    ToolExecution: [
        ToolExecution(call=TOOL_CALL, result="18 C"),
        ToolExecution(call=TOOL_CALL, result="x", is_error=True),
    ],
    Usage: [
        Usage(
            provider="openai",
            deployed_model_display_name="GPT-4o mini",
            model_id="gpt-4o-mini",
            operation="chat",
            input_tokens=10,
            output_tokens=5,
            total_tokens=15,
            duration_ms=99.5,
            timestamp=datetime(2025, 1, 13, 12, 30, tzinfo=UTC),
            calls=2,
        ),
        Usage(
            provider="openai",
            deployed_model_display_name="o3-mini",
            model_id="o3-mini",
            operation="chat",
            input_tokens=1000,
            output_tokens=50,
            cache_read_tokens=600,
            cache_write_tokens=10,
            reasoning_tokens=20,
            cost=0.00123,
            timestamp=datetime(2025, 1, 13, 12, 30, tzinfo=UTC),
        ),
    ],
}

MODEL_CLASSES = sorted(
    (obj for name in model.__all__ if attrs.has(obj := getattr(model, name))), key=lambda cls: cls.__name__
)
MODEL_ENUMS = sorted(
    (obj for name in model.__all__ if isinstance(obj := getattr(model, name), type) and issubclass(obj, enum.Enum)),
    key=lambda cls: cls.__name__,
)


def _examples() -> list[Any]:
    return [
        pytest.param(value, id=f"{cls.__name__}-{i}")
        for cls, values in EXAMPLES.items()
        for i, value in enumerate(values)
    ]


def test_every_model_class_has_an_example() -> None:
    missing = [cls.__name__ for cls in MODEL_CLASSES if cls not in EXAMPLES]
    assert not missing, f"add a round-trip example to EXAMPLES for: {', '.join(missing)}"
    assert len(MODEL_CLASSES) >= 39


def test_examples_are_of_their_class() -> None:
    for cls, values in EXAMPLES.items():
        assert values
        assert all(type(value) is cls for value in values), cls


@pytest.mark.parametrize("value", _examples())
def test_json_round_trip(value: Any) -> None:
    text = to_json(value)
    assert from_json(text, type(value)) == value
    # Stable: writing the read-back object gives the same document (an int bound may come back a float).
    assert json.loads(to_json(from_json(text, type(value)))) == json.loads(text)
    assert structure(json.loads(text), type(value)) == value


@pytest.mark.parametrize("enum_class", MODEL_ENUMS, ids=lambda cls: cls.__name__)
def test_enum_round_trip(enum_class: type[enum.Enum]) -> None:
    for member in enum_class:
        assert to_json(member) == json.dumps(member.value)
        assert from_json(to_json(member), enum_class) is member


def test_enums_of_the_model() -> None:
    names = {cls.__name__ for cls in MODEL_ENUMS}
    assert {
        "Role",
        "MessageType",
        "ContentType",
        "FileType",
        "ToolChoice",
        "SourceType",
        "ImageGenerationType",
    } <= names


def test_function_callable_travels_as_its_import_reference() -> None:
    data = unstructure(Function.from_callable(lookup_weather))
    assert data["callable"] == f"{__name__}:lookup_weather"
    back = structure(data, Function)
    assert back.callable is lookup_weather
    assert back.reference == f"{__name__}:lookup_weather"


def test_request_json_form() -> None:
    request = EXAMPLES[Request][0]
    data = json.loads(to_json(request))
    assert [tool["type"] for tool in data["tools"]] == ["Function", "Tool"]
    assert data["tools"][0]["callable"] == f"{__name__}:lookup_weather"
    assert data["provider_options"] == [{"type": f"{__name__}:DemoOptions", "guardrail": "strict", "trace": True}]
    assert data["tool_choice"] == "tool"
    assert data["messages"][0]["role"] == "user"
    assert data["messages"][0]["message_type"] == "file"
    assert data["messages"][0]["files"]["files"][1]["extension"] == "png"
    assert data["messages"][1]["tool_calls"][0] == {
        "id": "call_1",
        "name": "lookup_weather",
        "arguments": '{"city": "Paris"}',
        "tool_type": "function",
    }
    back = from_json(json.dumps(data), Request)
    assert back.option(DemoOptions) == DemoOptions(guardrail="strict", trace=True)
    assert back.function("lookup_weather") is not None
    assert back.function("lookup_weather").callable("Oslo") == "sunny in Oslo for 1 day(s)"


def test_unregistered_provider_options_cannot_be_written() -> None:
    @attrs.frozen
    class Unregistered:
        x: int = 1

    with pytest.raises(ValidationError, match="not registered"):
        to_json(Request().with_options(Unregistered()))


def test_unknown_provider_option_type_is_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown provider option type"):
        from_json('{"provider_options": [{"type": "nowhere:Options"}]}', Request)


def test_chunks_filters_vectors_and_times_in_json() -> None:
    data = json.loads(to_json(EXAMPLES[ChunkCollection][1]))
    assert [chunk["type"] for chunk in data["chunks"]] == ["Chunk", "KnowledgeBaseChunk"]
    assert data["chunks"][0]["vector"] == [1.0, 2.0]
    assert data["chunks"][1]["metadata"] == {
        "items": [{"key": "lang", "value": "en"}, {"key": "year", "value": "2024"}]
    }

    query = json.loads(to_json(EXAMPLES[RetrievalQuery][0]))
    assert query["filter"]["op"] == "and"
    assert [f["op"] for f in query["filter"]["filters"]] == ["eq", "or", "not"]
    assert query["filter"]["filters"][1]["filters"][1] == {
        "op": "range",
        "key": "year",
        "gt": None,
        "gte": 2000,
        "lt": 2025.5,
        "lte": None,
    }

    usage = json.loads(to_json(EXAMPLES[Usage][0]))
    assert usage["timestamp"] == "2025-01-13T12:30:00+00:00"

    deployed = json.loads(to_json(EXAMPLES[DeployedModel][0]))
    assert deployed["input_modalities"] == ["image", "text"]  # sets are written sorted
    assert deployed["output_modality"] == "text"


def test_vectors_read_back_as_float32_arrays() -> None:
    chunk = from_json('{"type": "Chunk", "input_text": "a", "vector": [1, 0.5, -2]}', Chunk)
    assert isinstance(chunk.vector, array)
    assert chunk.vector.typecode == "f"
    assert chunk.vector.tolist() == [1.0, 0.5, -2.0]
    with pytest.raises(ValidationError, match="missing or unknown 'type'"):
        from_json('{"input_text": "a"}', Chunk)


def test_usage_timestamp_is_normalised_to_utc() -> None:
    local = datetime(2025, 1, 13, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    usage = Usage(provider="p", deployed_model_display_name="d", model_id="m", operation="chat", timestamp=local)
    assert usage.timestamp.tzinfo is UTC
    assert usage.timestamp == local
    assert from_json(to_json(usage), Usage) == usage
    text = to_json(usage).replace("+00:00", "+02:00").replace("12:30", "14:30")
    assert from_json(text, Usage).timestamp == local


def test_stream_and_agent_events_are_tagged_unions() -> None:
    assert unstructure(TextDelta(text="x")) == {"text": "x"}
    events = [TextDelta(text="a"), ToolCallDelta(index=0), StreamEnd()]
    data = unstructure_as(events, list[model.ChatStreamEvent])
    assert [event["type"] for event in data] == ["TextDelta", "ToolCallDelta", "StreamEnd"]
    assert structure(data, list[model.ChatStreamEvent]) == events
    agent_events = [AgentTextChunk(text="a"), AgentTrace(step="failure")]
    data = unstructure_as(agent_events, list[model.AgentEvent])
    assert [event["type"] for event in data] == ["AgentTextChunk", "AgentTrace"]
    assert structure(data, list[model.AgentEvent]) == agent_events


def unstructure_as(value: Any, type_: Any) -> Any:
    from genai_commons.serialization import converter

    return converter().unstructure(value, unstructure_as=type_)


@pytest.mark.parametrize(
    "options",
    [
        ImageOptions(width=512, height=512).with_options(DemoOptions(guardrail="images")),
        EmbeddingsOptions(dimensions=256).with_options(DemoOptions(guardrail="vectors", trace=True)),
    ],
)
def test_image_and_embedding_options_carry_provider_options(options: ImageOptions | EmbeddingsOptions) -> None:
    assert options.option(DemoOptions) is options.provider_options[0]
    assert options.option(str) is None
    assert from_json(to_json(options), type(options)) == options
    assert unstructure(options)["provider_options"][0]["type"] == f"{__name__}:DemoOptions"
