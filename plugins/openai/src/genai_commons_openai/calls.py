"""The API as the core's HTTP layer (:mod:`genai_commons.http`) sees it: :class:`Api`, an endpoint
whose error answers read as OpenAI's (:func:`.errors.error_for`), and the calls of the plugin's
operations, each described once and run sync or async by the core's driver.

Credentials go in the clients' headers (:meth:`.endpoint.Endpoint.auth_headers`), so that a call
adds none of its own; an Entra ID token from a token provider is made per call (:meth:`Api.headers`).
URLs are parsed once per operation and model (:meth:`.plugin.OpenAIProvider.url`): httpx would
parse a string on every request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from genai_commons.http import Call
from genai_commons.http import Endpoint as HttpEndpoint

from .errors import MalformedAnswer, error_for, mask_keys, not_the_api

if TYPE_CHECKING:
    import httpx

    from genai_commons import ProviderError
    from genai_commons.redaction import Secrets

    from .endpoint import Endpoint

__all__ = ["Api", "parsed", "post"]


class Api(HttpEndpoint):
    """One provider's endpoint, for the driver."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint.provider, endpoint.base_url)
        self.endpoint = endpoint

    def headers(self) -> Mapping[str, str]:
        return self.endpoint.per_request_headers() or {}

    def secrets(self) -> Secrets:
        return [self.endpoint.api_key, self.endpoint.ad_token, *super().secrets()]

    def decode(self, content: bytes) -> Any:
        data = super().decode(content)
        if not isinstance(data, dict):
            raise ValueError(f"a JSON {type(data).__name__} instead of an object")
        return data

    def scrub(self, text: str) -> str:
        return mask_keys(text)

    def error_for(self, status: int, body: str, headers: Mapping[str, str], call: Call | None) -> ProviderError:
        return error_for(self.provider, status, body, headers)

    def malformed(self, detail: str, status: int) -> ProviderError:
        return not_the_api(self.provider, self.base_url, f"status {status}, {detail}", status)


def post(url: httpx.URL, payload: dict[str, Any], timeout: float | None) -> Call:
    """A JSON ``POST`` to ``url``."""
    return Call(method="POST", path=url, body=payload, timeout=timeout)  # type: ignore[arg-type]


def parsed(data: dict[str, Any], parse: Callable[[dict[str, Any]], Any]) -> Any:
    """``parse(data)``, a malformed answer (missing keys, wrong types) becoming :class:`MalformedAnswer`."""
    try:
        return parse(data)
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as exc:
        raise MalformedAnswer(f"unexpected answer shape ({type(exc).__name__}: {exc})") from exc
