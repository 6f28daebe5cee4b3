"""The fake's ``/converse`` and ``/converse-stream``: strict checks of the Converse request, and
deterministic replies (scripted, or an echo of the last user text)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any

from attrs import field, frozen

from ._errors import ApiError

__all__ = ["Reply", "check_converse", "reply_for", "stream_frames", "words"]

_TOP = {"messages", "system", "inferenceConfig", "toolConfig"}
_INFERENCE = {"maxTokens", "temperature", "topP", "stopSequences"}
_IMAGE_FORMATS = {"png", "jpeg", "gif", "webp"}
_DOCUMENT_FORMATS = {"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"}
#: Characters of text beyond which the fake says the input is too long.
MAX_INPUT_CHARS = 400_000


def _calls(value: Any) -> tuple[tuple[str, dict[str, Any]], ...]:
    return tuple((str(name), dict(arguments)) for name, arguments in value)


@frozen(kw_only=True)
class Reply:
    """A scripted answer: text and/or tool calls ``(name, input)``; ``cache_read`` and
    ``cache_write`` prompt tokens are reported as Converse does (``cacheReadInputTokens``,
    ``cacheWriteInputTokens``, apart from ``inputTokens`` and within ``totalTokens``)."""

    text: str = ""
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = field(default=(), converter=_calls)
    stop_reason: str | None = None
    cache_read: int = 0
    cache_write: int = 0


def _usage(reply: Reply, tokens_in: int, tokens_out: int) -> dict[str, Any]:
    cached = reply.cache_read + reply.cache_write
    usage = {"inputTokens": tokens_in, "outputTokens": tokens_out, "totalTokens": tokens_in + tokens_out + cached}
    if cached:
        usage.update(cacheReadInputTokens=reply.cache_read, cacheWriteInputTokens=reply.cache_write)
    return usage


def words(text: str) -> int:
    return len(text.split())


def _bad(message: str) -> ApiError:
    return ApiError(400, "ValidationException", message)


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise _bad(message)


def _check_bytes(source: Any, limit: int, what: str) -> None:
    _need(isinstance(source, dict) and set(source) == {"bytes"}, f"{what}.source must be {{bytes}}")
    data = source["bytes"]
    _need(isinstance(data, str), f"{what}.source.bytes must be a base64 string")
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise _bad(f"{what}.source.bytes is not valid base64") from None
    _need(len(raw) < limit, f"{what} is too large: {len(raw)} bytes")


def _check_block(block: Any, role: str, tool_ids: set[str], counts: dict[str, int]) -> None:
    _need(isinstance(block, dict) and len(block) == 1, "each content block has exactly one member")
    kind, body = next(iter(block.items()))
    if kind == "text":
        _need(isinstance(body, str) and body.strip() != "", "text content blocks must not be blank")
    elif kind == "image":
        _need(role == "user", "images are only in user messages")
        _need(body.get("format") in _IMAGE_FORMATS, f"image format {body.get('format')!r} is not supported")
        _check_bytes(body.get("source"), 3_750_000, "image")
        counts["image"] += 1
    elif kind == "document":
        _need(role == "user", "documents are only in user messages")
        _need(body.get("format") in _DOCUMENT_FORMATS, f"document format {body.get('format')!r} is not supported")
        _need(isinstance(body.get("name"), str) and body["name"].strip() != "", "a document needs a name")
        _check_bytes(body.get("source"), 4_500_000, "document")
        counts["document"] += 1
    elif kind == "toolUse":
        _need(role == "assistant", "toolUse is only in assistant messages")
        _need({"toolUseId", "name", "input"} <= set(body), "toolUse needs toolUseId, name and input")
        _need(isinstance(body["input"], dict), "toolUse.input must be a JSON object")
        tool_ids.add(body["toolUseId"])
        counts["tool"] += 1
    elif kind == "toolResult":
        _need(role == "user", "toolResult is only in user messages")
        _need(body.get("toolUseId") in tool_ids, "toolResult.toolUseId names no earlier toolUse")
        _need(set(body) <= {"toolUseId", "content", "status"}, "unknown member of toolResult")
        _need(body.get("status", "success") in ("success", "error"), "toolResult.status is success or error")
        content = body.get("content")
        _need(isinstance(content, list) and len(content) > 0, "toolResult.content must be a non-empty list")
        for part in content:
            _need(isinstance(part, dict) and len(part) == 1, "each toolResult content part has one member")
            if "text" in part:
                _need(isinstance(part["text"], str) and part["text"].strip() != "", "blank text in a tool result")
            elif "json" in part:
                _need(isinstance(part["json"], dict), "toolResult json must be an object")
            else:
                _need("image" in part or "document" in part, "unknown toolResult content")
        counts["tool"] += 1
    else:
        raise _bad(f"unknown content block {kind!r}")


def check_converse(body: Any) -> None:
    """Raise :class:`ApiError` (400) for anything the Converse API would reject."""
    _need(isinstance(body, dict), "the body must be a JSON object")
    _need(set(body) <= _TOP, f"unknown members: {sorted(set(body) - _TOP)}")
    messages = body.get("messages")
    _need(isinstance(messages, list) and len(messages) > 0, "messages must be a non-empty list")
    counts = {"image": 0, "document": 0, "tool": 0}
    tool_ids: set[str] = set()
    previous = None
    chars = 0
    for number, message in enumerate(messages):
        _need(isinstance(message, dict) and set(message) == {"role", "content"}, "a message is {role, content}")
        role = message["role"]
        _need(role in ("user", "assistant"), f"unknown role {role!r}")
        _need(number > 0 or role == "user", "the conversation must start with a user message")
        _need(role != previous, "roles must alternate between user and assistant")
        previous = role
        content = message["content"]
        _need(isinstance(content, list) and len(content) > 0, "message content must be a non-empty list")
        for block in content:
            _check_block(block, role, tool_ids, counts)
            chars += len(block.get("text", "")) if isinstance(block, dict) else 0
    _need(counts["image"] <= 20, "at most 20 images per conversation")
    _need(counts["document"] <= 5, "at most 5 documents per conversation")
    system = body.get("system")
    if system is not None:
        _need(isinstance(system, list) and len(system) > 0, "system must be a non-empty list when present")
        for part in system:
            _need(isinstance(part, dict) and set(part) == {"text"}, "a system part is {text}")
            _need(isinstance(part["text"], str) and part["text"].strip() != "", "system text must not be blank")
            chars += len(part["text"])
    if chars > MAX_INPUT_CHARS:
        raise _bad("Input is too long for requested model.")
    _check_inference(body.get("inferenceConfig"))
    _check_tools(body.get("toolConfig"), counts["tool"] > 0)


def _check_inference(config: Any) -> None:
    if config is None:
        return
    _need(isinstance(config, dict) and len(config) > 0 and set(config) <= _INFERENCE, "bad inferenceConfig")
    if "maxTokens" in config:
        _need(isinstance(config["maxTokens"], int) and config["maxTokens"] >= 1, "maxTokens must be at least 1")
    for name in ("temperature", "topP"):
        if name in config:
            _need(isinstance(config[name], int | float) and 0 <= config[name] <= 1, f"{name} must be in [0, 1]")
    if "stopSequences" in config:
        sequences = config["stopSequences"]
        _need(isinstance(sequences, list) and all(isinstance(s, str) and s for s in sequences), "bad stopSequences")


def _check_tools(config: Any, history_uses_tools: bool) -> None:
    if config is None:
        _need(not history_uses_tools, "toolConfig is required when the conversation holds toolUse or toolResult")
        return
    _need(isinstance(config, dict) and set(config) <= {"tools", "toolChoice"}, "bad toolConfig")
    tools = config.get("tools")
    _need(isinstance(tools, list) and len(tools) > 0, "toolConfig.tools must be a non-empty list")
    names = set()
    for tool in tools:
        spec: Any = tool.get("toolSpec") if isinstance(tool, dict) else None
        _need(isinstance(spec, dict) and set(spec) <= {"name", "description", "inputSchema"}, "bad toolSpec")
        _need(isinstance(spec.get("name"), str) and spec["name"] != "", "a toolSpec needs a name")
        schema = spec.get("inputSchema")
        _need(isinstance(schema, dict) and isinstance(schema.get("json"), dict), "toolSpec.inputSchema is {json}")
        if "description" in spec:
            _need(isinstance(spec["description"], str) and spec["description"].strip() != "", "blank description")
        names.add(spec["name"])
    choice = config.get("toolChoice")
    if choice is not None:
        _need(isinstance(choice, dict) and len(choice) == 1, "toolChoice has one member")
        kind, value = next(iter(choice.items()))
        _need(kind in ("auto", "any", "tool"), f"unknown toolChoice {kind!r}")
        if kind == "tool":
            _need(value.get("name") in names, "toolChoice names a tool that is not offered")
        else:
            _need(value == {}, f"toolChoice {kind} takes an empty object")


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message["role"] != "user":
            continue
        for block in reversed(message["content"]):
            if "text" in block:
                return str(block["text"])
            if "toolResult" in block:
                part = block["toolResult"]["content"][0]
                return "tool said " + (part["text"] if "text" in part else json.dumps(part.get("json")))
    return ""


def _placeholder(schema: Any) -> Any:
    """A value that fits a JSON schema: objects with every property, ``"text"``, 0, false, []."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if kind == "object":
        return {name: _placeholder(sub) for name, sub in (schema.get("properties") or {}).items()}
    return {"string": "text", "integer": 0, "number": 0, "boolean": False, "array": []}.get(str(kind))


def reply_for(body: dict[str, Any], scripted: Reply | None, counter: int) -> tuple[Reply, int, int]:
    """The reply, and the input and output token counts (words)."""
    texts = [str(block.get("text", "")) for message in body["messages"] for block in message["content"]]
    text_in = " ".join([*texts, *(p["text"] for p in body.get("system", []))])
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    answered = any("toolResult" in block for block in body["messages"][-1]["content"])
    if scripted is None:
        specs = {t["toolSpec"]["name"]: t["toolSpec"] for t in (body.get("toolConfig") or {}).get("tools", [])}
        forced = choice["tool"]["name"] if "tool" in choice else next(iter(specs), None) if "any" in choice else None
        if forced is not None and not answered:  # a forced tool, called until its result comes back
            schema = specs.get(forced, {}).get("inputSchema", {}).get("json", {})
            scripted = Reply(tool_calls=[(forced, _placeholder(schema) or {})])
        else:
            scripted = Reply(text=f"You said: {_last_user_text(body['messages'])}".strip())
            for sequence in (body.get("inferenceConfig") or {}).get("stopSequences") or ():
                if sequence in scripted.text:
                    cut = scripted.text[: scripted.text.index(sequence)].strip() or "."
                    scripted = Reply(text=cut, stop_reason="stop_sequence")
    text = scripted.text
    limit = (body.get("inferenceConfig") or {}).get("maxTokens")
    stop = scripted.stop_reason or ("tool_use" if scripted.tool_calls else "end_turn")
    if limit is not None and words(text) > limit:
        text, stop = " ".join(text.split()[:limit]), "max_tokens"
    reply = Reply(
        text=text,
        tool_calls=scripted.tool_calls,
        stop_reason=stop,
        cache_read=scripted.cache_read,
        cache_write=scripted.cache_write,
    )
    output = words(text) + sum(words(json.dumps(i)) for _n, i in reply.tool_calls)
    return reply, words(text_in), output


def converse_answer(reply: Reply, tokens_in: int, tokens_out: int, counter: int) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"text": reply.text}] if reply.text else []
    for n, (name, arguments) in enumerate(reply.tool_calls):
        content.append({"toolUse": {"toolUseId": f"tooluse_{counter}_{n}", "name": name, "input": arguments}})
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": reply.stop_reason,
        "usage": _usage(reply, tokens_in, tokens_out),
        "metrics": {"latencyMs": 12},
    }


def stream_frames(
    reply: Reply, tokens_in: int, tokens_out: int, counter: int, *, wrapped: bool
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(event name, data)`` of a streamed answer; ``wrapped`` puts each body under its kind."""
    kinds = {"MESSAGE_START": "messageStart", "CONTENT_BLOCK_START": "contentBlockStart",
             "CONTENT_BLOCK_DELTA": "contentBlockDelta", "CONTENT_BLOCK_STOP": "contentBlockStop",
             "MESSAGE_STOP": "messageStop", "METADATA": "metadata"}  # fmt: skip

    def frame(name: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return name, ({kinds[name]: body} if wrapped else body)

    yield frame("MESSAGE_START", {"role": "assistant"})
    index = 0
    if reply.text:
        pieces = reply.text.split(" ")
        for n, piece in enumerate(pieces):
            yield frame(
                "CONTENT_BLOCK_DELTA", {"contentBlockIndex": 0, "delta": {"text": piece if n == 0 else f" {piece}"}}
            )
        yield frame("CONTENT_BLOCK_STOP", {"contentBlockIndex": 0})
        index = 1
    for n, (name, arguments) in enumerate(reply.tool_calls):
        block = index + n
        start = {"toolUse": {"toolUseId": f"tooluse_{counter}_{n}", "name": name}}
        yield frame("CONTENT_BLOCK_START", {"contentBlockIndex": block, "start": start})
        encoded = json.dumps(arguments)
        half = len(encoded) // 2
        for piece in (encoded[:half], encoded[half:]):
            yield frame("CONTENT_BLOCK_DELTA", {"contentBlockIndex": block, "delta": {"toolUse": {"input": piece}}})
        yield frame("CONTENT_BLOCK_STOP", {"contentBlockIndex": block})
    yield frame("MESSAGE_STOP", {"stopReason": reply.stop_reason})
    yield frame("METADATA", {"usage": _usage(reply, tokens_in, tokens_out), "metrics": {"latencyMs": 12}})
