"""HTTP for one provider instance, on the core's HTTP layer (:mod:`genai_commons.http`).

Each connection key is an :class:`~genai_commons.http.Endpoint` (:class:`KeyEndpoint`): its base
URL, its access token in ``x-api-key``, its secrets redacted from every error, and Mendix Cloud's
error advice (:func:`.errors.error_for`). The clients are shared by every key (connections are
pooled per host); bodies are encoded with orjson (an order of magnitude faster than the standard
library on vectors). Operations are generators of :class:`~genai_commons.http.Call`
(:mod:`genai_commons.http.calls`), run sync or async by the core's driver.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Mapping
from contextlib import aclosing, closing
from typing import TYPE_CHECKING, Any, TypeVar

from genai_commons.http import Answer, Call, ClientOptions, Clients, Driver, Endpoint, Operation
from genai_commons.jsonparse import check_depth

from .errors import PROVIDER, SERVICE, error_for, secrets_of

if TYPE_CHECKING:
    from genai_commons import ProviderError
    from genai_commons.redaction import Secrets

    from .keys import ConnectionKey
    from .settings import MxCloudSettings

__all__ = ["KeyEndpoint", "Transport"]

T = TypeVar("T")


class KeyEndpoint(Endpoint):
    """The calls made with one connection key."""

    def __init__(self, key: ConnectionKey) -> None:
        super().__init__(PROVIDER, key.base_url, service=SERVICE)
        self.key = key

    @property
    def where(self) -> str:
        return self.key.host

    def headers(self) -> Mapping[str, str]:
        return {"x-api-key": self.key.access_token.reveal()}

    def secrets(self) -> Secrets:
        return secrets_of(self.key)

    def encode(self, body: Any) -> bytes:
        import orjson  # noqa: PLC0415

        return orjson.dumps(body)

    def decode(self, content: bytes) -> Any:
        import orjson  # noqa: PLC0415

        if not content:
            return None
        data = orjson.loads(content)
        check_depth(data)
        return data

    def error_for(self, status: int, body: str, headers: Mapping[str, str], call: Call | None) -> ProviderError:
        return error_for(status, body, headers, self.key, collection=None if call is None else call.about)


class Transport:
    """The provider's clients and driver. ``transport`` and ``async_transport`` replace the
    network in tests (an ``httpx.MockTransport`` serves both)."""

    def __init__(self, transport: Any = None, async_transport: Any = None) -> None:
        self.clients = Clients(ClientOptions, transport, async_transport)
        self.driver = Driver(self.clients)

    def configure(self, settings: MxCloudSettings) -> None:
        self.clients.configure(
            lambda: ClientOptions(
                timeout=settings.timeout,
                connect_timeout=settings.connect_timeout,
                max_response_bytes=settings.max_response_bytes,
                concurrency=settings.concurrency,
                max_connections=max(10, settings.concurrency * 2),
            )
        )

    def close(self) -> None:
        self.clients.close()

    async def aclose(self) -> None:
        await self.clients.aclose()

    def call(self, key: ConnectionKey, call: Call) -> Answer:
        return self.driver.call(KeyEndpoint(key), call)

    async def acall(self, key: ConnectionKey, call: Call) -> Answer:
        return await self.driver.acall(KeyEndpoint(key), call)

    def run(self, key: ConnectionKey, operation: Operation[T]) -> T:
        return self.driver.run(KeyEndpoint(key), operation)

    async def arun(self, key: ConnectionKey, operation: Operation[T]) -> T:
        return await self.driver.arun(KeyEndpoint(key), operation)

    def events(self, key: ConnectionKey, path: str, body: Any) -> Generator[tuple[str, str], None, None]:
        """``(event name, data)`` of each server-sent event of a streamed answer."""
        with closing(self.driver.events(KeyEndpoint(key), Call(method="POST", path=path, body=body))) as events:
            for event in events:
                yield event.event, event.data

    async def aevents(self, key: ConnectionKey, path: str, body: Any) -> AsyncGenerator[tuple[str, str], None]:
        """:meth:`events` with the async client."""
        async with aclosing(self.driver.aevents(KeyEndpoint(key), Call(method="POST", path=path, body=body))) as events:
            async for event in events:
                yield event.event, event.data
