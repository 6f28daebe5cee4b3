"""The plugin's settings: ``[providers.opensearch]`` in the configuration file, read once in ``configure``.

Nothing here connects or needs credentials: the URL and the password are checked when the first
call needs them, so ``genai plugins`` works on a machine with no cluster. Environment variables
named here win over the file.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from attrs import field, frozen

from genai_commons import ConfigurationError, MissingCredentialsError, ProviderSettings, Secret

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


@frozen(kw_only=True)
class OpenSearchSettings:
    """Everything ``[providers.opensearch]`` can hold; see ``docs/opensearch.md``."""

    url: str | None = None
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)
    verify_certs: bool = True
    ca_certs: str | None = None
    #: Seconds one request may take.
    timeout: float = 30.0
    #: ``none``, ``basic`` or ``aws``; inferred when not set (see :meth:`auth_mode`).
    auth: str | None = None
    aws_service: str | None = None
    aws_region: str | None = None
    aws_profile: str | None = None
    #: Prepended to every collection's index name; listing shows only indices that start with it.
    index_prefix: str = "genai-"
    #: The HNSW implementation of new indices: ``lucene`` (default) or ``faiss``.
    engine: str = "lucene"
    hnsw_m: int = 16
    hnsw_ef_construction: int = 128
    number_of_shards: int | None = None
    number_of_replicas: int | None = None
    refresh: str = "wait_for"
    #: Documents per bulk request, and the most bytes one may carry.
    bulk_batch_size: int = 500
    bulk_max_bytes: int = 8 * 1024 * 1024
    #: How often items the cluster rejected with 429 are sent again, alone, before the call fails.
    bulk_retries: int = 3
    #: Seconds before the first resend of rejected items; doubled each time, at most 30.
    bulk_backoff: float = 0.5
    #: Hits per page when walking every match (id scans, deep listing), by ``search_after``.
    scan_page_size: int = 5000
    #: The deepest ``from + size`` a listing asks for in one search (the indices'
    #: ``index.max_result_window``); deeper pages are reached by walking with ``search_after``.
    max_result_window: int = 10_000
    #: Amazon OpenSearch Serverless rules: no custom document ids, no ``refresh``, no
    #: ``_delete_by_query``. On by default when ``aws_service`` is ``aoss``.
    serverless: bool = False

    @classmethod
    def from_provider_settings(cls, settings: ProviderSettings) -> OpenSearchSettings:
        where = f"[providers.{settings.name}]"
        url = settings.get_str("url", env=URL_ENV)
        if url is not None:
            url = _check_url(url.strip(), where)
        auth = settings.get_str("auth")
        if auth is not None and auth not in AUTH_MODES:
            raise ConfigurationError(f"{where} auth must be one of {', '.join(sorted(AUTH_MODES))}, got {auth!r}")
        service = settings.get_str("aws_service")
        if service is None and url is not None and _host(url).endswith(".aoss.amazonaws.com"):
            service = "aoss"
        if service is not None and service not in AWS_SERVICES:
            raise ConfigurationError(f"{where} aws_service must be 'es' (OpenSearch Service) or 'aoss' (Serverless)")
        engine = settings.get_str("engine", default="lucene") or "lucene"
        if engine not in ENGINES:
            raise ConfigurationError(f"{where} engine must be one of {', '.join(sorted(ENGINES))}, got {engine!r}")
        refresh = settings.get("refresh", default="wait_for")
        refresh = str(refresh).lower() if isinstance(refresh, bool) else refresh
        if refresh not in REFRESH_POLICIES:
            raise ConfigurationError(f"{where} refresh must be 'wait_for', 'true' or 'false', got {refresh!r}")
        prefix = settings.get_str("index_prefix", default="genai-")
        try:
            check_prefix(prefix or "")
        except ValueError as exc:
            raise ConfigurationError(f"{where} index_prefix: {exc}") from None
        timeout = settings.get_float("timeout", default=30.0)
        backoff = settings.get_float("bulk_backoff", default=0.5)
        if timeout is None or timeout <= 0 or backoff is None or backoff < 0:
            raise ConfigurationError(f"{where} timeout must be positive and bulk_backoff not negative")
        return cls(
            url=url,
            username=settings.get_str("username", env=USERNAME_ENV),
            password=settings.get_secret("password", env=PASSWORD_ENV),
            verify_certs=settings.get_bool("verify_certs", default=True),
            ca_certs=settings.get_str("ca_certs"),
            timeout=timeout,
            auth=auth,
            aws_service=service,
            aws_region=settings.get_str("aws_region"),
            aws_profile=settings.get_str("aws_profile"),
            index_prefix=prefix or "",
            engine=engine,
            hnsw_m=_int(settings, "hnsw_m", 16, 2, 512, where),
            hnsw_ef_construction=_int(settings, "hnsw_ef_construction", 128, 2, 4096, where),
            number_of_shards=_optional_int(settings, "number_of_shards", 1, 1024, where),
            number_of_replicas=_optional_int(settings, "number_of_replicas", 0, 64, where),
            refresh=refresh,
            bulk_batch_size=_int(settings, "bulk_batch_size", 500, 1, 100_000, where),
            bulk_max_bytes=_int(settings, "bulk_max_bytes", 8 * 1024 * 1024, 1024, 2**31 - 1, where),
            bulk_retries=_int(settings, "bulk_retries", 3, 0, 20, where),
            bulk_backoff=backoff,
            scan_page_size=_int(settings, "scan_page_size", 5000, 1, 10_000, where),
            max_result_window=_int(settings, "max_result_window", 10_000, 1, 2**31 - 1, where),
            serverless=settings.get_bool("serverless", default=service == "aoss"),
        )

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


def _check_url(url: str, where: str) -> str:
    parts = urlsplit(url)
    # First, and without quoting the URL: whatever its form, an "@" is where a password would end.
    if parts.username or parts.password or "@" in url:
        raise ConfigurationError(f"{where} url must not hold credentials; set username and password instead")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{where} url must be an http:// or https:// URL, got {url!r}")
    return url


def _int(settings: ProviderSettings, key: str, default: int, low: int, high: int, where: str) -> int:
    value: Any = settings.get(key, default=default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(f"{where} {key} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _optional_int(settings: ProviderSettings, key: str, low: int, high: int, where: str) -> int | None:
    if settings.get(key) is None:
        return None
    return _int(settings, key, 0, low, high, where)
