"""genai-commons: one vendor-neutral way to use generative AI, with providers as plugins.

Start with :class:`Host`; provider authors subclass :class:`Provider`. The domain model lives in
:mod:`genai_commons.model` and is re-exported here. Names load on first access (PEP 562), so that
``import genai_commons`` stays cheap for tools that only need part of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import errors
from ._lazy import lazy_exports
from .errors import (
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConfigurationError,
    ContentFilteredError,
    ContextLengthError,
    DeadlineExceededError,
    FileFetchError,
    GenAIError,
    MissingCredentialsError,
    NotFoundError,
    PermissionDeniedError,
    PluginError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    ServiceUnavailableError,
    StructuredOutputError,
    ToolLoopError,
    UnknownModelError,
    UnsupportedCapabilityError,
    ValidationError,
)
from .hookspecs import hookimpl
from .model import __all__ as _model_names

if TYPE_CHECKING:
    from ._log import get_logger
    from .config import Config, ProviderSettings, RetryPolicy, Secret
    from .deadlines import deadline
    from .host import Host
    from .middleware import CapabilityCall, Middleware
    from .model import *  # noqa: F403
    from .plugins import PluginInfo
    from .provider import Provider
    from .streams import AsyncChatStream, ChatStream

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "AsyncChatStream": "streams",
    "CapabilityCall": "middleware",
    "ChatStream": "streams",
    "Config": "config",
    "Host": "host",
    "Middleware": "middleware",
    "PluginInfo": "plugins",
    "Provider": "provider",
    "ProviderSettings": "config",
    "RetryPolicy": "config",
    "Secret": "config",
    "deadline": "deadlines",
    "get_logger": "_log",
    **dict.fromkeys(_model_names, "model"),
}

__all__ = [
    "AsyncChatStream",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "CapabilityCall",
    "ChatStream",
    "Config",
    "ConfigurationError",
    "ContentFilteredError",
    "ContextLengthError",
    "DeadlineExceededError",
    "FileFetchError",
    "GenAIError",
    "Host",
    "Middleware",
    "MissingCredentialsError",
    "NotFoundError",
    "PermissionDeniedError",
    "PluginError",
    "PluginInfo",
    "Provider",
    "ProviderError",
    "ProviderSettings",
    "ProviderTimeoutError",
    "QuotaExceededError",
    "RateLimitError",
    "RetryPolicy",
    "Secret",
    "ServiceUnavailableError",
    "StructuredOutputError",
    "ToolLoopError",
    "UnknownModelError",
    "UnsupportedCapabilityError",
    "ValidationError",
    "deadline",
    "errors",
    "get_logger",
    "hookimpl",
]
__all__ += _model_names  # noqa: PLE0605 - the domain model names, kept in one list


__getattr__ = lazy_exports(__name__, globals(), _EXPORTS)


def __dir__() -> list[str]:
    return sorted(__all__)
