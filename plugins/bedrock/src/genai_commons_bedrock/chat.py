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
from .shapes import ShapeMismatch, checked_events, event_shapes, mismatch


def chat(client: Any, model: DeployedModel, request: Request, *, region: str | None) -> Response:
    """One Converse call; the response's ``duration_ms`` is Bedrock's own latency metric. An
    answer without its message, or whose fields are not of the service model's types, is refused
    as damaged (``ServiceUnavailableError``, retried by the host)."""
    kwargs = converse_request(model.model_id, request)
    with translated_errors(region=region, model_id=model.model_id):
        data = client.converse(**kwargs)
        output = data.get("output")
        fields = {k: v for k, v in data.items() if k != "ResponseMetadata"}
        if not isinstance(output, dict) or not isinstance(output.get("message"), dict):
            raise ServiceUnavailableError(
                f"Bedrock answered Converse for {model.model_id} without a message (the answer has "
                f"{', '.join(sorted(fields)) or 'no fields'}); the host retries it",
                provider=PROVIDER,
                body=json.dumps(fields, default=str)[:4000],
            )
        problem = mismatch(fields, client.meta.service_model.operation_model("Converse").output_shape, "answer")
        if problem:
            raise ServiceUnavailableError(
                f"Bedrock's Converse answer for {model.model_id} was damaged in transit or is not Bedrock's "
                f"({problem}); the host retries it. If it persists, check the endpoint (runtime_endpoint_url or "
                "AWS_ENDPOINT_URL_*)",
                provider=PROVIDER,
            ) from ShapeMismatch(problem)
        return converse_response(data, model_id=model.model_id)


def chat_stream(
    client: Any, model: DeployedModel, request: Request, *, region: str | None
) -> Iterator[ChatStreamEvent]:
    """One ConverseStream call, its events decoded by botocore's event-stream parser as they arrive
    (an exception event surfaces as botocore's ``EventStreamError``, mapped like any other error),
    each checked against the deadline and its shape (:mod:`.shapes`). Bedrock ends every answer
    with ``messageStop`` and then ``metadata`` (the usage): a stream without either is incomplete
    (the shared reader, :mod:`genai_commons.formats.converse_stream`, raises for it).

    The call is made when the first event is asked for, so that the host can retry a failure that
    happens before anything was streamed. Closing the iterator early closes the connection.
    """
    kwargs = converse_request(model.model_id, request, stream=True)
    with translated_errors(region=region, model_id=model.model_id):
        stream = client.converse_stream(**kwargs)["stream"]
        try:
            events = checked_events(
                stream, event_shapes(client, "ConverseStream", "stream"), what="the ConverseStream answer"
            )
            yield from stream_events(events, provider=PROVIDER, model_id=model.model_id)
        finally:
            stream.close()
