"""The fake's chat completions: request checks as the API makes them, deterministic answers,
and the chunks of a streamed answer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ._errors import ApiError

_ROLES = {"system", "developer", "user", "assistant", "tool"}
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+$")
_DATA_FILE = re.compile(r"^data:[\w.+-]+/[\w.+-]+;base64,[A-Za-z0-9+/=]+$")
_KNOWN_FIELDS = {
    "model",
    "messages",
    "tools",
    "tool_choice",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "stream",
    "stream_options",
    "response_format",
    "seed",
    "reasoning_effort",
    "parallel_tool_calls",
    "frequency_penalty",
    "presence_penalty",
    "user",
    "n",
    "logprobs",
    "service_tier",
}


class Reply:
    """A scripted answer: text, tool calls (name and arguments), or both; ``cached_tokens`` of the
    prompt came from OpenAI's prompt cache and ``reasoning_tokens`` are added to the completion
    (as OpenAI reports them, in ``prompt_tokens_details`` and ``completion_tokens_details``)."""

    def __init__(
        self,
        text: str | None = None,
        tool_calls: list[tuple[str, Mapping[str, Any]]] | None = None,
        *,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> None:
        self.text = text
        self.tool_calls = list(tool_calls or [])
        self.cached_tokens = cached_tokens
        self.reasoning_tokens = reasoning_tokens


def _usage(body: Mapping[str, Any], reply: Reply, text: str | None, calls: list[dict[str, Any]]) -> dict[str, Any]:
    prompt = prompt_tokens(body)
    completion_tokens = words(text or "") + 10 * len(calls) + reply.reasoning_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": min(reply.cached_tokens, prompt), "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens, "audio_tokens": 0},
    }


def words(text: str) -> int:
    return len(text.split())


def _text_of(content: Any) -> tuple[str, int, int]:
    """Text, images and files of a message's content (a string or a list of parts)."""
    if content is None:
        return "", 0, 0
    if isinstance(content, str):
        return content, 0, 0
    if not isinstance(content, list):
        raise ApiError.invalid("'content' must be a string or an array of content parts", "messages")
    texts, images, files = [], 0, 0
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if not (url.startswith(("http://", "https://")) or _DATA_IMAGE.match(url)):
                raise ApiError.invalid("Invalid image URL: expected an http(s) URL or a base64 data URL", "messages")
            images += 1
        elif kind == "file":
            file = part.get("file") or {}
            if not (file.get("file_id") or (file.get("filename") and _DATA_FILE.match(file.get("file_data", "")))):
                raise ApiError.invalid("a file part needs file_id, or filename and file_data as a data URL", "messages")
            files += 1
        else:
            raise ApiError.invalid(f"Invalid content part type: {kind!r}", "messages")
    return " ".join(texts), images, files


def check_chat(body: Mapping[str, Any], model: Mapping[str, Any]) -> None:
    """The checks of ``POST /chat/completions`` that a client can get wrong."""
    unknown = sorted(set(body) - _KNOWN_FIELDS)
    if unknown:
        raise ApiError.invalid(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError.invalid("'messages' must be a non-empty array", "messages")
    open_calls: set[str] = set()
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in _ROLES:
            raise ApiError.invalid(f"Invalid value for 'messages[{index}].role': {role!r}", f"messages[{index}].role")
        _text_of(message.get("content"))
        if role == "assistant":
            for call in message.get("tool_calls") or []:
                if call.get("type") != "function" or not call.get("id") or "name" not in call.get("function", {}):
                    raise ApiError.invalid(
                        "an assistant tool call needs id, type 'function' and function.name", "messages"
                    )
                open_calls.add(call["id"])
        elif role == "tool":
            if message.get("tool_call_id") not in open_calls:
                raise ApiError.invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with "
                    "'tool_calls'.",
                    f"messages.[{index}].role",
                )
        elif message.get("content") is None:
            raise ApiError.invalid(f"'messages[{index}].content' is required", f"messages[{index}].content")
    names = set()
    for tool in body.get("tools") or []:
        function = tool.get("function") or {}
        if tool.get("type") != "function" or not function.get("name"):
            raise ApiError.invalid("each tool needs type 'function' and function.name", "tools")
        parameters = function.get("parameters")
        if parameters is not None and parameters.get("type") != "object":
            raise ApiError.invalid("function parameters must be a JSON schema of type 'object'", "tools")
        names.add(function["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if not body.get("tools"):
            raise ApiError.invalid("'tool_choice' is only allowed when 'tools' are specified", "tool_choice")
        if isinstance(choice, dict):
            if (choice.get("function") or {}).get("name") not in names:
                raise ApiError.invalid("tool_choice names a function that is not among the tools", "tool_choice")
        elif choice not in ("none", "auto", "required"):
            raise ApiError.invalid(f"Invalid value for 'tool_choice': {choice!r}", "tool_choice")
    if body.get("stream_options") is not None and not body.get("stream"):
        raise ApiError.invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options"
        )
    if model.get("reasoning"):
        for name in ("max_tokens", "temperature", "top_p"):
            if name in body and body[name] is not None and (name == "max_tokens" or body[name] != 1):
                hint = " Use 'max_completion_tokens' instead." if name == "max_tokens" else ""
                raise ApiError.invalid(
                    f"Unsupported parameter: '{name}' is not supported with this model.{hint}",
                    name,
                    "unsupported_parameter",
                )
    fmt = body.get("response_format")
    if fmt is not None:
        _check_response_format(fmt)


def _check_response_format(fmt: Mapping[str, Any]) -> None:
    if fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise ApiError.invalid("Invalid value for 'response_format.type'", "response_format")
    if fmt.get("type") == "json_schema" and not (fmt.get("json_schema") or {}).get("name"):
        raise ApiError.invalid("response_format.json_schema needs a name", "response_format")
    if fmt.get("type") == "json_schema" and fmt["json_schema"].get("strict"):
        problem = _strict_problem(fmt["json_schema"].get("schema") or {})
        if problem is not None:
            raise ApiError.invalid(
                f"Invalid schema for response_format '{fmt['json_schema']['name']}': {problem}", "response_format"
            )


def _strict_problem(schema: Any) -> str | None:
    """What strict mode refuses in a schema (as the API says it), or None: every object must list
    all its properties in ``required`` and say ``"additionalProperties": false``."""
    if isinstance(schema, list):
        return next((p for p in map(_strict_problem, schema) if p is not None), None)
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            return "'additionalProperties' is required to be supplied and to be false."
        if set(schema.get("required") or ()) != set(schema.get("properties") or {}):
            return "'required' is required to be supplied and to be an array including every key in properties."
    children = [*(schema.get("properties") or {}).values(), *(schema.get("$defs") or {}).values()]
    children += [schema[key] for key in ("items", "anyOf") if key in schema]
    return _strict_problem(children)


def _placeholder(schema: Mapping[str, Any], root: Mapping[str, Any] | None = None) -> Any:
    root = schema if root is None else root
    reference = schema.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/$defs/"):
        return _placeholder(root.get("$defs", {}).get(reference.rpartition("/")[2], {}), root)
    if "anyOf" in schema:  # the first option that is not null
        options = [o for o in schema["anyOf"] if o.get("type") != "null"] or schema["anyOf"]
        return _placeholder(options[0], root)
    kind = schema.get("type")
    if kind == "object":
        return {name: _placeholder(sub, root) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return []
    if "enum" in schema:
        return schema["enum"][0]
    return {"string": "text", "integer": 0, "number": 0, "boolean": False}.get(str(kind))


def _forced_tool(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The function a ``tool_choice`` of ``required`` or ``{"function": …}`` makes the model call."""
    choice = body.get("tool_choice")
    functions = [tool["function"] for tool in body.get("tools") or []]
    if choice == "required" and functions:
        first: Mapping[str, Any] = functions[0]
        return first
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return next((f for f in functions if f["name"] == name), None)
    return None


def default_reply(body: Mapping[str, Any]) -> Reply:
    """With nothing scripted: JSON for a schema, a call of the tool that ``tool_choice`` forces
    (until a tool result comes back), an echo of the last tool result or user message."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return Reply(json.dumps(_placeholder(fmt["json_schema"].get("schema") or {"type": "object"})))
    last = body["messages"][-1]
    forced = _forced_tool(body)
    if forced is not None and last["role"] != "tool":
        return Reply(tool_calls=[(forced["name"], _placeholder(forced.get("parameters") or {"type": "object"}))])
    text, images, files = _text_of(last.get("content"))
    if last["role"] == "tool":
        return Reply(f"The tool answered: {text}")
    extra = f" ({images} images, {files} files)" if images or files else ""
    return Reply(f"You said: {text}{extra}")


def _limit(text: str, body: Mapping[str, Any]) -> tuple[str, str]:
    for stop in [body["stop"]] if isinstance(body.get("stop"), str) else body.get("stop") or []:
        if stop in text:
            return text[: text.index(stop)], "stop"
    most = body.get("max_completion_tokens") or body.get("max_tokens")
    if most is not None and words(text) > most:
        return " ".join(text.split(" ")[:most]), "length"
    return text, "stop"


def prompt_tokens(body: Mapping[str, Any]) -> int:
    total = 0
    for message in body["messages"]:
        text, images, files = _text_of(message.get("content"))
        total += words(text) + 85 * images + 100 * files + 3
    return total


def answer(
    body: Mapping[str, Any], reply: Reply, completion_id: str
) -> tuple[dict[str, Any], str | None, list[dict[str, Any]], str]:
    """``(message, text, tool_calls, finish_reason)`` of a reply to ``body``."""
    text, finish = _limit(reply.text, body) if reply.text is not None else (None, "stop")
    calls = [
        {
            "id": f"call_{completion_id[-6:]}_{i}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        for i, (name, args) in enumerate(reply.tool_calls)
    ]
    if calls:
        finish = "tool_calls"
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
    if calls:
        message["tool_calls"] = calls
    return message, text, calls, finish


def completion(body: Mapping[str, Any], reply: Reply, completion_id: str, created: int) -> dict[str, Any]:
    message, text, calls, finish = answer(body, reply, completion_id)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _usage(body, reply, text, calls),
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }


def chunks(body: Mapping[str, Any], reply: Reply, completion_id: str, created: int) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed answer, in order (``[DONE]`` excluded)."""
    _message, text, calls, finish = answer(body, reply, completion_id)
    usage_wanted = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": body["model"],
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        out = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
        if usage_wanted:
            out["usage"] = None
        return out

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for i, word in enumerate((text or "").split(" ") if text else []):
        yield chunk({"content": word if i == 0 else f" {word}"})
    for index, call in enumerate(calls):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        first = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        yield chunk({"tool_calls": [first]})
        yield chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[:half]}}]})
        yield chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]})
    yield chunk({}, finish)
    if usage_wanted:
        yield {**base, "choices": [], "usage": _usage(body, reply, text, calls)}
