"""Chat through ``POST /converse`` and streamed chat through ``POST /converse-stream``.

Both take the Amazon Bedrock Converse request (:mod:`genai_commons.formats.converse`), file bytes
as base64 strings, after the files were checked against the documented limits. The stream's
server-sent events are named ``MESSAGE_START``, ``CONTENT_BLOCK_START``, ``CONTENT_BLOCK_DELTA``,
``CONTENT_BLOCK_STOP``, ``MESSAGE_STOP`` and ``METADATA``; each event's data is the Converse event
body (``{"contentBlockIndex": 0, "delta": {"text": "…"}}``) or the whole Converse event
(``{"contentBlockDelta": {…}}``) — both are read. A stream is complete when its ``METADATA``
event (the usage) came after ``MESSAGE_STOP``; one that ends before is incomplete, an error with
no usage recorded (:class:`~genai_commons.formats.converse_stream.ConverseStreamReader`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import aclosing, closing
from typing import TYPE_CHECKING, Any

from genai_commons import ChatStreamEvent, DeployedModel, Request, Response, ServiceUnavailableError
from genai_commons.formats.converse import check_files, converse_request, converse_response
from genai_commons.formats.converse_stream import ConverseStreamReader
from genai_commons.http import Call, Operation
from genai_commons.jsonparse import loads

from .errors import PROVIDER, SERVICE, redacted_errors
from .limits import FILES

if TYPE_CHECKING:
    from .keys import ConnectionKey
    from .transport import Transport

__all__ = ["chat", "converse_body", "stream_event"]

_EVENT_KINDS = {
    "MESSAGE_START": "messageStart",
    "CONTENT_BLOCK_START": "contentBlockStart",
    "CONTENT_BLOCK_DELTA": "contentBlockDelta",
    "CONTENT_BLOCK_STOP": "contentBlockStop",
    "MESSAGE_STOP": "messageStop",
    "METADATA": "metadata",
}


def converse_body(request: Request) -> dict[str, Any]:
    """The ``/converse`` body, after checking the request's files against the limits."""
    check_files(request, FILES, service=SERVICE)
    return converse_request(request, file_bytes="base64", service=SERVICE, tool_results_as_json=True)


def chat(model: DeployedModel, request: Request) -> Operation[Response]:
    """One ``/converse`` call."""
    answer = yield Call(method="POST", path="/converse", body=converse_body(request))
    data = _converse_answer(answer.data)
    try:
        return converse_response(data, model_id=model.model_id)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:  # a part of another shape
        raise _not_converse(data) from exc


def _converse_answer(data: Any) -> Mapping[str, Any]:
    """``data`` when it is a Converse answer (an object with ``output.message``); an answer of
    another shape is an error, never an empty response."""
    output = data.get("output") if isinstance(data, Mapping) else None
    if not isinstance(output, Mapping) or not isinstance(output.get("message"), Mapping):
        raise _not_converse(data)
    answer: Mapping[str, Any] = data
    return answer


def _not_converse(data: Any) -> ServiceUnavailableError:
    shown = repr(data)
    return ServiceUnavailableError(
        f"{SERVICE} answered /converse with JSON that is not a Converse answer "
        f"({shown[:80]}{'…' if len(shown) > 80 else ''}); try again",
        provider=PROVIDER,
        body=shown[:4000],
    )


def stream_event(name: str, data: str) -> Mapping[str, Any] | None:
    """A server-sent event as a Converse stream event (``{"contentBlockDelta": {…}}``); None for
    events that carry nothing (comments, keep-alives)."""
    if not data.strip():
        return None
    try:
        body = loads(data)
    except json.JSONDecodeError as exc:
        raise ServiceUnavailableError(
            f"{SERVICE} sent a stream event that is not JSON ({name or 'unnamed'}); try again", provider=PROVIDER
        ) from exc
    kind = _EVENT_KINDS.get(name.upper()) if name else None
    if kind is None:
        if name and name.lower().endswith("exception"):
            return {name: body}  # an error event: the reader raises it
        if isinstance(body, dict) and len(body) == 1:
            return body  # unnamed, already {"kind": {...}}
        return None
    if isinstance(body, dict) and kind in body and len(body) <= 2:
        return body
    return {kind: body}


def chat_stream(
    transport: Transport, key: ConnectionKey, model: DeployedModel, request: Request
) -> Iterator[ChatStreamEvent]:
    """The core events of one streamed answer (the call is made on the first ``next``)."""
    body = converse_body(request)
    reader = ConverseStreamReader(provider=PROVIDER, model_id=model.model_id, service=SERVICE)
    events = transport.events(key, "/converse-stream", body)
    with redacted_errors(key), closing(events):  # an error event may quote the key; closed, it closes the answer
        for name, data in events:
            event = stream_event(name, data)
            if event is not None:
                yield from reader.feed(event)
        yield reader.end()


async def achat_stream(
    transport: Transport, key: ConnectionKey, model: DeployedModel, request: Request
) -> AsyncIterator[ChatStreamEvent]:
    """:func:`chat_stream` with the async client."""
    body = converse_body(request)
    reader = ConverseStreamReader(provider=PROVIDER, model_id=model.model_id, service=SERVICE)
    events = transport.aevents(key, "/converse-stream", body)
    with redacted_errors(key):
        async with aclosing(events):  # closed here, on this loop, even when the reader raises
            async for name, data in events:
                event = stream_event(name, data)
                if event is not None:
                    for core_event in reader.feed(event):
                        yield core_event
            yield reader.end()
