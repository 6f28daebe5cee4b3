"""The one error hierarchy of genai-commons.

Plugins translate every provider error into one of these classes, in one place (their
``errors.py``), and raise it ``from`` the original so the cause is kept. Messages say what to do.

::

    GenAIError
    ├── ValidationError            bad input to the domain model or an operation (also a ValueError)
    │   └── StructuredOutputError  an answer that is not the JSON its output schema asks for
    ├── ConfigurationError         the configuration file, environment or a plugin's settings
    │   └── MissingCredentialsError
    ├── PluginError                a plugin failed to import or register, or none has that name
    ├── UnknownModelError          no provider, deployed model or knowledge base of that name
    ├── UnsupportedCapabilityError the model or provider cannot do what the call needs
    ├── ToolLoopError              the tool-calling loop hit its step limit
    ├── FileFetchError             downloading a file URL of a message failed ([files] fetch_urls)
    └── ProviderError              the provider answered with an error, or not at all
        ├── AuthenticationError        credentials rejected (401)
        ├── PermissionDeniedError      no access to the model or resource (403)
        ├── NotFoundError              the provider does not know the model or resource (404)
        ├── BadRequestError            the provider rejected the request (400)
        │   ├── ContextLengthError     input longer than the model's context window
        │   └── ContentFilteredError   blocked by the provider's content filter
        ├── QuotaExceededError         a quota or entitlement is used up
        │   └── BudgetExceededError    a monthly [budgets] limit is reached; raised before the call
        ├── RateLimitError             throttled (429); retryable, with ``retry_after``
        ├── ProviderTimeoutError       no answer in time; retryable
        │   └── DeadlineExceededError  the call's deadline passed; not retried
        └── ServiceUnavailableError    5xx or connection failure; retryable
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model.chat import Response

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ConfigurationError",
    "ContentFilteredError",
    "ContextLengthError",
    "DeadlineExceededError",
    "FileFetchError",
    "GenAIError",
    "MissingCredentialsError",
    "NotFoundError",
    "PermissionDeniedError",
    "PluginError",
    "ProviderError",
    "ProviderTimeoutError",
    "QuotaExceededError",
    "RateLimitError",
    "ServiceUnavailableError",
    "StructuredOutputError",
    "ToolLoopError",
    "UnknownModelError",
    "UnsupportedCapabilityError",
    "ValidationError",
]


class GenAIError(Exception):
    """Base of every error genai-commons raises on purpose."""


class ValidationError(GenAIError, ValueError):
    """Input that breaks an invariant of the domain model or of an operation."""


class StructuredOutputError(ValidationError):
    """A chat answer asked for with an output schema is not JSON, or breaks the schema.

    The message says where, never what the answer says; ``text`` holds the raw answer.

    :param text: the answer's raw text, as the model wrote it.
    """

    def __init__(self, message: str, *, text: str) -> None:
        super().__init__(message)
        self.text = text


class ConfigurationError(GenAIError):
    """The configuration file, an environment variable or a plugin's settings are wrong."""


class MissingCredentialsError(ConfigurationError):
    """A provider needs credentials that were not found anywhere it looks."""


class PluginError(GenAIError):
    """A plugin failed to import, to instantiate or to register.

    :param plugin: the plugin's name (its entry-point name).
    """

    def __init__(self, message: str, *, plugin: str) -> None:
        super().__init__(message)
        self.plugin = plugin


class UnknownModelError(GenAIError, LookupError):
    """No registered provider offers this model, provider or knowledge base."""


class UnsupportedCapabilityError(GenAIError):
    """The model or provider lacks a capability the call needs; raised before any network call.

    :param target: the model reference or provider name.
    :param capability: the missing capability, in words (``"function calling"``).
    """

    def __init__(self, message: str, *, target: str, capability: str) -> None:
        super().__init__(message)
        self.target = target
        self.capability = capability


class FileFetchError(GenAIError):
    """The host could not download a file URL of a chat message (``[files] fetch_urls``): the
    server failed, the file is too large, or the address is not allowed.

    :param url: the URL, without its query string.
    """

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class ToolLoopError(GenAIError):
    """The tool-calling loop reached its step limit before the model gave a final answer.

    :param steps: model calls made.
    :param response: the last response, with the usage of all steps aggregated.
    """

    def __init__(self, message: str, *, steps: int, response: Response) -> None:
        super().__init__(message)
        self.steps = steps
        self.response = response


class ProviderError(GenAIError):
    """The provider answered with an error, or could not be reached.

    :param provider: the provider plugin's name.
    :param status: the HTTP status, when there is one.
    :param code: the provider's own error code (``ThrottlingException``, ``context_length_exceeded``).
    :param body: the provider's error body as text, kept for diagnosis (never contains secrets
        sent by the client, since it is what the server answered).
    :param retry_after: seconds the provider asked to wait, when it said.
    """

    #: Whether the host's retry loop may try the call again.
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        code: str | None = None,
        body: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.code = code
        self.body = body
        self.retry_after = retry_after


class AuthenticationError(ProviderError):
    """The provider rejected the credentials (HTTP 401)."""


class PermissionDeniedError(ProviderError):
    """The credentials are valid but have no access to the model or resource (HTTP 403)."""


class NotFoundError(ProviderError):
    """The provider does not know the model or resource, here or in this region (HTTP 404)."""


class BadRequestError(ProviderError):
    """The provider rejected the request as malformed or out of its limits (HTTP 400)."""


class ContextLengthError(BadRequestError):
    """The input is longer than the model's context window."""


class ContentFilteredError(BadRequestError):
    """The provider's content filter blocked the prompt or the response."""


class QuotaExceededError(ProviderError):
    """A quota, entitlement or service limit is used up; waiting will not help soon."""


class BudgetExceededError(QuotaExceededError):
    """A monthly limit of ``[budgets]`` is reached; raised by the host before any network call.

    :param scope: the limit: ``overall``, ``provider NAME`` or ``model PROVIDER:MODEL``.
    :param unit: ``tokens`` or ``usd``.
    :param limit: the monthly limit, in ``unit``.
    :param spent: what the month has used so far, in ``unit``.
    """

    def __init__(self, message: str, *, provider: str, scope: str, unit: str, limit: float, spent: float) -> None:
        super().__init__(message, provider=provider, code="budget_exceeded")
        self.scope = scope
        self.unit = unit
        self.limit = limit
        self.spent = spent


class RateLimitError(ProviderError):
    """The provider throttled the call (HTTP 429); the host retries it."""

    retryable = True


class ProviderTimeoutError(ProviderError):
    """The provider did not answer in time; the host retries it."""

    retryable = True


class DeadlineExceededError(ProviderTimeoutError):
    """The call ran past its deadline (:mod:`genai_commons.deadlines`): every attempt, wait and
    stream event of one call together; not retried, since no time is left."""

    retryable = False


class ServiceUnavailableError(ProviderError):
    """The provider failed (5xx) or could not be reached; the host retries it."""

    retryable = True
