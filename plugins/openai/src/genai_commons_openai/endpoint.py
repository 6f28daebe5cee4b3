"""Where requests go and how they authenticate: OpenAI (and compatible servers) or Azure OpenAI.

Made from the provider's typed settings (:mod:`.settings`: ``[providers.openai]`` /
``[providers.azure]``, the ecosystem's environment variables winning) without any network and
without requiring credentials: :meth:`Endpoint.check_credentials` asks for them when the first
call is made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import quote

from attrs import field, frozen

from genai_commons import MissingCredentialsError, Secret

from .settings import AZURE_API_VERSION, OPENAI_URL, AzureSettings, ClientSettings, OpenAISettings

__all__ = ["AZURE_API_VERSION", "OPENAI_URL", "Endpoint", "azure_endpoint", "openai_endpoint"]


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


def _client(settings: ClientSettings) -> dict[str, object]:
    """The client settings both providers share, as :class:`Endpoint` takes them."""
    names = [f.name for f in ClientSettings.__attrs_attrs__]
    return {name: getattr(settings, name) for name in names}


def openai_endpoint(settings: OpenAISettings, provider: str = "openai") -> Endpoint:
    """OpenAI or an OpenAI-compatible server, from ``[providers.openai]`` and ``OPENAI_*``."""
    headers = {}
    if settings.organization:
        headers["OpenAI-Organization"] = settings.organization
    if settings.project:
        headers["OpenAI-Project"] = settings.project
    return Endpoint(
        provider=provider,
        base_url=settings.base_url,
        api_key=settings.api_key or None,
        headers=headers,
        **_client(settings),  # type: ignore[arg-type]
    )


def azure_endpoint(
    settings: AzureSettings, token_provider: Callable[[], str] | None = None, provider: str = "azure"
) -> Endpoint:
    """Azure OpenAI, from ``[providers.azure]`` and ``AZURE_OPENAI_*`` / ``OPENAI_API_VERSION``."""
    return Endpoint(
        provider=provider,
        base_url=settings.endpoint,
        api_key=settings.api_key or None,
        ad_token=settings.ad_token or None,
        token_provider=token_provider,
        azure=True,
        api_version=settings.api_version or AZURE_API_VERSION,
        **_client(settings),  # type: ignore[arg-type]
    )
