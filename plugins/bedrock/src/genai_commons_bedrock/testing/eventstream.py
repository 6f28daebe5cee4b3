"""An encoder for ``application/vnd.amazon.eventstream`` messages, the framing of ConverseStream and
InvokeAgent responses (botocore only decodes them).

A message is a 12-byte prelude (total length, headers length, CRC32 of those eight bytes), the
headers, the payload, and a CRC32 of everything before it. Each header is a one-byte name length,
the name, a one-byte value type (7: string) and, for strings, a two-byte length and the value.
"""

from __future__ import annotations

import json
import struct
from binascii import crc32
from collections.abc import Mapping
from typing import Any

_STRING = 7


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
    return struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", _STRING, len(raw_value)) + raw_value


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers."""
    raw_headers = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += struct.pack(">I", crc32(prelude) & 0xFFFFFFFF)
    message = prelude + raw_headers + payload
    return message + struct.pack(">I", crc32(message) & 0xFFFFFFFF)


def event(event_type: str, body: Mapping[str, Any]) -> bytes:
    """An event message (``:message-type: event``) with a JSON payload."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(body).encode("utf-8"))


def exception(exception_type: str, message: str) -> bytes:
    """A modelled exception inside the stream (``throttlingException``, ``validationException``…)."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, json.dumps({"message": message}).encode("utf-8"))
