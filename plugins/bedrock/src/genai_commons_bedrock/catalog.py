"""The model catalogue: ListFoundationModels (with the seed's filters) mapped to ``DeployedModel``,
models named by id alone, and the built-in list shown when Bedrock cannot be asked."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from genai_commons import DeployedModel, Modality
from genai_commons.formats.converse import DOCUMENT_FORMAT_NAMES, IMAGE_FORMAT_NAMES, SAMPLING_RANGE

from .errors import PROVIDER, translated_errors
from .families import Family, Kind, base_model_id, family_of
from .settings import ModelEntry

_OUTPUT = {"TEXT": Modality.TEXT, "IMAGE": Modality.IMAGE, "EMBEDDING": Modality.EMBEDDINGS,
           "VIDEO": Modality.VIDEO, "SPEECH": Modality.AUDIO, "AUDIO": Modality.AUDIO}  # fmt: skip
_KIND_OUTPUT = {Kind.CHAT: Modality.TEXT, Kind.EMBED: Modality.EMBEDDINGS, Kind.IMAGE: Modality.IMAGE,
                Kind.RERANK: Modality.RERANK}  # fmt: skip

#: Well-known on-demand models, shown by ``genai models`` when Bedrock cannot be asked.
BUILT_IN: tuple[tuple[str, str], ...] = (
    ("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku"),
    ("anthropic.claude-3-5-haiku-20241022-v1:0", "Claude 3.5 Haiku"),
    ("anthropic.claude-3-5-sonnet-20240620-v1:0", "Claude 3.5 Sonnet"),
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "Claude 3.5 Sonnet v2"),
    ("amazon.nova-micro-v1:0", "Nova Micro"),
    ("amazon.nova-lite-v1:0", "Nova Lite"),
    ("amazon.nova-pro-v1:0", "Nova Pro"),
    ("amazon.titan-text-express-v1", "Titan Text G1 - Express"),
    ("meta.llama3-8b-instruct-v1:0", "Llama 3 8B Instruct"),
    ("meta.llama3-1-70b-instruct-v1:0", "Llama 3.1 70B Instruct"),
    ("mistral.mistral-large-2402-v1:0", "Mistral Large (24.02)"),
    ("mistral.mistral-7b-instruct-v0:2", "Mistral 7B Instruct"),
    ("cohere.command-r-plus-v1:0", "Command R+"),
    ("cohere.command-r-v1:0", "Command R"),
    ("amazon.titan-embed-text-v2:0", "Titan Text Embeddings V2"),
    ("amazon.titan-embed-text-v1", "Titan Embeddings G1 - Text"),
    ("cohere.embed-english-v3", "Embed English"),
    ("cohere.embed-multilingual-v3", "Embed Multilingual"),
    ("amazon.titan-image-generator-v2:0", "Titan Image Generator G1 v2"),
    ("amazon.titan-image-generator-v1", "Titan Image Generator G1"),
    ("amazon.nova-canvas-v1:0", "Nova Canvas"),
    ("amazon.rerank-v1:0", "Rerank 1.0"),
    ("cohere.rerank-v3-5:0", "Rerank 3.5"),
)


def _inputs(family: Family, vision: bool) -> frozenset[Modality]:
    inputs = {Modality.TEXT}
    if vision:
        inputs.add(Modality.IMAGE)
    if family.documents:
        inputs.add(Modality.DOCUMENT)
    return frozenset(inputs)


def _declared(family: Family, vision: bool) -> dict[str, Any]:
    """What a chat model declares of Converse: sampling ranges and the formats of what it reads."""
    return {
        "temperature_range": SAMPLING_RANGE,
        "top_p_range": SAMPLING_RANGE,
        "image_formats": IMAGE_FORMAT_NAMES if vision else None,
        "document_formats": DOCUMENT_FORMAT_NAMES if family.documents else None,
    }


def model_for_id(model_id: str, *, display_name: str | None = None, like: str | None = None) -> DeployedModel:
    """A model known by id alone (an inference profile, an ARN, a configured id): its capabilities
    come from its family (or from the family of ``like``)."""
    family = family_of(like or model_id)
    output = _KIND_OUTPUT.get(family.kind, Modality.OTHER)
    chat = family.kind is Kind.CHAT
    return DeployedModel(
        provider=PROVIDER,
        model_id=model_id,
        display_name=display_name or "",
        output_modality=output,
        input_modalities=_inputs(family, family.vision) if chat else {Modality.TEXT},
        supports_system_prompt=family.system if chat else False,
        supports_history=chat,
        url_input_modalities=(),  # Converse reads inline bytes and s3:// only
        supports_function_calling=family.tools if chat else False,
        supports_streaming=family.streaming if chat else False,
        active=family.kind is not Kind.OTHER,
        **(_declared(family, family.vision) if chat else {}),
    )


def model_from_summary(summary: Mapping[str, Any], display_name: str | None = None) -> DeployedModel:
    """A ``FoundationModelSummary`` of ListFoundationModels as a deployed model."""
    model_id = summary["modelId"]
    family = family_of(model_id)
    outputs = [_OUTPUT.get(m, Modality.OTHER) for m in summary.get("outputModalities", ())]
    output: Modality
    for preferred in (Modality.TEXT, Modality.EMBEDDINGS, Modality.IMAGE):
        if preferred in outputs:
            output = preferred
            break
    else:
        output = outputs[0] if outputs else _KIND_OUTPUT.get(family.kind, Modality.OTHER)
    if family.kind is Kind.RERANK:  # listed with TEXT output, but called through Rerank only
        output = Modality.RERANK
    chat = output is Modality.TEXT and family.kind is Kind.CHAT
    vision = "IMAGE" in summary.get("inputModalities", ())
    callable_ = _KIND_OUTPUT.get(family.kind) is output
    return DeployedModel(
        provider=PROVIDER,
        model_id=model_id,
        display_name=display_name or summary.get("modelName") or "",
        output_modality=output,
        input_modalities=_inputs(family, vision) if chat else {Modality.TEXT},
        supports_system_prompt=family.system if chat else False,
        supports_history=chat,
        url_input_modalities=(),  # Converse reads inline bytes and s3:// only
        supports_function_calling=family.tools if chat else False,
        supports_streaming=bool(summary.get("responseStreamingSupported", family.streaming)) if chat else False,
        active=callable_,
        lifecycle=summary.get("modelLifecycle", {}).get("status"),
        **(_declared(family, vision) if chat else {}),
    )


def list_foundation_models(client: Any, filters: Mapping[str, str], *, region: str | None) -> list[DeployedModel]:
    """ListFoundationModels with ``filters`` (``byProvider``, ``byCustomizationType``,
    ``byOutputModality``, ``byInferenceType``), as deployed models sorted by id."""
    with translated_errors(region=region):
        answer = client.list_foundation_models(**filters)
    models = [model_from_summary(summary) for summary in answer.get("modelSummaries", ())]
    return sorted(models, key=lambda m: m.model_id)


def configured(entries: Iterable[ModelEntry], listed: Mapping[str, DeployedModel] | None) -> list[DeployedModel]:
    """The models of the ``models`` setting, described by the listing where it has them."""
    out = []
    for entry in entries:
        found = None if listed is None else listed.get(entry.model_id) or listed.get(base_model_id(entry.model_id))
        if found is not None and entry.like is None:
            display_name = entry.display_name or found.display_name
            out.append(attrs.evolve(found, model_id=entry.model_id, display_name=display_name))
        else:
            out.append(model_for_id(entry.model_id, display_name=entry.display_name, like=entry.like))
    return out


def built_in() -> list[DeployedModel]:
    return [model_for_id(model_id, display_name=name) for model_id, name in BUILT_IN]


def warn_about_lifecycle(
    models: Iterable[DeployedModel], listed: Mapping[str, DeployedModel], *, complete: bool
) -> list[str]:
    """Log a warning for each configured model that Bedrock lists as LEGACY, or (when ``listed`` is
    the unfiltered list) does not list in this region; returns the ids of the LEGACY ones."""
    warned = []
    for model in models:
        if model.lifecycle == "LEGACY":
            _log().warning(
                "model_is_legacy",
                model_id=model.model_id,
                advice="Bedrock marks this model LEGACY: it reaches end of life soon; move to its successor",
            )
            warned.append(model.model_id)
        elif complete and not model.model_id.startswith("arn:") and base_model_id(model.model_id) not in listed:
            _log().warning(
                "model_not_listed",
                model_id=model.model_id,
                advice="ListFoundationModels does not list this model in the region: it may be unavailable or retired",
            )
    return warned


def _log() -> Any:
    from genai_commons import get_logger  # noqa: PLC0415 - quiet by default: warnings to stderr

    return get_logger(__name__)
