"""InvokeModel: the raw operation (any model, any body) and the JSON form the embedding and image
capabilities use."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from genai_commons import ServiceUnavailableError
from genai_commons.jsonparse import loads

from .errors import PROVIDER, translated_errors

_INPUT_TOKENS = "x-amzn-bedrock-input-token-count"
_OUTPUT_TOKENS = "x-amzn-bedrock-output-token-count"
_LATENCY = "x-amzn-bedrock-invocation-latency"


@frozen(kw_only=True)
class InvokeModelResult:
    """What InvokeModel returned (the seed's ``InvokeModelResponse``): the model's own response body.

    :param body: the response body, as the model wrote it.
    :param content_type: its MIME type (``application/json`` for most models).
    :param input_tokens: input tokens, from Bedrock's ``X-Amzn-Bedrock-Input-Token-Count`` header.
    :param output_tokens: output tokens, from ``X-Amzn-Bedrock-Output-Token-Count``.
    :param latency_ms: the invocation latency Bedrock reports.
    """

    body: bytes
    content_type: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None

    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON; ``ValueError`` when it is not JSON, or is nested more deeply
        than any answer (:mod:`genai_commons.jsonparse`)."""
        return loads(self.body)


def invoke_model(
    client: Any,
    model_id: str,
    body: bytes | str,
    *,
    content_type: str = "application/json",
    accept: str = "application/json",
    region: str | None = None,
) -> InvokeModelResult:
    """Call InvokeModel once and read the whole response body."""
    payload = body.encode("utf-8") if isinstance(body, str) else body
    with translated_errors(region=region, model_id=model_id):
        answer = client.invoke_model(modelId=model_id, body=payload, contentType=content_type, accept=accept)
        raw = answer["body"].read()
    headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return InvokeModelResult(
        body=raw,
        content_type=answer.get("contentType") or headers.get("content-type") or accept,
        input_tokens=_number(headers.get(_INPUT_TOKENS), int),
        output_tokens=_number(headers.get(_OUTPUT_TOKENS), int),
        latency_ms=_number(headers.get(_LATENCY), float),
    )


def invoke_json(
    client: Any, model_id: str, payload: Mapping[str, Any], *, region: str | None
) -> tuple[Any, InvokeModelResult]:
    """InvokeModel with a JSON body; the parsed answer and the raw result (for its token headers)."""
    result = invoke_model(client, model_id, json.dumps(payload, separators=(",", ":")), region=region)
    try:
        return result.json(), result
    except ValueError as exc:  # not JSON, not UTF-8, or nested too deeply to read
        raise ServiceUnavailableError(
            f"model {model_id} answered with a body that is not JSON ({type(exc).__name__}: {exc}); try again",
            provider=PROVIDER,
            body=result.body[:500].decode("utf-8", "replace"),
        ) from exc


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    try:
        return kind(value) if value is not None else None
    except (TypeError, ValueError):
        return None
