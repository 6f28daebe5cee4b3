"""``--schema FILE_OR_JSON`` of ``genai chat``: a JSON Schema given inline or in a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from ..model.chat import Request
from ._common import bad_arguments


def read_schema(value: str) -> dict[str, Any]:
    """The JSON Schema in ``value``: inline JSON (it starts with ``{``) or the path of a JSON file."""
    text = value
    if not value.lstrip().startswith("{"):
        path = Path(value)
        if not path.is_file():
            raise ValidationError(f"{value[:80]!r} is neither a JSON object nor a readable file")
        text = path.read_text(encoding="utf-8")
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"the schema is not valid JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise ValidationError("the schema must be a JSON object (a JSON Schema of type 'object')")
    return schema


def with_schema(request: Request, value: str) -> Request:
    """``request`` asking for JSON that follows the schema in ``value``; bad schemas are usage errors."""
    with bad_arguments("'--schema'"):
        return request.with_output_schema(read_schema(value))


def answer_json(parsed: Any) -> str:
    """The parsed answer as the JSON ``genai chat --schema`` prints."""
    return json.dumps(parsed, ensure_ascii=False, indent=2)
