"""The GenAI Commons domain model: attrs classes, frozen and validated at construction.

Names load lazily on first access (PEP 562), so that importing the host does not build every class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "Agent": "deployed",
    "AgentEvent": "agents",
    "AgentRequest": "agents",
    "AgentResponse": "agents",
    "AgentTextChunk": "agents",
    "AgentTrace": "agents",
    "And": "retrieval",
    "Capability": "enums",
    "ChatStreamEvent": "streaming",
    "Chunk": "knowledge",
    "ChunkCollection": "knowledge",
    "Citation": "chat",
    "ContentType": "enums",
    "DeployedModel": "deployed",
    "EmbeddingPurpose": "enums",
    "EmbeddingsOptions": "embeddings",
    "EmbeddingsResponse": "embeddings",
    "Eq": "retrieval",
    "FileCollection": "files",
    "FileContent": "files",
    "FileType": "enums",
    "Filter": "retrieval",
    "Function": "tools",
    "ImageGenerationType": "enums",
    "ImageOptions": "images",
    "In": "retrieval",
    "IngestMode": "retrieval",
    "IngestResult": "retrieval",
    "JsonObject": "tools",
    "KnowledgeBase": "deployed",
    "KnowledgeBaseChunk": "knowledge",
    "Message": "chat",
    "MessageType": "enums",
    "Metadata": "knowledge",
    "MetadataCollection": "knowledge",
    "Modality": "enums",
    "Not": "retrieval",
    "Or": "retrieval",
    "OutputSchema": "structured",
    "ProviderInfo": "deployed",
    "Range": "retrieval",
    "Reference": "chat",
    "Request": "chat",
    "RerankRequest": "rerank",
    "RerankResponse": "rerank",
    "RerankResult": "rerank",
    "Response": "chat",
    "RetrievalQuery": "retrieval",
    "RetrievalResult": "retrieval",
    "Role": "enums",
    "SearchType": "enums",
    "SourceType": "enums",
    "StopReason": "enums",
    "StreamEnd": "streaming",
    "SyncJob": "retrieval",
    "SyncResult": "retrieval",
    "SyncStatus": "retrieval",
    "TextDelta": "streaming",
    "Tool": "tools",
    "ToolCall": "tools",
    "ToolCallDelta": "streaming",
    "ToolChoice": "enums",
    "ToolExecution": "streaming",
    "Usage": "usage",
    "Vector": "knowledge",
    "exact_match": "retrieval",
}

if TYPE_CHECKING:
    from .agents import AgentEvent, AgentRequest, AgentResponse, AgentTextChunk, AgentTrace
    from .chat import Citation, Message, Reference, Request, Response
    from .deployed import Agent, DeployedModel, KnowledgeBase, ProviderInfo
    from .embeddings import EmbeddingsOptions, EmbeddingsResponse
    from .enums import (
        Capability,
        ContentType,
        EmbeddingPurpose,
        FileType,
        ImageGenerationType,
        MessageType,
        Modality,
        Role,
        SearchType,
        SourceType,
        StopReason,
        ToolChoice,
    )
    from .files import FileCollection, FileContent
    from .images import ImageOptions
    from .knowledge import Chunk, ChunkCollection, KnowledgeBaseChunk, Metadata, MetadataCollection, Vector
    from .rerank import RerankRequest, RerankResponse, RerankResult
    from .retrieval import (
        And,
        Eq,
        Filter,
        In,
        IngestMode,
        IngestResult,
        Not,
        Or,
        Range,
        RetrievalQuery,
        RetrievalResult,
        SyncJob,
        SyncResult,
        SyncStatus,
        exact_match,
    )
    from .streaming import ChatStreamEvent, StreamEnd, TextDelta, ToolCallDelta, ToolExecution
    from .structured import OutputSchema
    from .tools import Function, JsonObject, Tool, ToolCall
    from .usage import Usage

__all__ = [
    "Agent",
    "AgentEvent",
    "AgentRequest",
    "AgentResponse",
    "AgentTextChunk",
    "AgentTrace",
    "And",
    "Capability",
    "ChatStreamEvent",
    "Chunk",
    "ChunkCollection",
    "Citation",
    "ContentType",
    "DeployedModel",
    "EmbeddingPurpose",
    "EmbeddingsOptions",
    "EmbeddingsResponse",
    "Eq",
    "FileCollection",
    "FileContent",
    "FileType",
    "Filter",
    "Function",
    "ImageGenerationType",
    "ImageOptions",
    "In",
    "IngestMode",
    "IngestResult",
    "JsonObject",
    "KnowledgeBase",
    "KnowledgeBaseChunk",
    "Message",
    "MessageType",
    "Metadata",
    "MetadataCollection",
    "Modality",
    "Not",
    "Or",
    "OutputSchema",
    "ProviderInfo",
    "Range",
    "Reference",
    "Request",
    "RerankRequest",
    "RerankResponse",
    "RerankResult",
    "Response",
    "RetrievalQuery",
    "RetrievalResult",
    "Role",
    "SearchType",
    "SourceType",
    "StopReason",
    "StreamEnd",
    "SyncJob",
    "SyncResult",
    "SyncStatus",
    "TextDelta",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolExecution",
    "Usage",
    "Vector",
    "exact_match",
]


__getattr__ = lazy_exports(__name__, globals(), _EXPORTS)


def __dir__() -> list[str]:
    return sorted(__all__)
