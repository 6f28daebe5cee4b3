"""The Pythonic counterpart of every operation (microflow) of the GenAI Commons reference document."""

from __future__ import annotations

import base64
import json
import uuid
from array import array
from datetime import UTC
from pathlib import Path
from typing import Literal

import pytest

from genai_commons.errors import ValidationError
from genai_commons.model import (
    Agent,
    And,
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
    KnowledgeBase,
    KnowledgeBaseChunk,
    Message,
    MessageType,
    Metadata,
    MetadataCollection,
    Not,
    Or,
    Range,
    Reference,
    Request,
    Response,
    RetrievalQuery,
    Role,
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
    exact_match,
)

IMAGE_URL = "https://example.com/cat.png"


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius", days: list[int] | None = None) -> str:
    """Get the current weather.

    Reads a public weather service.

    Args:
        city: Name of the city.
        unit: Unit of the temperatures.
        days: Days ahead to forecast.
    """
    return f"{city}: 21 {unit}"


def no_docs(query: str, limit: int = 3) -> str:
    return query * limit


# -- Text and files: operations ---------------------------------------------------------------


def test_chat_without_history_is_a_request_from_a_prompt() -> None:
    files = FileCollection.with_file(FileType.IMAGE, url=IMAGE_URL, text_content="the cat")
    request = Request.from_prompt("What is in the picture?", files=files, system_prompt="Be brief.")
    (message,) = request.messages
    assert message.role is Role.USER
    assert message.content == "What is in the picture?"
    assert message.files == files
    assert message.message_type is MessageType.FILE
    assert message.images == files.files
    assert request.system_prompt == "Be brief."
    assert not request.has_history
    assert request.has_system_prompt
    assert request.file_types() == {FileType.IMAGE}


def test_chat_without_files_is_a_text_message() -> None:
    request = Request.from_prompt("Hello")
    assert request.messages[0].message_type is MessageType.TEXT
    assert request.messages[0].files is None
    assert not request.has_system_prompt
    assert request.file_types() == frozenset()


def test_chat_with_history_adds_messages_in_chronological_order() -> None:
    base = Request.create(system_prompt="You are helpful.")
    request = (
        base.with_message(Role.USER, "Hi")
        .with_message("assistant", "Hello! How can I help?")
        .with_message(Role.USER, "Look at this", FileCollection.with_file("image", url=IMAGE_URL))
    )
    assert [m.role for m in request.messages] == [Role.USER, Role.ASSISTANT, Role.USER]
    assert [m.content for m in request.messages] == ["Hi", "Hello! How can I help?", "Look at this"]
    assert request.messages[-1].message_type is MessageType.FILE
    assert request.has_history
    assert base.messages == ()  # builders return copies; the original is unchanged
    more = request.with_messages(
        Message(role=Role.ASSISTANT, content="A cat."), Message(role=Role.USER, content="Thanks")
    )
    assert [m.content for m in more.messages][-2:] == ["A cat.", "Thanks"]


def test_create_request_sets_the_seed_attributes() -> None:
    request = Request.create(system_prompt="sys", temperature=0.7, max_tokens=500, top_p=0.9)
    assert (request.system_prompt, request.temperature, request.max_tokens, request.top_p) == ("sys", 0.7, 500, 0.9)
    assert request.tool_choice is ToolChoice.AUTO
    assert request.messages == request.tools == request.stop_sequences == ()
    assert Request.create() == Request()


def test_configure_stop_sequence() -> None:
    request = Request.create().with_stop_sequence("END").with_stop_sequence("\n\n")
    assert request.stop_sequences == ("END", "\n\n")


def test_files_initialise_and_add() -> None:
    collection = FileCollection.with_file(FileType.IMAGE, url=IMAGE_URL, text_content="cat")
    assert len(collection) == 1
    bigger = collection.add(FileType.DOCUMENT, data=b"%PDF-1.7 ...", extension=".PDF", text_content="report")
    assert len(collection) == 1  # a copy
    assert len(bigger) == 2
    url_file, pdf = bigger
    assert url_file.content_type is ContentType.URL
    assert url_file.url == IMAGE_URL
    assert url_file.text_content == "cat"
    assert pdf.content_type is ContentType.BASE64
    assert pdf.extension == "pdf"  # normalised
    assert pdf.media_type == "application/pdf"
    assert pdf.to_bytes() == b"%PDF-1.7 ..."
    assert base64.b64decode(pdf.data or "") == b"%PDF-1.7 ..."
    assert bigger.images == (url_file,)
    assert bigger.documents == (pdf,)
    assert FileCollection.of(url_file, pdf) == bigger
    assert FileCollection.with_file("image", data=b"\x89PNG", extension="png").files[0].media_type == "image/png"


def test_file_content_constructors(tmp_path: Path) -> None:
    from_url = FileContent.from_url(IMAGE_URL)
    assert from_url.file_type is FileType.IMAGE
    assert from_url.extension is None
    assert from_url.media_type is None
    assert FileContent.from_url("s3://bucket/doc.pdf", "document", text_content="doc").text_content == "doc"

    from_bytes = FileContent.from_bytes(b"hello", FileType.DOCUMENT, extension="txt", text_content="greeting")
    assert from_bytes.data == base64.b64encode(b"hello").decode()
    assert from_bytes.to_bytes() == b"hello"

    photo = tmp_path / "Holiday Photo.PNG"
    photo.write_bytes(b"\x89PNG\r\n")
    image = FileContent.from_path(photo)
    assert image.file_type is FileType.IMAGE  # inferred from the extension
    assert image.extension == "png"
    assert image.text_content == "Holiday Photo"  # the stem names the file unless given
    assert image.to_bytes() == b"\x89PNG\r\n"

    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF")
    document = FileContent.from_path(str(report), text_content="Q3 report")
    assert document.file_type is FileType.DOCUMENT
    assert document.text_content == "Q3 report"
    assert FileContent.from_path(photo, FileType.DOCUMENT).file_type is FileType.DOCUMENT


def test_file_content_repr_does_not_dump_the_data() -> None:
    file = FileContent.from_bytes(b"x" * 3000, "image", extension="png")
    assert "<4000 b64 chars>" in repr(file)


def test_create_image_options() -> None:
    options = ImageOptions(height=1024, width=512, number_of_images=3)
    assert (options.height, options.width, options.number_of_images) == (1024, 512, 3)
    assert options.generation_type is ImageGenerationType.TEXT_TO_IMAGE
    defaults = ImageOptions()
    assert (defaults.height, defaults.width, defaults.number_of_images, defaults.seed, defaults.cfg_scale) == (
        None,
        None,
        1,
        None,
        None,
    )


def test_add_function_derives_the_schema_from_the_signature() -> None:
    request = Request.create().with_function(get_weather)
    (tool,) = request.tools
    assert isinstance(tool, Function)
    assert tool.name == "get_weather"
    assert tool.description == "Get the current weather.\n\nReads a public weather service."
    assert tool.callable is get_weather
    assert request.function("get_weather") is tool
    assert request.function("missing") is None
    params = tool.parameters
    assert params["type"] == "object"
    assert params["required"] == ["city"]
    props = params["properties"]
    assert props["city"] == {"type": "string", "description": "Name of the city."}
    assert props["unit"]["enum"] == ["celsius", "fahrenheit"]  # Literal
    assert props["unit"]["default"] == "celsius"
    assert props["unit"]["description"] == "Unit of the temperatures."
    assert {"type": "array", "items": {"type": "integer"}} in props["days"]["anyOf"]  # list[int] | None
    assert {"type": "null"} in props["days"]["anyOf"]
    assert props["days"]["default"] is None


def test_add_function_without_docstring_and_with_overrides() -> None:
    tool = Request().with_function(no_docs, name="search_docs", description="Search the docs").tools[0]
    assert tool.name == "search_docs"
    assert tool.description == "Search the docs"
    assert tool.parameters["properties"] == {"query": {"type": "string"}, "limit": {"type": "integer", "default": 3}}
    assert tool.parameters["required"] == ["query"]
    assert Function.from_callable(no_docs).description is None


def test_add_function_rejects_lambdas_and_varargs() -> None:
    with pytest.raises(ValidationError, match="needs a name of its own"):
        Request().with_function(lambda city: city)
    with pytest.raises(ValidationError, match="needs a name of its own"):
        Request().with_function(lambda city: city, name="named")

    def splat(*cities: str) -> str:
        return ""

    def keywords(**options: str) -> str:
        return ""

    with pytest.raises(ValidationError, match=r"tool function 'splat' takes \*args or \*\*kwargs"):
        Request().with_function(splat)
    with pytest.raises(ValidationError, match=r"takes \*args or \*\*kwargs"):
        Request().with_function(keywords)


def test_function_with_an_unresolvable_type_hint() -> None:
    def broken(x: NotDefinedAnywhere) -> str:  # type: ignore[name-defined] # noqa: F821
        return ""

    with pytest.raises(ValidationError, match="cannot read the signature"):
        Function.from_callable(broken)


def test_set_tool_choice() -> None:
    request = Request().with_function(get_weather).with_tool(Tool(name="search"))
    assert request.tool_choice is ToolChoice.AUTO
    forced = request.with_tool_choice(ToolChoice.TOOL, request.tools[1])
    assert (forced.tool_choice, forced.tool_choice_name) == (ToolChoice.TOOL, "search")
    by_name = request.with_tool_choice("tool", "get_weather")
    assert by_name.tool_choice_name == "get_weather"
    anything = forced.with_tool_choice(ToolChoice.ANY)
    assert (anything.tool_choice, anything.tool_choice_name) == (ToolChoice.ANY, None)  # the tool is ignored
    assert request.with_tool_choice("none", request.tools[0]).tool_choice_name is None


def test_get_response_text() -> None:
    response = Response.of_text("Bonjour", input_tokens=3, output_tokens=2)
    assert response.text == "Bonjour"
    assert response.total_tokens == 5  # computed when not given
    calls_only = Response(message=Message(role=Role.ASSISTANT, tool_calls=[ToolCall(id="c1", name="get_weather")]))
    assert calls_only.text == ""
    assert calls_only.tool_calls[0].name == "get_weather"
    assert Response.of_text("x", input_tokens=3, output_tokens=2, total_tokens=9).total_tokens == 9


def test_get_references_and_citations() -> None:
    first = Reference(
        title="Paris",
        source="https://example.com/paris",
        citations=[Citation(start_index=0, end_index=5, text="Paris", quote="Paris is the capital")],
    )
    second = Reference(title="Seine", source="s3://bucket/seine.txt", source_type="location", citations=[Citation()])
    response = Response.of_text("Paris lies on the Seine.", references=[first, second])
    assert response.references == (first, second)
    assert response.citations == (*first.citations, *second.citations)
    assert Response.of_text("x").references == ()


def test_get_generated_images() -> None:
    first = FileContent.from_bytes(b"img1", FileType.IMAGE, extension="png")
    second = FileContent.from_url("https://example.com/img2.png")
    document = FileContent.from_bytes(b"doc", FileType.DOCUMENT, extension="pdf")
    response = Response(message=Message(role=Role.ASSISTANT, files=FileCollection.of(first, document, second)))
    assert response.generated_images() == (first, second)
    assert response.generated_image() is first
    assert response.generated_image().to_bytes() == b"img1"
    assert response.generated_files == (first, document, second)
    assert response.text == ""


def test_tool_call_arguments() -> None:
    call = ToolCall(id="c1", name="get_weather", arguments='{"city": "Paris"}')
    assert call.parsed_arguments() == {"city": "Paris"}
    assert ToolCall(id="c2", name="t", arguments="").parsed_arguments() == {}
    assert ToolCall(id="c3", name="t").parsed_arguments() == {}


# -- Knowledge bases and embeddings ------------------------------------------------------------


def test_chunk_collection_helpers() -> None:
    collection = ChunkCollection()
    assert len(collection) == 0
    collection = collection.add_chunk("plain text")
    collection = collection.add_knowledge_base_chunk(
        "Paris is in France",
        "doc-1#3",
        source_id="42",
        source_type="Article",
        metadata=MetadataCollection.with_metadata("lang", "en"),
    )
    collection = collection.add_knowledge_base_chunk("Oslo", "doc-2", metadata={"lang": "no"}, chunk_id="fixed")
    plain, paris, oslo = collection
    assert type(plain) is Chunk
    assert isinstance(paris, KnowledgeBaseChunk)
    assert paris.human_readable_id == "doc-1#3"
    assert (paris.source_id, paris.source_type) == ("42", "Article")
    assert paris.metadata.as_dict() == {"lang": "en"}
    assert uuid.UUID(paris.chunk_id)  # generated
    assert oslo.chunk_id == "fixed"
    assert oslo.metadata.get("lang") == "no"
    assert collection.texts == ["plain text", "Paris is in France", "Oslo"]
    assert ChunkCollection.of_texts(["a", "b"]).texts == ["a", "b"]
    assert KnowledgeBaseChunk(input_text="a").chunk_id != KnowledgeBaseChunk(input_text="a").chunk_id


def test_chunks_get_their_vectors_in_order() -> None:
    collection = ChunkCollection.of_texts(["a", "b"]).add_knowledge_base_chunk("c", "id-c", chunk_id="c")
    embedded = collection.with_vectors([[1.0, 0.0], array("f", [0.0, 1.0]), (0.5, 0.5)])
    assert [chunk.vector.tolist() for chunk in embedded if chunk.vector is not None] == [[1, 0], [0, 1], [0.5, 0.5]]
    assert all(isinstance(c.vector, array) and c.vector.typecode == "f" for c in embedded)
    assert isinstance(embedded.chunks[2], KnowledgeBaseChunk)
    assert embedded.chunks[2].chunk_id == "c"  # everything but the vector is kept
    assert all(c.vector is None for c in collection)  # the original is unchanged
    assert "<2 dims>" in repr(embedded.chunks[0])


def test_metadata_helpers() -> None:
    metadata = MetadataCollection.with_metadata("lang", "en")
    extended = metadata.add("year", "2024")
    assert len(metadata) == 1
    assert list(extended) == [Metadata(key="lang", value="en"), Metadata(key="year", value="2024")]
    assert extended.as_dict() == {"lang": "en", "year": "2024"}
    assert extended.get("year") == "2024"
    assert extended.get("missing") is None
    assert extended.get("missing", "default") == "default"
    assert MetadataCollection.of({"lang": "en"}, year="2024") == extended
    assert MetadataCollection.of(lang="en").as_dict() == {"lang": "en"}
    assert MetadataCollection.of().as_dict() == {}
    assert Metadata(key="n", value=3).value == "3"  # type: ignore[arg-type]


def test_metadata_matches_every_required_pair_exactly() -> None:
    stored = MetadataCollection.of(lang="en", year="2024", topic="geo")
    assert stored.matches(MetadataCollection.of(lang="en"))
    assert stored.matches(MetadataCollection.of(lang="en", year="2024"))
    assert stored.matches(MetadataCollection())  # nothing required
    assert not stored.matches(MetadataCollection.of(lang="EN"))  # exact string match
    assert not stored.matches(MetadataCollection.of(lang="en", year="2023"))
    assert not stored.matches(MetadataCollection.of(author="ann"))
    assert not MetadataCollection().matches(MetadataCollection.of(lang="en"))


def test_create_embeddings_options() -> None:
    assert EmbeddingsOptions(dimensions=256).dimensions == 256
    defaults = EmbeddingsOptions()
    assert (defaults.dimensions, defaults.purpose, defaults.normalize) == (None, EmbeddingPurpose.DOCUMENT, True)
    assert EmbeddingsOptions(purpose="query").purpose is EmbeddingPurpose.QUERY


def test_get_first_vector() -> None:
    chunks = ChunkCollection.of_texts(["first", "second"]).with_vectors([[0.5, -0.25], [1.0, 2.0]])
    response = EmbeddingsResponse(chunks=chunks, input_tokens=7)
    vector = response.first_vector()
    assert isinstance(vector, array)
    assert vector.typecode == "f"
    assert vector.tolist() == [0.5, -0.25]
    assert response.first_vector_string() == "[0.5, -0.25]"
    assert json.loads(response.first_vector_string()) == [0.5, -0.25]
    assert [v.tolist() for v in response.vectors] == [[0.5, -0.25], [1.0, 2.0]]
    assert response.total_tokens == 7  # embeddings have no output tokens
    assert EmbeddingsResponse(chunks=chunks, input_tokens=7, total_tokens=8).total_tokens == 8


# -- Portable filters ----------------------------------------------------------------------------

META = {"lang": "en", "year": "2024", "score": " 0.75 ", "title": "abc"}


def test_eq_and_in_match_exact_strings() -> None:
    assert Eq(key="lang", value="en").matches(META)
    assert not Eq(key="lang", value="EN").matches(META)
    assert not Eq(key="missing", value="en").matches(META)
    assert Eq(key="year", value=2024).matches(META)  # type: ignore[arg-type] # values are strings
    assert In(key="lang", values=["fr", "en"]).matches(META)
    assert not In(key="lang", values=["fr"]).matches(META)
    assert In(key="year", values=[2024]).values == ("2024",)  # type: ignore[list-item]


def test_range_reads_the_value_as_a_number() -> None:
    assert Range(key="year", gte=2024).matches(META)
    assert Range(key="year", gt=2023, lt=2025).matches(META)
    assert not Range(key="year", gt=2024).matches(META)
    assert Range(key="year", lte=2024).matches(META)
    assert not Range(key="year", lt=2024).matches(META)
    assert Range(key="score", gt=0.5, lte=1).matches(META)  # surrounding spaces are fine
    assert not Range(key="title", gt=0).matches(META)  # not a number: no match, no error
    assert not Range(key="missing", gt=0).matches(META)
    assert Range(key="n", lt=10).matches({"n": "1e0"})
    assert not Range(key="n", lt=10).matches({"n": "nan"})


def test_and_or_not_combine() -> None:
    english = Eq(key="lang", value="en")
    recent = Range(key="year", gte=2020)
    french = Eq(key="lang", value="fr")
    assert And(filters=[english, recent]).matches(META)
    assert not And(filters=[english, french]).matches(META)
    assert And(filters=[]).matches(META)  # nothing required
    assert Or(filters=[french, recent]).matches(META)
    assert not Or(filters=[french, Range(key="year", lt=2000)]).matches(META)
    assert Not(filter=french).matches(META)
    assert not Not(filter=english).matches(META)
    assert Not(filter=Or(filters=[french, Not(filter=english)])).matches(META)


def test_exact_match_is_the_seed_metadata_filter() -> None:
    metadata = MetadataCollection.of(lang="en", year="2024")
    assert exact_match(metadata) == And(filters=[Eq(key="lang", value="en"), Eq(key="year", value="2024")])
    assert exact_match({"lang": "en"}) == And(filters=[Eq(key="lang", value="en")])
    assert exact_match(metadata).matches(META)
    assert not exact_match({"lang": "fr"}).matches(META)


def test_retrieval_query_combined_filter() -> None:
    assert RetrievalQuery(text="q").combined_filter() is None
    metadata = MetadataCollection.of(lang="en")
    assert RetrievalQuery(text="q", metadata=metadata).combined_filter() == exact_match(metadata)
    recent = Range(key="year", gte=2020)
    assert RetrievalQuery(text="q", filter=recent).combined_filter() == recent
    both = RetrievalQuery(vector=[0.1, 0.2], metadata=metadata, filter=recent).combined_filter()
    assert both == And(filters=[exact_match(metadata), recent])
    assert both is not None
    assert both.matches(META)
    assert not both.matches({"lang": "en", "year": "2019"})


def test_retrieval_query_defaults() -> None:
    query = RetrievalQuery(vector=[1, 2, 3])
    assert query.k == 5
    assert isinstance(query.vector, array)
    assert query.vector.typecode == "f"
    assert query.metadata == MetadataCollection()
    assert query.filter is None


# -- Deployed models, usage ----------------------------------------------------------------------


def test_deployed_model_defaults_and_reference() -> None:
    model = DeployedModel(provider="bedrock", model_id="anthropic.claude-3-haiku-20240307-v1:0")
    assert model.display_name == model.model_id
    assert model.ref == "bedrock:anthropic.claude-3-haiku-20240307-v1:0"
    assert model.supports_system_prompt
    assert model.supports_history
    assert not model.supports_function_calling
    assert model.active
    kb = KnowledgeBase(provider="sqlite", name="docs")
    assert (kb.collection, kb.ref) == ("docs", "sqlite:docs")
    agent = Agent(provider="bedrock", agent_id="A1")
    assert (agent.display_name, agent.ref) == ("A1", "bedrock:A1")


def test_usage_is_metadata_only_with_an_aware_timestamp() -> None:
    usage = Usage(provider="openai", deployed_model_display_name="GPT", model_id="gpt", operation="chat")
    assert usage.timestamp.tzinfo is UTC
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens, usage.calls) == (0, 0, 0, 1)


def test_knowledge_base_chunk_metadata_accepts_a_mapping() -> None:
    from genai_commons import KnowledgeBaseChunk, MetadataCollection

    chunk = KnowledgeBaseChunk(input_text="text", metadata={"lang": "en", "year": 2024})
    assert isinstance(chunk.metadata, MetadataCollection)
    assert chunk.metadata.as_dict() == {"lang": "en", "year": "2024"}
