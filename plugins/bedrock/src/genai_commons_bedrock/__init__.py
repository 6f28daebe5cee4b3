"""genai-commons-bedrock: the Amazon Bedrock provider plugin.

Importing the package does not import boto3: the host imports every installed plugin at start-up,
and boto3 loads on the first call. Names load on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .agents import invoke_agent_in_background
    from .ingestion import DataSource, IngestionJob, IngestionStatistics
    from .invoke import InvokeModelResult
    from .options import ClaudeOptions, GuardrailOptions
    from .plugin import BedrockProvider
    from .rag import RetrieveAndGenerateOptions, RetrieveAndGenerateResponse, session_id_of

__all__ = [
    "BedrockProvider",
    "ClaudeOptions",
    "DataSource",
    "GuardrailOptions",
    "IngestionJob",
    "IngestionStatistics",
    "InvokeModelResult",
    "RetrieveAndGenerateOptions",
    "RetrieveAndGenerateResponse",
    "invoke_agent_in_background",
    "session_id_of",
]

_EXPORTS = {
    "BedrockProvider": "plugin",
    "ClaudeOptions": "options",
    "DataSource": "ingestion",
    "GuardrailOptions": "options",
    "IngestionJob": "ingestion",
    "IngestionStatistics": "ingestion",
    "InvokeModelResult": "invoke",
    "RetrieveAndGenerateOptions": "rag",
    "RetrieveAndGenerateResponse": "rag",
    "invoke_agent_in_background": "agents",
    "session_id_of": "rag",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
