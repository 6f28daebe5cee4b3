"""The service's error answers as genai_commons errors: the one place that knows its codes.

The core's HTTP layer maps the status of an error answer, timeouts, refused connections and
answers too large, redacting the credentials the request carried; this endpoint adds what only
this service's codes say (a prompt longer than the model takes).
"""

from __future__ import annotations

from collections.abc import Mapping

from genai_commons import ContextLengthError, ProviderError, Secret
from genai_commons.http import Call, Endpoint, status_error
from genai_commons.redaction import Secrets


class ExampleEndpoint(Endpoint):
    """The engine's HTTP API, with the key calls carry (when one is set)."""

    def __init__(self, provider: str, base_url: str, api_key: Secret | None) -> None:
        super().__init__(provider, base_url, service="the example engine")
        self.api_key = api_key

    def headers(self) -> Mapping[str, str]:
        return {} if self.api_key is None else {"Authorization": f"Bearer {self.api_key.reveal()}"}

    def secrets(self) -> Secrets:
        return [self.api_key, *super().secrets()]

    def error_for(self, status: int, body: str, headers: Mapping[str, str], call: Call | None) -> ProviderError:
        error = status_error(self, status, body, headers)
        if status == 400 and error.code == "context_length_exceeded":
            return ContextLengthError(
                f"{error} — shorten the prompt", provider=self.provider, status=status, code=error.code, body=error.body
            )
        return error
