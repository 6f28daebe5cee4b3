"""Model families: what each kind of Bedrock model can take, known from its model id alone.

ListFoundationModels tells modalities and streaming, but not what the Converse API supports per
family (system prompts, tool use, documents); this table does, after AWS's "Supported models and
model features" page. Pure data and functions, no I/O.
"""

from __future__ import annotations

import re
from enum import StrEnum

from attrs import frozen


class Kind(StrEnum):
    """How the plugin calls a family."""

    CHAT = "chat"  # Converse / ConverseStream
    EMBED = "embed"  # InvokeModel, an embeddings body
    IMAGE = "image"  # InvokeModel, an image-generation body
    RERANK = "rerank"  # Rerank (bedrock-agent-runtime)
    OTHER = "other"  # listed, not callable through the core's operations


class Wire(StrEnum):
    """The InvokeModel body shape of an embedding or image family."""

    TITAN_EMBED_V1 = "titan-embed-v1"
    TITAN_EMBED_V2 = "titan-embed-v2"
    COHERE_EMBED_V3 = "cohere-embed-v3"
    COHERE_EMBED_V4 = "cohere-embed-v4"
    TITAN_IMAGE = "titan-image"
    NOVA_CANVAS = "nova-canvas"


@frozen(kw_only=True)
class Family:
    """One family of models and the Converse features it supports."""

    name: str
    kind: Kind = Kind.CHAT
    system: bool = True
    tools: bool = False
    vision: bool = False
    documents: bool = False
    streaming: bool = True
    wire: Wire | None = None


def _chat(
    name: str,
    *,
    system: bool = True,
    tools: bool = False,
    vision: bool = False,
    documents: bool = False,
    streaming: bool = True,
) -> Family:
    return Family(name=name, system=system, tools=tools, vision=vision, documents=documents, streaming=streaming)


# First match wins: specific patterns before general ones. Matched against the base model id
# (no inference-profile region prefix, no ARN).
_RULES: tuple[tuple[re.Pattern[str], Family], ...] = tuple(
    (re.compile(pattern), family)
    for pattern, family in (
        (r"^anthropic\.claude-(v1|v2|instant)", _chat("claude-2", documents=True)),
        (r"^anthropic\.claude", _chat("claude-3", tools=True, vision=True, documents=True)),
        (r"^amazon\.nova-micro", _chat("nova-micro", tools=True)),
        (r"^amazon\.nova-(premier|pro|lite)", _chat("nova", tools=True, vision=True, documents=True)),
        (r"^amazon\.nova-canvas", Family(name="nova-canvas", kind=Kind.IMAGE, wire=Wire.NOVA_CANVAS)),
        (
            r"^amazon\.titan-image-generator",
            Family(name="titan-image", kind=Kind.IMAGE, wire=Wire.TITAN_IMAGE),
        ),
        (
            r"^amazon\.titan-embed-text-v2",
            Family(name="titan-embed-v2", kind=Kind.EMBED, wire=Wire.TITAN_EMBED_V2),
        ),
        (
            r"^amazon\.titan-embed-(text-v1|g1-text)",
            Family(name="titan-embed-v1", kind=Kind.EMBED, wire=Wire.TITAN_EMBED_V1),
        ),
        (r"^amazon\.titan-text-premier", _chat("titan-text-premier", system=False, documents=True)),
        (r"^amazon\.(titan-text|titan-tg1)", _chat("titan-text", system=False)),
        (r"^meta\.llama3-2-(11b|90b)", _chat("llama-3.2-vision", tools=True, vision=True, documents=True)),
        (r"^meta\.llama3-2-(1b|3b)", _chat("llama-3.2", documents=True)),
        (r"^meta\.llama4", _chat("llama-4", tools=True, vision=True, documents=True)),
        (r"^meta\.llama3-(1|3)", _chat("llama-3.1", tools=True, documents=True)),
        (r"^meta\.llama", _chat("llama", documents=True)),
        (r"^mistral\.pixtral", _chat("pixtral", tools=True, vision=True, documents=True)),
        (r"^mistral\.mistral-(large|small)", _chat("mistral-large", tools=True, documents=True)),
        (r"^mistral\.", _chat("mistral-instruct", system=False, documents=True)),
        (
            r"^cohere\.embed-(english|multilingual)-v3",
            Family(name="cohere-embed-v3", kind=Kind.EMBED, wire=Wire.COHERE_EMBED_V3),
        ),
        (
            r"^cohere\.embed-v4",
            Family(name="cohere-embed-v4", kind=Kind.EMBED, wire=Wire.COHERE_EMBED_V4),
        ),
        (r"^cohere\.command-r", _chat("command-r", tools=True, documents=True)),
        (r"^cohere\.command", _chat("command", system=False, documents=True)),
        (r"^ai21\.jamba-1-5", _chat("jamba-1.5", tools=True, documents=True)),
        (r"^ai21\.jamba", _chat("jamba")),
        (r"^ai21\.j2", _chat("jurassic-2", system=False, streaming=False)),
        (r"^deepseek\.", _chat("deepseek", documents=True)),
        (r"^writer\.", _chat("palmyra", tools=True, documents=True)),
        (r"^(amazon|cohere)\.rerank", Family(name="rerank", kind=Kind.RERANK, system=False, streaming=False)),
        (r"^amazon\.titan-embed", Family(name="unsupported-embed", kind=Kind.OTHER)),
        (r"^(stability|luma|amazon\.nova-(reel|sonic)|twelvelabs)\.?", Family(name="unsupported", kind=Kind.OTHER)),
    )
)

#: Features of a text model the table does not know: plain chat with a system prompt.
DEFAULT = _chat("unknown")

_PROFILE_PREFIX = re.compile(r"^(us|eu|apac|us-gov|global|jp|au|ca)\.")


def base_model_id(model_id: str) -> str:
    """The foundation model id inside an inference-profile id or ARN (``us.anthropic.x`` ->
    ``anthropic.x``); other ids unchanged."""
    if model_id.startswith("arn:"):
        model_id = model_id.rsplit("/", 1)[-1]
    return _PROFILE_PREFIX.sub("", model_id)


def family_of(model_id: str) -> Family:
    """The family of a model id, inference-profile id or ARN; :data:`DEFAULT` when unknown."""
    base = base_model_id(model_id)
    for pattern, family in _RULES:
        if pattern.search(base):
            return family
    return DEFAULT


def is_claude(model_id: str) -> bool:
    return base_model_id(model_id).startswith("anthropic.claude")
