"""Property-based tests of the JSON form: valid instances round-trip, malformed documents are rejected.

A malformed document must give :class:`ValidationError`: never another exception, and never an
object built from a value of the wrong JSON type (no ``"12"`` for an int, no string taken apart
into a list, no unknown key dropped).
"""

from __future__ import annotations

import json
from array import array
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genai_commons.errors import ValidationError
from genai_commons.model import (
    And,
    Chunk,
    ChunkCollection,
    Citation,
    Eq,
    FileCollection,
    FileContent,
    FileType,
    Function,
    In,
    KnowledgeBaseChunk,
    Message,
    MessageType,
    MetadataCollection,
    Not,
    Or,
    Range,
    Reference,
    Request,
    Response,
    RetrievalQuery,
    Role,
    StopReason,
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
)
from genai_commons.serialization import from_json, register_provider_options, to_json, unstructure

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def convert_units(value: float, unit: str = "c") -> str:
    """Convert a temperature."""
    return f"{value}{unit}"


def count_words(text: str, *, distinct: bool = False) -> str:
    return str(len(set(text.split()) if distinct else text.split()))


@register_provider_options
@attrs.frozen(kw_only=True)
class PropertyOptions:
    level: int = 0
    label: str | None = None


# -- strategies of valid instances -----------------------------------------------------------------

texts = st.text(max_size=12)
non_blank = st.text(min_size=1, max_size=12).filter(str.strip)
tool_names = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
finite = st.floats(allow_nan=False, allow_infinity=False)
float32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
vectors = st.lists(float32, max_size=6).map(lambda v: array("f", v))
tokens = st.none() | st.integers(0, 10**9)
durations = st.none() | st.floats(0, 1e9)

url_files = st.builds(
    FileContent.from_url,
    st.tuples(st.sampled_from(["https://", "http://", "s3://", "file://", "data:"]), texts).map("".join),
    st.sampled_from(FileType),
    text_content=st.none() | texts,
)
inline_files = st.builds(
    FileContent.from_bytes,
    st.binary(max_size=24),
    st.sampled_from(FileType),
    extension=st.none() | st.sampled_from(["png", ".JPG", "pdf", "txt"]),
    text_content=st.none() | texts,
)
file_collections = st.lists(url_files | inline_files, min_size=1, max_size=3).map(lambda f: FileCollection(files=f))
ANY_ROLE = st.sampled_from(Role)
tool_calls = st.builds(ToolCall, id=non_blank, name=tool_names, arguments=texts, tool_type=st.just("function") | texts)


@st.composite
def messages(draw: st.DrawFn, roles: st.SearchStrategy[Role] = ANY_ROLE) -> Message:
    role = draw(roles)
    files = draw(st.none() | file_collections)
    calls = draw(st.lists(tool_calls, max_size=2)) if role is Role.ASSISTANT else []
    content = draw(st.none() | texts)
    if content is None and not calls and files is None:
        content = draw(texts)
    extra: dict[str, Any] = {}
    if files is not None and draw(st.booleans()):
        extra["message_type"] = draw(st.sampled_from(MessageType))
    if role is Role.TOOL:
        extra["tool_call_id"] = draw(non_blank)
        extra["is_error"] = draw(st.booleans())
    return Message(role=role, content=content, files=files, tool_calls=calls, **extra)


schemas = st.fixed_dictionaries(
    {
        "type": st.just("object"),
        "properties": st.dictionaries(
            tool_names, st.fixed_dictionaries({"type": st.sampled_from(["string", "integer"])}), max_size=2
        ),
    }
)
tools = st.one_of(
    st.builds(Tool, name=tool_names, description=st.none() | texts, parameters=schemas),
    st.builds(
        Function.from_callable, st.sampled_from([convert_units, count_words]), name=tool_names, description=st.none()
    ),
)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    offered = draw(st.lists(tools, max_size=3, unique_by=lambda t: t.name))
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
        stop_sequences=draw(st.lists(st.text(min_size=1, max_size=5), max_size=2)),
        messages=draw(st.lists(messages(), max_size=3)),
        tools=offered,
        provider_options=draw(
            st.lists(st.builds(PropertyOptions, level=st.integers(), label=st.none() | texts), max_size=1)
        ),
    )


@st.composite
def citations(draw: st.DrawFn) -> Citation:
    start = draw(st.none() | st.integers(0, 10**6))
    end = draw(st.none() | st.integers(start or 0, 10**6 + 10))
    return Citation(start_index=start, end_index=end, text=draw(st.none() | texts), quote=draw(st.none() | texts))


references = st.builds(
    Reference,
    title=st.none() | texts,
    content=st.none() | texts,
    source=st.none() | texts,
    source_type=st.sampled_from(["url", "location"]),
    citations=st.lists(citations(), max_size=2),
)
responses = st.builds(
    Response,
    message=messages(st.just(Role.ASSISTANT)),
    input_tokens=tokens,
    output_tokens=tokens,
    total_tokens=tokens,
    duration_ms=durations,
    stop_reason=st.none() | st.sampled_from(StopReason),
    provider_stop_reason=st.none() | texts,
    references=st.lists(references, max_size=2),
    model_id=st.none() | texts,
)

metadata = st.dictionaries(non_blank, texts, max_size=3).map(lambda d: MetadataCollection(items=d))
plain_chunks = st.builds(Chunk, input_text=non_blank, vector=st.none() | vectors)
kb_chunks = st.builds(
    KnowledgeBaseChunk,
    input_text=non_blank,
    vector=st.none() | vectors,
    chunk_id=non_blank,
    human_readable_id=texts,
    source_id=st.none() | texts,
    source_type=st.none() | texts,
    metadata=metadata,
    similarity=st.none() | st.floats(-1, 1),
)
chunk_collections = st.builds(ChunkCollection, chunks=st.lists(plain_chunks | kb_chunks, max_size=4))


@st.composite
def ranges(draw: st.DrawFn) -> Range:
    bounds = draw(st.fixed_dictionaries({}, optional={b: finite for b in ("gt", "gte", "lt", "lte")}).filter(bool))
    return Range(key=draw(non_blank), **bounds)


filter_leaves = st.one_of(
    st.builds(Eq, key=non_blank, value=texts),
    st.builds(In, key=non_blank, values=st.lists(texts, min_size=1, max_size=3)),
    ranges(),
)
filters = st.recursive(
    filter_leaves,
    lambda children: st.one_of(
        st.builds(And, filters=st.lists(children, max_size=3)),
        st.builds(Or, filters=st.lists(children, min_size=1, max_size=3)),
        st.builds(Not, filter=children),
    ),
    max_leaves=6,
)


@st.composite
def retrieval_queries(draw: st.DrawFn) -> RetrievalQuery:
    by_text = draw(st.booleans())
    return RetrievalQuery(
        text=draw(non_blank) if by_text else None,
        vector=None if by_text else draw(vectors),
        k=draw(st.integers(1, 10_000)),
        min_similarity=draw(st.none() | st.floats(-1, 1)),
        metadata=draw(metadata),
        filter=draw(st.none() | filters),
    )


usages = st.builds(
    Usage,
    provider=non_blank,
    deployed_model_display_name=texts,
    model_id=texts,
    operation=st.sampled_from(["chat", "embed", "image", "retrieve", "ingest", "agent"]),
    input_tokens=st.integers(0, 10**9),
    output_tokens=st.integers(0, 10**9),
    total_tokens=st.integers(0, 2 * 10**9),
    duration_ms=st.floats(0, 1e9),
    timestamp=st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
    ),
    calls=st.integers(1, 1000),
)

INSTANCES = st.one_of(requests(), messages(), responses, chunk_collections, retrieval_queries(), usages)


# -- round trips -------------------------------------------------------------------------------------


def assert_round_trip(value: Any) -> None:
    text = to_json(value)
    back = from_json(text, type(value))
    assert back == value
    assert to_json(back) == text


@PROPERTY
@given(messages())
def test_message_round_trip(value: Message) -> None:
    assert_round_trip(value)


@PROPERTY
@given(requests())
def test_request_round_trip(value: Request) -> None:
    assert_round_trip(value)
    back = from_json(to_json(value), Request)
    assert [type(t) for t in back.tools] == [type(t) for t in value.tools]
    for tool in back.tools:
        if isinstance(tool, Function):
            assert tool.callable in (convert_units, count_words)


@PROPERTY
@given(responses)
def test_response_round_trip(value: Response) -> None:
    assert_round_trip(value)


@PROPERTY
@given(chunk_collections)
def test_chunk_collection_round_trip(value: ChunkCollection) -> None:
    assert_round_trip(value)
    back = from_json(to_json(value), ChunkCollection)
    assert [type(c) for c in back] == [type(c) for c in value]
    assert all(c.vector is None or c.vector.typecode == "f" for c in back)


@PROPERTY
@given(retrieval_queries())
def test_retrieval_query_round_trip(value: RetrievalQuery) -> None:
    assert_round_trip(value)
    back = from_json(to_json(value), RetrievalQuery)
    meta = {"k": "1"}
    left, right = value.combined_filter(), back.combined_filter()
    assert (left is None and right is None) or (
        left is not None and right is not None and left.matches(meta) == right.matches(meta)
    )


@PROPERTY
@given(usages)
def test_usage_round_trip(value: Usage) -> None:
    assert_round_trip(value)
    assert from_json(to_json(value), Usage).timestamp.tzinfo is UTC


# -- malformed documents --------------------------------------------------------------------------------

TARGETS = [Message, Request, Response, ChunkCollection, RetrievalQuery, Usage]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)


def outcome(cls: type, document: str) -> Any:
    """The object read from ``document``, or None when it is rejected; any other exception fails the test."""
    try:
        value = from_json(document, cls)
    except ValidationError:
        return None
    assert isinstance(value, cls)
    return value


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


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in the document, except inside a tool's free-form JSON schema."""
    found = [prefix]
    if "parameters" in prefix:
        return found
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, (*prefix, index))
    return found


def get(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    get(copy, path[:-1])[path[-1]] = value
    return copy


@PROPERTY
@given(st.sampled_from(TARGETS), json_values)
def test_random_documents_are_rejected_or_read_faithfully(cls: type, document: Any) -> None:
    value = outcome(cls, json.dumps(document))
    if value is not None:
        assert_faithful(document, unstructure(value))


@PROPERTY
@given(st.sampled_from(TARGETS), st.text(max_size=30))
def test_random_text_gives_only_validation_errors(cls: type, text: str) -> None:
    outcome(cls, text)


@PROPERTY
@given(INSTANCES, st.data())
def test_a_value_of_the_wrong_json_type_is_rejected(value: Any, data: st.DataObject) -> None:
    document = unstructure(value)
    candidates = [p for p in paths(document) if get(document, p) is not None]
    path = data.draw(st.sampled_from(candidates), label="path")
    original = kind(get(document, path))
    wrong = data.draw(json_values.filter(lambda v: v is not None and kind(v) != original), label="replacement")
    assert outcome(type(value), json.dumps(replaced(document, path, wrong))) is None, (path, wrong)


@PROPERTY
@given(INSTANCES, st.data())
def test_an_unknown_key_is_rejected(value: Any, data: st.DataObject) -> None:
    document = unstructure(value)
    objects = [p for p in paths(document) if isinstance(get(document, p), dict) and "parameters" not in p]
    path = data.draw(st.sampled_from(objects), label="path")
    target = get(document, path)
    key = data.draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in target), label="key")
    changed = replaced(document, path, {**target, key: data.draw(json_values, label="value")})
    assert outcome(type(value), json.dumps(changed)) is None, (path, key)


@PROPERTY
@given(INSTANCES, st.data())
def test_mutated_documents_give_only_validation_errors(value: Any, data: st.DataObject) -> None:
    document = unstructure(value)
    path = data.draw(st.sampled_from(paths(document)), label="path")
    if path and data.draw(st.booleans(), label="delete"):
        changed = json.loads(json.dumps(document))
        del get(changed, path[:-1])[path[-1]]
    else:
        changed = replaced(document, path, data.draw(json_values, label="replacement"))
    outcome(type(value), json.dumps(changed))


def assert_faithful(document: Any, written: Any) -> None:
    """What was read is what the document said: every given value comes back, of the same JSON type."""
    if isinstance(document, dict):
        assert isinstance(written, dict)
        for key, value in document.items():
            assert key in written
            assert_faithful(value, written[key])
    elif isinstance(document, list):
        assert isinstance(written, list)
        assert len(document) == len(written)
        for left, right in zip(document, written, strict=True):
            assert_faithful(left, right)
    else:
        assert kind(document) == kind(written)
        assert document == written
