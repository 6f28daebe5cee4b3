"""Converse and ConverseStream requests for Bedrock: the core's shared Converse format
(:mod:`genai_commons.formats.converse`, which handles the format's pitfalls — blank text, role
merging, tool configuration for tool histories) plus what only Bedrock takes: the model id, raw
file bytes and ``s3://`` locations, a guardrail, and Claude's additional model request fields.
Pure functions, no I/O.
"""

from __future__ import annotations

from typing import Any

from genai_commons import Request
from genai_commons.formats.converse import check_files
from genai_commons.formats.converse import converse_request as converse_body

from .families import is_claude
from .options import ClaudeOptions, GuardrailOptions

Json = dict[str, Any]


def converse_request(model_id: str, request: Request, *, stream: bool = False) -> Json:
    """The keyword arguments of ``converse`` (or, with ``stream``, ``converse_stream``).

    Files beyond Bedrock's documented limits (count, bytes, pixels) fail here, before any call.
    """
    claude = is_claude(model_id)
    check_files(request)
    body = converse_body(request, file_bytes="raw", s3_locations=True, tool_result_status=claude)
    kwargs: Json = {"modelId": model_id, **body}
    guardrail = request.option(GuardrailOptions)
    if guardrail is not None:
        kwargs["guardrailConfig"] = guardrail.config(stream=stream)
    claude_options = request.option(ClaudeOptions)
    if claude and claude_options is not None:
        fields = claude_options.request_fields()
        if fields:
            kwargs["additionalModelRequestFields"] = fields
    return kwargs
