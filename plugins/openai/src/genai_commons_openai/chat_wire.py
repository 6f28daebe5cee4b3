"""Chat completions: the domain model to the request body and back; pure functions, no I/O.

Request: ``messages`` (system, user with text, ``image_url`` and ``file`` parts, assistant with
``tool_calls``, ``tool`` results), ``tools``, ``tool_choice``, sampling and length limits, stop
sequences and :class:`~genai_commons_openai.OpenAIChatOptions`. Answer: ``choices[0].message``,
``finish_reason`` and ``usage`` become a :class:`~genai_commons.Response`.
"""

from __future__ import annotations

import binascii
from typing import Any

from genai_commons import (
    FileContent,
    FileType,
    Message,
    OutputSchema,
    Request,
    Response,
    Role,
    StopReason,
    ToolCall,
    ToolChoice,
    UnsupportedCapabilityError,
    ValidationError,
)

from .catalog import ModelSpec
from .options import JsonSchemaFormat, OpenAIChatOptions

__all__ = [
    "STOP_REASONS",
    "chat_body",
    "chat_response",
    "extension_of",
    "media_type",
    "response_format",
    "sniff",
    "stop_reason",
]

STOP_REASONS = {
    "stop": StopReason.END_TURN,
    "length": StopReason.MAX_TOKENS,
    "tool_calls": StopReason.TOOL_USE,
    "function_call": StopReason.TOOL_USE,
    "content_filter": StopReason.CONTENT_FILTERED,
}

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)
_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/pdf": "pdf",
}


def stop_reason(finish: str | None) -> StopReason | None:
    if finish is None:
        return None
    return STOP_REASONS.get(finish, StopReason.OTHER)


def sniff(data: str) -> str | None:
    """The MIME type of base64 data, from its first bytes (PNG, JPEG, GIF, WebP, PDF)."""
    try:
        head = binascii.a2b_base64(data[:24])
    except binascii.Error:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def media_type(file: FileContent) -> str:
    """The MIME type of inline data: from the extension, else sniffed from the first bytes."""
    if file.media_type:
        return file.media_type
    sniffed = sniff(file.data or "")
    if sniffed:
        return sniffed
    return "image/png" if file.file_type is FileType.IMAGE else "application/pdf"


def extension_of(kind: str) -> str:
    return _EXTENSIONS.get(kind, kind.rpartition("/")[2])


def _image_part(file: FileContent) -> dict[str, Any]:
    url = file.url if file.url is not None else f"data:{media_type(file)};base64,{file.data}"
    return {"type": "image_url", "image_url": {"url": url}}


def _document_part(file: FileContent) -> dict[str, Any]:
    if file.url is not None and file.url.startswith("data:"):
        data_url = file.url
        kind = file.url[5:].partition(";")[0] or "application/pdf"
    elif file.data is not None:
        kind = media_type(file)
        data_url = f"data:{kind};base64,{file.data}"
    else:
        raise ValidationError(
            "OpenAI chat completions take documents as inline data, not as a URL; attach the file's bytes "
            "(FileContent.from_path or from_bytes)"
        )
    name = file.text_content or "document"
    extension = file.extension or extension_of(kind)
    if not name.lower().endswith(f".{extension}"):
        name = f"{name}.{extension}"
    return {"type": "file", "file": {"filename": name, "file_data": data_url}}


def _user_content(message: Message) -> str | list[dict[str, Any]]:
    if message.files is None:
        return message.content or ""
    parts: list[dict[str, Any]] = []
    if message.content:
        parts.append({"type": "text", "text": message.content})
    for file in message.files:
        if file.file_type is FileType.IMAGE:
            if file.text_content:
                parts.append({"type": "text", "text": file.text_content})
            parts.append(_image_part(file))
        else:
            parts.append(_document_part(file))
    return parts


def _message(message: Message) -> dict[str, Any]:
    role = message.role
    if role is Role.USER:
        return {"role": "user", "content": _user_content(message)}
    if role is Role.SYSTEM:
        return {"role": "system", "content": message.content or ""}
    if role is Role.TOOL:
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content or ""}
    out: dict[str, Any] = {"role": "assistant", "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments or "{}"}}
            for c in message.tool_calls
        ]
    return out


def _tool_choice(request: Request) -> Any:
    choice = request.tool_choice
    if choice is ToolChoice.NONE:
        return "none"
    if choice is ToolChoice.ANY:
        return "required"
    if choice is ToolChoice.TOOL:
        return {"type": "function", "function": {"name": request.tool_choice_name}}
    return None


def _check_sampling(spec: ModelSpec, request: Request, ref: str) -> None:
    if spec.reasoning and (request.temperature is not None or request.top_p is not None):
        raise UnsupportedCapabilityError(
            f"model {ref} is a reasoning model and takes no temperature or top_p; leave them unset "
            "(OpenAIChatOptions(reasoning_effort=...) steers it instead)",
            target=ref,
            capability="temperature and top_p",
        )


def response_format(schema: OutputSchema) -> dict[str, Any]:
    """``response_format`` for an output schema: strict when the schema allows it (every property
    required, no free-form objects), else the schema as it is with ``strict: false``."""
    strict = schema.strict_json_schema()
    if strict is None:
        return JsonSchemaFormat(name=schema.name, schema=schema.json_schema, strict=False).to_wire()
    return JsonSchemaFormat(name=schema.name, schema=strict).to_wire()


def chat_body(
    spec: ModelSpec, request: Request, *, ref: str, stream: bool = False, stream_usage: bool = True
) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions``."""
    _check_sampling(spec, request, ref)
    messages: list[dict[str, Any]] = []
    if request.system_prompt:
        messages.append({"role": "system", "content": request.system_prompt})
    messages.extend(_message(m) for m in request.messages)
    body: dict[str, Any] = {"model": spec.wire_id, "messages": messages}
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description or "", "parameters": dict(t.parameters)},
            }
            for t in request.tools
        ]
        choice = _tool_choice(request)
        if choice is not None:
            body["tool_choice"] = choice
    if request.max_tokens is not None:
        body["max_completion_tokens" if spec.max_completion_tokens else "max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop_sequences:
        body["stop"] = list(request.stop_sequences)
    options = request.option(OpenAIChatOptions)
    if options is not None:
        body.update(options.to_wire())
    if request.output_schema is not None:
        if "response_format" in body:
            raise ValidationError(
                "the request has an output schema and OpenAIChatOptions(response_format=...); keep one of them"
            )
        body["response_format"] = response_format(request.output_schema)
    if stream:
        body["stream"] = True
        if stream_usage:
            body["stream_options"] = {"include_usage": True}
    return body


def _optional_text(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    if not raw:
        return ()
    return tuple(
        ToolCall(
            id=c.get("id") or f"call_{i}",
            name=str(c["function"]["name"]),
            arguments=_optional_text(c["function"].get("arguments")) or "{}",
        )
        for i, c in enumerate(raw)
    )


def usage_detail(usage: dict[str, Any]) -> dict[str, Any]:
    """The token detail of a ``usage`` object: cached prompt tokens
    (``prompt_tokens_details.cached_tokens``, part of ``prompt_tokens``) and reasoning tokens
    (``completion_tokens_details.reasoning_tokens``, part of ``completion_tokens``); None where
    the server does not say."""
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    return {
        "cache_read_tokens": prompt.get("cached_tokens"),
        "reasoning_tokens": completion.get("reasoning_tokens"),
    }


def chat_response(data: dict[str, Any]) -> Response:
    """A chat completion as a :class:`Response` (raises KeyError/TypeError on a malformed one)."""
    choice = data["choices"][0]
    raw = choice["message"]
    calls = tool_calls(raw.get("tool_calls"))
    text = _optional_text(raw.get("content"))
    finish = choice.get("finish_reason")
    reason = stop_reason(finish)
    if not text and raw.get("refusal"):
        text, reason = raw["refusal"], StopReason.CONTENT_FILTERED
    if text is None and not calls:
        text = ""
    usage = data.get("usage") or {}
    return Response(
        message=Message(role=Role.ASSISTANT, content=text, tool_calls=calls),
        input_tokens=usage.get("prompt_tokens"),
        output_tokens=usage.get("completion_tokens"),
        total_tokens=usage.get("total_tokens"),
        **usage_detail(usage),
        stop_reason=reason,
        provider_stop_reason=finish,
        model_id=data.get("model"),
    )
