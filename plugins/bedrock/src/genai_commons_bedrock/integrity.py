"""A check of Bedrock's answers before botocore parses them: a ``before-parse`` handler that every
client of the plugin carries (see :mod:`.clients`).

botocore reads a non-streamed answer whole without comparing it with its ``Content-Length`` (it
turns urllib3's check off and checks only streamed bodies), and its JSON parser takes a body that is
not JSON as an error message. An answer cut short by a dropped connection, or a proxy's HTML page,
would then parse as an empty answer — a silent wrong result. The handler refuses both, raising
:class:`DamagedAnswer`, which :mod:`.errors` maps to a retryable ``ServiceUnavailableError``.
Streamed bodies (event streams, InvokeModel's body) are left to botocore, which checks them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DamagedAnswer", "check_answer"]

_JSON_PROTOCOLS = frozenset({"rest-json", "json"})


class DamagedAnswer(Exception):
    """An answer that was cut short, or that is not the JSON the operation answers with."""


def check_answer(response_dict: dict[str, Any], operation_model: Any = None, **_: Any) -> None:
    """``before-parse`` handler: refuse a body shorter or longer than its ``Content-Length``, and a
    2xx body of a JSON operation that is not a JSON object."""
    body = response_dict.get("body")
    if not isinstance(body, bytes):
        return
    headers = response_dict.get("headers") or {}
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) != len(body):
        raise DamagedAnswer(f"{len(body)} of the {declared} bytes of the answer arrived")
    status = response_dict.get("status_code") or 200
    protocol = operation_model.metadata.get("protocol") if operation_model is not None else None
    if status < 300 and protocol in _JSON_PROTOCOLS:
        stripped = body.strip()
        if stripped and not (stripped.startswith(b"{") and stripped.endswith(b"}")):
            kind = headers.get("content-type") or "no content type"
            raise DamagedAnswer(f"the answer is not JSON ({kind}): {stripped[:60]!r}")
