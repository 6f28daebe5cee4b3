"""The one place where the engine's errors become genai_commons errors, raised ``from`` the cause."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from genai_commons import (
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

from .engine import EngineError

_BY_STATUS: dict[int, type[ProviderError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def map_error(exc: EngineError, provider: str) -> ProviderError:
    """The core error for an engine error answer."""
    if exc.status == 400 and exc.code == "context_length_exceeded":
        cls: type[ProviderError] = ContextLengthError
    elif exc.status >= 500:
        cls = ServiceUnavailableError
    else:
        cls = _BY_STATUS.get(exc.status, ProviderError)
    return cls(
        f"{provider} answered {exc.status} {exc.code}",
        provider=provider,
        status=exc.status,
        code=exc.code,
        body=str(exc),
        retry_after=exc.retry_after,
    )


@contextmanager
def translated_errors(provider: str) -> Iterator[None]:
    """Re-raise engine and connection errors as core errors, keeping the cause."""
    try:
        yield
    except EngineError as exc:
        raise map_error(exc, provider) from exc
    except TimeoutError as exc:
        raise ProviderTimeoutError(f"{provider} did not answer in time", provider=provider) from exc
    except ConnectionError as exc:
        raise ServiceUnavailableError(f"cannot reach {provider}: {exc}", provider=provider) from exc
