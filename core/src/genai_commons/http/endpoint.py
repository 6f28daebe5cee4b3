"""Where a provider's calls go, what they carry, and how its error answers read: :class:`Endpoint`.

A provider subclasses :class:`Endpoint` (or makes one per credential, as Mendix Cloud does per
connection key) and hands it to the driver with each operation. What a subclass usually overrides:

- :meth:`Endpoint.headers` — the credentials of each call (``Authorization``, ``x-api-key``…);
- :meth:`Endpoint.error_for` — the core error for an error answer: the default reads the common
  JSON error shapes and maps the status (:func:`.errors.status_error`); override it to add the
  provider's codes and advice;
- :attr:`Endpoint.settings` — the configuration table the messages point at, for ``timeout`` and
  ``max_response_bytes``.

Everything :meth:`Endpoint.secrets` returns, and every credential header a request carried, is
redacted from the errors that leave the driver.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ProviderError, ServiceUnavailableError
from ..jsonparse import loads
from ..redaction import url_credentials
from .errors import status_error

if TYPE_CHECKING:
    from ..redaction import Secrets
    from .calls import Call

__all__ = ["Endpoint"]

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class Endpoint:
    """A base URL and the credentials calls to it carry (see the module docstring).

    :param provider: the provider's name, on every error (``openai``, ``mxcloud``).
    :param base_url: what a call's path is appended to.
    :param service: the name messages use (``Mendix Cloud GenAI``); the provider's name if omitted.
    :param settings: the configuration table messages point at; ``[providers.<provider>]`` if omitted.
    """

    def __init__(self, provider: str, base_url: str, *, service: str | None = None, settings: str | None = None):
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.service = service or provider
        self.settings = settings or f"[providers.{provider}]"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.provider!r}, {self.where!r})"

    @property
    def where(self) -> str:
        """The base URL without credentials, for messages."""
        secrets = url_credentials(self.base_url)
        where = self.base_url
        for secret in secrets:
            where = where.replace(f"{secret}@", "").replace(f"{secret}:", "")
        return where

    def url(self, call: Call) -> Any:
        """Where ``call`` goes: its path below the base URL, or its own absolute URL (a string, or
        an ``httpx.URL`` parsed once by a provider that makes the same call often)."""
        path = call.path
        return path if not isinstance(path, str) or "://" in path else self.base_url + path

    def headers(self) -> Mapping[str, str]:
        """Headers of every call (credentials); asked once per call."""
        return {}

    def secrets(self) -> Secrets:
        """What calls carry that a server could quote back, besides the credential headers the
        driver finds on the requests themselves (``Authorization``, ``api-key``, ``x-api-key``)."""
        return url_credentials(self.base_url)

    def encode(self, body: Any) -> bytes:
        """A call's JSON body as bytes (compact UTF-8; override for a faster encoder)."""
        return _ENCODER.encode(body).encode()

    def decode(self, content: bytes) -> Any:
        """An answer's JSON (strict UTF-8, nesting bounded); None when empty. A ``ValueError``
        becomes :meth:`malformed`'s error."""
        return loads(content.decode("utf-8")) if content else None

    def scrub(self, text: str) -> str:
        """What the server said in an error answer, before the driver redacts the credentials from
        it: remove here what only this provider knows is secret (OpenAI masks the keys it quotes)."""
        return text

    def error_for(self, status: int, body: str, headers: Mapping[str, str], call: Call | None) -> ProviderError:
        """The core error for an error answer (``body`` already redacted)."""
        return status_error(self, status, body, headers)

    def malformed(self, detail: str, status: int) -> ProviderError:
        """The error for a 2xx answer that is not the JSON it should be."""
        return ServiceUnavailableError(
            f"{self.service} answered {status} with something that is not the JSON expected ({detail}); try "
            f"again, and check that {self.where} is the service's address",
            provider=self.provider,
            status=status,
        )
