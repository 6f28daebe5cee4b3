"""Bad input to the domain model's JSON form, property-based, over every class and enum the model exports.

Valid documents round-trip exactly. Random JSON values, random text and bytes, and valid documents
broken in each of the ways a document gets broken (a key dropped or added, the wrong JSON type, an
unknown enum value, an out-of-range or non-finite number, a huge string, the wrong or a very deep
nesting) either read as a valid object that writes back the same document, or raise
:class:`~genai_commons.errors.ValidationError` — never another exception, and never an object
built by guessing (a string taken for a number, an unknown key dropped, NaN let through).

The unknown-key policy is the serialization module's: an unknown key is an error, except inside the
free-form JSON a class documents as such (a tool's JSON schema, an agent trace's content, an agent
request's attribute maps).
"""

from __future__ import annotations

import enum
import json
import struct
from typing import Any

import attrs
import pytest
from badinput_model import (
    ENUMS,
    MUTATIONS,
    TARGETS,
    VALID,
    Path,
    assert_written_back,
    document,
    get,
    instances,
    json_data,
    kind,
    nested,
    outcome,
    paths,
    profile,
    targets,
)
from hypothesis import given
from hypothesis import strategies as st

import genai_commons.model as model
from genai_commons.errors import GenAIError, ValidationError
from genai_commons.model import AgentEvent, AgentTrace, ChatStreamEvent, Eq, Filter, Not, Request, RetrievalQuery, Tool
from genai_commons.serialization import MAX_DEPTH, from_json, structure, to_json, unstructure

#: Keys whose value the model normalises on reading: compared loosely when a changed document is read.
NORMALISED = frozenset(
    {"extension", "total_tokens", "display_name", "collection", "timestamp", "started_at", "updated_at"}
)
#: Mappings whose keys are data, not fields: a key added there is no unknown field.
FREE_FORM = frozenset({"parameters", "content", "session_attributes", "prompt_session_attributes", "json_schema"})


def assert_faithful(document: Any, written: Any, key: Any = None) -> None:
    """What was read is what the document said: every key comes back, every value the same JSON
    type and value (vectors rounded to 32-bit floats; normalised fields aside)."""
    if key in NORMALISED:
        return
    if isinstance(document, dict):
        assert isinstance(written, dict), (key, document, written)
        for name, value in document.items():
            assert name in written, f"key {name!r} was dropped silently"
            assert_faithful(value, written[name], name)
    elif isinstance(document, list):
        assert isinstance(written, list), (key, document, written)
        assert len(document) == len(written), key
        for left, right in zip(document, written, strict=True):
            assert_faithful(left, right, key)
    else:
        assert kind(document) == kind(written), (key, document, written)
        if key == "vector" and document is not None:
            assert struct.unpack("f", struct.pack("f", document))[0] == written
        elif isinstance(written, float) and kind(document) == "number":  # a JSON number read into a float field
            assert float(document) == written, (key, document, written)
        else:
            assert document == written, (key, document, written)


def assert_accepted_faithfully(cls: type, changed: Any, value: Any) -> None:
    assert_written_back(cls, value)
    assert_faithful(changed, unstructure(value))


def in_free_form(path: Path) -> bool:
    return any(step in FREE_FORM for step in path)


# -- coverage -------------------------------------------------------------------------------------------


def test_every_model_class_and_enum_has_a_strategy() -> None:
    exported = [getattr(model, name) for name in model.__all__]
    classes = {c for c in exported if isinstance(c, type) and (attrs.has(c) or issubclass(c, enum.Enum))}
    assert classes - set(VALID) == set(), "add a strategy of valid instances to badinput_model.VALID"
    assert set(ENUMS) == {c for c in classes if issubclass(c, enum.Enum)}


# -- (a) valid documents round-trip exactly -------------------------------------------------------------


@profile()
@given(instances())
def test_valid_documents_round_trip_exactly(value: Any) -> None:
    assert_written_back(type(value), value)
    assert from_json(to_json(value, indent=2), type(value)) == value


# -- (b) random documents ----------------------------------------------------------------------------------

documents_of_any_shape = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@profile()
@given(targets, documents_of_any_shape)
def test_random_json_values_are_rejected_or_read_faithfully(cls: type, data: Any) -> None:
    value = outcome(cls, json.dumps(data))
    if value is not None:
        assert_accepted_faithfully(cls, data, value)


@profile(100)
@given(targets, st.text(max_size=40) | st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
def test_random_text_gives_only_validation_errors(cls: type, text: str) -> None:
    outcome(cls, text)


@profile(100)
@given(targets, st.binary(max_size=60))
def test_random_bytes_give_only_validation_errors(cls: type, raw: bytes) -> None:
    outcome(cls, raw)


@profile(100)
@given(instances(), st.sampled_from(["{", "[", '"', ",", "}", "\x00", "\ud800", "NaN", " ", "\\"]), st.data())
def test_truncated_or_corrupted_json_text_gives_only_validation_errors(
    value: Any, junk: str, data: st.DataObject
) -> None:
    text = to_json(value)
    cut = data.draw(st.integers(0, len(text)), label="cut")
    outcome(type(value), text[:cut])
    outcome(type(value), text[:cut] + junk + text[cut:])


# -- (b) valid documents, broken one way at a time ------------------------------------------------------


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
@profile(60)
@given(value=instances(), data=st.data())
def test_a_broken_document_is_rejected_or_read_faithfully(mutation: str, value: Any, data: st.DataObject) -> None:
    cls = type(value)
    original = document(value)
    where = paths(original)
    changed = MUTATIONS[mutation](data, original, where)
    read = outcome(cls, json.dumps(changed, ensure_ascii=False))
    if read is None:
        return
    assert mutation != "deep_nesting", "a document nested hundreds of levels deep is refused"
    assert_accepted_faithfully(cls, changed, read)


@profile()
@given(value=instances(), data=st.data())
def test_an_unknown_key_is_an_error_outside_free_form_json(value: Any, data: st.DataObject) -> None:
    original = document(value)
    objects = [p for p in paths(original) if isinstance(get(original, p), dict) and not in_free_form(p)]
    if not objects:
        return
    path = data.draw(st.sampled_from(objects), label="path")
    target = get(original, path)
    key = data.draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in target), label="key")
    changed = json.loads(json.dumps(original))
    get(changed, path)[key] = data.draw(json_data, label="value")
    assert outcome(type(value), json.dumps(changed)) is None, (path, key)


@profile()
@given(value=instances(), data=st.data(), literal=st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999"]))
def test_a_non_finite_number_is_an_error_everywhere(value: Any, data: st.DataObject, literal: str) -> None:
    original = document(value)
    where = paths(original)
    path = data.draw(st.sampled_from(where), label="path")
    changed = _set(json.loads(json.dumps(original)), path, "__HERE__") if path else "__HERE__"
    text = json.dumps(changed).replace('"__HERE__"', literal)
    assert outcome(type(value), text) is None, path


def _set(data: Any, path: Path, value: Any) -> Any:
    get(data, path[:-1])[path[-1]] = value
    return data


@profile(100)
@given(value=instances(), data=st.data())
def test_a_value_of_the_wrong_json_type_is_an_error(value: Any, data: st.DataObject) -> None:
    original = document(value)
    candidates = [p for p in paths(original) if get(original, p) is not None]
    path = data.draw(st.sampled_from(candidates), label="path")
    was = kind(get(original, path))
    wrong = data.draw(json_data.filter(lambda v: v is not None and kind(v) != was), label="value")
    read = outcome(type(value), json.dumps(_set(json.loads(json.dumps(original)), path, wrong) if path else wrong))
    assert read is None, (path, wrong)


# -- documents at the edges ------------------------------------------------------------------------------

EDGE_CASES = [
    pytest.param(Request, "NaN", id="bare NaN"),
    pytest.param(Request, '{"temperature": NaN}', id="NaN temperature"),
    pytest.param(Request, '{"temperature": Infinity}', id="infinite temperature"),
    pytest.param(Request, '{"temperature": 1e400}', id="overflowing temperature"),
    pytest.param(Request, '{"max_tokens": 1' + "0" * 5000 + "}", id="a 5000-digit integer"),
    pytest.param(Request, '{"max_tokens": 0}', id="max_tokens out of range"),
    pytest.param(Request, '{"max_tokens": 1.5}', id="a float for an int"),
    pytest.param(Request, '{"max_tokens": "12"}', id="a string for an int"),
    pytest.param(Request, '{"max_tokens": true}', id="a boolean for an int"),
    pytest.param(Request, '{"tool_choice": "sometimes"}', id="unknown enum value"),
    pytest.param(Request, '{"tool_choice": "AUTO"}', id="enum value in the wrong case"),
    pytest.param(Request, '{"stop_sequences": "stop"}', id="a string for a list"),
    pytest.param(Request, '{"messages": {"role": "user"}}', id="an object for a list"),
    pytest.param(Request, '{"messages": [{"role": "user"}]}', id="a message without content"),
    pytest.param(Request, '{"messages": [[{"role": "user", "content": "hi"}]]}', id="a list too deep"),
    pytest.param(Request, '{"temprature": 1}', id="a misspelt key"),
    pytest.param(Request, '{"tools": [{"name": "t"}]}', id="a tool without its tag"),
    pytest.param(Request, '{"tools": [{"type": "Gadget", "name": "t"}]}', id="a tool with an unknown tag"),
    pytest.param(Request, '{"tools": [{"type": "Function", "name": "t", "callable": "os:system"}]}', id="an import"),
    pytest.param(Request, '{"provider_options": [{"type": "os:environ"}]}', id="unknown provider options"),
    pytest.param(Request, '{"provider_options": [{"level": 1}]}', id="untagged provider options"),
    pytest.param(RetrievalQuery, '{"text": "q", "filter": {"op": "xor"}}', id="unknown filter op"),
    pytest.param(RetrievalQuery, '{"text": "q", "filter": {"key": "a", "value": "b"}}', id="filter without op"),
    pytest.param(RetrievalQuery, '{"text": "q", "filter": {"op": "range", "key": "n"}}', id="range without bound"),
    pytest.param(RetrievalQuery, '{"vector": [1e39]}', id="a vector number beyond float32"),
    pytest.param(RetrievalQuery, '{"vector": "0.1,0.2"}', id="a vector as a string"),
    pytest.param(RetrievalQuery, '{"text": "q", "k": 10001}', id="k out of range"),
    pytest.param(Tool, '{"type": "Tool", "name": "bad name!"}', id="a tool name providers refuse"),
    pytest.param(Tool, '{"type": "Tool", "name": "t", "parameters": {"type": "array"}}', id="a non-object schema"),
    pytest.param(Tool, '{"type": "Tool", "name": "t", "parameters": null}', id="a null schema"),
    pytest.param(
        Tool, '{"type": "Tool", "name": "t", "parameters": {"type": "object", "x": NaN}}', id="NaN in a schema"
    ),
    pytest.param(AgentTrace, '{"step": "s", "content": {"score": [1, 1e400]}}', id="infinity in a trace"),
    pytest.param(Request, "[" * 100_000 + "]" * 100_000, id="100,000 nested arrays"),
    pytest.param(Request, '{"messages": ' + "[" * 500 + "]" * 500 + "}", id="500 nested arrays in a field"),
    pytest.param(Request, b"\xff\xfe{}", id="not UTF-8"),
    pytest.param(Request, b"", id="no bytes"),
    pytest.param(Request, '{"system_prompt": "\\ud800"}', id="a lone surrogate"),
]


@pytest.mark.parametrize(("cls", "text"), EDGE_CASES)
def test_documents_at_the_edges(cls: type, text: str | bytes) -> None:
    read = outcome(cls, text)
    if read is not None:  # only the lone surrogate is a valid (if odd) string
        assert isinstance(read, Request) and read.system_prompt == "\ud800"


def test_every_reading_error_is_a_genai_error_and_a_value_error() -> None:
    with pytest.raises(ValidationError) as info:
        from_json('{"temperature": "hot"}', Request)
    assert isinstance(info.value, GenAIError) and isinstance(info.value, ValueError)
    assert "temperature" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 400, 900])
def test_deep_free_form_json_is_refused_on_reading_never_on_writing(depth: int) -> None:
    """A tool schema nested deeper than the model allows is refused when read, so that everything
    read can be written again (writing is recursive too)."""
    schema = {"type": "object", "properties": nested(depth - 2)}  # inside the tool and its schema
    read = outcome(Tool, json.dumps({"type": "Tool", "name": "t", "parameters": schema}))
    assert (read is not None) == (depth <= MAX_DEPTH)
    if read is not None:
        assert_written_back(Tool, read)


def test_an_object_built_too_deep_in_code_is_a_validation_error_when_written() -> None:
    inner: Any = Eq(key="a", value="b")
    for _ in range(5000):
        inner = Not(filter=inner)
    with pytest.raises(ValidationError, match="nested too deeply to write as JSON"):
        to_json(RetrievalQuery(text="q", filter=inner))


@pytest.mark.parametrize("depth", [50, 120, 800])
def test_deeply_nested_filters_are_read_or_refused_with_a_short_message(depth: int) -> None:
    inner: Any = {"op": "eq", "key": "a", "value": "b"}
    for _ in range(depth):
        inner = {"op": "not", "filter": inner}
    try:
        read = from_json(json.dumps({"text": "q", "filter": inner}), RetrievalQuery)
    except ValidationError as exc:
        assert depth > 50 and len(str(exc)) < 300, str(exc)[:300]
    else:
        assert depth == 50
        assert_written_back(RetrievalQuery, read)


# -- tagged unions read on their own ------------------------------------------------------------------------

UNIONS = {"ChatStreamEvent": ChatStreamEvent, "AgentEvent": AgentEvent, "Filter": Filter}


@pytest.mark.parametrize("union", sorted(UNIONS))
@profile(80)
@given(data=st.data())
def test_a_tagged_union_reads_only_its_members(union: str, data: st.DataObject) -> None:
    target = UNIONS[union]
    tag = "op" if union == "Filter" else "type"
    members = list(getattr(target, "__args__", ()))
    member = data.draw(st.sampled_from(members), label="member")
    value = data.draw(VALID[member], label="value")
    name = member.__name__.lower() if union == "Filter" else member.__name__
    good = {tag: name, **document(value)}
    assert structure(good, target) == value
    bad_tag = data.draw(st.sampled_from([None, "", name.upper(), "Tool", "xor", 3]), label="tag")
    broken = {**good, tag: bad_tag} if bad_tag is not None else {k: v for k, v in good.items() if k != tag}
    with pytest.raises(ValidationError):
        structure(broken, target)
    with pytest.raises(ValidationError):
        structure(data.draw(documents_of_any_shape.filter(lambda d: not isinstance(d, dict)), label="junk"), target)


def test_targets_cover_the_brief() -> None:
    """The classes the issue names are all among the targets."""
    wanted = {"Request", "Message", "FileCollection", "FileContent", "Tool", "ToolChoice", "Response", "Usage"}
    wanted |= {"Chunk", "KnowledgeBaseChunk", "Metadata", "RetrievalQuery", "ImageOptions", "EmbeddingsOptions"}
    wanted |= {"DeployedModel", "Eq", "In", "Range", "And", "Or", "Not"}
    assert wanted <= {cls.__name__ for cls in TARGETS}
