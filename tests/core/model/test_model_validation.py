"""Invariants of the domain model: a bad value fails at construction with a ValidationError that says why."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from genai_commons.errors import GenAIError, ValidationError
from genai_commons.model import (
    Agent,
    Chunk,
    ChunkCollection,
    Citation,
    DeployedModel,
    EmbeddingsOptions,
    EmbeddingsResponse,
    Eq,
    FileCollection,
    FileContent,
    FileType,
    ImageOptions,
    In,
    KnowledgeBase,
    KnowledgeBaseChunk,
    Message,
    Metadata,
    MetadataCollection,
    Or,
    ProviderInfo,
    Range,
    Reference,
    Request,
    Response,
    RetrievalQuery,
    Role,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
)
from genai_commons.serialization import from_json

USER = Message(role=Role.USER, content="hi")
SEARCH = Tool(name="search")

CASES: list[tuple[str, Callable[[], Any], str]] = [
    # Request options and their ranges.
    ("temperature above 2", lambda: Request(temperature=2.5), r"temperature must be between 0\.0 and 2\.0, got 2\.5"),
    ("temperature below 0", lambda: Request(temperature=-0.1), r"temperature must be between 0\.0 and 2\.0"),
    ("temperature NaN", lambda: Request(temperature=math.nan), r"temperature must be a finite number"),
    ("temperature text", lambda: Request(temperature="hot"), r"temperature must be a number, got str"),
    ("top_p above 1", lambda: Request(top_p=1.01), r"top_p must be between 0\.0 and 1\.0, got 1\.01"),
    ("top_p below 0", lambda: Request(top_p=-1), r"top_p must be between 0\.0 and 1\.0"),
    ("max_tokens zero", lambda: Request(max_tokens=0), r"max_tokens must be at least 1, got 0"),
    ("max_tokens bool", lambda: Request(max_tokens=True), r"max_tokens must be a number, got bool"),
    ("max_tokens infinite", lambda: Request(max_tokens=math.inf), r"max_tokens must be a finite number"),
    ("create checks ranges", lambda: Request.create(temperature=9), r"temperature must be between"),
    # Tool choice.
    (
        "tool choice without a name",
        lambda: Request(tools=[SEARCH], tool_choice=ToolChoice.TOOL),
        r"tool choice 'tool' needs the name of the tool to call",
    ),
    (
        "tool choice names an absent tool",
        lambda: Request(tools=[SEARCH], tool_choice="tool", tool_choice_name="other"),
        r"tool choice names 'other', which is not among the request's tools",
    ),
    (
        "with_tool_choice names an absent tool",
        lambda: Request(tools=[SEARCH]).with_tool_choice(ToolChoice.TOOL, Tool(name="other")),
        r"not among the request's tools",
    ),
    (
        "tool choice any without tools",
        lambda: Request(tool_choice=ToolChoice.ANY),
        r"tool choice 'any' needs at least one tool",
    ),
    ("with_tool_choice any without tools", lambda: Request().with_tool_choice("any"), r"needs at least one tool"),
    # Tools.
    (
        "tool name with a space",
        lambda: Tool(name="get weather"),
        r"tool name 'get weather' is invalid: use 1 to 64 letters",
    ),
    ("tool name empty", lambda: Tool(name=""), r"tool name '' is invalid"),
    ("tool name too long", lambda: Tool(name="x" * 65), r"is invalid: use 1 to 64"),
    ("tool name with a dot", lambda: Tool(name="a.b"), r"tool name 'a\.b' is invalid"),
    (
        "tool schema not an object",
        lambda: Tool(name="t", parameters={"type": "array"}),
        r"parameters must be a JSON schema of type 'object'",
    ),
    (
        "duplicate tool names",
        lambda: Request(tools=[SEARCH, Tool(name="search")]),
        r"tool names must be unique, got \['search', 'search'\]",
    ),
    ("duplicate tool via with_tool", lambda: Request(tools=[SEARCH]).with_tool(SEARCH), r"tool names must be unique"),
    ("tool call without an id", lambda: ToolCall(id="", name="search"), r"id must not be empty"),
    ("tool call delta negative index", lambda: ToolCallDelta(index=-1), r"index must be at least 0"),
    # Messages.
    (
        "tool message without tool_call_id",
        lambda: Message(role=Role.TOOL, content="42"),
        r"a tool message needs the tool_call_id of the call it answers",
    ),
    (
        "tool_call_id on a user message",
        lambda: Message(role="user", content="x", tool_call_id="c1"),
        r"only tool messages carry a tool_call_id",
    ),
    (
        "error flag on a user message",
        lambda: Message(role="user", content="x", is_error=True),
        r"only tool messages can report an error",
    ),
    (
        "tool calls on a user message",
        lambda: Message(role=Role.USER, content="x", tool_calls=[ToolCall(id="c1", name="search")]),
        r"only assistant messages carry tool calls",
    ),
    ("message without content", lambda: Message(role=Role.USER), r"a user message needs content"),
    (
        "file message without files",
        lambda: Message(role="user", content="x", message_type="file"),
        r"a message of type 'file' needs files",
    ),
    ("empty stop sequence", lambda: Request().with_stop_sequence(""), r"a stop sequence must not be empty"),
    (
        "stop sequences as one string",
        lambda: Request(stop_sequences="END"),
        r"expected a list of strings, got a single string",
    ),
    # Files.
    (
        "file with url and data",
        lambda: FileContent(file_type="image", url="https://x/a.png", data="aGk="),
        r"a file needs exactly one of url or data",
    ),
    ("file with neither", lambda: FileContent(file_type="image"), r"a file needs exactly one of url or data"),
    (
        "extension with a url",
        lambda: FileContent(file_type="image", url="https://x/a.png", extension="png"),
        r"a file extension may only be given with base64 data",
    ),
    (
        "with_file extension with a url",
        lambda: FileCollection.with_file("image", url="https://x/a", extension="png"),
        r"extension may only be given with base64",
    ),
    (
        "with_file both url and data",
        lambda: FileCollection.with_file("image", url="https://x/a", data=b"x"),
        r"exactly one of url or data",
    ),
    ("invalid base64", lambda: FileContent(file_type="image", data="not base64!"), r"file data is not valid base64"),
    ("base64 with bad padding", lambda: FileContent(file_type="image", data="aGk"), r"file data is not valid base64"),
    ("non-ascii base64", lambda: FileContent(file_type="image", data="aGé="), r"file data is not valid base64"),
    (
        "url without a scheme",
        lambda: FileContent.from_url("example.com/a.png"),
        r"file url must start with one of http://",
    ),
    ("empty file collection", lambda: FileCollection(files=[]), r"a file collection holds at least one file"),
    ("url file has no bytes", lambda: FileContent.from_url("https://x/a.png").to_bytes(), r"this file is a URL"),
    (
        "missing local file",
        lambda: FileContent.from_path("/nonexistent/file.png"),
        r"cannot read file '/nonexistent/file\.png'",
    ),
    # Enumerations: the message lists the valid values.
    (
        "invalid role",
        lambda: Message(role="robot", content="x"),
        r"'robot' is not a valid Role; use one of 'user', 'assistant', 'system', 'tool'",
    ),
    (
        "invalid file type",
        lambda: FileContent.from_url("https://x/a", "video"),
        r"'video' is not a valid FileType; use one of 'image', 'document'",
    ),
    (
        "invalid tool choice",
        lambda: Request(tool_choice="required"),
        r"'required' is not a valid ToolChoice; use one of 'auto', 'none', 'any', 'tool'",
    ),
    ("invalid tool choice in builder", lambda: Request().with_tool_choice("sometimes"), r"not a valid ToolChoice"),
    (
        "invalid source type",
        lambda: Reference(source_type="book"),
        r"'book' is not a valid SourceType; use one of 'url', 'location'",
    ),
    (
        "invalid stop reason",
        lambda: Response.of_text("x", stop_reason="tired"),
        r"'tired' is not a valid StopReason; use one of 'end_turn'",
    ),
    (
        "invalid modality",
        lambda: DeployedModel(provider="p", model_id="m", output_modality="smell"),
        r"'smell' is not a valid Modality",
    ),
    (
        "invalid input modality",
        lambda: DeployedModel(provider="p", model_id="m", input_modalities=["smell"]),
        r"not a valid Modality",
    ),
    ("invalid capability", lambda: ProviderInfo(name="p", capabilities=["fly"]), r"'fly' is not a valid Capability"),
    (
        "invalid embedding purpose",
        lambda: EmbeddingsOptions(purpose="search"),
        r"'search' is not a valid EmbeddingPurpose; use one of 'document', 'query'",
    ),
    (
        "invalid image generation type",
        lambda: ImageOptions(generation_type="inpaint"),
        r"not a valid ImageGenerationType; use one of 'text_to_image'",
    ),
    # Responses.
    ("response from the user", lambda: Response(message=USER), r"a response's message comes from the assistant"),
    (
        "negative response tokens",
        lambda: Response.of_text("x", input_tokens=-1),
        r"input_tokens must be at least 0, got -1",
    ),
    ("no generated image", lambda: Response.of_text("x").generated_image(), r"this response holds no generated image"),
    (
        "citation end before start",
        lambda: Citation(start_index=5, end_index=2),
        r"a citation's end_index must not be before its start_index",
    ),
    ("citation negative start", lambda: Citation(start_index=-1), r"start_index must be at least 0"),
    (
        "tool call arguments not JSON",
        lambda: ToolCall(id="c", name="t", arguments="{oops").parsed_arguments(),
        r"the model's arguments for tool 't' are not valid JSON",
    ),
    (
        "tool call arguments not an object",
        lambda: ToolCall(id="c", name="t", arguments="[1]").parsed_arguments(),
        r"are not a JSON object",
    ),
    # Usage.
    (
        "timezone-naive usage timestamp",
        lambda: Usage(
            provider="p",
            deployed_model_display_name="d",
            model_id="m",
            operation="chat",
            timestamp=datetime(2025, 1, 1),
        ),
        r"usage timestamps must be timezone-aware",
    ),
    (
        "usage without a provider",
        lambda: Usage(provider=" ", deployed_model_display_name="d", model_id="m", operation="chat"),
        r"provider must not be empty",
    ),
    (
        "usage negative tokens",
        lambda: Usage(provider="p", deployed_model_display_name="d", model_id="m", operation="chat", output_tokens=-3),
        r"output_tokens must be at least 0",
    ),
    (
        "usage zero calls",
        lambda: Usage(provider="p", deployed_model_display_name="d", model_id="m", operation="chat", calls=0),
        r"calls must be at least 1",
    ),
    # Deployed models, knowledge bases, agents, providers.
    (
        "provider name with a colon",
        lambda: DeployedModel(provider="a:b", model_id="m"),
        r"provider name 'a:b' must be non-empty, without ':'",
    ),
    (
        "provider name with spaces",
        lambda: KnowledgeBase(provider=" p", name="kb"),
        r"without ':' or surrounding spaces",
    ),
    ("empty model id", lambda: DeployedModel(provider="p", model_id=""), r"model_id must not be empty"),
    ("empty agent id", lambda: Agent(provider="p", agent_id=" "), r"agent_id must not be empty"),
    # Knowledge and embeddings.
    (
        "duplicate metadata keys",
        lambda: MetadataCollection(items=[Metadata(key="a", value="1"), Metadata(key="a", value="2")]),
        r"metadata keys must be unique, got \['a', 'a'\]",
    ),
    (
        "duplicate key via add",
        lambda: MetadataCollection.with_metadata("a", "1").add("a", "2"),
        r"metadata keys must be unique",
    ),
    ("empty metadata key", lambda: Metadata(key="", value="x"), r"key must not be empty"),
    ("empty chunk text", lambda: Chunk(input_text="  "), r"input_text must not be empty"),
    ("vector of strings", lambda: Chunk(input_text="a", vector=["x"]), r"an embedding vector is a sequence of numbers"),
    (
        "similarity out of range",
        lambda: KnowledgeBaseChunk(input_text="a", similarity=1.5),
        r"similarity must be between",
    ),
    (
        "vectors for the wrong number of chunks",
        lambda: ChunkCollection.of_texts(["a", "b"]).with_vectors([[1.0]]),
        r"got 1 vectors for 2 chunks",
    ),
    (
        "no vector in the response",
        lambda: EmbeddingsResponse(chunks=ChunkCollection.of_texts(["a"])).first_vector(),
        r"this response holds no vector",
    ),
    (
        "no chunk in the response",
        lambda: EmbeddingsResponse(chunks=ChunkCollection()).first_vector_string(),
        r"this response holds no vector",
    ),
    (
        "a chunk without vector",
        lambda: EmbeddingsResponse(chunks=ChunkCollection.of_texts(["a"])).vectors,
        r"a chunk of this response has no vector",
    ),
    ("zero dimensions", lambda: EmbeddingsOptions(dimensions=0), r"dimensions must be at least 1, got 0"),
    ("zero images", lambda: ImageOptions(number_of_images=0), r"number_of_images must be between 1 and 10, got 0"),
    ("too many images", lambda: ImageOptions(number_of_images=11), r"number_of_images must be between 1 and 10"),
    ("zero height", lambda: ImageOptions(height=0), r"height must be between 1 and 16384"),
    ("negative seed", lambda: ImageOptions(seed=-1), r"seed must be between 0 and"),
    # Retrieval.
    ("query with neither", RetrievalQuery, r"a retrieval query needs a text or a vector"),
    ("query with blank text", lambda: RetrievalQuery(text="  "), r"a retrieval query's text must not be empty"),
    ("query k zero", lambda: RetrievalQuery(text="q", k=0), r"k must be between 1 and 10000, got 0"),
    (
        "query min similarity",
        lambda: RetrievalQuery(text="q", min_similarity=2),
        r"min_similarity must be between -1\.0 and 1\.0",
    ),
    ("range without a bound", lambda: Range(key="year"), r"filter 'range' on 'year' needs at least one bound"),
    ("in without values", lambda: In(key="topic", values=[]), r"filter 'in' on 'topic' needs at least one value"),
    ("or without filters", lambda: Or(filters=[]), r"filter 'or' needs at least one filter"),
]


@pytest.mark.parametrize(("make", "message"), [pytest.param(make, message, id=name) for name, make, message in CASES])
def test_invalid_input_is_a_clear_validation_error(make: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make()


def test_validation_error_is_a_value_error_and_a_genai_error() -> None:
    with pytest.raises(ValueError):
        Request(temperature=5)
    assert issubclass(ValidationError, GenAIError)


def test_boundaries_are_accepted() -> None:
    assert Request(temperature=0, top_p=0, max_tokens=1).temperature == 0
    assert Request(temperature=2.0, top_p=1.0).top_p == 1.0
    assert Citation(start_index=4, end_index=4).end_index == 4
    assert ImageOptions(number_of_images=10, height=16384, seed=2**32 - 1).seed == 2**32 - 1
    assert RetrievalQuery(text="q", k=10_000, min_similarity=-1.0).k == 10_000
    assert Tool(name="a" * 64).name == "a" * 64
    assert Tool(name="get_weather-2").name == "get_weather-2"
    assert Message(role=Role.ASSISTANT, tool_calls=[ToolCall(id="c", name="t")]).content is None


def test_enum_values_are_accepted_as_strings() -> None:
    assert Message(role="assistant", content="x").role is Role.ASSISTANT
    assert Request(tool_choice="none").tool_choice is ToolChoice.NONE
    assert FileContent.from_url("https://x/a.pdf", "document").file_type is FileType.DOCUMENT


# The same invariants hold for JSON documents, with the path of each problem.
JSON_CASES: list[tuple[type, str, str]] = [
    (
        Request,
        '{"temperature": 3}',
        r"invalid Request document: temperature must be between 0\.0 and 2\.0, got 3\.0 @ \$",
    ),
    (Request, '{"temprature": 0.5}', r"extra fields found \(temprature\)"),
    (Request, '{"max_tokens": "12"}', r"expected int or null, got a string @ \$\.max_tokens"),
    (Request, '{"max_tokens": 1.5}', r"expected int or null, got the number 1\.5 @ \$\.max_tokens"),
    (Request, '{"top_p": NaN}', r"expected a finite number or null, got the number nan @ \$\.top_p"),
    (Request, '{"stop_sequences": "END"}', r"expected an array, got a string @ \$\.stop_sequences"),
    (Request, '{"stop_sequences": [""]}', r"a stop sequence must not be empty"),
    (Request, '{"tool_choice": "any"}', r"tool choice 'any' needs at least one tool"),
    (
        Request,
        '{"messages": [{"role": "robot", "content": "x"}]}',
        r"'robot' is not a valid Role; use one of 'user', 'assistant', 'system', 'tool' @ \$\.messages\[0\]\.role",
    ),
    (
        Request,
        '{"messages": [{"role": "tool", "content": "x"}]}',
        r"a tool message needs the tool_call_id .* @ \$\.messages\[0\]",
    ),
    (Request, '{"tools": [{"type": "Tool", "name": "a b"}]}', r"tool name 'a b' is invalid"),
    (
        Request,
        '{"tools": [{"type": "Function", "name": "f", "callable": "json:nothing_here"}]}',
        r"function 'json:nothing_here' is not a tool function of this program",
    ),
    (
        Request,
        '{"tools": [{"type": "Function", "name": "f", "callable": "mod:<lambda>"}]}',
        r"function 'mod:<lambda>' is not a tool function of this program",
    ),
    (Request, "[]", r"a Request is a JSON object, got an array"),
    (Request, '"hello"', r"a Request is a JSON object, got a string"),
    (Request, "{", r"invalid JSON for Request"),
    (Request, "1" * 5000, r"invalid JSON for Request: Exceeds the limit"),
    (Request, "[" * 100_000 + "]" * 100_000, r"invalid JSON for Request: maximum recursion depth"),
    (Request, '{"top_p": 1e400}', r"expected a finite number or null, got the number inf @ \$\.top_p"),
    (Request, '{"top_p": 1' + "0" * 400 + "}", r"expected a finite number or null, got the number 1000"),
    (Message, '{"role": "user", "content": 5}', r"expected str or null, got the number 5 @ \$\.content"),
    (Message, '{"role": "user", "content": "x", "is_error": 0}', r"expected bool, got the number 0 @ \$\.is_error"),
    (Response, '{"message": {"role": "user", "content": "x"}}', r"a response's message comes from the assistant"),
    (FileContent, '{"file_type": "image", "data": "%%%"}', r"file data is not valid base64"),
    (FileContent, '{"file_type": "image", "url": "https://x", "data": "aGk="}', r"exactly one of url or data"),
    (
        Usage,
        '{"provider": "p", "deployed_model_display_name": "d", "model_id": "m", "operation": "chat", '
        '"timestamp": "2025-01-01T00:00:00"}',
        r"usage timestamps must be timezone-aware",
    ),
    (Chunk, '{"type": "Chunk", "input_text": "a", "vector": [1, "2"]}', r"a vector is an array of finite numbers"),
    (Chunk, '{"type": "Chunk", "input_text": "a", "vector": [1e300]}', r"a vector's numbers must fit a 32-bit float"),
    (Chunk, '{"type": "Nope", "input_text": "a"}', r"missing or unknown 'Nope'"),
    (
        MetadataCollection,
        '{"items": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]}',
        r"metadata keys must be unique",
    ),
    (
        MetadataCollection,
        '{"items": [{"key": "a", "value": 1}]}',
        r"expected str, got the number 1 @ \$\.items\[0\]\.value",
    ),
    (RetrievalQuery, '{"k": 3}', r"a retrieval query needs a text or a vector"),
    (
        RetrievalQuery,
        '{"text": "q", "filter": {"op": "range", "key": "y"}}',
        r"filter 'range' on 'y' needs at least one bound",
    ),
    (RetrievalQuery, '{"text": "q", "k": "5"}', r"expected int, got a string @ \$\.k"),
    (
        DeployedModel,
        '{"provider": "p", "model_id": "m", "input_modalities": "text"}',
        r"expected an array, got a string @ \$\.input_modalities",
    ),
    (Citation, '{"start_index": 4, "end_index": 1}', r"end_index must not be before its start_index"),
]


@pytest.mark.parametrize(
    ("cls", "text", "message"), JSON_CASES, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(JSON_CASES)]
)
def test_invalid_json_is_a_clear_validation_error(cls: type, text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        from_json(text, cls)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Eq(key="lang", value="\ud800"),
        lambda: Eq(key="\udcff", value="en"),
        lambda: In(key="lang", values=["en", "\ud800x"]),
        lambda: Range(key="\ud800", gte=1),
    ],
)
def test_filter_text_must_be_valid_unicode(build) -> None:
    # a lone surrogate (undecodable command-line bytes) cannot be stored or sent by any backend
    with pytest.raises(ValidationError, match="lone surrogate"):
        build()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        ("float32", [0.5, -1.25, 3.0]),
        ("float64", [0.5, -1.25, 3.0]),
        ("strided", [0.5, 3.0]),
        ("list", [0.5, -1.25, 3.0]),
    ],
)
def test_a_vector_from_numpy_or_a_list_keeps_its_numbers(make: str, expected: list[float]) -> None:
    np = pytest.importorskip("numpy")
    source: Any = {
        "float32": np.array([0.5, -1.25, 3.0], dtype=np.float32),  # copied whole, as a buffer
        "float64": np.array([0.5, -1.25, 3.0]),
        "strided": np.array([0.5, -1.25, 3.0], dtype=np.float32)[::2],  # not contiguous: number by number
        "list": [0.5, -1.25, 3.0],
    }[make]
    vector = Chunk(input_text="a", vector=source).vector
    assert vector is not None and vector.typecode == "f" and list(vector) == expected
