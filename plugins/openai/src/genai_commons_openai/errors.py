"""The one place where OpenAI's errors become genai_commons errors, raised ``from`` the cause.

An error answer has the body ``{"error": {"message", "type", "param", "code"}}``; the HTTP status
and the ``code`` choose the class, the message says what to do, and the body is kept on the
exception. 429 answers carry ``Retry-After`` (or ``retry-after-ms``) and ``x-ratelimit-*`` headers,
which become ``retry_after``. The core's driver (:mod:`genai_commons.http`) asks :func:`error_for`
for an error answer and maps transport failures (timeouts, refused or dropped connections, answers
over ``max_response_bytes``) itself; answers that are not the API's JSON, error events inside a
stream and streams cut short are mapped here (:func:`translate`).

Every operation runs inside :func:`translated_errors`, which also redacts the credentials the
calls carry (the API key, an Entra ID token) from every error leaving it, whatever produced it:
the message, the ``body`` and the whole chain of causes (a key quoted back in an error answer, in
a 200 answer that is not JSON, in a stream event); the driver redacts what each request carried.
The module loads with the first call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from genai_commons import (
    AuthenticationError,
    BadRequestError,
    ContentFilteredError,
    ContextLengthError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    QuotaExceededError,
    RateLimitError,
    ServiceUnavailableError,
)
from genai_commons.http.errors import retry_after as core_retry_after
from genai_commons.jsonparse import loads
from genai_commons.redaction import redact_error, url_credentials

if TYPE_CHECKING:
    from .endpoint import Endpoint

__all__ = [
    "TRANSLATED",
    "ErrorEvent",
    "MalformedAnswer",
    "TruncatedStream",
    "error_for",
    "retry_after",
    "translate",
    "translated_errors",
]

_CONTEXT_CODES = {"context_length_exceeded", "string_above_max_length"}
_FILTER_CODES = {"content_filter", "content_policy_violation", "ResponsibleAIPolicyViolation"}
_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_BODY_LIMIT = 4000
#: API keys as servers may echo them (OpenAI masks the middle; the ends still leave our messages).
_KEY_LIKE = re.compile(r"\bsk-[\w*-]{6,}")


class MalformedAnswer(Exception):
    """The server answered 2xx with something that is not the API's JSON (kept as ``__cause__``)."""


class TruncatedStream(Exception):
    """A stream ended before the server said it had finished."""


class ErrorEvent(Exception):
    """An ``{"error": {...}}`` event inside a stream whose HTTP status was 200."""

    def __init__(self, error: Any) -> None:
        super().__init__(str(error)[:200])
        self.error = error


def _duration(text: str) -> float | None:
    """OpenAI's reset durations: ``1s``, ``6m0s``, ``20ms``, ``1h2m3.5s``."""
    parts = list(_DURATION.finditer(text.strip()))
    if not parts or "".join(p.group(0) for p in parts) != text.strip():
        return None
    return sum(float(p["value"]) * _UNITS[p["unit"]] for p in parts)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date; the core's
    :func:`~genai_commons.http.retry_after`), else the longest ``x-ratelimit-reset-*`` of a limit
    that is used up."""
    said = core_retry_after(headers)
    if said is not None:
        return said
    waits = []
    for kind in ("requests", "tokens"):
        if headers.get(f"x-ratelimit-remaining-{kind}") == "0":
            reset = _duration(headers.get(f"x-ratelimit-reset-{kind}", ""))
            if reset is not None:
                waits.append(reset)
    return max(waits) if waits else None


def _limits(headers: Mapping[str, str]) -> str:
    parts = []
    for kind in ("requests", "tokens"):
        remaining = headers.get(f"x-ratelimit-remaining-{kind}")
        limit = headers.get(f"x-ratelimit-limit-{kind}")
        if remaining is not None and limit is not None:
            reset = headers.get(f"x-ratelimit-reset-{kind}")
            parts.append(f"{remaining}/{limit} {kind} left" + (f", reset in {reset}" if reset else ""))
    return f" ({'; '.join(parts)})" if parts else ""


def _error_fields(body: str) -> tuple[str | None, str | None, str | None]:
    """``code``, ``type`` and ``message`` of an error body; Azure nests a more precise code."""
    try:
        data = loads(body)
    except ValueError:
        return None, None, None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str):  # some compatible servers answer {"error": "message"}
        return None, None, error
    if not isinstance(error, dict):
        detail = data.get("detail") if isinstance(data, dict) else None  # FastAPI-style servers
        return None, None, detail if isinstance(detail, str) else None
    code = error.get("code")
    inner = error.get("innererror")
    if isinstance(inner, dict) and inner.get("code") in _FILTER_CODES:
        code = inner["code"]
    kind = error.get("type")
    message = error.get("message")
    return (
        str(code) if code is not None else None,
        str(kind) if kind is not None else None,
        str(message) if message is not None else None,
    )


def _advice(
    provider: str, status: int, code: str | None, kind: str | None, message: str
) -> tuple[type[ProviderError], str]:
    key = "AZURE_OPENAI_API_KEY" if provider == "azure" else "OPENAI_API_KEY"
    lowered = message.lower()
    if status == 401:
        return AuthenticationError, f"the API key was rejected; check {key} (or api_key in [providers.{provider}])"
    if status == 403:
        if code == "unsupported_country_region_territory":
            return PermissionDeniedError, "the API is not offered in your country, region or territory"
        return (
            PermissionDeniedError,
            "the key has no access to this model or resource; check its project and permissions",
        )
    if status == 404:
        what = "deployment" if provider == "azure" else "model"
        return (
            NotFoundError,
            f"the {what} does not exist or this key has no access to it; see `genai models --provider {provider}`",
        )
    if status == 429:
        if code == "insufficient_quota" or kind == "insufficient_quota":
            return QuotaExceededError, "the quota is used up; check the plan and billing of the account"
        return RateLimitError, "rate limited: lower the request rate or the concurrency"
    if status in (400, 413, 422):
        if code in _CONTEXT_CODES or "context length" in lowered or "context window" in lowered:
            return ContextLengthError, "the input is longer than the model's context window; shorten the conversation"
        if code in _FILTER_CODES or kind in _FILTER_CODES:
            return ContentFilteredError, "the content filter blocked the prompt; rephrase it"
        return BadRequestError, "the request was rejected; check the model's parameters"
    if status in (408, 409) or status >= 500:
        return ServiceUnavailableError, "the service failed; try again later"
    return ProviderError, "unexpected answer"


def mask_keys(text: str) -> str:
    """``text`` without the API keys a server quoted back, masked (``sk-proj-abc****wxyz``) or not."""
    return _KEY_LIKE.sub("sk-[redacted]", text)


def error_for(provider: str, status: int, body: str, headers: Mapping[str, str]) -> ProviderError:
    """The core error for an HTTP error answer (``body`` scrubbed of keys, :func:`mask_keys`, and
    redacted of the credentials the request carried by the core's driver)."""
    body = mask_keys(body)
    code, kind, message = _error_fields(body)
    cls, advice = _advice(provider, status, code, kind, message or "")
    wait = retry_after(headers) if cls is RateLimitError or status >= 500 else None
    limits = _limits(headers) if status == 429 else ""
    said = f": {message}" if message else ""
    text = f"{provider} answered {status}{f' ({code})' if code else ''}{said} — {advice}{limits}"
    return cls(text, provider=provider, status=status, code=code or kind, body=body[:_BODY_LIMIT], retry_after=wait)


def stream_error(provider: str, error: Any) -> ProviderError:
    """An ``{"error": {...}}`` event inside a stream (the HTTP status was already 200)."""
    body = json.dumps({"error": error})
    code, kind, message = _error_fields(body)
    if code in _CONTEXT_CODES:
        cls: type[ProviderError] = ContextLengthError
    elif code in _FILTER_CODES:
        cls = ContentFilteredError
    elif code == "rate_limit_exceeded" or kind == "rate_limit_exceeded":
        cls = RateLimitError
    else:
        cls = ServiceUnavailableError
    return cls(
        f"{provider} reported an error in the stream: {message or code or 'no message'}",
        provider=provider,
        code=code or kind,
        body=body,
    )


def not_the_api(provider: str, base_url: str, detail: str, status: int = 200) -> ProviderError:
    """The error for an answer that is not the OpenAI API's JSON."""
    return ProviderError(
        f"{provider} answered with something that is not the OpenAI API's JSON ({detail}); check that the "
        f"base URL {base_url} points at an OpenAI-compatible API (usually ending in /v1)",
        provider=provider,
        status=status,
    )


#: The exceptions :func:`translate` maps (the core's driver maps the transport's); catch these around a call.
TRANSLATED: tuple[type[BaseException], ...] = (MalformedAnswer, TruncatedStream, ErrorEvent)


def translate(provider: str, base_url: str, exc: BaseException) -> ProviderError:
    """The core error for one of :data:`TRANSLATED`; raise it ``from exc``."""
    if isinstance(exc, ErrorEvent):
        return stream_error(provider, exc.error)
    if isinstance(exc, TruncatedStream):
        return ServiceUnavailableError(
            f"the stream from {provider} ended before it finished ({exc}); the answer is incomplete, try again",
            provider=provider,
        )
    return not_the_api(provider, base_url, str(exc))


@contextmanager
def translated_errors(provider: str, endpoint: Endpoint) -> Iterator[None]:
    """Around every operation the driver runs: what reading the answer raised (:data:`TRANSLATED`)
    becomes a core error raised ``from`` it, and every exception leaving the block, with its chain,
    loses the credentials the calls carried (see the module docstring)."""
    try:
        try:
            yield
        except TRANSLATED as exc:
            raise translate(provider, endpoint.base_url, exc) from exc
    except Exception as exc:
        redact_error(exc, [endpoint.api_key, endpoint.ad_token, *url_credentials(endpoint.base_url)])
        raise
