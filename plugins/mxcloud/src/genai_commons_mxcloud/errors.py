"""The one place where Mendix Cloud's HTTP errors become genai_commons errors, raised ``from`` the
cause, with advice: 401/403 a key revoked or of the wrong type, 404 an unknown collection, 400/413
the documented limits, 429 the monthly quota or throttling. The answer's body is kept on the
error (``body``); the key never appears in a message.

The core's driver (:mod:`genai_commons.http`) maps transport failures and asks :func:`error_for`
for an error answer; it and :func:`redacted_errors` (around a stream's reading) redact the key's
secrets (:func:`secrets_of`: its access token, the key text, a ``user:password@`` of its URL) from
every error leaving them and from the error's whole chain, whatever produced it: an error answer
of any status, a 200 answer that is not JSON or not of the expected shape, a stream event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import AbstractContextManager
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
from genai_commons.http.errors import retry_after
from genai_commons.jsonparse import loads
from genai_commons.redaction import Secrets, redact, url_credentials
from genai_commons.redaction import redacted_errors as _redacted_errors

if TYPE_CHECKING:
    from .keys import ConnectionKey

__all__ = ["PROVIDER", "SERVICE", "error_for", "redacted_errors", "secrets_of"]

PROVIDER = "mxcloud"
SERVICE = "Mendix Cloud GenAI"

_CONTEXT_LENGTH = re.compile(
    r"too long|too many (input )?tokens|context (length|window)|maximum (context|input)|input length", re.IGNORECASE
)
_QUOTA = re.compile(r"quota|entitlement|limit exceeded|monthly|units? (are )?(used|exhausted)", re.IGNORECASE)
_PORTAL = "the Mendix Cloud GenAI portal (https://genai.home.mendix.com)"


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
    """Every form of "wait" (``retry-after-ms``, ``Retry-After`` in seconds or as an HTTP date)."""
    return retry_after(headers)


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
