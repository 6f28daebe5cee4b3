"""OpenAI-style chat messages and parameters, to and from the domain model; pure functions, no I/O.

The calls application developers know from the OpenAI SDK and LiteLLM: a list of messages
(``{"role": "user", "content": "Hi"}``; roles ``system``, ``developer``, ``user``, ``assistant``
and ``tool``; content as text or as parts of ``text`` and ``image_url`` with a ``data:`` or
``https:`` URL; assistant ``tool_calls``; tool messages with their ``tool_call_id``) and the
keyword parameters of :class:`ChatParams`. :meth:`Request.from_openai`, :meth:`Request.to_openai`,
:meth:`Response.to_openai` and :meth:`Response.from_openai` call these functions.

Leading system messages become the request's ``system_prompt``; a system message later in the
conversation stays a message of its own. Anything of the wrong shape is a
:class:`~genai_commons.ValidationError` naming where it is (``messages[2]['role']``).
"""

from __future__ import annotations

import difflib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypedDict

import attrs

from ..errors import ValidationError
from .chat import Message, Request, Response
from .enums import FileType, Role, StopReason, ToolChoice
from .files import FileCollection, FileContent
from .tools import Function, Tool, ToolCall

__all__ = [
    "PARAMETERS",
    "ChatParams",
    "OpenAIMessage",
    "apply_params",
    "message_to_openai",
    "messages_from_openai",
    "request_from_openai",
    "request_to_openai",
    "response_from_openai",
    "response_to_openai",
]

#: One OpenAI-style message.
OpenAIMessage = Mapping[str, Any]


class ChatParams(TypedDict, total=False):
    """The keyword parameters of the chat calls and of :meth:`Request.from_openai`."""

    #: The system prompt.
    system: str | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    #: One stop sequence or a list of them.
    stop: str | Sequence[str] | None
    #: Python callables (the host runs them), :class:`Tool` objects, or OpenAI's tool dicts.
    tools: Sequence[Tool | Callable[..., Any] | Mapping[str, Any]] | None
    #: ``"auto"``, ``"none"``, ``"required"``, a tool's name, or OpenAI's dict form.
    tool_choice: str | ToolChoice | Mapping[str, Any] | None


#: The names :class:`ChatParams` accepts.
PARAMETERS = frozenset(ChatParams.__annotations__)

_ROLES = {"system": Role.SYSTEM, "developer": Role.SYSTEM, "user": Role.USER, "assistant": Role.ASSISTANT}
_ROLES["tool"] = Role.TOOL
_IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif"}
_IMAGE_TYPES["image/webp"] = "webp"
_MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "gif": "image/gif"}
_MEDIA_TYPES["webp"] = "image/webp"
_FINISH = {
    StopReason.END_TURN: "stop",
    StopReason.STOP_SEQUENCE: "stop",
    StopReason.MAX_TOKENS: "length",
    StopReason.TOOL_USE: "tool_calls",
    StopReason.CONTENT_FILTERED: "content_filter",
}
_STOP_REASONS = {"stop": StopReason.END_TURN, "length": StopReason.MAX_TOKENS, "tool_calls": StopReason.TOOL_USE}
_STOP_REASONS["content_filter"] = StopReason.CONTENT_FILTERED
_CHOICES = {"auto": ToolChoice.AUTO, "none": ToolChoice.NONE, "required": ToolChoice.ANY, "any": ToolChoice.ANY}
_EXAMPLE = "{'role': 'user', 'content': 'Hi'}"


def kind_of(value: object) -> str:
    """``a dict``, ``a str``, ``None``: what a value is, for error messages (never its content)."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


# -- messages in -------------------------------------------------------------------------------


def messages_from_openai(messages: object, argument: str = "messages") -> tuple[Message, ...]:
    """The domain messages of an OpenAI-style list (domain :class:`Message` objects pass as they are)."""
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Iterable):
        raise ValidationError(f"{argument} must be a list of messages such as [{_EXAMPLE}], got {kind_of(messages)}")
    return tuple(_message(item, f"{argument}[{i}]") for i, item in enumerate(messages))


def _message(data: object, where: str) -> Message:
    if isinstance(data, Message):
        return data
    if not isinstance(data, Mapping):
        raise ValidationError(f"{where} must be a dict such as {_EXAMPLE}, got {kind_of(data)}")
    if "role" not in data:
        raise ValidationError(f"{where} has no 'role'; give one of 'system', 'user', 'assistant', 'tool'")
    value = data["role"]
    role = _ROLES.get(value) if isinstance(value, str) else None
    if role is None:
        raise ValidationError(f"{where}['role'] is {value!r}; use one of 'system', 'user', 'assistant', 'tool'")
    content, files = _content(data.get("content"), f"{where}['content']")
    calls = _tool_calls(data.get("tool_calls"), f"{where}['tool_calls']")
    call_id = data.get("tool_call_id")
    if call_id is not None and not isinstance(call_id, str):
        raise ValidationError(f"{where}['tool_call_id'] must be a string, got {kind_of(call_id)}")
    try:
        return Message(role=role, content=content, files=files, tool_calls=calls, tool_call_id=call_id)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc}") from exc


def _content(value: object, where: str) -> tuple[str | None, FileCollection | None]:
    if value is None or isinstance(value, str):
        return value, None
    if isinstance(value, Mapping) or not isinstance(value, Sequence):
        raise ValidationError(f"{where} must be a string or a list of content parts, got {kind_of(value)}")
    texts: list[str] = []
    files: list[FileContent] = []
    for i, part in enumerate(value):
        here = f"{where}[{i}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part, Mapping):
            text = part.get("text")
            if not isinstance(text, str):
                raise ValidationError(f"{here}['text'] must be a string, got {kind_of(text)}")
            texts.append(text)
        elif kind == "image_url" and isinstance(part, Mapping):
            files.append(_image(part.get("image_url"), f"{here}['image_url']"))
        else:
            raise ValidationError(
                f"{here} must be {{'type': 'text', 'text': ...}} or {{'type': 'image_url', 'image_url': "
                f"{{'url': ...}}}}, got {kind_of(part) if kind is None else repr(kind)}"
            )
    return ("\n".join(texts) if texts else None), (FileCollection(files=files) if files else None)


def _image(value: object, where: str) -> FileContent:
    url = value.get("url") if isinstance(value, Mapping) else value
    if not isinstance(url, str):
        raise ValidationError(f"{where} must be {{'url': 'https://...' or 'data:image/...'}}, got {kind_of(url)}")
    if url.startswith(("https://", "http://")):
        return FileContent.from_url(url, FileType.IMAGE)
    if not url.startswith("data:"):
        raise ValidationError(f"{where}['url'] must be an https: or a data: URL, got {url[:16]!r}...")
    header, comma, payload = url[5:].partition(",")
    media, _, encoding = header.partition(";")
    extension = _IMAGE_TYPES.get(media.strip().lower())
    if not comma or encoding.strip().lower() != "base64" or extension is None:
        raise ValidationError(
            f"{where}['url'] must be a base64 data: URL of a PNG, JPEG, GIF or WebP image (data:image/png;base64,...)"
        )
    try:
        return FileContent(file_type=FileType.IMAGE, data=payload, extension=extension)
    except ValidationError as exc:
        raise ValidationError(f"{where}['url']: {exc}") from exc


def _tool_calls(value: object, where: str) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        raise ValidationError(f"{where} must be a list of tool calls, got {kind_of(value)}")
    calls = []
    for i, call in enumerate(value):
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(call, Mapping) or not isinstance(function, Mapping) or "id" not in call:
            raise ValidationError(
                f"{where}[{i}] must be {{'id': ..., 'type': 'function', 'function': {{'name': ..., 'arguments': ...}}}}"
            )
        arguments = function.get("arguments") or "{}"
        if isinstance(arguments, Mapping):
            arguments = json.dumps(dict(arguments))
        if not isinstance(arguments, str) or not isinstance(function.get("name"), str):
            raise ValidationError(f"{where}[{i}]['function'] needs a string 'name' and 'arguments' (JSON text)")
        try:
            calls.append(ToolCall(id=call["id"], name=function["name"], arguments=arguments))
        except (ValidationError, AttributeError) as exc:
            raise ValidationError(f"{where}[{i}]: the id must be a non-empty string") from exc
    return tuple(calls)


# -- parameters --------------------------------------------------------------------------------


def apply_params(request: Request, params: Mapping[str, Any]) -> Request:
    """``request`` with the keyword parameters (:class:`ChatParams`) set; each replaces the field."""
    unknown = sorted(set(params) - PARAMETERS)
    if unknown:
        close = difflib.get_close_matches(unknown[0], PARAMETERS, n=1)
        names = ", ".join(sorted(PARAMETERS))
        hint = f"; did you mean {close[0]!r}?" if close else f"; the chat parameters are {names}"
        raise ValidationError(f"unknown keyword argument {unknown[0]!r}{hint}")
    changes: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        if name == "system":
            if not isinstance(value, str):
                raise ValidationError(f"system must be a string (the system prompt), got {kind_of(value)}")
            changes["system_prompt"] = value
        elif name == "stop":
            changes["stop_sequences"] = _stop(value)
        elif name == "tools":
            changes["tools"] = _tools(value)
        elif name == "max_tokens":
            if type(value) is not int:
                raise ValidationError(f"max_tokens must be a whole number, got {kind_of(value)}")
            changes["max_tokens"] = value
        elif name in ("temperature", "top_p"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValidationError(f"{name} must be a number, got {kind_of(value)}")
            changes[name] = value
    choice = params.get("tool_choice")
    if choice is not None:
        changes["tool_choice"], changes["tool_choice_name"] = _tool_choice(choice)
    return attrs.evolve(request, **changes) if changes else request


def _stop(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise ValidationError(f"stop must be a string or a list of strings, got {kind_of(value)}")


def _tools(value: object) -> tuple[Tool, ...]:
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        raise ValidationError(f"tools must be a list of functions or Tool objects, got {kind_of(value)}")
    tools: list[Tool] = []
    for i, item in enumerate(value):
        if isinstance(item, Tool):
            tools.append(item)
        elif isinstance(item, Mapping):
            tools.append(_tool_from_dict(item, f"tools[{i}]"))
        elif callable(item):
            tools.append(Function.from_callable(item))
        else:
            raise ValidationError(f"tools[{i}] must be a function, a Tool or an OpenAI tool dict, got {kind_of(item)}")
    return tuple(tools)


def _tool_from_dict(data: Mapping[str, Any], where: str) -> Tool:
    function = data.get("function")
    if data.get("type", "function") != "function" or not isinstance(function, Mapping):
        raise ValidationError(f"{where} must be {{'type': 'function', 'function': {{'name': ..., 'parameters': ...}}}}")
    name, parameters = function.get("name"), function.get("parameters")
    if not isinstance(name, str) or not (parameters is None or isinstance(parameters, Mapping)):
        raise ValidationError(f"{where}['function'] needs a string 'name' and a JSON schema 'parameters'")
    description = function.get("description")
    return Tool(name=name, description=description if isinstance(description, str) else None, parameters=parameters)


def _tool_choice(value: object) -> tuple[ToolChoice, str | None]:
    if isinstance(value, ToolChoice):
        if value is ToolChoice.TOOL:
            raise ValidationError("tool_choice=ToolChoice.TOOL needs the tool: pass the tool's name instead")
        return value, None
    if isinstance(value, str):
        return (_CHOICES[value], None) if value in _CHOICES else (ToolChoice.TOOL, value)
    if isinstance(value, Mapping):
        function = value.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if isinstance(name, str):
            return ToolChoice.TOOL, name
    raise ValidationError(
        "tool_choice must be 'auto', 'none', 'required', a tool's name or "
        f"{{'type': 'function', 'function': {{'name': ...}}}}, got {kind_of(value)}"
    )


# -- whole requests and responses --------------------------------------------------------------


def request_from_openai(messages: object, params: Mapping[str, Any]) -> Request:
    """A request of OpenAI-style ``messages`` and keyword parameters."""
    converted = messages_from_openai(messages)
    leading = 0
    while leading < len(converted) and converted[leading].role is Role.SYSTEM and converted[leading].files is None:
        leading += 1
    system = [m.content for m in converted[:leading] if m.content]
    request = Request(system_prompt="\n\n".join(system) or None, messages=converted[leading:])
    return apply_params(request, params)


def message_to_openai(message: Message) -> dict[str, Any]:
    """One message in OpenAI's form."""
    out: dict[str, Any] = {"role": message.role.value}
    if message.files is not None:
        parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
        parts.extend({"type": "image_url", "image_url": {"url": _url(f)}} for f in message.files)
        out["content"] = parts
    else:
        out["content"] = message.content
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def _url(file: FileContent) -> str:
    if file.url is not None:
        return file.url
    media = _MEDIA_TYPES.get(file.format or "", file.media_type or "application/octet-stream")
    return f"data:{media};base64,{file.data}"


def request_to_openai(request: Request) -> dict[str, Any]:
    """``messages`` and the set parameters, named as :meth:`Request.from_openai` takes them."""
    messages = [{"role": "system", "content": request.system_prompt}] if request.system_prompt else []
    messages.extend(message_to_openai(m) for m in request.messages)
    out: dict[str, Any] = {"messages": messages}
    for name in ("temperature", "top_p", "max_tokens"):
        if getattr(request, name) is not None:
            out[name] = getattr(request, name)
    if request.stop_sequences:
        out["stop"] = list(request.stop_sequences)
    if request.tools:
        out["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in request.tools
        ]
    if request.tool_choice is ToolChoice.TOOL:
        out["tool_choice"] = {"type": "function", "function": {"name": request.tool_choice_name}}
    elif request.tool_choice is not ToolChoice.AUTO:
        out["tool_choice"] = "required" if request.tool_choice is ToolChoice.ANY else request.tool_choice.value
    return out


def response_to_openai(response: Response) -> dict[str, Any]:
    """A ``chat.completion`` object of the response (one choice)."""
    message = message_to_openai(response.message)
    usage: dict[str, Any] = {
        "prompt_tokens": response.input_tokens or 0,
        "completion_tokens": response.output_tokens or 0,
        "total_tokens": response.total_tokens or 0,
    }
    cached, reasoning = getattr(response, "cache_read_tokens", None), getattr(response, "reasoning_tokens", None)
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    stop = response.stop_reason
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": response.model_id or "",
        "choices": [{"index": 0, "message": message, "finish_reason": _FINISH.get(stop, "stop") if stop else "stop"}],
        "usage": usage,
    }


def response_from_openai(data: object) -> Response:
    """A :class:`Response` of a ``chat.completion`` object (its first choice)."""
    choices = data.get("choices") if isinstance(data, Mapping) else None
    if not isinstance(data, Mapping) or not isinstance(choices, Sequence) or not choices:
        raise ValidationError(f"a chat completion is a dict with a non-empty 'choices' list, got {kind_of(data)}")
    choice = choices[0]
    if not isinstance(choice, Mapping):
        raise ValidationError(f"choices[0] must be a dict, got {kind_of(choice)}")
    message = _message(choice.get("message"), "choices[0]['message']")
    finish = choice.get("finish_reason")
    raw_usage = data.get("usage")
    usage: Mapping[str, Any] = raw_usage if isinstance(raw_usage, Mapping) else {}
    model = data.get("model")
    try:
        return Response(
            message=message,
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
            total_tokens=usage.get("total_tokens"),
            stop_reason=_STOP_REASONS.get(finish, StopReason.OTHER) if isinstance(finish, str) else None,
            provider_stop_reason=finish if isinstance(finish, str) else None,
            model_id=model if isinstance(model, str) and model else None,
        )
    except ValidationError as exc:
        raise ValidationError(f"the chat completion: {exc}") from exc
