"""Checks of a call against the target's declared capabilities, before any network call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .declarations import check_formats, check_parameters, declares_parameters
from .errors import UnsupportedCapabilityError
from .model.enums import Capability, FileType, Modality

if TYPE_CHECKING:
    from .model import DeployedModel, ProviderInfo, Request

_WORDS = {
    Capability.CHAT: "chat",
    Capability.CHAT_STREAM: "streaming chat",
    Capability.EMBED: "embeddings",
    Capability.IMAGE: "image generation",
    Capability.RETRIEVE: "knowledge-base retrieval",
    Capability.INGEST: "knowledge-base ingestion",
    Capability.AGENT: "agents",
    Capability.RERANK: "reranking",
}


def require_provider_capability(info: ProviderInfo, capability: Capability) -> None:
    if capability not in info.capabilities:
        offered = ", ".join(sorted(_WORDS[c] for c in info.capabilities)) or "nothing"
        raise UnsupportedCapabilityError(
            f"provider {info.name!r} does not offer {_WORDS[capability]} (it offers: {offered})",
            target=info.name,
            capability=_WORDS[capability],
        )


def require_output(model: DeployedModel, modality: Modality, operation: str) -> None:
    if model.output_modality is not modality:
        raise UnsupportedCapabilityError(
            f"model {model.ref} produces {model.output_modality.value}, so it cannot be used for "
            f"{operation}; choose a model whose output is {modality.value} (see `genai models`)",
            target=model.ref,
            capability=f"{modality.value} output",
        )


def _missing(model: DeployedModel, capability: str, advice: str) -> UnsupportedCapabilityError:
    return UnsupportedCapabilityError(
        f"model {model.ref} does not support {capability}; {advice}", target=model.ref, capability=capability
    )


def check_chat(model: DeployedModel, request: Request, *, stream: bool = False) -> None:
    """Fail with a clear error when ``request`` needs something ``model`` does not declare."""
    check_model(model, Modality.TEXT, "chat")
    if not request.messages:
        raise UnsupportedCapabilityError(
            "the request has no messages; add at least one user message", target=model.ref, capability="chat"
        )
    if request.has_system_prompt and not model.supports_system_prompt:
        raise _missing(model, "system prompts", "move the instructions into the user message")
    if request.has_history and not model.supports_history:
        raise _missing(model, "conversation history", "send a single user message")
    if request.tools and not model.supports_function_calling:
        raise _missing(model, "function calling", "remove the tools or choose a model with tool use")
    file_types = request.file_types()
    if FileType.IMAGE in file_types and Modality.IMAGE not in model.input_modalities:
        raise _missing(model, "image input (vision)", "remove the images or choose a vision model")
    if FileType.DOCUMENT in file_types and Modality.DOCUMENT not in model.input_modalities:
        raise _missing(model, "document input", "remove the documents or choose a model that reads them")
    if stream and not model.supports_streaming:
        raise _missing(model, "streaming", "call without streaming")
    # The model's declared parameter ranges and file formats (see declarations.py).
    if declares_parameters(model):
        check_parameters(model, request)
    if file_types:
        check_formats(model, request)


def check_model(model: DeployedModel, modality: Modality, operation: str) -> None:
    """Fail unless ``model`` is active and produces ``modality``."""
    require_output(model, modality, operation)
    if not model.active:
        raise _missing(model, "calls", "it is marked inactive in the configuration")
