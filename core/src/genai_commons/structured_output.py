"""Structured output on every provider: how the host gets an answer that follows an output schema.

:func:`plan` runs before the call, once per chat call that has a schema (``output_schema=`` or
``Request.output_schema``), and chooses one of two ways:

* **native**: the model declares ``supports_structured_output``; its plugin reads
  ``Request.output_schema`` and asks the provider for JSON (OpenAI ``response_format``).
* **forced tool**: the model declares function calling; the host offers one more tool, named after
  the schema, whose input schema is the schema, and makes the model call it (or any tool, when
  the request offers its own). The call's arguments are the answer: :meth:`Plan.finish` turns the
  call back into the answer's text, and :meth:`Plan.events` turns its streamed pieces into text
  pieces, so the call never shows as a tool call and the host's tool loop never runs it (a tool
  without a callable stops the loop). The plugin sees a plain tool request (``output_schema``
  None): any provider with tool use gets structured output, Bedrock and Mendix Cloud included.

A model with neither is refused before the call (:class:`UnsupportedCapabilityError`). At the end
the answer's text is parsed and validated into ``Response.parsed``; a bad answer raises
:class:`StructuredOutputError` after its usage is recorded (its tokens were spent).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
from attrs import frozen

from .errors import StructuredOutputError, UnsupportedCapabilityError, ValidationError
from .model.chat import Message, Request, Response
from .model.enums import Role, StopReason, ToolChoice
from .model.streaming import StreamEnd, TextDelta, ToolCallDelta
from .model.tools import Tool

if TYPE_CHECKING:
    from .model.deployed import DeployedModel
    from .streams import AsyncChatStream, ChatStream

    _Stream = TypeVar("_Stream", ChatStream, AsyncChatStream)
    from .model.streaming import ChatStreamEvent
    from .model.structured import OutputSchema

__all__ = ["Plan", "forced_tool_request", "plan", "shape_stream"]

#: What the forced tool tells the model.
TOOL_DESCRIPTION = "Give your final answer by calling this tool: its arguments are the answer."


@frozen(kw_only=True)
class Plan:
    """How one call gets its structured answer: the request to send, and how to read the answer."""

    schema: OutputSchema
    #: The request to send (with the forced tool, when there is one).
    request: Request
    #: The forced tool's name, or None when the provider does it natively.
    tool: str | None = None

    def finish(self, response: Response) -> Response:
        """``response`` with the forced tool call turned into text, and ``parsed`` set.

        :raises StructuredOutputError: the answer is not JSON, or breaks the schema.
        """
        response = self.unwrap(response)
        try:
            parsed = self.schema.parse(response.text)
        except StructuredOutputError as exc:
            if response.stop_reason is StopReason.MAX_TOKENS:
                raise StructuredOutputError(
                    f"{exc} (the answer was cut at max_tokens: raise max_tokens)", text=exc.text
                ) from exc.__cause__
            raise
        return attrs.evolve(response, parsed=parsed)

    def unwrap(self, response: Response) -> Response:
        """``response`` with the forced tool's call as the answer's text (other calls kept)."""
        if self.tool is None:
            return response
        answer = next((c for c in response.tool_calls if c.name == self.tool), None)
        if answer is None:
            return response
        rest = tuple(c for c in response.tool_calls if c is not answer)
        message = Message(role=Role.ASSISTANT, content=answer.arguments or "{}", tool_calls=rest)
        stop = response.stop_reason
        if stop is StopReason.TOOL_USE and not rest:
            stop = StopReason.END_TURN
        return attrs.evolve(response, message=message, stop_reason=stop)

    def events(self, events: Iterator[ChatStreamEvent]) -> Iterator[ChatStreamEvent]:
        """Stream events with the forced tool's pieces as text pieces; closing this closes ``events``."""
        if self.tool is None:
            return events
        return _unwrapped(events, _Unwrapper(self.tool))

    def aevents(self, events: AsyncIterator[ChatStreamEvent]) -> AsyncIterator[ChatStreamEvent]:
        """:meth:`events` for an async stream."""
        if self.tool is None:
            return events
        return _aunwrapped(events, _Unwrapper(self.tool))


def plan(model: DeployedModel, request: Request, output_schema: Any = None) -> Plan | None:
    """The plan for a call of ``model`` with ``request`` (``output_schema`` replaces the request's
    own schema), or None when the call asks for no structured output.

    :raises UnsupportedCapabilityError: the model can do neither native structured output nor
        function calling.
    """
    if output_schema is not None:
        request = request.with_output_schema(output_schema)
    schema = request.output_schema
    if schema is None:
        return None
    if model.supports_structured_output:
        return Plan(schema=schema, request=request)
    if not model.supports_function_calling:
        raise UnsupportedCapabilityError(
            f"model {model.ref} supports neither structured output nor function calling, so it cannot be "
            "held to an output schema; choose a model that has one of them (see `genai models`), or ask for "
            "JSON in the prompt and parse it yourself",
            target=model.ref,
            capability="structured output",
        )
    return Plan(schema=schema, request=forced_tool_request(request, schema), tool=schema.name)


def forced_tool_request(request: Request, schema: OutputSchema) -> Request:
    """``request`` offering the schema as a tool the model must call, without ``output_schema``.

    Alone, the tool is forced by name. Beside the request's own tools, tool choice ``auto`` becomes
    ``any`` (the model calls its tools, then answers through the schema's); a tool forced by name
    stays forced.
    """
    if any(tool.name == schema.name for tool in request.tools):
        raise ValidationError(
            f"the request already offers a tool named {schema.name!r}, the output schema's name; "
            "give the schema another name (with_output_schema(schema, name=...))"
        )
    tool = Tool(name=schema.name, description=TOOL_DESCRIPTION, parameters=schema.json_schema)
    own = request.tools if request.tool_choice is not ToolChoice.NONE else ()
    name: str | None
    if not own:
        choice, name = ToolChoice.TOOL, schema.name
    elif request.tool_choice is ToolChoice.TOOL:
        choice, name = ToolChoice.TOOL, request.tool_choice_name
    else:
        choice, name = ToolChoice.ANY, None
    return attrs.evolve(request, tools=(*own, tool), tool_choice=choice, tool_choice_name=name, output_schema=None)


class _Unwrapper:
    """Turns the stream pieces of the forced tool's call into text pieces."""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        self.index: int | None = None

    def convert(self, event: ChatStreamEvent) -> ChatStreamEvent | None:
        if isinstance(event, ToolCallDelta):
            if self.index is None and event.name == self.tool:
                self.index = event.index
            if event.index == self.index:
                return TextDelta(text=event.arguments) if event.arguments else None
        elif isinstance(event, StreamEnd) and self.index is not None and event.stop_reason is StopReason.TOOL_USE:
            return attrs.evolve(event, stop_reason=StopReason.END_TURN)
        return event


def _unwrapped(events: Iterator[ChatStreamEvent], unwrapper: _Unwrapper) -> Iterator[ChatStreamEvent]:
    try:
        for event in events:
            converted = unwrapper.convert(event)
            if converted is not None:
                yield converted
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


async def _aunwrapped(events: AsyncIterator[ChatStreamEvent], unwrapper: _Unwrapper) -> AsyncIterator[ChatStreamEvent]:
    try:
        async for event in events:
            converted = unwrapper.convert(event)
            if converted is not None:
                yield converted
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


def shape_stream(shaped: Plan, stream: _Stream) -> _Stream:
    """``stream`` (a host's chat stream, not yet iterated) with the forced tool's pieces as text
    and ``parsed`` set on its final response."""
    from .streams import ChatStream  # noqa: PLC0415

    if isinstance(stream, ChatStream):
        stream._events = shaped.events(stream._events)
    else:
        stream._events = shaped.aevents(stream._events)
    stream._shape = shaped.finish
    return stream
