"""The enumerations of GenAI Commons, with Pythonic names.

Each maps to an ``ENUM_*`` of the reference document; values are lower-case strings so that the
JSON form stays readable and stable.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Author of a message (``ENUM_MessageRole``)."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"


class MessageType(StrEnum):
    """How a message is interpreted (``ENUM_MessageType``): plain text, or text with files."""

    TEXT = "text"
    FILE = "file"


class ContentType(StrEnum):
    """How a file's data is carried (``ENUM_ContentType``): a URL or base64-encoded bytes."""

    URL = "url"
    BASE64 = "base64"


class FileType(StrEnum):
    """Kind of a file attached to a message (``ENUM_FileType``)."""

    IMAGE = "image"
    DOCUMENT = "document"


class ToolChoice(StrEnum):
    """Which tool, if any, the model calls (``ENUM_ToolChoice``).

    ``ANY`` forces some tool call (OpenAI's ``required``); ``TOOL`` forces the tool named by
    :attr:`Request.tool_choice_name`.
    """

    AUTO = "auto"
    NONE = "none"
    ANY = "any"
    TOOL = "tool"


class SourceType(StrEnum):
    """How a :class:`Reference`'s source is interpreted (``ENUM_SourceType``)."""

    URL = "url"
    #: A location that is not a web URL, such as ``s3://bucket/key`` or a file path.
    LOCATION = "location"


class ImageGenerationType(StrEnum):
    """Kind of image generation (``ENUM_ImageGenerationType``)."""

    TEXT_TO_IMAGE = "text_to_image"


class Modality(StrEnum):
    """A kind of information a model accepts or returns (input and output modalities)."""

    TEXT = "text"
    IMAGE = "image"
    DOCUMENT = "document"
    AUDIO = "audio"
    VIDEO = "video"
    EMBEDDINGS = "embeddings"
    #: Relevance scores of candidate texts for a query: the output of a rerank model.
    RERANK = "rerank"
    OTHER = "other"


class StopReason(StrEnum):
    """Why the model stopped generating, normalised across providers.

    The provider's own value is kept in :attr:`Response.provider_stop_reason`.
    """

    END_TURN = "end_turn"
    MAX_TOKENS = "max_tokens"
    STOP_SEQUENCE = "stop_sequence"
    TOOL_USE = "tool_use"
    CONTENT_FILTERED = "content_filtered"
    OTHER = "other"


class EmbeddingPurpose(StrEnum):
    """What embedded text is for; models such as Cohere Embed encode the two differently."""

    DOCUMENT = "document"
    QUERY = "query"


class Capability(StrEnum):
    """A capability a provider plugin may offer; each is one group of hooks."""

    CHAT = "chat"
    CHAT_STREAM = "chat_stream"
    EMBED = "embed"
    IMAGE = "image"
    RETRIEVE = "retrieve"
    INGEST = "ingest"
    AGENT = "agent"
    RERANK = "rerank"


class SearchType(StrEnum):
    """How a retrieval ranks chunks.

    ``similarity`` of the chunks found: the cosine similarity for ``vector``; for ``keyword`` the
    BM25 score ``s`` mapped to ``s / (s + 10)`` (0 to 1, see
    :func:`genai_commons.knowledge.fusion.keyword_similarity`); for ``hybrid`` the larger of the
    two (of those the backend knows). ``min_similarity`` applies to that number.
    """

    #: Nearest neighbours of the query's embedding.
    VECTOR = "vector"
    #: Full-text search of the query's words, ranked by BM25; nothing is embedded.
    KEYWORD = "keyword"
    #: Both rankings fused (:mod:`genai_commons.knowledge.fusion`, or the backend's own hybrid search).
    HYBRID = "hybrid"

    @property
    def capability(self) -> str:
        """The capability in words, as :class:`UnsupportedCapabilityError` names it (``"hybrid search"``)."""
        return f"{self.value} search"
