"""Two ways to put the local service under boto3: a real HTTP server on a loopback port, or an
in-process ``before-send`` handler that answers botocore's prepared requests without a socket.

Both go through botocore's whole stack (serialisation, signing, response and event-stream parsing);
only the network is replaced.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from genai_commons.testing.http import HTTPAnswer, HTTPRequest, LoopbackServer

from .answers import Answer
from .service import LocalBedrock

#: The standard variables that point boto3's Bedrock and STS clients at an endpoint.
ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "AWS_ENDPOINT_URL_BEDROCK",
    "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME",
    "AWS_ENDPOINT_URL_BEDROCK_AGENT",
    "AWS_ENDPOINT_URL_STS",
)


class LocalBedrockServer(LoopbackServer):
    """The local service on ``http://127.0.0.1:PORT`` (port 0: any free port), in a thread: the
    testing kit's :class:`~genai_commons.testing.http.LoopbackServer`, event streams sent one
    chunk per message.

    :param stall_seconds: how long a ``"timeout"`` failure keeps the client waiting (set the
        client's ``read_timeout`` below it).
    """

    thread_name = "local-bedrock"

    def __init__(self, service: LocalBedrock | None = None, *, port: int = 0, stall_seconds: float = 2.0) -> None:
        super().__init__(port=port)
        self.service = service if service is not None else LocalBedrock()
        self.stall_seconds = stall_seconds

    def environ(self) -> dict[str, str]:
        """The ``AWS_ENDPOINT_URL_*`` variables that point boto3 at this server."""
        return dict.fromkeys(ENDPOINT_VARIABLES, self.url)

    def answer(self, request: HTTPRequest) -> HTTPAnswer:
        query = urlsplit(request.target).query
        answer = self.service.handle(request.method, request.path, query, request.headers, request.body)
        if answer.stall:
            return HTTPAnswer.stall(self.stall_seconds)
        if answer.frames is None:
            return HTTPAnswer(status=answer.status, headers=answer.headers, body=answer.body)
        return HTTPAnswer(status=answer.status, headers=answer.headers, chunks=answer.frames)


def attach(session: Any, service: LocalBedrock) -> LocalBedrock:
    """Answer every Bedrock and STS request of the clients ``session`` (a ``boto3.Session``) creates
    from ``service``, in-process: a ``before-send`` handler turns botocore's prepared request into
    the service's answer, which botocore then parses as it would a network answer. A ``"timeout"``
    failure raises botocore's ``ReadTimeoutError`` at once."""
    from botocore.awsrequest import AWSResponse  # type: ignore[import-untyped]  # noqa: PLC0415
    from botocore.exceptions import ReadTimeoutError  # type: ignore[import-untyped]  # noqa: PLC0415
    from urllib3 import HTTPResponse  # noqa: PLC0415
    from urllib3._collections import HTTPHeaderDict  # noqa: PLC0415

    def before_send(request: Any, **_: Any) -> Any:
        parts = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif hasattr(body, "read"):
            body = body.read()
        headers = {_text(k): _text(v) for k, v in request.headers.items()}
        answer: Answer = service.handle(request.method, parts.path, parts.query, headers, body)
        if answer.stall:
            raise ReadTimeoutError(endpoint_url=request.url)
        answer_headers = HTTPHeaderDict(_str_headers(answer.headers))
        raw = HTTPResponse(
            body=io.BytesIO(b"".join(answer.chunks())),
            headers=answer_headers,
            status=answer.status,
            preload_content=False,
            decode_content=False,
        )
        return AWSResponse(request.url, answer.status, answer_headers, raw)

    for service_name in ("bedrock-runtime", "bedrock", "bedrock-agent-runtime", "bedrock-agent", "sts"):
        session.events.register(f"before-send.{service_name}", before_send)
    return service


def _str_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(k): str(v) for k, v in headers.items()}


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value
