"""The GenAI Commons domain model: attrs classes, frozen and validated at construction."""

from __future__ import annotations

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
    SourceType,
    StopReason,
    ToolChoice,
)
from .files import FileCollection, FileContent
from .images import ImageOptions
from .knowledge import Chunk, ChunkCollection, KnowledgeBaseChunk, Metadata, MetadataCollection, Vector
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
    exact_match,
)
from .streaming import ChatStreamEvent, StreamEnd, TextDelta, ToolCallDelta
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
    "ProviderInfo",
    "Range",
    "Reference",
    "Request",
    "Response",
    "RetrievalQuery",
    "RetrievalResult",
    "Role",
    "SourceType",
    "StopReason",
    "StreamEnd",
    "TextDelta",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "Usage",
    "Vector",
    "exact_match",
]
