"""What each model can do: a maintained table of OpenAI's models, extended by the configuration.

A model id is matched against the table by its longest known prefix (``gpt-4o-2024-08-06`` is a
``gpt-4o``). Ids the table does not know get conservative defaults: a chat model that takes text,
streams and calls tools through the chat completions protocol, but reads no images or documents;
ids that say ``embed`` are embedding models. ``[providers.openai.models.ID]`` (and
``[providers.azure.deployments.NAME]``) tables override any of it; see ``docs/openai.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
from attrs import frozen

from genai_commons import ConfigurationError, DeployedModel, Modality

__all__ = ["KNOWN", "ModelSpec", "listed_remotely", "spec_for", "specs_from_settings"]

#: ``image_api`` values: which sizes and parameters the images endpoint takes.
DALL_E_2, DALL_E_3, GPT_IMAGE = "dall-e-2", "dall-e-3", "gpt-image"


@frozen(kw_only=True)
class ModelSpec:
    """One model's capabilities and the wire details the plugin needs to call it."""

    #: The id sent as ``model`` (for Azure: the deployment name, in the URL).
    wire_id: str
    display_name: str = ""
    output: Modality = Modality.TEXT
    vision: bool = False
    documents: bool = False
    tools: bool = True
    streaming: bool = True
    system_prompt: bool = True
    #: Structured output through ``response_format`` json_schema (else the host forces a tool call).
    structured_output: bool = False
    #: Reasoning models take ``max_completion_tokens`` and no temperature or top-p.
    reasoning: bool = False
    #: Known OpenAI models take ``max_completion_tokens``; other servers expect ``max_tokens``.
    max_completion_tokens: bool = False
    max_input_tokens: int | None = None
    #: Chat: the highest ``max_tokens``, and the temperature and top-p ranges, where OpenAI documents
    #: them (None: not declared, the host checks nothing; reasoning models take neither sampling value).
    max_output_tokens: int | None = None
    temperature_range: tuple[float, float] | None = None
    top_p_range: tuple[float, float] | None = None
    #: Embeddings: default vector length, whether ``dimensions`` may shorten it, most inputs per call.
    dimensions: int | None = None
    shortenable: bool = False
    max_batch_size: int | None = None
    #: Images: ``dall-e-2``, ``dall-e-3``, ``gpt-image`` or None (unknown: sizes are not checked).
    image_api: str | None = None
    #: Images: default quality and style from the configuration.
    quality: str | None = None
    style: str | None = None
    active: bool = True

    def deployed(self, provider: str, model_id: str) -> DeployedModel:
        inputs = {Modality.TEXT}
        if self.vision:
            inputs.add(Modality.IMAGE)
        if self.documents:
            inputs.add(Modality.DOCUMENT)
        chat = self.output is Modality.TEXT
        known = chat and self.temperature_range is not None  # OpenAI's own model: its formats are documented
        return DeployedModel(
            provider=provider,
            model_id=model_id,
            display_name=self.display_name or model_id,
            output_modality=self.output,
            input_modalities=inputs,
            url_input_modalities={Modality.IMAGE},  # documents go inline only
            supports_system_prompt=chat and self.system_prompt,
            supports_history=chat,
            supports_function_calling=chat and self.tools,
            supports_streaming=chat and self.streaming,
            supports_structured_output=chat and self.structured_output,
            active=self.active,
            max_batch_size=self.max_batch_size,
            max_input_tokens=self.max_input_tokens,
            dimensions=self.dimensions,
            max_output_tokens=self.max_output_tokens if chat else None,
            temperature_range=() if chat and self.reasoning else self.temperature_range,
            top_p_range=() if chat and self.reasoning else self.top_p_range,
            image_formats=OPENAI_IMAGE_FORMATS if known and self.vision else None,
            document_formats=OPENAI_DOCUMENT_FORMATS if known and self.documents else None,
        )


def _chat(
    name: str, context: int, output: int, *, vision: bool = True, reasoning: bool = False, **kw: Any
) -> ModelSpec:
    return ModelSpec(
        wire_id="",
        display_name=name,
        vision=vision,
        documents=vision,
        reasoning=reasoning,
        max_completion_tokens=True,
        max_input_tokens=context,
        max_output_tokens=output,
        structured_output=kw.pop("structured_output", True),
        **_SAMPLING,
        **kw,
    )


def _embedding(name: str, dimensions: int, *, shortenable: bool) -> ModelSpec:
    return ModelSpec(
        wire_id="",
        display_name=name,
        output=Modality.EMBEDDINGS,
        tools=False,
        streaming=False,
        dimensions=dimensions,
        shortenable=shortenable,
        max_batch_size=2048,
        max_input_tokens=8191,
    )


def _image(name: str, api: str) -> ModelSpec:
    return ModelSpec(wire_id="", display_name=name, output=Modality.IMAGE, tools=False, streaming=False, image_api=api)


#: OpenAI's sampling ranges (chat completions API reference): temperature 0 to 2, top_p 0 to 1.
_SAMPLING: Mapping[str, Any] = {"temperature_range": (0.0, 2.0), "top_p_range": (0.0, 1.0)}
#: Image inputs (vision guide: PNG, JPEG, WEBP, non-animated GIF); document inputs: PDF files.
OPENAI_IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})
OPENAI_DOCUMENT_FORMATS = frozenset({"pdf"})

#: OpenAI's models, by id; dated snapshots (``gpt-4o-2024-08-06``) match by prefix. The third
#: number is the most output tokens; an older snapshot with a lower cap is refused by OpenAI.
KNOWN: Mapping[str, ModelSpec] = {
    "gpt-5": _chat("GPT-5", 272_000, 128_000, reasoning=True),
    "gpt-5-mini": _chat("GPT-5 mini", 272_000, 128_000, reasoning=True),
    "gpt-5-nano": _chat("GPT-5 nano", 272_000, 128_000, reasoning=True),
    "gpt-4.1": _chat("GPT-4.1", 1_047_576, 32_768),
    "gpt-4.1-mini": _chat("GPT-4.1 mini", 1_047_576, 32_768),
    "gpt-4.1-nano": _chat("GPT-4.1 nano", 1_047_576, 32_768),
    "gpt-4o": _chat("GPT-4o", 128_000, 16_384),
    "gpt-4o-mini": _chat("GPT-4o mini", 128_000, 16_384),
    "o4-mini": _chat("o4-mini", 200_000, 100_000, reasoning=True),
    "o3": _chat("o3", 200_000, 100_000, reasoning=True),
    "o3-mini": _chat("o3-mini", 200_000, 100_000, vision=False, reasoning=True),
    "o1": _chat("o1", 200_000, 100_000, reasoning=True),
    "o1-mini": _chat(
        "o1-mini",
        128_000,
        65_536,
        vision=False,
        reasoning=True,
        tools=False,
        system_prompt=False,
        structured_output=False,
    ),
    # Legacy families: snapshots differ in their output caps, so none is declared.
    "gpt-4-turbo": ModelSpec(
        wire_id="", display_name="GPT-4 Turbo", vision=True, max_input_tokens=128_000, **_SAMPLING
    ),
    "gpt-4": ModelSpec(wire_id="", display_name="GPT-4", max_input_tokens=8_192, **_SAMPLING),
    "gpt-3.5-turbo": ModelSpec(wire_id="", display_name="GPT-3.5 Turbo", max_input_tokens=16_385, **_SAMPLING),
    "text-embedding-3-small": _embedding("text-embedding-3-small", 1536, shortenable=True),
    "text-embedding-3-large": _embedding("text-embedding-3-large", 3072, shortenable=True),
    "text-embedding-ada-002": _embedding("text-embedding-ada-002", 1536, shortenable=False),
    "dall-e-2": _image("DALL·E 2", DALL_E_2),
    "dall-e-3": _image("DALL·E 3", DALL_E_3),
    "gpt-image-1": _image("GPT Image 1", GPT_IMAGE),
}

#: Families of the official API that are not chat, embedding or image-generation models.
_NOT_SERVED = ("whisper", "tts", "moderation", "davinci", "babbage", "realtime", "audio", "transcribe", "sora")

_KNOWN_BY_LENGTH = sorted(KNOWN, key=len, reverse=True)
_IMAGE_HINTS = ("dall-e", "gpt-image", "stable-diffusion", "sdxl", "flux")


def _known_family(model_id: str) -> ModelSpec | None:
    lowered = model_id.lower()
    if any(word in lowered for word in _NOT_SERVED):
        return None
    for prefix in _KNOWN_BY_LENGTH:
        if lowered == prefix or lowered.startswith(prefix + "-"):
            return KNOWN[prefix]
    return None


def _default(model_id: str) -> ModelSpec:
    lowered = model_id.lower()
    if "embed" in lowered:
        return ModelSpec(wire_id=model_id, output=Modality.EMBEDDINGS, tools=False, streaming=False)
    if any(hint in lowered for hint in _IMAGE_HINTS):
        return ModelSpec(wire_id=model_id, output=Modality.IMAGE, tools=False, streaming=False)
    return ModelSpec(wire_id=model_id)


def spec_for(model_id: str, configured: Mapping[str, ModelSpec] | None = None) -> ModelSpec:
    """The spec of ``model_id``: configured, else the table's family, else conservative defaults."""
    if configured and model_id in configured:
        return configured[model_id]
    family = _known_family(model_id)
    if family is None:
        return _default(model_id)
    display = family.display_name if model_id in KNOWN else model_id
    return attrs.evolve(family, wire_id=model_id, display_name=display)


def listed_remotely(model_id: str) -> bool:
    """Whether an id from ``GET /models`` is worth listing (not speech, moderation or legacy)."""
    lowered = model_id.lower()
    return not any(word in lowered for word in _NOT_SERVED)


# -- the configuration ----------------------------------------------------------------------

_BOOLEAN_KEYS = (
    "vision", "documents", "tools", "streaming", "system_prompt", "reasoning", "structured_output", "active"
)  # fmt: skip
_INT_KEYS = ("dimensions", "max_input_tokens", "max_batch_size")
_STRING_KEYS = ("model", "display_name", "output", "quality", "style")
_KEYS = frozenset((*_BOOLEAN_KEYS, *_INT_KEYS, *_STRING_KEYS))
_OUTPUTS = {"text": Modality.TEXT, "embeddings": Modality.EMBEDDINGS, "image": Modality.IMAGE}


def _configured_spec(where: str, name: str, table: Mapping[str, Any], *, azure: bool) -> ModelSpec:
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigurationError(f"{where} has unknown keys {', '.join(unknown)}; use {', '.join(sorted(_KEYS))}")
    for key in _BOOLEAN_KEYS:
        if key in table and not isinstance(table[key], bool):
            raise ConfigurationError(f"{where} {key} must be true or false")
    for key in _INT_KEYS:
        if key in table and (isinstance(table[key], bool) or not isinstance(table[key], int) or table[key] < 1):
            raise ConfigurationError(f"{where} {key} must be a whole number of at least 1")
    for key in _STRING_KEYS:
        if key in table and not isinstance(table[key], str):
            raise ConfigurationError(f"{where} {key} must be a string")
    base_model = table.get("model") or name
    spec = spec_for(base_model)
    # For OpenAI, `model` is the id sent on the wire (an alias); for Azure the URL names the deployment.
    changes: dict[str, Any] = {"wire_id": name if azure else base_model}
    changes["display_name"] = table.get("display_name") or (name if azure or base_model != name else spec.display_name)
    if "output" in table:
        if table["output"] not in _OUTPUTS:
            raise ConfigurationError(f"{where} output must be one of {', '.join(_OUTPUTS)}")
        changes["output"] = _OUTPUTS[table["output"]]
    for key in (*_BOOLEAN_KEYS, *_INT_KEYS, "quality", "style"):
        if key in table:
            changes[key] = table[key]
    return attrs.evolve(spec, **changes)


def specs_from_settings(provider: str, section: str, tables: Any, *, azure: bool = False) -> dict[str, ModelSpec]:
    """``[providers.PROVIDER.SECTION.NAME]`` tables as specs, by name; wrong keys or types fail."""
    if tables is None:
        return {}
    if not isinstance(tables, Mapping):
        raise ConfigurationError(f"[providers.{provider}] {section} must be a table of tables")
    specs: dict[str, ModelSpec] = {}
    for name, table in tables.items():
        where = f"[providers.{provider}.{section}.{name}]"
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"{where} must be a table")
        specs[str(name)] = _configured_spec(where, str(name), table, azure=azure)
    return specs


def deployed_models(provider: str, specs: Iterable[tuple[str, ModelSpec]]) -> list[DeployedModel]:
    return [spec.deployed(provider, model_id) for model_id, spec in specs]
