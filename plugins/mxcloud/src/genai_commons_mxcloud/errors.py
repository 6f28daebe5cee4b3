"""The one place where Mendix Cloud's HTTP errors become genai_commons errors, raised ``from`` the
cause, with advice: 401/403 a key revoked or of the wrong type, 404 an unknown collection, 400/413
the documented limits, 429 the monthly quota or throttling. The answer's body is kept on the
error (``body``); the key never appears in a message.
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
    ContextLengthError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    ServiceUnavailableError,
)
from genai_commons.redaction import redact

if TYPE_CHECKING:
    import httpx

    from .keys import ConnectionKey

__all__ = ["PROVIDER", "SERVICE", "Failure", "error_for", "translated_errors"]

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
        data: Any = json.loads(body)
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
    secrets = [key.access_token, key.encoded]
    if key.embeddings is not None:
        secrets += [key.embeddings.access_token, key.embeddings.encoded]
    body = redact(body, secrets)
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
            advice = f"{SERVICE} throttled the call; the host retries it. Lower the request rate or the concurrency"
    elif status in (408, 504):
        cls = ProviderTimeoutError
        advice = f"{SERVICE} did not answer in time; the host retries it"
    elif status >= 500:
        cls = ServiceUnavailableError
        advice = f"{SERVICE} failed ({status}); the host retries it"
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


@contextmanager
def translated_errors(key: ConnectionKey, *, collection: str | None = None) -> Iterator[None]:
    """Re-raise httpx errors (and :class:`Failure`) as core errors, keeping the cause."""
    import httpx  # noqa: PLC0415

    from genai_commons.answer_limit import AnswerTooLarge  # noqa: PLC0415

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
    except AnswerTooLarge as exc:
        raise ProviderError(
            f"the answer from {SERVICE} is too large ({exc}): raise [providers.mxcloud] max_response_bytes if "
            f"answers this large are expected, or check the key's endpoint URL ({key.host})",
            provider=PROVIDER,
            status=exc.status,
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
