"""genai-commons: one vendor-neutral way to use generative AI, with providers as plugins.

Start with :class:`Host`; provider authors subclass :class:`Provider`. The domain model lives in
:mod:`genai_commons.model` and is re-exported here.
"""

from __future__ import annotations

from . import errors
from .config import Config, ProviderSettings, RetryPolicy, Secret
from .errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ContentFilteredError,
    ContextLengthError,
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
    ToolLoopError,
    UnknownModelError,
    UnsupportedCapabilityError,
    ValidationError,
)
from .hookspecs import hookimpl
from .host import Host
from .model import *  # noqa: F403 - the domain model is part of the public API
from .model import __all__ as _model_all
from .plugins import PluginInfo
from .provider import Provider
from .streams import AsyncChatStream, ChatStream

__version__ = "0.1.0"

__all__ = [
    "AsyncChatStream",
    "AuthenticationError",
    "BadRequestError",
    "ChatStream",
    "Config",
    "ConfigurationError",
    "ContentFilteredError",
    "ContextLengthError",
    "GenAIError",
    "Host",
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
    "ToolLoopError",
    "UnknownModelError",
    "UnsupportedCapabilityError",
    "ValidationError",
    "errors",
    "hookimpl",
]
__all__ += _model_all  # noqa: PLE0605 - the domain model names, kept in one list
