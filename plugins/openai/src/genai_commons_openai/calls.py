"""One HTTP exchange with the API, sync or async: post a JSON body and read the JSON answer, or
open a stream of events. Errors are left for :func:`~genai_commons_openai.errors.translated_errors`,
which the callers wrap around these functions (it also redacts the key from what they quote)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from genai_commons.jsonparse import loads

from .errors import MalformedAnswer
from .stream import aiter_events, iter_events

if TYPE_CHECKING:
    import httpx

    from genai_commons import ChatStreamEvent

    from .clients import AsyncExchange
    from .endpoint import Endpoint

__all__ = ["aget_json", "apost_json", "astream_chat", "get_json", "post_json", "stream_chat"]


def _timeout(endpoint: Endpoint, seconds: float | None) -> Any:
    import httpx  # noqa: PLC0415

    if seconds is None:
        return httpx.USE_CLIENT_DEFAULT
    return httpx.Timeout(seconds, connect=min(seconds, endpoint.connect_timeout))


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _body(payload: dict[str, Any]) -> bytes:
    return _ENCODER.encode(payload).encode()


def _json(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        response.raise_for_status()
    try:
        data = loads(response.content.decode("utf-8"))  # strictly: invalid UTF-8 is an error, as in streams
    except ValueError as exc:
        raise MalformedAnswer(f"status {response.status_code}, body {response.content[:80]!r}") from exc
    if not isinstance(data, dict):
        raise MalformedAnswer(f"status {response.status_code}, a JSON {type(data).__name__} instead of an object")
    return data


def parsed(data: dict[str, Any], parse: Callable[[dict[str, Any]], Any]) -> Any:
    """``parse(data)``, a malformed answer (missing keys, wrong types) becoming :class:`MalformedAnswer`."""
    try:
        return parse(data)
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as exc:
        raise MalformedAnswer(f"unexpected answer shape ({type(exc).__name__}: {exc})") from exc


def post_json(
    client: httpx.Client, endpoint: Endpoint, url: httpx.URL, payload: dict[str, Any], timeout: float | None = None
) -> dict[str, Any]:
    response = client.post(
        url, content=_body(payload), headers=endpoint.per_request_headers(), timeout=_timeout(endpoint, timeout)
    )
    return _json(response)


async def apost_json(
    exchange: AsyncExchange, endpoint: Endpoint, url: httpx.URL, payload: dict[str, Any], timeout: float | None = None
) -> dict[str, Any]:
    response = await exchange.request(
        "POST", url, content=_body(payload), headers=endpoint.per_request_headers(), timeout=_timeout(endpoint, timeout)
    )
    return _json(response)


def get_json(client: httpx.Client, endpoint: Endpoint, url: httpx.URL, timeout: float | None = None) -> dict[str, Any]:
    return _json(client.get(url, headers=endpoint.per_request_headers(), timeout=_timeout(endpoint, timeout)))


async def aget_json(
    exchange: AsyncExchange, endpoint: Endpoint, url: httpx.URL, timeout: float | None = None
) -> dict[str, Any]:
    response = await exchange.request(
        "GET", url, content=None, headers=endpoint.per_request_headers(), timeout=_timeout(endpoint, timeout)
    )
    return _json(response)


def _stream_headers(endpoint: Endpoint) -> dict[str, str]:
    headers = {"Accept": "text/event-stream"}
    headers.update(endpoint.per_request_headers() or {})
    return headers


def _usage_asked(payload: dict[str, Any]) -> bool:
    """Whether the request asks for the usage chunk at the end of the stream."""
    options = payload.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def stream_chat(
    client: httpx.Client, endpoint: Endpoint, url: httpx.URL, payload: dict[str, Any], timeout: float | None = None
) -> Iterator[ChatStreamEvent]:
    """The events of a streamed completion; the connection closes when the iterator does."""
    with client.stream(
        "POST", url, content=_body(payload), headers=_stream_headers(endpoint), timeout=_timeout(endpoint, timeout)
    ) as response:
        if response.status_code >= 400:
            response.read()
            response.raise_for_status()
        yield from iter_events(response, usage=_usage_asked(payload))


async def astream_chat(
    client: httpx.AsyncClient, endpoint: Endpoint, url: httpx.URL, payload: dict[str, Any], timeout: float | None = None
) -> AsyncIterator[ChatStreamEvent]:
    async with client.stream(
        "POST", url, content=_body(payload), headers=_stream_headers(endpoint), timeout=_timeout(endpoint, timeout)
    ) as response:
        if response.status_code >= 400:
            await response.aread()
            response.raise_for_status()
        async for event in aiter_events(response, usage=_usage_asked(payload)):
            yield event
