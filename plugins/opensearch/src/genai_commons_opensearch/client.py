"""The connection: one opensearch-py client per provider instance, made on first use and reused.

opensearch-py (and boto3, for SigV4) are imported here, when the first call needs a client, never
at configure time. The client never retries (the host has the only retry loop): ``max_retries=0``.

Authentication (see :meth:`OpenSearchSettings.auth_mode`): none; HTTP basic with ``username`` and
the ``password`` secret; or AWS SigV4 for Amazon OpenSearch Service (``aws_service = "es"``) and
Serverless (``"aoss"``), signed with boto3's credential chain (environment, profile, SSO,
container or instance role) through opensearch-py's ``Urllib3AWSV4SignerAuth``.

opensearch-py logs every answer's body at DEBUG (loggers ``opensearch`` and ``opensearchpy.trace``),
and a cluster or a proxy may have quoted the credentials in it: a filter on those loggers redacts
the secrets of every live client from their records (:class:`_Redacting`).
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from genai_commons import ConfigurationError, MissingCredentialsError, Secret
from genai_commons.redaction import redact, url_credentials

from .settings import OpenSearchSettings

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

#: ``<name>.<region>.es.amazonaws.com`` and ``<id>.<region>.aoss.amazonaws.com``.
_AWS_HOST = re.compile(r"\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)\.(?P<service>es|aoss)\.amazonaws\.com$")


def aws_endpoint(url: str | None) -> tuple[str | None, str | None]:
    """The region and service an Amazon OpenSearch endpoint URL names, when it names them."""
    match = _AWS_HOST.search((urlsplit(url).hostname or "").lower()) if url else None
    return (match["region"], match["service"]) if match else (None, None)


def _aws_auth(settings: OpenSearchSettings) -> Any:
    try:
        import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 - only for SigV4, on the first call
    except ImportError:
        raise ConfigurationError(
            "SigV4 signing for Amazon OpenSearch needs boto3: pip install 'genai-commons-opensearch[aws]'"
        ) from None
    from opensearchpy import Urllib3AWSV4SignerAuth  # noqa: PLC0415

    url_region, url_service = aws_endpoint(settings.url)
    session = boto3.Session(profile_name=settings.aws_profile) if settings.aws_profile else boto3.Session()
    region = settings.aws_region or url_region or session.region_name
    if not region:
        raise ConfigurationError(
            "SigV4 signing needs the cluster's AWS region: set aws_region in [providers.opensearch] (or AWS_REGION)"
        )
    credentials = session.get_credentials()
    if credentials is None:
        raise MissingCredentialsError(
            "no AWS credentials found for Amazon OpenSearch: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "aws_profile in [providers.opensearch], or run where an IAM role is available"
        )
    service = settings.aws_service or url_service or "es"
    return Urllib3AWSV4SignerAuth(credentials, region, service)


def connect(settings: OpenSearchSettings) -> OpenSearch:
    """A new client for the configured cluster (no request is made)."""
    url = settings.require_url()
    mode = settings.auth_mode()
    auth: Any = None
    if mode == "basic":
        auth = settings.basic_credentials()
    elif mode == "aws":
        auth = _aws_auth(settings)
    from opensearchpy import OpenSearch  # noqa: PLC0415 - the SDK loads on first use

    options: dict[str, Any] = {
        "hosts": [url],
        "http_auth": auth,
        "timeout": settings.timeout,
        "max_retries": 0,
        "retry_on_timeout": False,
    }
    if url.lower().startswith("https:"):
        options["verify_certs"] = settings.verify_certs
        if settings.ca_certs:
            options["ca_certs"] = settings.ca_certs
    return OpenSearch(**options)


class LazyClient:
    """Holds the provider's client: made by the first :meth:`get`, closed by :meth:`close`."""

    def __init__(self, settings: OpenSearchSettings) -> None:
        self.settings = settings
        self._client: OpenSearch | None = None
        self._lock = threading.Lock()

    def get(self) -> OpenSearch:
        with self._lock:
            if self._client is None:
                self._client = connect(self.settings)
                _REDACTING.watch(self)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def secrets(self) -> list[Secret | str | None]:
        """What the client's requests carry that a cluster (or a proxy) could quote back: the
        password, and the AWS secret key and session token SigV4 signs with."""
        found: list[Secret | str | None] = [self.settings.password, *url_credentials(self.settings.url)]
        client = self._client
        auth = client.transport.kwargs.get("http_auth") if client is not None else None
        credentials = getattr(getattr(auth, "signer", None), "credentials", None)
        if credentials is not None:  # read without the properties, which may refresh them
            held = vars(credentials)
            for name in ("secret_key", "_secret_key", "token", "_token"):
                value = held.get(name)
                found.append(value if isinstance(value, str) else None)
        return found


class _Redacting(logging.Filter):
    """Redacts the secrets of the live clients from the records of opensearch-py's loggers."""

    LOGGERS = ("opensearch", "opensearchpy.trace")

    def __init__(self) -> None:
        super().__init__()
        self._clients: weakref.WeakSet[LazyClient] = weakref.WeakSet()
        self._lock = threading.Lock()

    def watch(self, client: LazyClient) -> None:
        with self._lock:
            self._clients.add(client)
        for name in self.LOGGERS:
            logging.getLogger(name).addFilter(self)  # once: a logger keeps a filter only once

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            clients = list(self._clients)
        secrets = [secret for client in clients for secret in client.secrets()]
        if secrets:
            try:
                message = record.getMessage()
            except Exception:  # a record that cannot be formatted is left to logging to report
                return True
            cleaned = redact(message, secrets)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_REDACTING = _Redacting()
