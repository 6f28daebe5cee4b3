"""The plugin's settings: ``[providers.opensearch]`` in the configuration file, as a typed class the
host checks before ``configure`` (an unknown key or a wrong type is refused naming the file and key).

Nothing here connects or needs credentials: the URL and the password are checked when the first
call needs them, so ``genai plugins`` works on a machine with no cluster. Environment variables
named here win over the file.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from attrs import Attribute, Factory, frozen

from genai_commons import ConfigurationError, MissingCredentialsError, ProviderSettings, Secret
from genai_commons.typed_settings import at_least, http_url, one_of, positive, setting, within

from .mapping import ENGINES, check_prefix

#: How the client authenticates.
AUTH_MODES = frozenset({"none", "basic", "aws"})
#: SigV4 service names: Amazon OpenSearch Service domains, and OpenSearch Serverless collections.
AWS_SERVICES = frozenset({"es", "aoss"})
#: ``refresh`` values: how writes become visible to searches (see the docs page).
REFRESH_POLICIES = frozenset({"wait_for", "true", "false"})

URL_ENV = "GENAI_OPENSEARCH_URL"
USERNAME_ENV = "GENAI_OPENSEARCH_USERNAME"
PASSWORD_ENV = "GENAI_OPENSEARCH_PASSWORD"  # noqa: S105 - the name of a variable, not a password


def _text(value: str | None) -> str | None:
    """Stripped, and None for an empty string: the key is as good as not set."""
    return (value.strip() or None) if value is not None else None


def _refresh(value: str | bool) -> str:
    """``refresh = true`` (a TOML boolean) as ``"true"``."""
    return str(value).lower()


def _prefix(_instance: object, attribute: Attribute[str], value: str) -> None:
    try:
        check_prefix(value)
    except ValueError as exc:
        raise ValueError(f"{attribute.name}: {exc}") from exc


def _service_from_url(settings: OpenSearchSettings) -> str | None:
    """``aoss`` for an OpenSearch Serverless endpoint, else None (see :meth:`auth_mode`)."""
    return "aoss" if settings.url is not None and _host(settings.url).endswith(".aoss.amazonaws.com") else None


@frozen(kw_only=True)
class OpenSearchSettings:
    """Everything ``[providers.opensearch]`` can hold, checked by the host as a typed class
    (:mod:`genai_commons.typed_settings`); see ``docs/opensearch.md``."""

    url: str | None = setting(default=None, env=URL_ENV, converter=_text, validator=http_url)
    username: str | None = setting(default=None, env=USERNAME_ENV)
    password: Secret | None = setting(default=None, env=PASSWORD_ENV, repr=False)
    verify_certs: bool = True
    ca_certs: str | None = None
    #: Seconds one request may take.
    timeout: float = setting(default=30.0, validator=positive())
    #: ``none``, ``basic`` or ``aws``; inferred when not set (see :meth:`auth_mode`).
    auth: str | None = setting(default=None, validator=one_of(AUTH_MODES))
    #: ``es`` (OpenSearch Service) or ``aoss`` (Serverless); ``aoss`` for a Serverless URL when not set.
    aws_service: str | None = setting(
        default=Factory(_service_from_url, takes_self=True), validator=one_of(AWS_SERVICES)
    )
    aws_region: str | None = None
    aws_profile: str | None = None
    #: Prepended to every collection's index name; listing shows only indices that start with it.
    index_prefix: str = setting(default="genai-", validator=_prefix)
    #: The HNSW implementation of new indices: ``lucene`` (default) or ``faiss``.
    engine: str = setting(default="lucene", validator=one_of(ENGINES))
    hnsw_m: int = setting(default=16, validator=within(2, 512))
    hnsw_ef_construction: int = setting(default=128, validator=within(2, 4096))
    number_of_shards: int | None = setting(default=None, validator=within(1, 1024))
    number_of_replicas: int | None = setting(default=None, validator=within(0, 64))
    refresh: str = setting(default="wait_for", converter=_refresh, validator=one_of(REFRESH_POLICIES))
    #: Documents per bulk request, and the most bytes one may carry.
    bulk_batch_size: int = setting(default=500, validator=within(1, 100_000))
    bulk_max_bytes: int = setting(default=8 * 1024 * 1024, validator=within(1024, 2**31 - 1))
    #: How often items the cluster rejected with 429 are sent again, alone, before the call fails.
    bulk_retries: int = setting(default=3, validator=within(0, 20))
    #: Seconds before the first resend of rejected items; doubled each time, at most 30.
    bulk_backoff: float = setting(default=0.5, validator=at_least(0.0))
    #: Hits per page when walking every match (id scans, deep listing), by ``search_after``.
    scan_page_size: int = setting(default=5000, validator=within(1, 10_000))
    #: The deepest ``from + size`` a listing asks for in one search (the indices'
    #: ``index.max_result_window``); deeper pages are reached by walking with ``search_after``.
    max_result_window: int = setting(default=10_000, validator=within(1, 2**31 - 1))
    #: Amazon OpenSearch Serverless rules: no custom document ids, no ``refresh``, no
    #: ``_delete_by_query``. On by default when ``aws_service`` is ``aoss``.
    serverless: bool = setting(default=Factory(lambda self: self.aws_service == "aoss", takes_self=True))

    @classmethod
    def from_provider_settings(cls, settings: ProviderSettings) -> OpenSearchSettings:
        """The table checked and typed (what the host does before ``configure``)."""
        return settings.typed(cls)

    def auth_mode(self) -> str:
        """``auth`` when set; else ``aws`` when an AWS service or region is named (or the URL is an
        Amazon endpoint), ``basic`` when a username is, and ``none`` otherwise."""
        if self.auth is not None:
            return self.auth
        if self.aws_service or self.aws_region or (self.url and _host(self.url).endswith(".amazonaws.com")):
            return "aws"
        return "basic" if self.username else "none"

    def require_url(self) -> str:
        if not self.url:
            raise ConfigurationError(
                f"the OpenSearch knowledge bases need a cluster: set {URL_ENV} or url in [providers.opensearch] "
                "of the configuration file (for example http://localhost:9200)"
            )
        return self.url

    def basic_credentials(self) -> tuple[str, str]:
        if not self.username:
            raise MissingCredentialsError(
                f"OpenSearch basic authentication needs a username: set {USERNAME_ENV} or username in "
                "[providers.opensearch]"
            )
        if self.password is None:
            raise MissingCredentialsError(
                f"OpenSearch basic authentication needs a password: set {PASSWORD_ENV} or password in "
                "[providers.opensearch]"
            )
        return self.username, self.password.reveal()

    @property
    def refresh_param(self) -> str | None:
        """The ``refresh`` parameter of write requests; None where the service refuses it."""
        return None if self.serverless else self.refresh


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
