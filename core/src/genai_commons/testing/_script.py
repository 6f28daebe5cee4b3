"""Scripted answers of the fake providers, turned into domain objects and stream events."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import attrs
from attrs import field, frozen

from ..model import (
    AgentEvent,
    AgentRequest,
    AgentTextChunk,
    AgentTrace,
    Capability,
    ChatStreamEvent,
    Message,
    Reference,
    Request,
    Response,
    Role,
    StopReason,
    StreamEnd,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
)
from ._data import count_words, request_words

_ids = itertools.count(1)


@frozen(kw_only=True)
class StreamFailure:
    """A scripted failure in the middle of a stream: ``after`` events of the echo reply (or of
    ``text``) are yielded, then ``error`` is raised. A non-streaming call raises ``error`` at once."""

    error: BaseException
    after: int = 1
    text: str | None = None


#: What :meth:`FakeProvider.script` accepts: a Response, a text, tool calls, an exception to
#: raise, or a :class:`StreamFailure`.
ScriptItem: TypeAlias = Response | str | Sequence[ToolCall] | BaseException | StreamFailure


@frozen(kw_only=True)
class RecordedCall:
    """One call that reached a fake provider."""

    capability: Capability
    #: The model, knowledge base or agent reference (``provider:id``).
    target: str
    #: ``Request`` (chat), ``ChunkCollection`` (embed, ingest), ``str`` (image prompt),
    #: ``RetrievalQuery`` (retrieve) or ``AgentRequest`` (agent).
    payload: Any
    #: ``EmbeddingsOptions``, ``ImageOptions``, ``IngestMode``, or None.
    options: Any = None
    #: True when the call came through the provider's own ``_async`` method.
    is_async: bool = False
    #: The scripted item this call consumed, if any.
    scripted: Any = field(default=None, eq=False, repr=False)

    @property
    def request(self) -> Request:
        """The chat request of a chat or streaming call."""
        if not isinstance(self.payload, Request):
            raise TypeError(f"a {self.capability.value} call carries no chat Request")
        return self.payload


def tool_call(name: str, arguments: Mapping[str, Any] | str | None = None, *, id: str | None = None) -> ToolCall:
    """A :class:`ToolCall` for scripting: ``arguments`` as a dict (dumped to JSON) or as raw text."""
    text = arguments if isinstance(arguments, str) else json.dumps(dict(arguments or {}))
    return ToolCall(id=id or f"call_{next(_ids)}", name=name, arguments=text)


def echo_text(request: Request) -> str:
    """The default reply: ``"echo: "`` and the last user message's text."""
    for message in reversed(request.messages):
        if message.role is Role.USER and message.content:
            return f"echo: {message.content}"
    return "echo:"


def forced_tool(request: Request) -> Tool | None:
    """The tool a request makes the model call (tool choice ``tool`` or ``any``), unless the
    conversation already ends with a tool result: then the model answers in text."""
    if request.tool_choice not in (ToolChoice.TOOL, ToolChoice.ANY) or not request.tools:
        return None
    if request.messages and request.messages[-1].role is Role.TOOL:
        return None
    wanted = request.tool_choice_name
    return next((t for t in request.tools if t.name == wanted), request.tools[0])


def placeholder(schema: Mapping[str, Any]) -> Any:
    """A value that fits a JSON schema: objects with every property, ``"text"``, 0, false, []."""
    kind = schema.get("type")
    if kind == "object":
        return {name: placeholder(sub) for name, sub in (schema.get("properties") or {}).items()}
    if "enum" in schema:
        return schema["enum"][0]
    return {"string": "text", "integer": 0, "number": 0, "boolean": False, "array": []}.get(str(kind))


def build_response(item: ScriptItem | None, request: Request, model_id: str) -> Response:
    """The chat response for a scripted item (None: the echo reply), with token counts filled in:
    input = words of the system prompt and every message, output = words of the reply text, or
    one per tool call."""
    if isinstance(item, StreamFailure):
        raise item.error
    if isinstance(item, BaseException):
        raise item
    forced = forced_tool(request) if item is None else None
    if forced is not None:
        item = [tool_call(forced.name, placeholder(forced.parameters))]
    if item is None or isinstance(item, str):
        text, stop = echo_text(request) if item is None else item, StopReason.END_TURN
        for sequence in request.stop_sequences if item is None else ():
            if sequence in text:
                text, stop = text[: text.index(sequence)], StopReason.STOP_SEQUENCE
        response = Response.of_text(text, stop_reason=stop)
    elif isinstance(item, Response):
        response = item
    else:
        calls = tuple(item)
        response = Response(
            message=Message(role=Role.ASSISTANT, tool_calls=calls),
            stop_reason=StopReason.TOOL_USE,
        )
    if response.input_tokens is None and response.output_tokens is None:
        output = count_words(response.text) + len(response.tool_calls)
        response = attrs.evolve(response, input_tokens=request_words(request), output_tokens=output, total_tokens=None)
    if response.model_id is None:
        response = attrs.evolve(response, model_id=model_id)
    return response


def split_words(text: str) -> list[str]:
    """Pieces whose concatenation is ``text``: the first word, then each further word with the
    space before it."""
    parts = text.split(" ")
    return [parts[0], *(f" {p}" for p in parts[1:])] if text else []


def stream_events(response: Response) -> list[ChatStreamEvent]:
    """A response as stream events: a TextDelta per word, two ToolCallDeltas per tool call (the
    arguments JSON cut in two), and a StreamEnd with the usage."""
    events: list[ChatStreamEvent] = [TextDelta(text=piece) for piece in split_words(response.text)]
    for index, call in enumerate(response.tool_calls):
        half = len(call.arguments) // 2
        events.append(ToolCallDelta(index=index, id=call.id, name=call.name, arguments=call.arguments[:half]))
        events.append(ToolCallDelta(index=index, arguments=call.arguments[half:]))
    events.append(
        StreamEnd(
            stop_reason=response.stop_reason,
            provider_stop_reason=response.provider_stop_reason,
            input_tokens=response.input_tokens,
            output_tokens=response.output_tokens,
            total_tokens=response.total_tokens,
            cache_read_tokens=response.cache_read_tokens,
            cache_write_tokens=response.cache_write_tokens,
            reasoning_tokens=response.reasoning_tokens,
            model_id=response.model_id,
        )
    )
    return events


def stream_for(item: ScriptItem | None, request: Request, model_id: str) -> Iterator[ChatStreamEvent]:
    """The events of a streamed call; a :class:`StreamFailure` raises after its first events."""
    if isinstance(item, StreamFailure):
        text = item.text if item.text is not None else echo_text(request)
        events = stream_events(build_response(text, request, model_id))
        yield from events[: item.after]
        raise item.error
    yield from stream_events(build_response(item, request, model_id))


def agent_events(item: ScriptItem | None, request: AgentRequest, target: str) -> list[AgentEvent]:
    """An agent turn: a trace when asked for, then the reply (the scripted text, or
    ``"echo: INPUT"``) word by word; the last chunk cites ``fake://agent/TARGET``."""
    if isinstance(item, StreamFailure):
        raise item.error
    if isinstance(item, BaseException):
        raise item
    if isinstance(item, Response):
        text = item.text
    elif isinstance(item, str):
        text = item
    else:
        text = f"echo: {request.input_text}"
    events: list[AgentEvent] = []
    if request.enable_trace:
        events.append(
            AgentTrace(step="orchestration", content={"input": request.input_text}, rationale="answer by echoing")
        )
    pieces = split_words(text) or [""]
    reference = Reference(title="fake agent", source=f"fake://agent/{target}", content=request.input_text)
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        events.append(AgentTextChunk(text=piece, references=(reference,) if last else ()))
    return events
