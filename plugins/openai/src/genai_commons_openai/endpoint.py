"""Where requests go and how they authenticate: OpenAI (and compatible servers) or Azure OpenAI.

Read from the provider's settings — ``[providers.openai]`` / ``[providers.azure]`` in the
configuration file, the ecosystem's environment variables winning — without any network and without
requiring credentials: :meth:`Endpoint.check_credentials` asks for them when the first call is made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from attrs import field, frozen

from genai_commons import ConfigurationError, MissingCredentialsError, ProviderSettings, Secret
from genai_commons.config import HOST_PROVIDER_KEYS

__all__ = ["AZURE_API_VERSION", "OPENAI_URL", "Endpoint", "azure_endpoint", "openai_endpoint"]

OPENAI_URL = "https://api.openai.com/v1"
#: The latest generally available data-plane version of Azure OpenAI when this plugin was written.
AZURE_API_VERSION = "2024-10-21"

#: Settings shared by both providers, besides the credentials and the model tables.
COMMON_KEYS = frozenset(
    {
        "timeout",
        "connect_timeout",
        "max_connections",
        "max_keepalive_connections",
        "max_response_bytes",
        "stream_usage",
        "embedding_encoding",
        "embedding_batch_tokens",
        "embedding_concurrency",
        *HOST_PROVIDER_KEYS,
    }
)
OPENAI_KEYS = COMMON_KEYS | {"api_key", "base_url", "organization", "project", "discover", "models"}
AZURE_KEYS = COMMON_KEYS | {"api_key", "ad_token", "endpoint", "api_version", "deployments"}


@frozen(kw_only=True)
class Endpoint:
    """One provider's HTTP endpoint, credentials and client settings."""

    provider: str
    base_url: str
    api_key: Secret | None = field(default=None, repr=False)
    #: Azure: Entra ID bearer token (static) or a function returning a fresh one per request.
    ad_token: Secret | None = field(default=None, repr=False)
    token_provider: Callable[[], str] | None = field(default=None, repr=False, eq=False)
    azure: bool = False
    api_version: str | None = None
    #: Non-secret headers sent with every request (OpenAI-Organization, OpenAI-Project).
    headers: Mapping[str, str] = field(factory=dict)
    timeout: float = 600.0
    connect_timeout: float = 10.0
    max_connections: int = 100
    max_keepalive_connections: int = 100
    #: The most bytes one answer may have; a longer one fails the call (see :mod:`genai_commons.answer_limit`).
    max_response_bytes: int = 128 * 1024 * 1024
    #: Ask for usage at the end of streams (``stream_options.include_usage``).
    stream_usage: bool = True
    #: ``base64`` (compact, decoded straight into float arrays) or ``float`` (JSON lists).
    embedding_encoding: str = "base64"
    embedding_batch_tokens: int = 300_000
    embedding_concurrency: int = 4

    @property
    def official(self) -> bool:
        """Whether this is OpenAI's own API (which needs a key; other servers may not)."""
        return not self.azure and self.base_url.rstrip("/") == OPENAI_URL

    def url(self, operation: str, wire_id: str | None = None) -> str:
        """The URL of ``operation`` (``chat/completions``, ``embeddings``, ``images/generations``,
        ``models``); Azure puts the deployment in the path and the API version in the query."""
        if not self.azure:
            return f"{self.base_url}/{operation}"
        if wire_id is None:
            return f"{self.base_url}/openai/{operation}?api-version={self.api_version}"
        return (
            f"{self.base_url}/openai/deployments/{quote(wire_id, safe='')}/{operation}?api-version={self.api_version}"
        )

    def check_credentials(self) -> None:
        """Fail with :class:`MissingCredentialsError` when a call cannot authenticate."""
        if self.azure:
            if not self.base_url:
                raise MissingCredentialsError(
                    "provider 'azure' needs the resource endpoint: set AZURE_OPENAI_ENDPOINT or endpoint "
                    "in [providers.azure] (https://RESOURCE.openai.azure.com)"
                )
            if self.api_key is None and self.ad_token is None and self.token_provider is None:
                raise MissingCredentialsError(
                    "provider 'azure' needs credentials: set AZURE_OPENAI_API_KEY (or api_key in "
                    "[providers.azure]), or an Entra ID token with AZURE_OPENAI_AD_TOKEN or a token_provider"
                )
        elif self.official and self.api_key is None:
            raise MissingCredentialsError(
                "provider 'openai' needs an API key: set OPENAI_API_KEY or api_key in [providers.openai]; "
                "for an OpenAI-compatible server that needs none, set OPENAI_BASE_URL to its URL"
            )

    def auth_headers(self) -> dict[str, str]:
        """The headers every request carries: credentials (revealed here only) and the fixed ones."""
        headers = dict(self.headers)
        if self.azure:
            if self.api_key is not None:
                headers["api-key"] = self.api_key.reveal()
            elif self.ad_token is not None:
                headers["Authorization"] = f"Bearer {self.ad_token.reveal()}"
        elif self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.reveal()}"
        return headers

    def per_request_headers(self) -> dict[str, str] | None:
        """Headers computed for each request: a fresh Entra ID token from the token provider."""
        if self.token_provider is None or self.api_key is not None:
            return None
        return {"Authorization": f"Bearer {self.token_provider()}"}


def _check_keys(settings: ProviderSettings, allowed: frozenset[str]) -> None:
    unknown = sorted(set(settings.values) - allowed)
    if unknown:
        raise ConfigurationError(
            f"[providers.{settings.name}] has unknown keys {', '.join(unknown)}; "
            f"the {settings.name} plugin reads {', '.join(sorted(allowed))}"
        )


def _check_no_credentials(url: str, what: str) -> None:
    """Refuse a user name or password in the URL (it would show in every message and log line that
    names the URL), without quoting it."""
    if "@" in url.partition("://")[2].partition("/")[0]:
        raise ConfigurationError(
            f"{what} must not hold credentials (user:password@): give the API key with OPENAI_API_KEY, "
            "AZURE_OPENAI_API_KEY or api_key instead"
        )


def _int(settings: ProviderSettings, key: str, default: int) -> int:
    value = settings.get(key, default=default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"[providers.{settings.name}] {key} must be a whole number of at least 1")
    return value


def _positive(settings: ProviderSettings, key: str, default: float) -> float:
    value = settings.get_float(key, default=default)
    if value is None or not value > 0:
        raise ConfigurationError(f"[providers.{settings.name}] {key} must be a positive number of seconds")
    return value


def _common(settings: ProviderSettings) -> dict[str, Any]:
    encoding = settings.get_str("embedding_encoding", default="base64")
    if encoding not in ("base64", "float"):
        raise ConfigurationError(f"[providers.{settings.name}] embedding_encoding must be 'base64' or 'float'")
    return {
        "timeout": _positive(settings, "timeout", 600.0),
        "connect_timeout": _positive(settings, "connect_timeout", 10.0),
        "max_connections": _int(settings, "max_connections", 100),
        "max_keepalive_connections": _int(settings, "max_keepalive_connections", 100),
        "max_response_bytes": _int(settings, "max_response_bytes", 128 * 1024 * 1024),
        "stream_usage": settings.get_bool("stream_usage", default=True),
        "embedding_encoding": encoding,
        "embedding_batch_tokens": _int(settings, "embedding_batch_tokens", 300_000),
        "embedding_concurrency": _int(settings, "embedding_concurrency", 4),
    }


def openai_endpoint(settings: ProviderSettings) -> Endpoint:
    """OpenAI or an OpenAI-compatible server, from ``[providers.openai]`` and ``OPENAI_*``."""
    _check_keys(settings, OPENAI_KEYS)
    base_url = (settings.get_str("base_url", env="OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"OPENAI_BASE_URL / [providers.{settings.name}] base_url must be an http(s) URL")
    _check_no_credentials(base_url, f"OPENAI_BASE_URL / [providers.{settings.name}] base_url")
    headers = {}
    organization = settings.get_str("organization", env="OPENAI_ORG_ID")
    project = settings.get_str("project", env="OPENAI_PROJECT_ID")
    if organization:
        headers["OpenAI-Organization"] = organization
    if project:
        headers["OpenAI-Project"] = project
    return Endpoint(
        provider=settings.name,
        base_url=base_url,
        api_key=settings.get_secret("api_key", env="OPENAI_API_KEY"),
        headers=headers,
        **_common(settings),
    )


def azure_endpoint(settings: ProviderSettings, token_provider: Callable[[], str] | None = None) -> Endpoint:
    """Azure OpenAI, from ``[providers.azure]`` and ``AZURE_OPENAI_*`` / ``OPENAI_API_VERSION``."""
    _check_keys(settings, AZURE_KEYS)
    endpoint = (settings.get_str("endpoint", env="AZURE_OPENAI_ENDPOINT") or "").rstrip("/")
    if endpoint.endswith("/openai"):  # some portals show the endpoint with the path
        endpoint = endpoint[: -len("/openai")]
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ConfigurationError("AZURE_OPENAI_ENDPOINT / [providers.azure] endpoint must be an http(s) URL")
    _check_no_credentials(endpoint, "AZURE_OPENAI_ENDPOINT / [providers.azure] endpoint")
    return Endpoint(
        provider=settings.name,
        base_url=endpoint,
        api_key=settings.get_secret("api_key", env="AZURE_OPENAI_API_KEY"),
        ad_token=settings.get_secret("ad_token", env="AZURE_OPENAI_AD_TOKEN"),
        token_provider=token_provider,
        azure=True,
        api_version=settings.get_str("api_version", env="OPENAI_API_VERSION") or AZURE_API_VERSION,
        **_common(settings),
    )
