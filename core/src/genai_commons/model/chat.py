"""Chat requests and responses: ``Message``, ``Request``, ``Response``, ``Reference``, ``Citation``.

All classes are frozen; the builder methods (``with_message``, ``with_function``, …) return an
edited copy, so a request can be reused and shared between threads.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Unpack

import attrs
from attrs import Factory, field, frozen

from ..errors import ValidationError
from ._options import CarriesProviderOptions
from ._validators import (
    in_range,
    message_type,
    optional_stop_reason,
    role,
    source_type,
    to_enum,
    tool_choice,
)
from .enums import FileType, MessageType, Role, SourceType, StopReason, ToolChoice
from .files import FileCollection, FileContent
from .structured import OutputSchema, output_schema
from .tools import Function, Tool, ToolCall

if TYPE_CHECKING:
    from .openai_format import ChatParams


def _default_message_type(message: Message) -> MessageType:
    return MessageType.FILE if message.files is not None else MessageType.TEXT


def _tool_calls(value: Iterable[ToolCall]) -> tuple[ToolCall, ...]:
    return tuple(value)


def _citations(value: Iterable[Citation]) -> tuple[Citation, ...]:
    return tuple(value)


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValidationError("expected a list of strings, got a single string")
    return tuple(value)


def _tools(value: Iterable[Tool]) -> tuple[Tool, ...]:
    return tuple(value)


def _options(value: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(value)


def _references(value: Iterable[Reference]) -> tuple[Reference, ...]:
    return tuple(value)


@frozen(kw_only=True)
class Message:
    """One message of a conversation, from the user, the assistant, the system or a tool."""

    role: Role = field(converter=role)
    content: str | None = None
    files: FileCollection | None = None
    message_type: MessageType = field(default=Factory(_default_message_type, takes_self=True), converter=message_type)
    #: The tool call this tool message answers.
    tool_call_id: str | None = None
    #: Calls proposed by the assistant.
    tool_calls: tuple[ToolCall, ...] = field(default=(), converter=_tool_calls)
    #: A tool message reporting that the tool failed.
    is_error: bool = False

    def __attrs_post_init__(self) -> None:
        if self.message_type is MessageType.FILE and self.files is None:
            raise ValidationError("a message of type 'file' needs files")
        if self.role is Role.TOOL:
            if not self.tool_call_id:
                raise ValidationError("a tool message needs the tool_call_id of the call it answers")
        elif self.tool_call_id is not None:
            raise ValidationError("only tool messages carry a tool_call_id")
        elif self.is_error:
            raise ValidationError("only tool messages can report an error")
        if self.tool_calls and self.role is not Role.ASSISTANT:
            raise ValidationError("only assistant messages carry tool calls")
        if self.content is None and not self.tool_calls and self.files is None:
            raise ValidationError(f"a {self.role.value} message needs content")

    @property
    def images(self) -> tuple[FileContent, ...]:
        return self.files.images if self.files is not None else ()

    @property
    def documents(self) -> tuple[FileContent, ...]:
        return self.files.documents if self.files is not None else ()


@frozen(kw_only=True)
class Citation:
    """Links part of the generated text to the passage of a source it is based on."""

    start_index: int | None = field(default=None, validator=in_range(0, None))
    end_index: int | None = field(default=None, validator=in_range(0, None))
    #: The part of the generated text that carries the citation.
    text: str | None = None
    #: The cited passage of the source.
    quote: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.start_index is not None and self.end_index is not None and self.end_index < self.start_index:
            raise ValidationError("a citation's end_index must not be before its start_index")


@frozen(kw_only=True)
class Reference:
    """A source the response is based on, with the citations that point into it."""

    title: str | None = None
    content: str | None = None
    source: str | None = None
    source_type: SourceType = field(default=SourceType.URL, converter=source_type)
    citations: tuple[Citation, ...] = field(default=(), converter=_citations)


def _tuple_of_messages(value: Iterable[Message]) -> tuple[Message, ...]:
    if isinstance(value, str | dict):
        raise ValidationError(
            f"messages must be a list of Message objects, got a {type(value).__name__} "
            "(for OpenAI-style dicts use Request.from_openai)"
        )
    messages = tuple(value)
    for index, message in enumerate(messages):
        if type(message) is not Message and not isinstance(message, Message):
            raise ValidationError(
                f"messages[{index}] must be a Message, got a {type(message).__name__} "
                "(for OpenAI-style dicts use Request.from_openai)"
            )
    return messages


@frozen(kw_only=True)
class Request(CarriesProviderOptions):
    """The input of a chat completion: the conversation and its options (``Request``).

    Provider-specific options (a plugin's own small frozen class) go in ``provider_options``;
    each plugin reads only its own type with :meth:`option`.
    """

    system_prompt: str | None = None
    max_tokens: int | None = field(default=None, validator=in_range(1, None))
    temperature: float | None = field(default=None, validator=in_range(0.0, 2.0))
    top_p: float | None = field(default=None, validator=in_range(0.0, 1.0))
    tool_choice: ToolChoice = field(default=ToolChoice.AUTO, converter=tool_choice)
    #: The tool to call when ``tool_choice`` is ``TOOL``.
    tool_choice_name: str | None = None
    stop_sequences: tuple[str, ...] = field(default=(), converter=_strings)
    messages: tuple[Message, ...] = field(default=(), converter=_tuple_of_messages)
    tools: tuple[Tool, ...] = field(default=(), converter=_tools)
    provider_options: tuple[Any, ...] = field(default=(), converter=_options)
    #: The JSON the answer must be (structured output); see :meth:`with_output_schema`.
    output_schema: OutputSchema | None = field(default=None, converter=output_schema)

    def __attrs_post_init__(self) -> None:
        names = [tool.name for tool in self.tools]
        if len(set(names)) != len(names):
            raise ValidationError(f"tool names must be unique, got {names}")
        if self.tool_choice is ToolChoice.TOOL:
            if not self.tool_choice_name:
                raise ValidationError("tool choice 'tool' needs the name of the tool to call")
            if self.tool_choice_name not in names:
                raise ValidationError(
                    f"tool choice names {self.tool_choice_name!r}, which is not among the request's tools"
                )
        elif self.tool_choice is ToolChoice.ANY and not self.tools:
            raise ValidationError("tool choice 'any' needs at least one tool")
        for sequence in self.stop_sequences:
            if not sequence:
                raise ValidationError("a stop sequence must not be empty")

    # -- builders (the seed's "Build Request" operations) -----------------------------------

    @classmethod
    def create(
        cls,
        *,
        system_prompt: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
    ) -> Request:
        """A new request with the seed's "Create Request" attributes."""
        return cls(system_prompt=system_prompt, temperature=temperature, max_tokens=max_tokens, top_p=top_p)

    @classmethod
    def from_prompt(
        cls, prompt: str, *, files: FileCollection | None = None, system_prompt: str | None = None
    ) -> Request:
        """A request of one user message (chat without history)."""
        return cls(system_prompt=system_prompt, messages=(Message(role=Role.USER, content=prompt, files=files),))

    @classmethod
    def from_openai(cls, messages: Iterable[Mapping[str, Any] | Message], **params: Unpack[ChatParams]) -> Request:
        """A request of OpenAI-style messages (``[{"role": "user", "content": "Hi"}]``) and the
        chat calls' keyword parameters (``system``, ``temperature``, ``top_p``, ``max_tokens``,
        ``stop``, ``tools``, ``tool_choice``); leading system messages become the system prompt.
        See :mod:`genai_commons.model.openai_format`."""
        from .openai_format import request_from_openai  # noqa: PLC0415 - loads on first use

        return request_from_openai(messages, params)

    def to_openai(self) -> dict[str, Any]:
        """``{"messages": [...], **parameters}`` in OpenAI's form: ``Request.from_openai(**it)``
        gives this request back (functions come back as described tools)."""
        from .openai_format import request_to_openai  # noqa: PLC0415

        return request_to_openai(self)

    def with_message(self, role: Role | str, content: str, files: FileCollection | None = None) -> Request:
        """A copy with one more message ("Add Message to Request"); add them oldest first."""
        return attrs.evolve(self, messages=(*self.messages, Message(role=role, content=content, files=files)))

    def with_messages(self, *messages: Message) -> Request:
        """A copy with the given messages appended."""
        return attrs.evolve(self, messages=(*self.messages, *messages))

    def with_stop_sequence(self, sequence: str) -> Request:
        """A copy with one more stop sequence ("Configure Stop Sequence")."""
        return attrs.evolve(self, stop_sequences=(*self.stop_sequences, sequence))

    def with_tool(self, tool: Tool) -> Request:
        """A copy offering one more tool."""
        return attrs.evolve(self, tools=(*self.tools, tool))

    def with_function(
        self, fn: Callable[..., Any], *, name: str | None = None, description: str | None = None
    ) -> Request:
        """A copy offering a Python callable as a tool ("Tools: Add Function to Request").

        The JSON schema comes from the signature and type hints, the description from the docstring.
        """
        return self.with_tool(Function.from_callable(fn, name=name, description=description))

    def with_output_schema(self, schema: Any, *, name: str | None = None) -> Request:
        """A copy asking for an answer in JSON that follows ``schema``: a pydantic model class, a
        dataclass, an attrs class or a JSON Schema dict (of type ``object``). The response's
        ``parsed`` then holds the validated answer (an instance of the class, or the dict)."""
        return attrs.evolve(self, output_schema=OutputSchema.of(schema, name=name))

    def with_tool_choice(self, choice: ToolChoice | str, tool: Tool | str | None = None) -> Request:
        """A copy with a tool choice ("Tools: Set Tool Choice"); ``tool`` is needed for ``TOOL``."""
        choice = to_enum(ToolChoice)(choice)
        name = tool.name if isinstance(tool, Tool) else tool
        return attrs.evolve(self, tool_choice=choice, tool_choice_name=name if choice is ToolChoice.TOOL else None)

    # -- facts the host checks against a model's capabilities -------------------------------

    @property
    def has_system_prompt(self) -> bool:
        return bool(self.system_prompt) or any(m.role is Role.SYSTEM for m in self.messages)

    @property
    def has_history(self) -> bool:
        """More than the one current user turn: earlier turns, assistant or tool messages."""
        return sum(1 for m in self.messages if m.role is not Role.SYSTEM) > 1

    def file_types(self) -> frozenset[FileType]:
        return frozenset(f.file_type for m in self.messages if m.files is not None for f in m.files)

    def function(self, name: str) -> Function | None:
        """The function tool of that name, if the request offers one the host can run."""
        for tool in self.tools:
            if tool.name == name and isinstance(tool, Function):
                return tool
        return None


#: How :meth:`Response.with_duration` copies a response class: its fields' getter and names.
_COPY_PLANS: dict[type, tuple[Callable[[Any], tuple[Any, ...]], tuple[str, ...]]] = {}
_set = object.__setattr__


@frozen(kw_only=True)
class Response:
    """What a chat or image generation call returns (``Response``)."""

    #: The assistant message: text, tool calls, or generated files.
    message: Message
    input_tokens: int | None = field(default=None, validator=in_range(0, None))
    output_tokens: int | None = field(default=None, validator=in_range(0, None))
    total_tokens: int | None = field(default=None, validator=in_range(0, None))
    #: Input tokens read from the provider's prompt cache (part of ``input_tokens``).
    cache_read_tokens: int | None = field(default=None, validator=in_range(0, None))
    #: Input tokens written to the provider's prompt cache (part of ``input_tokens``).
    cache_write_tokens: int | None = field(default=None, validator=in_range(0, None))
    #: Output tokens the model spent reasoning (part of ``output_tokens``).
    reasoning_tokens: int | None = field(default=None, validator=in_range(0, None))
    #: Duration of the provider call(s), in milliseconds.
    duration_ms: float | None = field(default=None, validator=in_range(0, None))
    stop_reason: StopReason | None = field(default=None, converter=optional_stop_reason)
    #: The provider's own stop reason, unnormalised.
    provider_stop_reason: str | None = None
    references: tuple[Reference, ...] = field(default=(), converter=_references)
    #: The model id the provider reports having used, when it says.
    model_id: str | None = None
    #: ``PROVIDER:MODEL`` of the target that answered a call made through an alias of several
    #: targets (see :mod:`genai_commons.fallbacks`); None for a call on one model.
    model: str | None = None
    #: The validated answer of a call with an output schema: an instance of the schema's class,
    #: or a dict for a JSON Schema dict; None otherwise.
    parsed: Any = None

    def __attrs_post_init__(self) -> None:
        if self.message.role is not Role.ASSISTANT:
            raise ValidationError("a response's message comes from the assistant")
        if self.total_tokens is None and self.input_tokens is not None and self.output_tokens is not None:
            object.__setattr__(self, "total_tokens", self.input_tokens + self.output_tokens)

    def with_duration(self, duration_ms: float) -> Response:
        """A copy with ``duration_ms`` set. Only the duration is checked: the other fields were
        validated when this response was built (this runs on every call, so it stays cheap)."""
        if duration_ms < 0:
            raise ValidationError(f"duration_ms must be at least 0, got {duration_ms}")
        cls = type(self)
        plan = _COPY_PLANS.get(cls)
        if plan is None:
            names = tuple(attribute.name for attribute in attrs.fields(cls))
            plan = _COPY_PLANS[cls] = (operator.attrgetter(*names), names)
        copy = object.__new__(cls)
        for name, value in zip(plan[1], plan[0](self), strict=True):
            _set(copy, name, value)
        _set(copy, "duration_ms", duration_ms)
        return copy

    def to_openai(self) -> dict[str, Any]:
        """The response as an OpenAI ``chat.completion`` object (one choice, usage in tokens)."""
        from .openai_format import response_to_openai  # noqa: PLC0415 - loads on first use

        return response_to_openai(self)

    @classmethod
    def from_openai(cls, completion: Mapping[str, Any]) -> Response:
        """A response of an OpenAI ``chat.completion`` object (its first choice)."""
        from .openai_format import response_from_openai  # noqa: PLC0415

        return response_from_openai(completion)

    @classmethod
    def of_text(cls, text: str, **kwargs: Any) -> Response:
        """A response whose assistant message is ``text``."""
        return cls(message=Message(role=Role.ASSISTANT, content=text), **kwargs)

    @property
    def text(self) -> str:
        """The assistant's text ("Get Response Text"); empty when it only called tools."""
        return self.message.content or ""

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return self.message.tool_calls

    @property
    def citations(self) -> tuple[Citation, ...]:
        """All citations of all references."""
        return tuple(c for r in self.references for c in r.citations)

    @property
    def generated_files(self) -> tuple[FileContent, ...]:
        return tuple(self.message.files) if self.message.files is not None else ()

    def generated_images(self) -> tuple[FileContent, ...]:
        """The generated images ("Get Generated Images (List)")."""
        return tuple(f for f in self.generated_files if f.file_type is FileType.IMAGE)

    def generated_image(self) -> FileContent:
        """The first generated image ("Get Generated Image (Single)")."""
        images = self.generated_images()
        if not images:
            raise ValidationError("this response holds no generated image")
        return images[0]
