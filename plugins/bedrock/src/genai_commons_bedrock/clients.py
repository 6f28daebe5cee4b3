"""One boto3 client per service and region, created on first use and reused.

boto3 clients are thread-safe once created, but sessions are not safe to create clients from
concurrently, so creation happens under a lock (with a lock-free fast path for clients that exist).
Every client has botocore's retries off — the host has the only retry loop — the connect and
read timeouts of the settings, a check of its answers before they are parsed (:mod:`.integrity`),
and reads that end at the call's deadline (:mod:`.bounded_reads`). Endpoints come from the
settings, or else from botocore's own lookup, which reads ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``
(``_BEDROCK``, ``_BEDROCK_AGENT_RUNTIME``, ``_BEDROCK_AGENT``), ``AWS_ENDPOINT_URL`` and the
``services`` section of ``~/.aws/config``.
"""

from __future__ import annotations

import threading
from typing import Any

from .bounded_reads import bound_reads
from .credentials import assume_role_session, base_session
from .errors import translated_errors
from .integrity import check_answer
from .settings import BedrockSettings

__all__ = ["ClientFactory"]

_USER_AGENT = "genai-commons-bedrock/0.1.0"


class ClientFactory:
    """Builds and caches the boto3 session and clients of one provider instance.

    :param settings: the plugin's settings.
    :param session: a boto3 session to start from instead of one built from the settings (tests
        pass one with fake credentials and a transport; applications may pass their own).
    """

    def __init__(self, settings: BedrockSettings, session: Any = None) -> None:
        self.settings = settings
        self._given_session = session
        self._session: Any = None
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    def client_config(self) -> Any:
        """The botocore ``Config`` of every client: no SDK retries, the configured timeouts, and a
        connection pool large enough for the plugin's concurrent calls."""
        from botocore.config import Config  # type: ignore[import-untyped]  # noqa: PLC0415

        return Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=self.settings.connect_timeout,
            read_timeout=self.settings.read_timeout,
            max_pool_connections=max(10, self.settings.max_concurrency),
            user_agent_extra=_USER_AGENT,
        )

    def session(self) -> Any:
        """The boto3 session (built on first use; nothing is resolved before)."""
        if self._session is None:
            with self._lock:
                self._build_session()
        return self._session

    def _build_session(self) -> None:
        if self._session is not None:
            return
        with translated_errors(region=self.settings.region):
            base = self._given_session if self._given_session is not None else base_session(self.settings)
            if self.settings.role_arn:
                base = assume_role_session(base, self.settings, self.client_config())
        self._session = base

    def client(self, service: str, region: str | None = None) -> Any:
        """The client of ``service`` (``bedrock-runtime``, ``bedrock``, ``bedrock-agent-runtime``,
        ``bedrock-agent``) in ``region`` (default: the configured one)."""
        key = (service, region)
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                self._build_session()
                client = self._create(service, region)
                self._clients[key] = client
        return client

    def _create(self, service: str, region: str | None) -> Any:
        kwargs: dict[str, Any] = {"config": self.client_config()}
        region = region or self.settings.region
        if region:
            kwargs["region_name"] = region
        endpoint = self.settings.endpoint_urls.get(service)
        if endpoint:
            kwargs["endpoint_url"] = endpoint
        with translated_errors(region=region):
            client = self._session.client(service, **kwargs)
        client.meta.events.register("before-parse", check_answer)
        bound_reads(client, self.settings.read_timeout)
        return client

    def region(self, service: str = "bedrock-runtime") -> str | None:
        """The region the service's client talks to, once it exists (for error messages)."""
        client = self._clients.get((service, None))
        if client is not None:
            return str(client.meta.region_name)
        return self.settings.region

    def close(self) -> None:
        """Close every client's connection pool; later calls create new clients."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            _close_pools(client)
            client.close()


def _close_pools(client: Any) -> None:
    """Close the connections of a client's urllib3 pools. botocore's ``client.close()`` only clears
    its pool manager, and urllib3 2 closes a cleared pool's connections when the pool is collected:
    after a connection error, whose traceback runs through the pool (a reference cycle), that waits
    for the garbage collector, and the connections stay open. Nothing happens where botocore's
    internals differ from what this expects."""
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    managers = [getattr(session, "_manager", None), *(getattr(session, "_proxy_managers", None) or {}).values()]
    for manager in managers:
        pools: Any = getattr(manager, "pools", None)
        if pools is None:
            continue
        for key in pools.keys():  # noqa: SIM118 - urllib3's container copies its keys; iterating it raises
            pool = pools.get(key)
            if pool is not None:
                pool.close()
