"""genai-commons-openai: OpenAI, Azure OpenAI and OpenAI-compatible servers, over httpx.

Two providers, each its own entry point in the group ``genai_commons``: ``openai``
(:class:`OpenAIProvider`: OpenAI, Ollama, vLLM, llama.cpp server, LM Studio…) and ``azure``
(:class:`AzureOpenAIProvider`). The option classes load on first access, so that the host's
start-up pays only for the provider classes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .plugin import AzureOpenAIProvider, OpenAIProvider

if TYPE_CHECKING:
    from .options import JsonSchemaFormat, OpenAIChatOptions, OpenAIEmbeddingsOptions, OpenAIImageOptions

__all__ = [
    "AzureOpenAIProvider",
    "JsonSchemaFormat",
    "OpenAIChatOptions",
    "OpenAIEmbeddingsOptions",
    "OpenAIImageOptions",
    "OpenAIProvider",
]

_LAZY = frozenset({"JsonSchemaFormat", "OpenAIChatOptions", "OpenAIEmbeddingsOptions", "OpenAIImageOptions"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(".options", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
