"""The plugins' settings: ``[providers.openai]`` and ``[providers.azure]`` as typed classes.

The host checks the table against the class before :meth:`~genai_commons.Provider.configure`
(:mod:`genai_commons.typed_settings`): an unknown key or a wrong type is refused in one line that
names the file and the key. The ecosystem's environment variables win over the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen

from genai_commons import Secret
from genai_commons.typed_settings import at_least, http_url, one_of, positive, setting

__all__ = ["AZURE_API_VERSION", "OPENAI_URL", "AzureSettings", "ClientSettings", "OpenAISettings"]

OPENAI_URL = "https://api.openai.com/v1"
#: The latest generally available data-plane version of Azure OpenAI when this plugin was written.
AZURE_API_VERSION = "2024-10-21"


def _base_url(value: str) -> str:
    """The URL without a trailing slash; OpenAI's own when empty."""
    return value.strip().rstrip("/") or OPENAI_URL


def _azure_endpoint(value: str) -> str:
    """The resource endpoint without a trailing slash or the ``/openai`` some portals show."""
    value = value.strip().rstrip("/")
    return value.removesuffix("/openai")


@frozen(kw_only=True)
class ClientSettings:
    """The HTTP client's settings, shared by both providers."""

    timeout: float = setting(default=600.0, validator=positive())
    connect_timeout: float = setting(default=10.0, validator=positive())
    max_connections: int = setting(default=100, validator=at_least(1))
    max_keepalive_connections: int = setting(default=100, validator=at_least(1))
    #: The most bytes one answer may have; a longer one fails the call.
    max_response_bytes: int = setting(default=128 * 1024 * 1024, validator=at_least(1))
    #: Ask for usage at the end of streams (``stream_options.include_usage``).
    stream_usage: bool = True
    #: ``base64`` (compact, decoded straight into float arrays) or ``float`` (JSON lists).
    embedding_encoding: str = setting(default="base64", validator=one_of({"base64", "float"}))
    embedding_batch_tokens: int = setting(default=300_000, validator=at_least(1))
    embedding_concurrency: int = setting(default=4, validator=at_least(1))


@frozen(kw_only=True)
class OpenAISettings(ClientSettings):
    """``[providers.openai]``: OpenAI, or any server that speaks its API; see ``docs/openai.md``."""

    api_key: Secret | None = setting(default=None, env="OPENAI_API_KEY", repr=False)
    base_url: str = setting(default=OPENAI_URL, env="OPENAI_BASE_URL", converter=_base_url, validator=http_url)
    organization: str | None = setting(default=None, env="OPENAI_ORG_ID")
    project: str | None = setting(default=None, env="OPENAI_PROJECT_ID")
    #: List ``GET /models`` for ``genai models``.
    discover: bool = True
    #: ``[providers.openai.models.ID]`` tables (checked by :mod:`.catalog`).
    models: Mapping[str, Any] | None = None


@frozen(kw_only=True)
class AzureSettings(ClientSettings):
    """``[providers.azure]``: the deployments of one Azure OpenAI resource; see ``docs/openai.md``."""

    api_key: Secret | None = setting(default=None, env="AZURE_OPENAI_API_KEY", repr=False)
    ad_token: Secret | None = setting(default=None, env="AZURE_OPENAI_AD_TOKEN", repr=False)
    #: ``https://RESOURCE.openai.azure.com``; empty until set (a call then asks for it).
    endpoint: str = setting(default="", env="AZURE_OPENAI_ENDPOINT", converter=_azure_endpoint, validator=http_url)
    api_version: str = setting(default=AZURE_API_VERSION, env="OPENAI_API_VERSION")
    #: ``[providers.azure.deployments.NAME]`` tables (checked by :mod:`.catalog`).
    deployments: Mapping[str, Any] | None = None
