"""Chat through the Converse API, and streamed chat through ConverseStream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from genai_commons import ChatStreamEvent, DeployedModel, Request, Response, ServiceUnavailableError
from genai_commons.formats.converse import converse_response
from genai_commons.formats.converse_stream import stream_events

from .converse import converse_request
from .errors import PROVIDER, translated_errors


def chat(client: Any, model: DeployedModel, request: Request, *, region: str | None) -> Response:
    """One Converse call; the response's ``duration_ms`` is Bedrock's own latency metric."""
    kwargs = converse_request(model.model_id, request)
    with translated_errors(region=region, model_id=model.model_id):
        data = client.converse(**kwargs)
    output = data.get("output")
    if not isinstance(output, dict) or not isinstance(output.get("message"), dict):
        fields = {k: v for k, v in data.items() if k != "ResponseMetadata"}
        raise ServiceUnavailableError(
            f"Bedrock answered Converse for {model.model_id} without a message (the answer has "
            f"{', '.join(sorted(fields)) or 'no fields'}); the host retries it",
            provider=PROVIDER,
            body=json.dumps(fields, default=str)[:4000],
        )
    return converse_response(data, model_id=model.model_id)


def chat_stream(
    client: Any, model: DeployedModel, request: Request, *, region: str | None
) -> Iterator[ChatStreamEvent]:
    """One ConverseStream call, its events decoded by botocore's event-stream parser as they arrive
    (an exception event surfaces as botocore's ``EventStreamError``, mapped like any other error).

    The call is made when the first event is asked for, so that the host can retry a failure that
    happens before anything was streamed. Closing the iterator early closes the connection.
    """
    kwargs = converse_request(model.model_id, request, stream=True)
    with translated_errors(region=region, model_id=model.model_id):
        stream = client.converse_stream(**kwargs)["stream"]
        try:
            yield from stream_events(stream, provider=PROVIDER, model_id=model.model_id)
        finally:
            stream.close()
