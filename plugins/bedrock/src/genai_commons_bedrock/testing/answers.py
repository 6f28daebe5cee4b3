"""HTTP answers of the local service: a JSON body, a Bedrock error, or a stream of event-stream
frames. Shared by the runtime, knowledge-base and agent parts of the service."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from attrs import field, frozen


@frozen(kw_only=True)
class Answer:
    """One HTTP answer; ``frames`` (event-stream messages) instead of ``body`` for streams."""

    status: int = 200
    headers: Mapping[str, str] = field(factory=dict)
    body: bytes = b""
    frames: tuple[bytes, ...] | None = None
    #: No answer: the server stalls until the client gives up (the client's read timeout).
    stall: bool = False

    def chunks(self) -> Iterator[bytes]:
        if self.frames is None:
            yield self.body
        else:
            yield from self.frames


def json_answer(data: Any, *, status: int = 200, tokens: tuple[int, int] | None = None) -> Answer:
    """A JSON answer (with Bedrock's token-count headers when ``tokens`` is given)."""
    headers = {"content-type": "application/json", "x-amzn-requestid": str(uuid.uuid4())}
    if tokens is not None:
        headers["x-amzn-bedrock-input-token-count"] = str(tokens[0])
        headers["x-amzn-bedrock-output-token-count"] = str(tokens[1])
        headers["x-amzn-bedrock-invocation-latency"] = "1"
    return Answer(status=status, headers=headers, body=json.dumps(data, default=str).encode("utf-8"))


def error_answer(status: int, code: str, message: str) -> Answer:
    """A Bedrock error: rest-json names its code in ``x-amzn-errortype``."""
    headers = {
        "content-type": "application/json",
        "x-amzn-errortype": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
    }
    return Answer(status=status, headers=headers, body=json.dumps({"message": message}).encode("utf-8"))
