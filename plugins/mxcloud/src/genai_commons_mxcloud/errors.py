"""The one place where Mendix Cloud's HTTP errors become genai_commons errors, raised ``from`` the
cause, with advice: 401/403 a key revoked or of the wrong type, 404 an unknown collection, 400/413
the documented limits, 429 the monthly quota or throttling. The answer's body is kept on the
error (``body``); the key never appears in a message.

Every call runs inside :func:`translated_errors` (one exchange) and :func:`redacted_errors` (a
whole operation or stream), which redact the key's secrets — its access token, the key text, a
``user:password@`` of its URL — from every error leaving them and from the error's whole chain,
whatever produced it: an error answer of any status, a 200 answer that is not JSON or not of the
expected shape, a stream event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from genai_commons import (
    AuthenticationError,
    BadRequestError,
    ContextLengthError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    ServiceUnavailableError,
)
from genai_commons.jsonparse import loads
from genai_commons.redaction import Secrets, redact, url_credentials
from genai_commons.redaction import redacted_errors as _redacted_errors

if TYPE_CHECKING:
    import httpx

    from .keys import ConnectionKey

__all__ = ["PROVIDER", "SERVICE", "Failure", "error_for", "redacted_errors", "secrets_of", "translated_errors"]

PROVIDER = "mxcloud"
SERVICE = "Mendix Cloud GenAI"

_CONTEXT_LENGTH = re.compile(
    r"too long|too many (input )?tokens|context (length|window)|maximum (context|input)|input length", re.IGNORECASE
)
_QUOTA = re.compile(r"quota|entitlement|limit exceeded|monthly|units? (are )?(used|exhausted)", re.IGNORECASE)
_PORTAL = "the Mendix Cloud GenAI portal (https://genai.home.mendix.com)"


class Failure(Exception):
    """An error answer that is not an HTTP status error of httpx (a streamed answer's status)."""

    def __init__(self, status: int, body: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = dict(headers)


def _message(body: str) -> tuple[str | None, str]:
    """The service's error code and message from an error body (JSON or text)."""
    try:
        data: Any = loads(body)
    except ValueError:
        return None, body.strip()[:300]
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict):
            data = inner
        code = data.get("code") or data.get("__type") or data.get("type") or data.get("errorCode")
        message = data.get("message") or data.get("Message") or data.get("detail") or inner or ""
        return (str(code) if code else None), str(message)[:300]
    return None, str(data)[:300]


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def error_for(
    status: int, body: str, headers: Mapping[str, str], key: ConnectionKey, *, collection: str | None = None
) -> ProviderError:
    """The core error for an HTTP error answer to a call made with ``key``; the key's secrets are
    redacted from the body kept and the message, in case the service quoted them."""
    body = redact(body, secrets_of(key))
    code, said = _message(body)
    what = f"key {key.name!r} ({key.key_type.label})"
    cls: type[ProviderError]
    if status == 401:
        cls = AuthenticationError
        advice = (
            f"{SERVICE} rejected {what}: it was revoked or has expired; create a new key in {_PORTAL} and import it"
        )
    elif status == 403:
        cls = PermissionDeniedError
        advice = (
            f"{what} may not make this call: a text-generation key only chats, an embeddings key only embeds and a "
            f"knowledge-base key only reaches its knowledge base; or the key was revoked. Check its type with "
            f"`genai mxcloud key list`"
        )
    elif status == 404:
        cls = NotFoundError
        if collection is not None:
            advice = (
                f"the knowledge base of {what} has no collection {collection!r}: create it with "
                f"`genai kb ingest mxcloud:{key.name}/{collection} PATH` (a collection is created by its first insert; "
                "new chunks become searchable after 60 to 120 seconds)"
            )
        else:
            advice = f"{SERVICE} does not know this endpoint: check the key's endpoint URL ({key.host})"
    elif status == 413:
        cls = BadRequestError
        advice = (
            f"the request is larger than {SERVICE} accepts: images under 3.75 MB (at most 20), documents under "
            "4.5 MB (at most 5), at most 100 chunks per insert"
        )
    elif status == 429:
        if _QUOTA.search(said) or (code and _QUOTA.search(code)):
            cls = QuotaExceededError
            advice = (
                f"the monthly quota of the resource behind {what} is used up: see its consumption in {_PORTAL}; "
                "unused quota does not carry over and a new month starts afresh"
            )
        else:
            cls = RateLimitError
            advice = f"{SERVICE} throttled the call: lower the request rate or the concurrency"
    elif status in (408, 504):
        cls = ProviderTimeoutError
        advice = f"{SERVICE} did not answer in time; try again later"
    elif status >= 500:
        cls = ServiceUnavailableError
        advice = f"{SERVICE} failed ({status}); try again later"
    elif status == 400 and _CONTEXT_LENGTH.search(said):
        cls = ContextLengthError
        advice = "the input is longer than the model takes: shorten the history, the prompt or the documents"
    else:
        cls = BadRequestError if 400 <= status < 500 else ProviderError
        advice = (
            f"{SERVICE} rejected the request; mind its limits: images under 3.75 MB and 8000 px (PNG, JPEG, GIF, "
            "WebP, at most 20), documents under 4.5 MB (at most 5), at most 96 texts per embedding call, chunk "
            "text at most 2048 characters"
        )
    detail = f" ({said})" if said else ""
    return cls(
        f"{advice}{detail}",
        provider=PROVIDER,
        status=status,
        code=code,
        body=body,
        retry_after=_retry_after(headers) if cls is RateLimitError else None,
    )


def secrets_of(key: ConnectionKey) -> Secrets:
    """What a call made with ``key`` carries that a server could quote back."""
    found: list[Any] = []
    for each in (key, key.embeddings):
        if each is not None:
            found += [each.access_token, each.encoded, *url_credentials(each.base_url)]
    return found


def redacted_errors(key: ConnectionKey) -> AbstractContextManager[None]:
    """Around an operation or a stream made with ``key``: every exception leaving it, with its
    chain, loses the key's secrets (:func:`genai_commons.redaction.redacted_errors`)."""
    return _redacted_errors(secrets_of(key))


@contextmanager
def translated_errors(key: ConnectionKey, *, collection: str | None = None) -> Iterator[None]:
    """Re-raise httpx errors (and :class:`Failure`) as core errors, keeping the cause; every error
    leaving the block loses the key's secrets."""
    with redacted_errors(key), _translating(key, collection):
        yield


@contextmanager
def _translating(key: ConnectionKey, collection: str | None) -> Iterator[None]:
    import httpx  # noqa: PLC0415

    from genai_commons.answer_limit import AnswerTooLarge  # noqa: PLC0415
    from genai_commons.formats.sse import InvalidUTF8  # noqa: PLC0415

    try:
        yield
    except httpx.HTTPStatusError as exc:
        answer: httpx.Response = exc.response
        raise error_for(answer.status_code, _text(answer), answer.headers, key, collection=collection) from exc
    except Failure as exc:
        raise error_for(exc.status, exc.body, exc.headers, key, collection=collection) from exc
    except httpx.TimeoutException as exc:
        raise ProviderTimeoutError(
            f"{SERVICE} did not answer in time ({type(exc).__name__}); the host retries it. Raise "
            "[providers.mxcloud] timeout for long answers",
            provider=PROVIDER,
        ) from exc
    except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as exc:
        raise ServiceUnavailableError(
            f"cannot reach {SERVICE} at {key.host}, or the connection broke off mid-answer ({type(exc).__name__}); "
            "the host retries a call that had not started to stream",
            provider=PROVIDER,
        ) from exc
    except httpx.TransportError as exc:
        raise ServiceUnavailableError(
            f"cannot reach {SERVICE} at {key.host}: {type(exc).__name__}; the host retries it", provider=PROVIDER
        ) from exc
    except httpx.DecodingError as exc:  # a compressed answer (Content-Encoding) that does not decode
        raise ServiceUnavailableError(
            f"{SERVICE} answered with a compressed body that does not decode; try again", provider=PROVIDER
        ) from exc
    except AnswerTooLarge as exc:
        raise ProviderError(
            f"the answer from {SERVICE} is too large ({exc}): raise [providers.mxcloud] max_response_bytes if "
            f"answers this large are expected, or check the key's endpoint URL ({key.host})",
            provider=PROVIDER,
            status=exc.status,
        ) from exc
    except InvalidUTF8 as exc:  # a stream's bytes, as a plain answer's below
        raise ServiceUnavailableError(
            f"{SERVICE} sent a stream that is not valid UTF-8; try again", provider=PROVIDER
        ) from exc
    except ValueError as exc:  # an answer that is not the JSON it should be (orjson's error subclasses json's)
        if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
            raise ServiceUnavailableError(
                f"{SERVICE} answered with something that is not JSON; try again", provider=PROVIDER
            ) from exc
        raise


def _text(answer: httpx.Response) -> str:
    try:
        return answer.text
    except Exception:
        return ""
