"""The transport failures the conformance suite injects, and the core error each must become.

A provider plugin maps every transport error to one class of :mod:`genai_commons.errors`, in one
place, raising it ``from`` the original. The suite names failures by *kind*; for each kind it
expects the class below (or a subclass) and, for retryable kinds, that the host retries.
"""

from __future__ import annotations

from types import MappingProxyType

from ..errors import (
    AuthenticationError,
    BadRequestError,
    ContextLengthError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServiceUnavailableError,
)

#: kind → the core error class a plugin must raise for it.
FAILURE_KINDS: MappingProxyType[str, type[ProviderError]] = MappingProxyType(
    {
        "auth": AuthenticationError,
        "permission": PermissionDeniedError,
        "not_found": NotFoundError,
        "rate_limit": RateLimitError,
        "timeout": ProviderTimeoutError,
        "unavailable": ServiceUnavailableError,
        "bad_request": BadRequestError,
        "context_length": ContextLengthError,
    }
)

#: kind → the HTTP status a fake transport answers with (None: no HTTP answer at all).
HTTP_STATUS: MappingProxyType[str, int | None] = MappingProxyType(
    {
        "auth": 401,
        "permission": 403,
        "not_found": 404,
        "rate_limit": 429,
        "timeout": None,
        "unavailable": 503,
        "bad_request": 400,
        "context_length": 400,
        "rate_limit_wait": 429,
    }
)


#: Seconds a ``rate_limit_wait`` answer asks the client to wait (``retry-after-ms: 50``, or
#: ``Retry-After`` in whatever form the service uses): small, so that the check stays fast.
RETRY_AFTER_SECONDS = 0.05

#: Kinds the extended checks inject besides :data:`FAILURE_KINDS` → the core error each becomes:
#: ``rate_limit_wait`` is a 429 that says to wait :data:`RETRY_AFTER_SECONDS` (the host must wait
#: that long, then retry); ``stream_cut`` breaks a streamed answer's connection after its first
#: event (the host cannot retry a stream that has started: the error reaches the caller).
EXTRA_KINDS: MappingProxyType[str, type[ProviderError]] = MappingProxyType(
    {"rate_limit_wait": RateLimitError, "stream_cut": ServiceUnavailableError}
)


class FakeTransportError(Exception):
    """What a fake transport raises: stands for an SDK or HTTP error, the ``__cause__`` kept."""

    def __init__(self, kind: str, status: int | None) -> None:
        super().__init__(f"fake transport failure {kind!r} (status {status})")
        self.kind = kind
        self.status = status


def check_kind(kind: str) -> type[ProviderError]:
    """The core error class for ``kind``; a clear error for an unknown kind."""
    try:
        return FAILURE_KINDS[kind] if kind in FAILURE_KINDS else EXTRA_KINDS[kind]
    except KeyError:
        known = ", ".join([*FAILURE_KINDS, *EXTRA_KINDS])
        raise ValueError(f"unknown failure kind {kind!r}; use one of {known}") from None


def make_failure(kind: str, provider: str) -> ProviderError:
    """The core error a well-behaved plugin raises for ``kind``, with a transport error as its cause.

    Rate limits carry ``retry_after=0`` so that retries in tests do not wait, except
    ``rate_limit_wait`` (:data:`RETRY_AFTER_SECONDS`).
    """
    cls = check_kind(kind)
    status = HTTP_STATUS.get(kind)
    cause = FakeTransportError(kind, status)
    error = cls(
        f"{provider}: simulated {kind.replace('_', ' ')} failure",
        provider=provider,
        status=status,
        code=kind,
        retry_after={"rate_limit": 0.0, "rate_limit_wait": RETRY_AFTER_SECONDS}.get(kind),
    )
    error.__cause__ = cause
    return error
