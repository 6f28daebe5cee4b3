"""The Amazon Bedrock Converse format: the core's :class:`Request` as a Converse request, a Converse
answer as the core's :class:`Response`. Pure functions over plain JSON-like data, no I/O.

Two services speak it: Amazon Bedrock (boto3 takes file bytes as ``bytes``) and Mendix Cloud GenAI
(JSON over HTTP carries them as base64 strings); ``file_bytes`` chooses. The request has no
``modelId``: boto3 takes it as an argument, and Mendix Cloud knows it from the connection key.

The format's pitfalls are handled here, once:

* blank or whitespace-only text is never sent (Converse rejects blank text blocks), and a message
  left with no content at all is dropped;
* consecutive messages of the same role are merged (user and assistant must alternate; tool
  results travel as user messages, so the results of one turn become one message);
* a history holding tool use or tool results always carries a ``toolConfig`` (Converse rejects it
  otherwise), even with tool choice "none" or no tools offered: the tools the history names are
  then described by name only. Tool choice "auto" is the default and is not sent.

:func:`check_files` checks attachments against the documented limits (count, size, pixels) before
anything is sent, with one clear error.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from attrs import frozen

from ..errors import ValidationError
from ..jsonparse import loads
from ..model.chat import Message, Request, Response
from ..model.enums import Role, StopReason, ToolChoice
from ..model.files import FileContent
from ..model.tools import ToolCall

__all__ = [
    "DOCUMENT_FORMATS",
    "DOCUMENT_FORMAT_NAMES",
    "EMPTY_TOOL_RESULT",
    "IMAGE_FORMATS",
    "IMAGE_FORMAT_NAMES",
    "SAMPLING_RANGE",
    "STOP_REASONS",
    "FileBytes",
    "FileLimits",
    "check_files",
    "converse_request",
    "converse_response",
    "image_dimensions",
    "stop_reason",
]

Json = dict[str, Any]
#: How file bytes are carried: ``raw`` bytes (boto3) or a ``base64`` string (JSON over HTTP).
FileBytes = Literal["raw", "base64"]

IMAGE_FORMATS: Mapping[str, str] = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "gif": "gif", "webp": "webp"}
DOCUMENT_FORMATS: Mapping[str, str] = {
    "pdf": "pdf", "csv": "csv", "doc": "doc", "docx": "docx", "xls": "xls", "xlsx": "xlsx", "html": "html",
    "htm": "html", "txt": "txt", "text": "txt", "md": "md", "markdown": "md",
}  # fmt: skip
#: What a chat model behind Converse declares (``DeployedModel.image_formats`` and
#: ``document_formats``), and the range of ``temperature`` and ``topP`` that Converse's
#: ``InferenceConfiguration`` takes, whatever the model.
IMAGE_FORMAT_NAMES = frozenset(IMAGE_FORMATS.values())
DOCUMENT_FORMAT_NAMES = frozenset(DOCUMENT_FORMATS.values())
SAMPLING_RANGE = (0.0, 1.0)
_MEDIA_SUFFIX = {"jpeg": "jpeg", "png": "png", "gif": "gif", "webp": "webp", "pdf": "pdf", "csv": "csv",
                 "html": "html", "plain": "txt", "markdown": "md", "msword": "doc"}  # fmt: skip
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF8", "gif"))
_NAME_CHARS = re.compile(r"[^A-Za-z0-9\-()\[\] ]+")
_SPACES = re.compile(r"\s+")
#: What a tool result with no output says, since blank text is never sent.
EMPTY_TOOL_RESULT = "(no output)"
_HISTORY_TOOL = "A tool used earlier in this conversation."

#: Converse stop reasons and the core's normalised ones.
STOP_REASONS: Mapping[str, StopReason] = {
    "end_turn": StopReason.END_TURN,
    "tool_use": StopReason.TOOL_USE,
    "max_tokens": StopReason.MAX_TOKENS,
    "model_context_window_exceeded": StopReason.MAX_TOKENS,
    "stop_sequence": StopReason.STOP_SEQUENCE,
    "guardrail_intervened": StopReason.CONTENT_FILTERED,
    "content_filtered": StopReason.CONTENT_FILTERED,
}


def stop_reason(value: str | None) -> StopReason | None:
    """The core's stop reason for a Converse ``stopReason`` (unknown ones are ``OTHER``)."""
    return None if value is None else STOP_REASONS.get(value, StopReason.OTHER)


# -- the request --------------------------------------------------------------------------------


def converse_request(
    request: Request,
    *,
    file_bytes: FileBytes = "raw",
    service: str = "Amazon Bedrock",
    s3_locations: bool = False,
    tool_result_status: bool = True,
    tool_results_as_json: bool = False,
) -> Json:
    """The Converse request for ``request``: ``messages``, and ``system``, ``inferenceConfig`` and
    ``toolConfig`` when they have content.

    :param file_bytes: ``raw`` puts ``bytes`` in ``source.bytes`` (boto3), ``base64`` a base64
        string (JSON over HTTP).
    :param service: the service's name, for error messages.
    :param s3_locations: whether ``s3://`` file URLs may be sent as ``s3Location`` (Bedrock only).
    :param tool_result_status: send ``status: error`` on failed tool results (Claude reads it).
    :param tool_results_as_json: send a tool result whose text is a JSON object as a ``json``
        block instead of a ``text`` block.
    """
    writer = _Writer(file_bytes, service, s3_locations, tool_result_status, tool_results_as_json)
    system, messages = writer.conversation(request)
    body: Json = {"messages": messages}
    if system:
        body["system"] = system
    inference: Json = {}
    if request.max_tokens is not None:
        inference["maxTokens"] = request.max_tokens
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    if request.top_p is not None:
        inference["topP"] = request.top_p
    if request.stop_sequences:
        inference["stopSequences"] = list(request.stop_sequences)
    if inference:
        body["inferenceConfig"] = inference
    tool_config = _tool_config(request, messages)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    return body


def _text(text: str | None) -> list[Json]:
    return [{"text": text}] if text is not None and text.strip() else []


class _Writer:
    """Writes the messages of one request (document names must be unique within it)."""

    def __init__(self, file_bytes: FileBytes, service: str, s3: bool, status: bool, as_json: bool) -> None:
        if file_bytes not in ("raw", "base64"):
            raise ValueError(f"file_bytes is 'raw' or 'base64', not {file_bytes!r}")
        self.file_bytes = file_bytes
        self.service = service
        self.s3 = s3
        self.status = status
        self.as_json = as_json
        self.names: set[str] = set()

    def conversation(self, request: Request) -> tuple[list[Json], list[Json]]:
        system = _text(request.system_prompt)
        messages: list[Json] = []
        for message in request.messages:
            if message.role is Role.SYSTEM:
                system += _text(message.content)
                continue
            role = "assistant" if message.role is Role.ASSISTANT else "user"
            content = self.content(message)
            if not content:
                continue
            if messages and messages[-1]["role"] == role:
                messages[-1]["content"].extend(content)
            else:
                messages.append({"role": role, "content": content})
        return system, messages

    def content(self, message: Message) -> list[Json]:
        if message.role is Role.TOOL:
            assert message.tool_call_id is not None  # the domain model guarantees it
            result: Json = {
                "toolUseId": message.tool_call_id,
                "content": [*self.files(message), *self.tool_output(message.content)] or [{"text": EMPTY_TOOL_RESULT}],
            }
            if message.is_error and self.status:
                result["status"] = "error"
            return [{"toolResult": result}]
        if message.role is Role.ASSISTANT:
            uses = [
                {"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.parsed_arguments()}}
                for call in message.tool_calls
            ]
            return [*_text(message.content), *uses]
        # Files first: vision models read an image best before the question about it.
        return [*self.files(message), *_text(message.content)]

    def tool_output(self, content: str | None) -> list[Json]:
        if self.as_json and content is not None and content.lstrip().startswith("{"):
            try:
                value = loads(content)
            except json.JSONDecodeError:
                value = None
            if isinstance(value, dict):
                return [{"json": value}]
        return _text(content)

    def files(self, message: Message) -> list[Json]:
        blocks: list[Json] = []
        if message.files is None:
            return blocks
        for file in message.images:
            image = {"format": _format(file, IMAGE_FORMATS, "image", self.service), "source": self.source(file)}
            blocks.append({"image": image})
        for file in message.documents:
            document = {
                "format": _format(file, DOCUMENT_FORMATS, "document", self.service),
                "name": self.document_name(file.text_content),
                "source": self.source(file),
            }
            blocks.append({"document": document})
        return blocks

    def source(self, file: FileContent) -> Json:
        if file.data is not None:
            return {"bytes": file.to_bytes() if self.file_bytes == "raw" else file.data}
        url = file.url or ""
        if url.startswith("data:"):
            raw = _data_url(url)[1]
            return {"bytes": raw if self.file_bytes == "raw" else base64.b64encode(raw).decode("ascii")}
        if url.startswith("s3://") and self.s3:
            return {"s3Location": {"uri": url}}
        scheme = url.split(":", 1)[0]
        where = "inline bytes or s3:// locations" if self.s3 else "inline bytes"
        raise ValidationError(
            f"{self.service} takes {file.file_type.value}s as {where}, not {scheme} URLs: download the file and "
            "attach it with FileContent.from_bytes or FileContent.from_path"
        )

    def document_name(self, wanted: str | None) -> str:
        """Letters, digits, spaces, hyphens, parentheses and brackets, no runs of whitespace, at most
        200 characters, unique within the request."""
        base = _SPACES.sub(" ", _NAME_CHARS.sub(" ", wanted or "")).strip()[:190] or "document"
        name, n = base, 1
        while name in self.names:
            n += 1
            name = f"{base} ({n})"
        self.names.add(name)
        return name


def _data_url(url: str) -> tuple[str, bytes]:
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        raise ValidationError("only base64 data: URLs can be attached")
    try:
        return header[5:-7], base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise ValidationError(f"the data: URL is not valid base64: {exc}") from None


def _format(file: FileContent, formats: Mapping[str, str], what: str, service: str) -> str:
    candidates = [file.extension]
    if file.url is not None:
        if file.url.startswith("data:"):
            media = _data_url(file.url)[0]
            candidates.append(_MEDIA_SUFFIX.get(media.rsplit("/", 1)[-1].split("+")[0]))
        else:
            candidates.append(file.url.rsplit("/", 1)[-1].rpartition(".")[2].lower())
    for candidate in candidates:
        if candidate and candidate in formats:
            return formats[candidate]
    if what == "image" and file.data is not None:
        sniffed = _sniff_image(file.to_bytes()[:12])
        if sniffed is not None:
            return sniffed
    accepted = ", ".join(sorted(set(formats.values())))
    given = f"'{file.extension}'" if file.extension else "no extension"
    raise ValidationError(f"{service} takes {what}s in these formats: {accepted}; this one has {given}")


def _sniff_image(head: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


# -- tools --------------------------------------------------------------------------------------


def _tool_config(request: Request, messages: Iterable[Json]) -> Json | None:
    used = _history_tool_names(messages)
    if request.tool_choice is ToolChoice.NONE:
        # "none": no tools, unless the history needs a tool configuration to be accepted.
        offered = [tool for tool in request.tools if tool.name in used]
    else:
        offered = list(request.tools)
    if not offered and not used:
        return None
    specs = [_spec(tool.name, tool.description, dict(tool.parameters)) for tool in offered]
    known = {tool.name for tool in offered}
    specs += [_spec(name, _HISTORY_TOOL, {"type": "object", "properties": {}}) for name in sorted(used - known)]
    config: Json = {"tools": specs}
    if request.tool_choice is ToolChoice.ANY:
        config["toolChoice"] = {"any": {}}
    elif request.tool_choice is ToolChoice.TOOL:
        config["toolChoice"] = {"tool": {"name": request.tool_choice_name}}
    return config


def _spec(name: str, description: str | None, schema: Json) -> Json:
    spec: Json = {"name": name, "inputSchema": {"json": schema}}
    if description and description.strip():
        spec["description"] = description
    return {"toolSpec": spec}


def _history_tool_names(messages: Iterable[Json]) -> set[str]:
    """Names of the tools the history's assistant turns called (tool results name none)."""
    return {block["toolUse"]["name"] for message in messages for block in message["content"] if "toolUse" in block}


# -- the response -------------------------------------------------------------------------------


def converse_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """The token counts of a Converse ``usage`` object, as keyword arguments of ``Response`` and
    ``StreamEnd``. Converse counts prompt-cache reads and writes (``cacheReadInputTokens``,
    ``cacheWriteInputTokens``) apart from ``inputTokens``; the core counts them in
    ``input_tokens`` too (as ``totalTokens`` does), and says how many in ``cache_read_tokens``
    and ``cache_write_tokens``."""
    read = usage.get("cacheReadInputTokens")
    write = usage.get("cacheWriteInputTokens")
    inp = usage.get("inputTokens")
    if inp is not None and (read or write):
        inp = inp + (read or 0) + (write or 0)
    return {
        "input_tokens": inp,
        "output_tokens": usage.get("outputTokens"),
        "total_tokens": usage.get("totalTokens"),
        "cache_read_tokens": read,
        "cache_write_tokens": write,
    }


def converse_response(data: Mapping[str, Any], *, model_id: str | None = None) -> Response:
    """The core response for a Converse answer: text, tool calls, stop reason, usage, and the
    service's own latency (``metrics.latencyMs``) as ``duration_ms``."""
    message = data.get("output", {}).get("message", {})
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in message.get("content", ()):
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            calls.append(ToolCall(id=use["toolUseId"], name=use["name"], arguments=json.dumps(use.get("input", {}))))
        # reasoningContent and citationsContent blocks have no place in the core's response.
    text = "".join(texts)
    usage = data.get("usage") or {}
    latency = (data.get("metrics") or {}).get("latencyMs")
    provider_stop = data.get("stopReason")
    return Response(
        message=Message(role=Role.ASSISTANT, content=text if text or not calls else None, tool_calls=calls),
        **converse_usage(usage),
        duration_ms=float(latency) if latency is not None else None,
        stop_reason=stop_reason(provider_stop),
        provider_stop_reason=provider_stop,
        model_id=model_id,
    )


# -- limits on attachments ----------------------------------------------------------------------


@frozen(kw_only=True)
class FileLimits:
    """Documented limits on the files of one Converse request (Bedrock's, which Mendix Cloud
    GenAI repeats): images and documents per request, bytes per file, pixels per side."""

    max_images: int = 20
    #: Each image must be smaller than this (3.75 MB).
    max_image_bytes: int = 3_750_000
    max_image_pixels: int = 8000
    max_documents: int = 5
    #: Each document must be smaller than this (4.5 MB).
    max_document_bytes: int = 4_500_000


def check_files(request: Request, limits: FileLimits | None = None, *, service: str = "Amazon Bedrock") -> None:
    """Raise :class:`ValidationError` when the request's files break ``limits``; nothing is sent.

    Only inline files (base64 or ``data:`` URLs) have sizes to check; formats are checked when
    the request is written.
    """
    if all(m.files is None for m in request.messages):
        return
    limits = limits or FileLimits()
    images = [f for m in request.messages for f in m.images]
    documents = [f for m in request.messages for f in m.documents]
    if len(images) > limits.max_images:
        raise ValidationError(
            f"{service} takes at most {limits.max_images} images per conversation; this one has {len(images)}: "
            "drop earlier images from the history"
        )
    if len(documents) > limits.max_documents:
        raise ValidationError(
            f"{service} takes at most {limits.max_documents} documents per conversation; this one has {len(documents)}"
        )
    for number, file in enumerate(images, 1):
        raw = _inline_bytes(file)
        if raw is None:
            continue
        if len(raw) >= limits.max_image_bytes:
            raise ValidationError(
                f"image {number} ({_label(file)}) has {len(raw):,} bytes; {service} takes images smaller than "
                f"{_size(limits.max_image_bytes)}: scale it down or compress it"
            )
        size = image_dimensions(raw)
        if size is not None and max(size) > limits.max_image_pixels:
            raise ValidationError(
                f"image {number} ({_label(file)}) is {size[0]}x{size[1]} pixels; {service} takes at most "
                f"{limits.max_image_pixels} pixels per side: scale it down"
            )
    for number, file in enumerate(documents, 1):
        raw = _inline_bytes(file)
        if raw is not None and len(raw) >= limits.max_document_bytes:
            raise ValidationError(
                f"document {number} ({_label(file)}) has {len(raw):,} bytes; {service} takes documents smaller "
                f"than {_size(limits.max_document_bytes)}: split it or send its text instead"
            )


def _size(count: int) -> str:
    return f"{count / 1e6:g} MB" if count >= 100_000 else f"{count:,} bytes"


def _inline_bytes(file: FileContent) -> bytes | None:
    if file.data is not None:
        return file.to_bytes()
    if file.url is not None and file.url.startswith("data:"):
        return _data_url(file.url)[1]
    return None


def _label(file: FileContent) -> str:
    return repr(file.text_content) if file.text_content else f"a {file.extension or 'file'}"


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of a PNG, GIF, WebP or JPEG image read from its header, or None when
    the header cannot be read."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:4] == b"GIF8" and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        return _webp_dimensions(data)
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg_dimensions(data)
    return None


def _webp_dimensions(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8 ":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    index = 2
    while index + 9 < len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        length = int.from_bytes(data[index + 2 : index + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame segment
            height = int.from_bytes(data[index + 5 : index + 7], "big")
            width = int.from_bytes(data[index + 7 : index + 9], "big")
            return width, height
        index += 2 + length
    return None
