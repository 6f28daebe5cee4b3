"""HTTP failures as errors of the core hierarchy, raised ``from`` their cause, secrets redacted.

- :func:`retry_after` reads every form a server says "wait": ``retry-after-ms``, ``Retry-After``
  in seconds or as an HTTP date.
- :func:`status_error` maps an error answer by its status, with the message the common JSON error
  shapes carry (``{"error": {"message", "code"}}``, ``{"message"}``, ``{"detail"}``…); an
  :class:`~.endpoint.Endpoint` uses it unless it knows its provider's codes better.
- :func:`failed` (for an ``except`` clause) and :class:`translating` (around a stream) map what a
  call can raise — an error status, a timeout, a refused or broken connection, an answer over
  ``max_response_bytes``, a body that does not decode — and redact the endpoint's secrets and the
  credentials the request carried from every error leaving it (:func:`redact_failure`).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from ..errors import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServiceUnavailableError,
)
from ..jsonparse import loads
from ..redaction import Secrets, redact, redact_error

if TYPE_CHECKING:
    from .calls import Call
    from .endpoint import Endpoint

__all__ = [
    "CREDENTIAL_HEADERS",
    "NotAnEventStream",
    "StatusFailure",
    "error_fields",
    "failed",
    "header_credentials",
    "redact_failure",
    "retry_after",
    "status_error",
    "translating",
]

#: Request headers whose values are credentials, redacted from errors whatever the endpoint says.
CREDENTIAL_HEADERS = ("authorization", "api-key", "x-api-key", "proxy-authorization")
#: The most characters of an error answer kept on the error (``body``).
BODY_LIMIT = 4000


class StatusFailure(Exception):
    """An error status read outside httpx's ``raise_for_status`` (a streamed answer's)."""

    def __init__(self, status: int, body: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = dict(headers)


class NotAnEventStream(Exception):
    """The answer to a streamed call is not an event stream."""


def retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds the server asked to wait (never negative), or None when it did not say."""
    value = headers.get("retry-after-ms")
    if value:
        with suppress(ValueError):
            return max(float(value) / 1000, 0.0)
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # an HTTP date is GMT
        moment = moment.replace(tzinfo=UTC)
    return max((moment - (now or datetime.now(UTC))).total_seconds(), 0.0)


def error_fields(body: str) -> tuple[str | None, str | None]:
    """The code and message of an error body in the common JSON shapes (None, None when the body
    says nothing readable; a plain-text body is its own message)."""
    try:
        data: Any = loads(body)
    except ValueError:
        text = body.strip()
        return None, text[:300] or None
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, str):
            return None, inner[:300]
        if isinstance(inner, dict):
            data = inner
        code = data.get("code") or data.get("type") or data.get("__type") or data.get("errorCode")
        message = data.get("message") or data.get("Message") or data.get("detail")
        return (str(code) if code else None), (str(message)[:300] if message else None)
    return None, None


_BY_STATUS: dict[int, tuple[type[ProviderError], str]] = {
    400: (BadRequestError, "the request was rejected; check the model's parameters and the input"),
    401: (AuthenticationError, "the credentials were rejected; check the API key in {settings}"),
    403: (PermissionDeniedError, "the credentials may not make this call; check their permissions"),
    404: (NotFoundError, "the model or resource does not exist, or these credentials cannot see it"),
    408: (ProviderTimeoutError, "the service did not answer in time; try again"),
    413: (BadRequestError, "the request is larger than the service accepts; send less at once"),
    422: (BadRequestError, "the request was rejected; check the model's parameters and the input"),
    429: (RateLimitError, "rate limited: lower the request rate or the concurrency"),
    504: (ProviderTimeoutError, "the service did not answer in time; try again"),
}


def status_error(endpoint: Endpoint, status: int, body: str, headers: Mapping[str, str]) -> ProviderError:
    """The core error for an error answer: the class by status, the server's code and message,
    advice, the body kept (the caller redacted it), ``retry_after`` for 429 and 5xx."""
    cls, advice = _BY_STATUS.get(status, (ServiceUnavailableError, "the service failed; try again later"))
    if status not in _BY_STATUS and status < 500:
        cls, advice = (BadRequestError, "the request was rejected") if status >= 400 else (ProviderError, "")
    code, message = error_fields(body)
    said = f": {message}" if message else ""
    text = f"{endpoint.service} answered {status}{f' ({code})' if code else ''}{said}"
    wait = retry_after(headers) if cls is RateLimitError or status >= 500 else None
    return cls(
        f"{text} — {advice.format(settings=endpoint.settings)}" if advice else text,
        provider=endpoint.provider,
        status=status,
        code=code,
        body=body[:BODY_LIMIT],
        retry_after=wait,
    )


def request_credentials(request: Any) -> list[str]:
    """The credential headers' values of an ``httpx.Request`` (a bearer token without its scheme)."""
    return header_credentials(request.headers)


def header_credentials(headers: Mapping[str, str]) -> list[str]:
    """The values of the credential headers among ``headers`` (a bearer token without its scheme)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    found: list[str] = []
    for name in CREDENTIAL_HEADERS:
        value = lowered.get(name, "")
        scheme, _, token = value.partition(" ")
        found += [value, token.strip()] if token and scheme.lower() in ("bearer", "basic") else [value]
    return found


def _chain_credentials(error: BaseException) -> list[str]:
    """The credentials the requests in ``error``'s chain carried."""
    import httpx  # noqa: PLC0415 - loaded with the first call already

    found: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, httpx.HTTPStatusError):
            found += request_credentials(current.request)
        elif isinstance(current, httpx.RequestError):
            with suppress(RuntimeError):  # an error raised without its request
                found += request_credentials(current.request)
        current = current.__cause__ or current.__context__
    return found


def redact_failure(endpoint: Endpoint, exc: BaseException, sent: Secrets = ()) -> None:
    """Redact from ``exc`` and its chain, in place, the endpoint's secrets and credential headers,
    ``sent`` (what the calls carried) and the credentials of the requests its chain holds."""
    own = header_credentials(endpoint.headers())
    redact_error(exc, [*endpoint.secrets(), *own, *sent, *_chain_credentials(exc)])


def failed(endpoint: Endpoint, call: Call | None, exc: Exception, sent: Secrets = ()) -> Exception:
    """What to raise for ``exc``, raised by a call: the core error it maps to (its cause set:
    raise it ``from exc``), or ``exc`` itself (re-raise it); redacted either way. For a driver's
    ``except`` clause, which costs nothing when the call succeeds."""
    if isinstance(exc, StatusFailure):
        body = redact(endpoint.scrub(exc.body), [*endpoint.secrets(), *sent])
        mapped: ProviderError | None = endpoint.error_for(exc.status, body, exc.headers, call)
    else:
        mapped = _mapped(endpoint, call, exc, sent)
    result: Exception = exc if mapped is None else mapped
    if mapped is not None:
        mapped.__cause__ = exc
    redact_failure(endpoint, result, sent)
    return result


class translating:  # lower case: used as a function, like contextlib's context managers
    """Around one call, for a block that cannot be an ``except`` clause (a stream being read):
    what it raises becomes a core error raised ``from`` it (see the module docstring), every
    error leaving it redacted (:func:`failed`)."""

    __slots__ = ("call", "endpoint", "sent")

    def __init__(self, endpoint: Endpoint, call: Call | None, sent: Secrets = ()) -> None:
        self.endpoint = endpoint
        self.call = call
        self.sent = sent

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, traceback: Any) -> None:
        if not isinstance(exc, Exception):
            return
        failure = failed(self.endpoint, self.call, exc, self.sent)
        if failure is not exc:
            failure.__suppress_context__ = True  # as `raise failure from exc`
            raise failure


def _mapped(endpoint: Endpoint, call: Call | None, exc: Exception, sent: Secrets) -> ProviderError | None:
    import httpx  # noqa: PLC0415

    from ..answer_limit import AnswerTooLarge  # noqa: PLC0415
    from ..formats.sse import InvalidUTF8  # noqa: PLC0415

    service, provider, settings = endpoint.service, endpoint.provider, endpoint.settings
    if isinstance(exc, httpx.HTTPStatusError):
        answer = exc.response
        try:
            text = answer.text
        except Exception:  # an answer whose body was never read
            text = ""
        body = redact(endpoint.scrub(text), [*endpoint.secrets(), *sent, *request_credentials(exc.request)])
        return endpoint.error_for(answer.status_code, body, answer.headers, call)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeoutError(
            f"{service} did not answer in time ({type(exc).__name__}); the host retries it; raise `timeout` in "
            f"{settings}, or pass a timeout in the call's options, for long answers",
            provider=provider,
        )
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.RemoteProtocolError):
        return ServiceUnavailableError(
            f"cannot reach {service} at {endpoint.where}, or the connection broke off mid-answer "
            f"({type(exc).__name__}); the host retries a call that had not started to stream",
            provider=provider,
        )
    if isinstance(exc, NotAnEventStream):
        return ServiceUnavailableError(
            f"{service} did not answer a streamed call with an event stream ({exc}); check that {endpoint.where} "
            "is the service's address",
            provider=provider,
        )
    if isinstance(exc, httpx.DecodingError):  # a compressed answer (Content-Encoding) that does not decode
        return ServiceUnavailableError(
            f"{service} answered with a compressed body that does not decode; try again", provider=provider
        )
    if isinstance(exc, httpx.TransportError):
        return ServiceUnavailableError(
            f"cannot reach {service} at {endpoint.where}: {type(exc).__name__}; the host retries it",
            provider=provider,
        )
    if isinstance(exc, AnswerTooLarge):
        return ProviderError(
            f"the answer from {service} is too large ({exc}): raise max_response_bytes in {settings} if answers "
            f"this large are expected, or check that {endpoint.where} is the service's address",
            provider=provider,
            status=exc.status,
        )
    if isinstance(exc, InvalidUTF8):
        return ServiceUnavailableError(f"{service} sent a stream that is not valid UTF-8; try again", provider=provider)
    return None
