"""Hypothesis strategies for the bad-input suite of the domain model's JSON form.

``VALID`` maps every attrs class and enum that :mod:`genai_commons.model` exports to a strategy of
valid instances (``test_every_model_class_has_a_strategy`` fails when a class is added without
one). ``json_values`` draws arbitrary JSON values; :func:`mutations` draws a malformed variant of
a valid document: a key dropped or added, a value of the wrong JSON type, an unknown enum value,
an out-of-range or non-finite number, a huge string, a wrong or very deep nesting.
"""

from __future__ import annotations

import enum
import json
import math
from array import array
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

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
    ContentType,
    DeployedModel,
    EmbeddingPurpose,
    EmbeddingsOptions,
    EmbeddingsResponse,
    Eq,
    FileCollection,
    FileContent,
    FileType,
    Function,
    ImageGenerationType,
    ImageOptions,
    In,
    IngestMode,
    IngestResult,
    KnowledgeBase,
    KnowledgeBaseChunk,
    Message,
    MessageType,
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
    SearchType,
    SourceType,
    StopReason,
    StreamEnd,
    SyncJob,
    SyncResult,
    SyncStatus,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolExecution,
    Usage,
)
from genai_commons.serialization import from_json, register_provider_options, unstructure

#: Examples per property. ``GENAI_BAD_INPUT_EXAMPLES`` raises it for a long local run.
EXAMPLES = 150


def profile(examples: int = EXAMPLES) -> settings:
    """The suite's settings: no deadline (two cores shared with other suites), a bounded count."""
    import os

    count = int(os.environ.get("GENAI_BAD_INPUT_EXAMPLES", examples))
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# -- tool functions and provider options that documents may name -------------------------------------


def forecast(city: str, days: int = 1) -> str:
    """The weather in a city."""
    return f"{city}:{days}"


def shout(text: str) -> str:
    return text.upper()


@register_provider_options
@attrs.frozen(kw_only=True)
class BadInputOptions:
    """A provider option class that travels in JSON (registered)."""

    level: int = 0
    label: str | None = None


# -- leaves ---------------------------------------------------------------------------------------------

texts = st.text(max_size=10)
non_blank = st.text(min_size=1, max_size=10).filter(str.strip)
names = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
providers = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
float32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
vectors = st.lists(float32, max_size=5).map(lambda v: array("f", v))
counts = st.integers(0, 10**9)
optional_counts = st.none() | counts
durations = st.none() | st.floats(0, 1e9)
aware_times = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
)
json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False) | texts
)
json_data = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)

# -- files, messages, tools --------------------------------------------------------------------------

url_files = st.builds(
    FileContent.from_url,
    st.tuples(st.sampled_from(["https://", "http://", "s3://", "file://", "data:"]), texts).map("".join),
    st.sampled_from(FileType),
    text_content=st.none() | texts,
)
inline_files = st.builds(
    FileContent.from_bytes,
    st.binary(max_size=16),
    st.sampled_from(FileType),
    extension=st.none() | st.sampled_from(["png", "jpg", "pdf", "txt"]),
    text_content=st.none() | texts,
)
file_contents = url_files | inline_files
file_collections = st.lists(file_contents, min_size=1, max_size=2).map(lambda f: FileCollection(files=f))
tool_calls = st.builds(ToolCall, id=non_blank, name=names, arguments=texts)
schemas = st.fixed_dictionaries(
    {
        "type": st.just("object"),
        "properties": st.dictionaries(
            names, st.fixed_dictionaries({"type": st.sampled_from(["string", "integer"])}), max_size=2
        ),
    }
)
plain_tools = st.builds(Tool, name=names, description=st.none() | texts, parameters=schemas)
functions = st.builds(Function.from_callable, st.sampled_from([forecast, shout]), name=names, description=st.none())
tools = plain_tools | functions


ANY_ROLE = st.sampled_from(Role)


@st.composite
def messages(draw: st.DrawFn, roles: st.SearchStrategy[Role] = ANY_ROLE) -> Message:
    role = draw(roles)
    files = draw(st.none() | file_collections)
    calls = draw(st.lists(tool_calls, max_size=2)) if role is Role.ASSISTANT else []
    content = draw(st.none() | texts)
    if content is None and not calls and files is None:
        content = draw(texts)
    extra: dict[str, Any] = {}
    if role is Role.TOOL:
        extra = {"tool_call_id": draw(non_blank), "is_error": draw(st.booleans())}
    return Message(role=role, content=content, files=files, tool_calls=calls, **extra)


options = st.lists(st.builds(BadInputOptions, level=st.integers(-5, 5), label=st.none() | texts), max_size=1)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    offered = draw(st.lists(tools, max_size=2, unique_by=lambda t: t.name))
    choice = draw(st.sampled_from(ToolChoice))
    name = None
    if choice is ToolChoice.TOOL and offered:
        name = draw(st.sampled_from([t.name for t in offered]))
    elif choice in (ToolChoice.TOOL, ToolChoice.ANY) and not offered:
        choice = ToolChoice.AUTO
    return Request(
        system_prompt=draw(st.none() | texts),
        max_tokens=draw(st.none() | st.integers(1, 10**6)),
        temperature=draw(st.none() | st.floats(0, 2)),
        top_p=draw(st.none() | st.floats(0, 1)),
        tool_choice=choice,
        tool_choice_name=name,
        stop_sequences=draw(st.lists(non_blank, max_size=2)),
        messages=draw(st.lists(messages(), max_size=2)),
        tools=offered,
        provider_options=draw(options),
    )


@st.composite
def citations(draw: st.DrawFn) -> Citation:
    start = draw(st.none() | st.integers(0, 10**6))
    end = draw(st.none() | st.integers(start or 0, 2 * 10**6))
    return Citation(start_index=start, end_index=end, text=draw(st.none() | texts), quote=draw(st.none() | texts))


references = st.builds(
    Reference,
    title=st.none() | texts,
    content=st.none() | texts,
    source=st.none() | texts,
    source_type=st.sampled_from(SourceType),
    citations=st.lists(citations(), max_size=2),
)
responses = st.builds(
    Response,
    message=messages(st.just(Role.ASSISTANT)),
    input_tokens=optional_counts,
    output_tokens=optional_counts,
    total_tokens=optional_counts,
    duration_ms=durations,
    stop_reason=st.none() | st.sampled_from(StopReason),
    provider_stop_reason=st.none() | texts,
    references=st.lists(references, max_size=2),
    model_id=st.none() | texts,
)

# -- chunks, retrieval, ingestion ---------------------------------------------------------------------

metadata_items = st.builds(Metadata, key=non_blank, value=texts)
metadata_collections = st.dictionaries(non_blank, texts, max_size=3).map(lambda d: MetadataCollection(items=d))
plain_chunks = st.builds(Chunk, input_text=non_blank, vector=st.none() | vectors)
kb_chunks = st.builds(
    KnowledgeBaseChunk,
    input_text=non_blank,
    vector=st.none() | vectors,
    chunk_id=non_blank,
    human_readable_id=texts,
    source_id=st.none() | texts,
    source_type=st.none() | texts,
    metadata=metadata_collections,
    similarity=st.none() | st.floats(-1, 1),
    retrieval_similarity=st.none() | st.floats(-1, 1),
)
chunk_collections = st.builds(ChunkCollection, chunks=st.lists(plain_chunks | kb_chunks, max_size=3))
finite = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def ranges(draw: st.DrawFn) -> Range:
    bounds = draw(st.fixed_dictionaries({}, optional={b: finite for b in ("gt", "gte", "lt", "lte")}).filter(bool))
    return Range(key=draw(non_blank), **bounds)


eqs = st.builds(Eq, key=non_blank, value=texts)
ins = st.builds(In, key=non_blank, values=st.lists(texts, min_size=1, max_size=3))
filters = st.recursive(
    eqs | ins | ranges(),
    lambda inner: st.one_of(
        st.builds(And, filters=st.lists(inner, max_size=2)),
        st.builds(Or, filters=st.lists(inner, min_size=1, max_size=2)),
        st.builds(Not, filter=inner),
    ),
    max_leaves=5,
)


@st.composite
def retrieval_queries(draw: st.DrawFn) -> RetrievalQuery:
    by_text = draw(st.booleans())
    return RetrievalQuery(
        text=draw(non_blank) if by_text else None,
        vector=None if by_text else draw(vectors),
        k=draw(st.integers(1, 10_000)),
        min_similarity=draw(st.none() | st.floats(-1, 1)),
        metadata=draw(metadata_collections),
        filter=draw(st.none() | filters),
        search_type=draw(st.none() | st.sampled_from(SearchType)),
    )


retrieval_results = st.builds(
    RetrievalResult, chunks=st.lists(kb_chunks, max_size=2), input_tokens=optional_counts, duration_ms=durations
)
ingest_results = st.builds(
    IngestResult,
    inserted=counts,
    deleted=counts,
    unchanged=counts,
    input_tokens=optional_counts,
    duration_ms=durations,
)
sync_jobs = st.builds(
    SyncJob,
    job_id=non_blank,
    data_source_id=non_blank,
    status=st.sampled_from(SyncStatus),
    documents_scanned=counts,
    documents_added=counts,
    documents_modified=counts,
    documents_deleted=counts,
    documents_failed=counts,
    failure_reasons=st.lists(texts, max_size=2),
    started_at=st.none() | aware_times,
    updated_at=st.none() | aware_times,
)
sync_results = st.builds(SyncResult, jobs=st.lists(sync_jobs, max_size=2), duration_ms=durations)

# -- options, usage, catalogue --------------------------------------------------------------------------

image_options = st.builds(
    ImageOptions,
    height=st.none() | st.integers(1, 16384),
    width=st.none() | st.integers(1, 16384),
    number_of_images=st.integers(1, 10),
    seed=st.none() | st.integers(0, 2**32 - 1),
    cfg_scale=st.none() | st.floats(0, 50),
    generation_type=st.sampled_from(ImageGenerationType),
    provider_options=options,
)
embeddings_options = st.builds(
    EmbeddingsOptions,
    dimensions=st.none() | st.integers(1, 10_000),
    purpose=st.sampled_from(EmbeddingPurpose),
    normalize=st.booleans(),
    provider_options=options,
)
embeddings_responses = st.builds(
    EmbeddingsResponse,
    chunks=chunk_collections,
    input_tokens=optional_counts,
    total_tokens=optional_counts,
    duration_ms=durations,
    model_id=st.none() | texts,
)
rerank_requests = st.builds(
    RerankRequest,
    query=non_blank,
    documents=st.lists(non_blank, min_size=1, max_size=3),
    top_n=st.none() | st.integers(1, 1000),
)
rerank_results = st.builds(RerankResult, index=st.integers(0, 1000), relevance_score=st.floats(0, 1))
rerank_responses = st.builds(
    RerankResponse,
    results=st.lists(rerank_results, max_size=3, unique_by=lambda r: r.index),
    input_tokens=optional_counts,
    output_tokens=optional_counts,
    total_tokens=optional_counts,
    duration_ms=durations,
    model_id=st.none() | texts,
)
usages = st.builds(
    Usage,
    provider=non_blank,
    deployed_model_display_name=texts,
    model_id=texts,
    operation=st.sampled_from(["chat", "embed", "image", "retrieve", "ingest", "agent", "rerank"]),
    input_tokens=counts,
    output_tokens=counts,
    total_tokens=counts,
    duration_ms=st.floats(0, 1e9),
    timestamp=aware_times,
    calls=st.integers(1, 1000),
)
modality_sets = st.frozensets(st.sampled_from(Modality), min_size=1)
deployed_models = st.builds(
    DeployedModel,
    provider=providers,
    model_id=non_blank,
    display_name=texts,
    output_modality=st.sampled_from(Modality),
    input_modalities=modality_sets,
    supports_system_prompt=st.booleans(),
    supports_history=st.booleans(),
    supports_function_calling=st.booleans(),
    supports_streaming=st.booleans(),
    active=st.booleans(),
    lifecycle=st.none() | texts,
    max_batch_size=st.none() | st.integers(1, 4096),
    max_input_tokens=st.none() | st.integers(1, 10**7),
    dimensions=st.none() | st.integers(1, 8192),
)
knowledge_bases = st.builds(
    KnowledgeBase,
    provider=providers,
    name=non_blank,
    collection=texts,
    embedding_model=st.none() | deployed_models,
    description=st.none() | texts,
)
agents = st.builds(Agent, provider=providers, agent_id=non_blank, alias_id=st.none() | texts, display_name=texts)
provider_infos = st.builds(
    ProviderInfo,
    name=providers,
    capabilities=st.frozensets(st.sampled_from(Capability)),
    description=texts,
    version=st.none() | texts,
    search_types=st.frozensets(st.sampled_from(SearchType)),
)

# -- streams and agents ------------------------------------------------------------------------------

text_deltas = st.builds(TextDelta, text=texts)
tool_call_deltas = st.builds(
    ToolCallDelta, index=st.integers(0, 64), id=st.none() | texts, name=st.none() | texts, arguments=texts
)
tool_executions = st.builds(ToolExecution, call=tool_calls, result=texts, is_error=st.booleans())
output_schemas = st.builds(
    OutputSchema.of,
    st.fixed_dictionaries(
        {"type": st.just("object"), "properties": st.dictionaries(names, st.just({"type": "string"}), max_size=3)}
    ),
)
stream_ends = st.builds(
    StreamEnd,
    stop_reason=st.none() | st.sampled_from(StopReason),
    provider_stop_reason=st.none() | texts,
    input_tokens=optional_counts,
    output_tokens=optional_counts,
    total_tokens=optional_counts,
    model_id=st.none() | texts,
)
string_maps = st.dictionaries(texts, texts, max_size=2)
agent_requests = st.builds(
    AgentRequest,
    input_text=non_blank,
    session_id=st.none() | texts,
    enable_trace=st.booleans(),
    end_session=st.booleans(),
    session_attributes=string_maps,
    prompt_session_attributes=string_maps,
)
agent_text_chunks = st.builds(AgentTextChunk, text=texts, references=st.lists(references, max_size=1))
agent_traces = st.builds(
    AgentTrace, step=non_blank, content=st.dictionaries(texts, json_data, max_size=3), rationale=st.none() | texts
)
agent_responses = st.builds(
    AgentResponse,
    text=texts,
    session_id=st.none() | texts,
    references=st.lists(references, max_size=1),
    traces=st.lists(agent_traces, max_size=2),
    duration_ms=durations,
)

#: A strategy of valid instances for every attrs class and enum the model exports.
VALID: dict[type, st.SearchStrategy[Any]] = {
    Agent: agents,
    AgentRequest: agent_requests,
    AgentResponse: agent_responses,
    AgentTextChunk: agent_text_chunks,
    AgentTrace: agent_traces,
    And: st.builds(And, filters=st.lists(filters, max_size=2)),
    Chunk: plain_chunks,
    ChunkCollection: chunk_collections,
    Citation: citations(),
    DeployedModel: deployed_models,
    EmbeddingsOptions: embeddings_options,
    EmbeddingsResponse: embeddings_responses,
    Eq: eqs,
    FileCollection: file_collections,
    FileContent: file_contents,
    Function: functions,
    ImageOptions: image_options,
    In: ins,
    IngestResult: ingest_results,
    KnowledgeBase: knowledge_bases,
    KnowledgeBaseChunk: kb_chunks,
    Message: messages(),
    Metadata: metadata_items,
    MetadataCollection: metadata_collections,
    Not: st.builds(Not, filter=filters),
    Or: st.builds(Or, filters=st.lists(filters, min_size=1, max_size=2)),
    ProviderInfo: provider_infos,
    Range: ranges(),
    Reference: references,
    Request: requests(),
    RerankRequest: rerank_requests,
    RerankResponse: rerank_responses,
    RerankResult: rerank_results,
    Response: responses,
    RetrievalQuery: retrieval_queries(),
    RetrievalResult: retrieval_results,
    StreamEnd: stream_ends,
    SyncJob: sync_jobs,
    SyncResult: sync_results,
    TextDelta: text_deltas,
    Tool: plain_tools,
    ToolCall: tool_calls,
    ToolCallDelta: tool_call_deltas,
    ToolExecution: tool_executions,
    OutputSchema: output_schemas,
    Usage: usages,
}
ENUMS: tuple[type[enum.Enum], ...] = (
    Capability,
    ContentType,
    EmbeddingPurpose,
    FileType,
    ImageGenerationType,
    IngestMode,
    MessageType,
    Modality,
    Role,
    SearchType,
    SourceType,
    StopReason,
    SyncStatus,
    ToolChoice,
)
for _enum in ENUMS:
    VALID[_enum] = st.sampled_from(_enum)

#: Every class with a strategy, in a stable order (hypothesis shrinks towards the first).
TARGETS: list[type] = sorted(VALID, key=lambda cls: cls.__name__)
targets = st.sampled_from(TARGETS)


@st.composite
def instances(draw: st.DrawFn) -> Any:
    """A valid instance of any class of the model."""
    return draw(VALID[draw(targets, label="class")])


# -- reading documents -------------------------------------------------------------------------------


def outcome(cls: type, text: str | bytes) -> Any:
    """The object read from ``text``, or None when it is rejected with :class:`ValidationError`.

    Any other exception propagates and fails the calling test: that is the point of the suite.
    """
    try:
        value = from_json(text, cls)
    except ValidationError as exc:
        assert str(exc), "a validation error says what is wrong"
        return None
    assert isinstance(value, cls), (cls, value)
    return value


def document(value: Any) -> Any:
    """A value's JSON document, as plain data (a fresh copy)."""
    return json.loads(json.dumps(unstructure(value)))


def assert_written_back(cls: type, value: Any) -> None:
    """An accepted value writes a document that reads back as the same value, and writes again identically."""
    text = json.dumps(unstructure(value), ensure_ascii=False)
    back = from_json(text, cls)
    assert back == value
    assert json.dumps(unstructure(back), ensure_ascii=False) == text


# -- where documents change -----------------------------------------------------------------------------

Path = tuple[Any, ...]


def paths(data: Any, prefix: Path = ()) -> list[Path]:
    """Every place in a document, except inside free-form JSON (a tool's schema, an agent trace's content)."""
    found = [prefix]
    if prefix and prefix[-1] in ("parameters", "content") and isinstance(data, dict):
        return found
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths(value, (*prefix, index))
    return found


def get(data: Any, path: Path) -> Any:
    for step in path:
        data = data[step]
    return data


def replaced(data: Any, path: Path, value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(data))
    get(copy, path[:-1])[path[-1]] = value
    return copy


def dropped(data: Any, path: Path) -> Any:
    copy = json.loads(json.dumps(data))
    del get(copy, path[:-1])[path[-1]]
    return copy


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def nested(depth: int, leaf: Any = 0) -> Any:
    """``depth`` arrays and objects inside each other, alternating."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


def huge_string(size: int = 200_000) -> str:
    return "é" + "x" * (size - 1)


#: Numbers no field of the model accepts everywhere: out of every documented range, or not finite.
BAD_NUMBERS = (-1, -(2**63), 2**64, 10**30, -1.5, 1e300, -1e300, math.nan, math.inf, -math.inf, 0.5)


def mutation_kinds() -> dict[str, Callable[[st.DataObject, Any, list[Path]], Any]]:
    """The named ways :func:`mutate` breaks a document."""

    def drop(data: st.DataObject, doc: Any, where: list[Path]) -> Any:
        keys = [p for p in where if p and isinstance(p[-1], str)]
        if not keys:
            return doc
        return dropped(doc, data.draw(st.sampled_from(keys), label="dropped"))

    def wrong_type(data: st.DataObject, doc: Any, where: list[Path]) -> Any:
        path = data.draw(st.sampled_from(where), label="path")
        original = kind(get(doc, path))
        return replaced(doc, path, data.draw(json_data.filter(lambda v: kind(v) != original), label="value"))

    def unknown_enum(data: st.DataObject, doc: Any, where: list[Path]) -> Any:
        strings = [p for p in where if isinstance(get(doc, p), str)] or where
        path = data.draw(st.sampled_from(strings), label="path")
        return replaced(doc, path, data.draw(st.sampled_from(["", "UNKNOWN", "Text", "user ", "ẞ", "tool_use2"])))

    def bad_number(data: st.DataObject, doc: Any, where: list[Path]) -> Any:
        numbers = [p for p in where if kind(get(doc, p)) == "number"] or where
        path = data.draw(st.sampled_from(numbers), label="path")
        return replaced(doc, path, data.draw(st.sampled_from(BAD_NUMBERS), label="number"))

    def huge(data: st.DataObject, doc: Any, where: list[Path]) -> Any:
        path = data.draw(st.sampled_from(where), label="path")
        return replaced(doc, path, huge_string())

    def wrong_nesting(data: st.DataObject, doc: Any, where: list[Path]) -> Any:
        path = data.draw(st.sampled_from(where), label="path")
        value = get(doc, path)
        wrapped = data.draw(st.sampled_from([[value], {"value": value}, [[value]], {"items": [value]}]), label="wrap")
        return replaced(doc, path, wrapped)

    def deep(data: st.DataObject, doc: Any, where: list[Path]) -> Any:
        path = data.draw(st.sampled_from(where), label="path")
        return replaced(doc, path, nested(data.draw(st.integers(150, 600), label="depth")))

    def unknown_key(data: st.DataObject, doc: Any, where: list[Path]) -> Any:
        objects = [p for p in where if isinstance(get(doc, p), dict)]
        if not objects:
            return doc
        path = data.draw(st.sampled_from(objects), label="path")
        target = get(doc, path)
        key = data.draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in target), label="key")
        return replaced(doc, path, {**target, key: data.draw(json_data, label="value")})

    return {
        "drop": drop,
        "wrong_type": wrong_type,
        "unknown_enum": unknown_enum,
        "bad_number": bad_number,
        "huge_string": huge,
        "wrong_nesting": wrong_nesting,
        "deep_nesting": deep,
        "unknown_key": unknown_key,
    }


MUTATIONS = mutation_kinds()
