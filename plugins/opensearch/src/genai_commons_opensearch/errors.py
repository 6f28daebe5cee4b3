"""The one place where opensearch-py's exceptions become genai_commons errors, raised ``from`` the cause.

Each message says what to do; the cluster's answer is kept on the error as ``body`` and its error
type (``index_not_found_exception``, ``es_rejected_execution_exception``…) as ``code``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from genai_commons import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    GenAIError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServiceUnavailableError,
)

_ADVICE: Mapping[int, tuple[type[ProviderError], str]] = {
    400: (BadRequestError, "OpenSearch refused the request"),
    401: (
        AuthenticationError,
        "OpenSearch rejected the credentials: check username and password (GENAI_OPENSEARCH_PASSWORD), or for "
        "Amazon OpenSearch the AWS credentials, region and aws_service",
    ),
    403: (
        PermissionDeniedError,
        "OpenSearch denied access: grant the user the index permissions (create, read, write, delete) on the "
        "prefixed indices; on Amazon OpenSearch Service check the domain's access policy, on Serverless the "
        "collection's data access policy",
    ),
    404: (NotFoundError, "OpenSearch does not know the resource"),
    409: (ProviderError, "OpenSearch reported a conflicting concurrent change; run the operation again"),
    413: (BadRequestError, "the request is too large for the cluster: lower bulk_max_bytes or bulk_batch_size"),
    429: (RateLimitError, "OpenSearch is overloaded and rejected the request"),
}


def error_details(info: Any) -> tuple[str | None, str | None]:
    """The error type and reason of an OpenSearch error answer (or of one bulk item's ``error``)."""
    error = info.get("error", info) if isinstance(info, Mapping) else None
    if not isinstance(error, Mapping):
        return None, str(error) if error else None
    causes = error.get("root_cause") or []
    first = causes[0] if causes and isinstance(causes[0], Mapping) else {}
    kind = error.get("type") or first.get("type")
    reason = error.get("reason") or first.get("reason")
    caused_by = error.get("caused_by")
    if isinstance(caused_by, Mapping) and caused_by.get("reason"):
        reason = f"{reason}: {caused_by['reason']}" if reason else caused_by["reason"]
    return (str(kind) if kind else None), (str(reason) if reason else None)


def _body(info: Any) -> str | None:
    if info is None or isinstance(info, BaseException):
        return None
    if isinstance(info, str | bytes):
        return info.decode(errors="replace") if isinstance(info, bytes) else info
    try:
        return json.dumps(info, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(info)


def status_error(status: int, info: Any, provider: str, *, context: str = "") -> ProviderError:
    """The core error for an HTTP error answer of the cluster."""
    kind, reason = error_details(info)
    if status >= 500:
        cls: type[ProviderError] = ServiceUnavailableError
        advice = "OpenSearch failed to answer; the host retries, and if it persists check the cluster's health"
    else:
        cls, advice = _ADVICE.get(status, (ProviderError, "OpenSearch answered with an error"))
    lowered = (reason or "").lower()
    if status == 400 and "knn" in lowered and "not supported" in lowered:
        advice = "the cluster cannot run k-NN queries: install or enable the k-NN plugin"
    elif status == 400 and "does not support space type" in lowered:
        advice = "this cluster's faiss cannot index cosine similarity: set engine = 'lucene' in [providers.opensearch]"
    detail = f" ({kind}: {reason})" if kind or reason else ""
    where = f" while {context}" if context else ""
    return cls(f"{advice}{where}: HTTP {status}{detail}", provider=provider, status=status, code=kind, body=_body(info))


def map_error(exc: Exception, provider: str, url: str | None, *, context: str = "") -> GenAIError:
    """The core error for an opensearch-py exception."""
    from opensearchpy import exceptions as os_errors  # noqa: PLC0415 - imported with the client already

    where = f" while {context}" if context else ""
    if isinstance(exc, os_errors.ImproperlyConfigured):
        return ConfigurationError(f"the OpenSearch client is misconfigured{where}: {exc}")
    if isinstance(exc, os_errors.ConnectionTimeout):
        return ProviderTimeoutError(
            f"OpenSearch at {url} did not answer in time{where}; the host retries (raise [providers.opensearch] "
            "timeout for large deletes or bulk requests)",
            provider=provider,
        )
    if isinstance(exc, os_errors.SSLError):
        return ProviderError(
            f"the TLS connection to {url} failed{where}: {exc.error}; set ca_certs to the CA bundle that signed the "
            "cluster's certificate (or verify_certs = false for a disposable test cluster)",
            provider=provider,
        )
    if isinstance(exc, os_errors.ConnectionError):
        return ServiceUnavailableError(
            f"cannot reach OpenSearch at {url}{where}: {exc.error}; check that the cluster is running and that "
            "GENAI_OPENSEARCH_URL (or url in [providers.opensearch]) names it",
            provider=provider,
        )
    if isinstance(exc, os_errors.SerializationError):
        return ProviderError(
            f"{url} answered{where} with something that is not JSON ({exc}); check that GENAI_OPENSEARCH_URL (or url "
            "in [providers.opensearch]) names an OpenSearch cluster and not a proxy or another service",
            provider=provider,
        )
    if isinstance(exc, os_errors.TransportError) and isinstance(exc.status_code, int):
        return status_error(exc.status_code, exc.info, provider, context=context)
    return ProviderError(f"the OpenSearch client failed{where}: {exc}", provider=provider)


def _too_deep(provider: str, url: str | None, context: str) -> ProviderError:
    where = f" while {context}" if context else ""
    return ProviderError(
        f"{url} answered{where} with JSON nested too deeply to read, which is not an OpenSearch answer; check "
        "that GENAI_OPENSEARCH_URL (or url in [providers.opensearch]) names an OpenSearch cluster and not a proxy "
        "or another service",
        provider=provider,
    )


@contextmanager
def translated_errors(provider: str, url: str | None, context: str = "") -> Iterator[None]:
    """Re-raise opensearch-py exceptions as core errors, keeping the cause; so is an answer read
    inside the block that turns out not to have the shape of an OpenSearch answer, or that is
    nested too deeply for opensearch-py's parser (its :class:`RecursionError`)."""
    from opensearchpy.exceptions import ImproperlyConfigured, OpenSearchException  # noqa: PLC0415

    try:
        yield
    except (OpenSearchException, ImproperlyConfigured) as exc:
        try:
            error = map_error(exc, provider, url, context=context)
        except RecursionError:  # an error answer nested too deeply to describe
            error = _too_deep(provider, url, context)
        raise error from exc
    except RecursionError as exc:  # opensearch-py's JSON parser, on an answer nested too deeply
        raise _too_deep(provider, url, context) from exc
    except (KeyError, TypeError, IndexError, AttributeError) as exc:  # reading an answer of another shape
        where = f" while {context}" if context else ""
        raise ProviderError(
            f"{url} answered{where} with JSON that is not an OpenSearch answer ({type(exc).__name__}: {exc}); check "
            "that GENAI_OPENSEARCH_URL (or url in [providers.opensearch]) names an OpenSearch cluster",
            provider=provider,
        ) from exc
