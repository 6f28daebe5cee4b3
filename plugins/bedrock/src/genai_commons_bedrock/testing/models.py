"""What the local service's models answer: deterministic, small, and following the request and
response shapes of Bedrock's documentation (Converse, Titan and Cohere embeddings, Titan Image
Generator and Nova Canvas, the Anthropic messages body of InvokeModel, ListFoundationModels).

Chat models echo the last user text (``You said: …``), so tests can see what reached the wire;
replies can also be scripted. A forced tool choice is answered with a call of the tool until
its result comes back. Embeddings are hashing-trick vectors of the words, so equal texts
give equal vectors. Images are solid-colour PNGs of the requested size.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
import uuid
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import field, frozen

_WORD = re.compile(r"\w+", re.UNICODE)


@frozen(kw_only=True)
class ToolUse:
    """A tool call a scripted model reply makes."""

    name: str
    input: Mapping[str, Any] = field(factory=dict)
    id: str = field(factory=lambda: f"tooluse_{uuid.uuid4().hex[:20]}")


@frozen(kw_only=True)
class Reply:
    """A scripted model reply: text, tool calls, or both."""

    text: str = ""
    tool_uses: tuple[ToolUse, ...] = ()
    stop_reason: str | None = None


def as_reply(value: str | ToolUse | Reply | Sequence[ToolUse]) -> Reply:
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply(text=value)
    if isinstance(value, ToolUse):
        return Reply(tool_uses=(value,))
    return Reply(tool_uses=tuple(value))


def words(text: str) -> int:
    return len(_WORD.findall(text))


# -- chat -------------------------------------------------------------------------------------


_START = "A conversation must start with a user message. Try again with a conversation that starts with a user message."
_ALTERNATE = (
    "A conversation must alternate between user and assistant roles. Make sure the conversation alternates "
    "between user and assistant roles and try again."
)
_TOOL_CONFIG = "The toolConfig field must be defined when using toolUse and toolResult content blocks."
_DOCUMENT_NAME = re.compile(r"[A-Za-z0-9\-()\[\] ]+")


def check_converse(body: Mapping[str, Any]) -> str | None:
    """Bedrock's validation of a Converse body, as far as the known pitfalls go; None when valid."""
    messages = body.get("messages") or []
    if not messages or messages[0].get("role") != "user":
        return _START
    for i, message in enumerate(messages):
        if i and message.get("role") == messages[i - 1].get("role"):
            return _ALTERNATE
        if not message.get("content"):
            return f"The content field in the Message object at messages.{i} is empty. Add a ContentBlock object."
        for j, block in enumerate(message["content"]):
            if "text" in block and not block["text"].strip():
                return f"The text field in the ContentBlock object at messages.{i}.content.{j} is blank. Add text."
            if ("toolUse" in block or "toolResult" in block) and "toolConfig" not in body:
                return _TOOL_CONFIG
            if "document" in block and not _DOCUMENT_NAME.fullmatch(block["document"].get("name", "")):
                return f"The format of the value at messages.{i}.content.{j}.document.name is invalid."
    for block in body.get("system") or ():
        if "text" in block and not block["text"].strip():
            return (
                "The text field in the SystemContentBlock object is blank. Add text to the text field, and try again."
            )
    return None


def _texts(blocks: Sequence[Mapping[str, Any]]) -> list[str]:
    return [block["text"] for block in blocks if "text" in block]


def _attachments(blocks: Sequence[Mapping[str, Any]]) -> str:
    images = sum(1 for block in blocks if "image" in block)
    documents = [block["document"]["name"] for block in blocks if "document" in block]
    parts = [f"{images} image(s)"] if images else []
    parts += [f"document {name!r}" for name in documents]
    return f" [with {', '.join(parts)}]" if parts else ""


def _placeholder(schema: Any) -> Any:
    """A value that fits a JSON schema: objects with every property, ``"text"``, 0, false, []."""
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if kind == "object":
        return {name: _placeholder(sub) for name, sub in (schema.get("properties") or {}).items()}
    return {"string": "text", "integer": 0, "number": 0, "boolean": False, "array": []}.get(str(kind))


def _forced_tool(body: Mapping[str, Any]) -> ToolUse | None:
    """The call a forced ``toolChoice`` (``tool`` or ``any``) makes, its input filling the tool's
    schema; None once the conversation ends with the tool's result (the model then answers)."""
    config = body.get("toolConfig") or {}
    choice = config.get("toolChoice") or {}
    specs = [tool["toolSpec"] for tool in config.get("tools") or () if "toolSpec" in tool]
    if any("toolResult" in block for block in body["messages"][-1]["content"]):
        return None
    if "tool" in choice:
        spec = next((s for s in specs if s["name"] == choice["tool"]["name"]), None)
    else:
        spec = specs[0] if "any" in choice and specs else None
    if spec is None:
        return None
    return ToolUse(name=spec["name"], input=_placeholder(spec.get("inputSchema", {}).get("json", {})) or {})


def converse_reply(body: Mapping[str, Any], scripted: Reply | None) -> tuple[list[dict[str, Any]], str, dict[str, int]]:
    """The content blocks, stop reason and usage of the model's answer to a valid Converse body."""
    messages = body["messages"]
    last = messages[-1]["content"]
    stop = "end_turn"
    forced = _forced_tool(body) if scripted is None else None
    if forced is not None:
        scripted = Reply(tool_uses=(forced,))
    if scripted is not None:
        text, uses = scripted.text, scripted.tool_uses
        stop = scripted.stop_reason or ("tool_use" if uses else "end_turn")
    else:
        uses = ()
        results = [block["toolResult"] for block in last if "toolResult" in block]
        if results:
            text = "Done: " + "; ".join(
                " ".join(_texts(r.get("content", ()))) or json.dumps(r.get("content")) for r in results
            )
        else:
            text = "You said: " + " ".join(_texts(last)) + _attachments(last)
        guardrail = body.get("guardrailConfig")
        if guardrail is not None and "forbidden" in text.lower():
            text, stop = "Sorry, the model cannot answer this question.", "guardrail_intervened"
        inference = body.get("inferenceConfig") or {}
        for sequence in inference.get("stopSequences") or ():
            if sequence in text:
                text, stop = text[: text.index(sequence)], "stop_sequence"
        limit = inference.get("maxTokens")
        if limit is not None and words(text) > limit:
            text, stop = " ".join(text.split()[:limit]), "max_tokens"
    content: list[dict[str, Any]] = [{"text": text}] if text else []
    content += [{"toolUse": {"toolUseId": u.id, "name": u.name, "input": dict(u.input)}} for u in uses]
    prompt = [*_texts(body.get("system") or ())]
    for message in messages:
        prompt += _texts(message["content"])
    usage = {"inputTokens": sum(words(t) for t in prompt), "outputTokens": max(1, words(text) + 3 * len(uses))}
    usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"]
    return content, stop, usage


# -- embeddings -------------------------------------------------------------------------------


def vector(text: str, dimensions: int, *, normalize: bool = True, salt: str = "") -> list[float]:
    """A hashing-trick vector of the words of ``text``."""
    values = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(f"{salt}{word}".encode(), digest_size=8).digest()
        values[int.from_bytes(digest[:4], "big") % dimensions] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in values))
    if normalize and norm:
        values = [v / norm for v in values]
    return values


# -- images -----------------------------------------------------------------------------------


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def colour(prompt: str, seed: int) -> tuple[int, int, int]:
    digest = hashlib.blake2b(f"{seed}:{prompt}".encode(), digest_size=3).digest()
    return digest[0], digest[1], digest[2]


# -- the catalogue ----------------------------------------------------------------------------


def _summary(model_id: str, name: str, provider: str, inputs: str, outputs: str, *, streaming: bool = True,
             inference: str = "ON_DEMAND", lifecycle: str = "ACTIVE") -> dict[str, Any]:  # fmt: skip
    return {
        "modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{model_id}",
        "modelId": model_id,
        "modelName": name,
        "providerName": provider,
        "inputModalities": inputs.split(),
        "outputModalities": outputs.split(),
        "responseStreamingSupported": streaming,
        "customizationsSupported": ["FINE_TUNING"] if "titan" in model_id else [],
        "inferenceTypesSupported": inference.split(),
        "modelLifecycle": {"status": lifecycle},
    }


FOUNDATION_MODELS: tuple[dict[str, Any], ...] = (
    _summary("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku", "Anthropic", "TEXT IMAGE", "TEXT"),
    _summary("anthropic.claude-3-5-sonnet-20240620-v1:0", "Claude 3.5 Sonnet", "Anthropic", "TEXT IMAGE", "TEXT"),
    _summary("anthropic.claude-v2:1", "Claude", "Anthropic", "TEXT", "TEXT", lifecycle="LEGACY"),
    _summary("amazon.nova-lite-v1:0", "Nova Lite", "Amazon", "TEXT IMAGE VIDEO", "TEXT"),
    _summary("amazon.nova-micro-v1:0", "Nova Micro", "Amazon", "TEXT", "TEXT"),
    _summary("amazon.titan-text-express-v1", "Titan Text G1 - Express", "Amazon", "TEXT", "TEXT"),
    _summary("meta.llama3-1-70b-instruct-v1:0", "Llama 3.1 70B Instruct", "Meta", "TEXT", "TEXT"),
    _summary("mistral.mistral-large-2402-v1:0", "Mistral Large (24.02)", "Mistral AI", "TEXT", "TEXT"),
    _summary("cohere.command-r-plus-v1:0", "Command R+", "Cohere", "TEXT", "TEXT"),
    _summary(
        "amazon.titan-embed-text-v2:0", "Titan Text Embeddings V2", "Amazon", "TEXT", "EMBEDDING", streaming=False
    ),
    _summary("cohere.embed-english-v3", "Embed English", "Cohere", "TEXT", "EMBEDDING", streaming=False),
    _summary("cohere.embed-multilingual-v3", "Embed Multilingual", "Cohere", "TEXT", "EMBEDDING", streaming=False),
    _summary(
        "amazon.titan-image-generator-v2:0",
        "Titan Image Generator G1 v2",
        "Amazon",
        "TEXT IMAGE",
        "IMAGE",
        streaming=False,
    ),
    _summary(
        "amazon.titan-image-generator-v1",
        "Titan Image Generator G1",
        "Amazon",
        "TEXT IMAGE",
        "IMAGE",
        streaming=False,
        lifecycle="LEGACY",
    ),
    _summary("amazon.nova-canvas-v1:0", "Nova Canvas", "Amazon", "TEXT IMAGE", "IMAGE", streaming=False),
    _summary("amazon.nova-reel-v1:0", "Nova Reel", "Amazon", "TEXT IMAGE", "VIDEO", streaming=False),
    _summary(
        "anthropic.claude-3-haiku-20240307-v1:0:200k",
        "Claude 3 Haiku",
        "Anthropic",
        "TEXT IMAGE",
        "TEXT",
        inference="PROVISIONED",
    ),
)


def list_models(filters: Mapping[str, str]) -> list[dict[str, Any]]:
    """ListFoundationModels' answer for its query parameters."""
    out = []
    for summary in FOUNDATION_MODELS:
        if "byProvider" in filters and summary["providerName"].lower() != filters["byProvider"].lower():
            continue
        if "byOutputModality" in filters and filters["byOutputModality"] not in summary["outputModalities"]:
            continue
        if "byInferenceType" in filters and filters["byInferenceType"] not in summary["inferenceTypesSupported"]:
            continue
        if (
            "byCustomizationType" in filters
            and filters["byCustomizationType"] not in summary["customizationsSupported"]
        ):
            continue
        out.append(summary)
    return out
