"""What providers offer: ``DeployedModel``, knowledge bases, agents and provider descriptions."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from attrs import field, frozen

from ..errors import ValidationError
from ._validators import in_range, modality, non_empty, to_enum
from .enums import Capability, Modality, SearchType
from .files import format_name


def _modalities(value: Iterable[Modality | str]) -> frozenset[Modality]:
    convert = to_enum(Modality)
    return frozenset(convert(v) for v in value)


def _capabilities(value: Iterable[Capability | str]) -> frozenset[Capability]:
    convert = to_enum(Capability)
    return frozenset(convert(v) for v in value)


def _search_types(value: Iterable[SearchType | str]) -> frozenset[SearchType]:
    convert = to_enum(SearchType)
    return frozenset(convert(v) for v in value)


def _parameter_range(value: Iterable[float] | None) -> tuple[float, ...] | None:
    """``(low, high)`` as floats, ``()`` (takes none) or None (not declared)."""
    if value is None:
        return None
    bounds = tuple(value)
    if bounds == ():
        return ()
    if len(bounds) != 2 or any(isinstance(b, bool) or not isinstance(b, int | float) for b in bounds):
        raise ValidationError(f"a parameter range is (low, high), or () for none; got {bounds!r}")
    low, high = float(bounds[0]), float(bounds[1])
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise ValidationError(f"a parameter range needs finite bounds with low <= high; got {bounds!r}")
    return (low, high)


def _formats(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise ValidationError(f"formats are a set of names such as {{'png', 'jpeg'}}, not one string {value!r}")
    return frozenset(format_name(str(v)) for v in value)


def _declared_formats(_instance: object, attribute: Any, value: frozenset[str] | None) -> None:
    if value is not None and not value:
        raise ValidationError(
            f"{attribute.name} is empty; leave it None (not declared) or leave the modality out of input_modalities"
        )


def _check_provider_name(_instance: object, _attribute: object, value: str) -> None:
    if not value or ":" in value or value != value.strip():
        raise ValidationError(f"provider name {value!r} must be non-empty, without ':' or surrounding spaces")


@frozen(kw_only=True)
class DeployedModel:
    """A model the host can invoke, with its declared capabilities (``DeployedModel``).

    ``provider`` (the seed's *Architecture*) names the plugin that owns the model; the host routes
    every call on this model to that plugin. The reference ``provider:model_id`` names it on the
    command line.
    """

    provider: str = field(validator=_check_provider_name)
    model_id: str = field(validator=non_empty)
    display_name: str = field(default="", converter=str)
    output_modality: Modality = field(default=Modality.TEXT, converter=modality)
    input_modalities: frozenset[Modality] = field(default=frozenset({Modality.TEXT}), converter=_modalities)
    supports_system_prompt: bool = True
    supports_history: bool = True
    supports_function_calling: bool = False
    supports_streaming: bool = False
    #: The provider honours ``Request.output_schema`` itself (OpenAI's ``response_format``, Bedrock's
    #: ``outputConfig``). Without it the host asks a model with function calling for a forced tool
    #: call whose arguments are the answer; a model with neither is refused a schema.
    supports_structured_output: bool = False
    #: The input modalities (image, document) the provider's API reads from ``http(s)`` URLs itself.
    #: A URL file of another modality is downloaded by the host when ``[files] fetch_urls`` allows
    #: it, and refused otherwise.
    url_input_modalities: frozenset[Modality] = field(
        default=frozenset({Modality.IMAGE, Modality.DOCUMENT}), converter=_modalities
    )
    #: Usable with the current credentials and the user's preferences (``IsActive``).
    active: bool = True
    #: Lifecycle status as the provider reports it (``ACTIVE``, ``LEGACY``), when it does.
    lifecycle: str | None = None
    #: Embedding models: the most texts one call takes, when the provider limits it.
    max_batch_size: int | None = field(default=None, validator=in_range(1, None))
    #: The most tokens one input may have (the context window for chat models), when known.
    max_input_tokens: int | None = field(default=None, validator=in_range(1, None))
    #: Embedding models: the length of the vectors they return by default, when known.
    dimensions: int | None = field(default=None, validator=in_range(1, None))
    # -- what a chat request may ask of the model; None declares nothing (anything goes) ------
    #: Chat models: the temperatures it takes, ``(low, high)``; ``()`` when it takes none.
    temperature_range: tuple[float, ...] | None = field(default=None, converter=_parameter_range)
    #: Chat models: the ``top_p`` values it takes, ``(low, high)``; ``()`` when it takes none.
    top_p_range: tuple[float, ...] | None = field(default=None, converter=_parameter_range)
    #: Chat models: the most tokens one answer may have (the highest ``max_tokens``).
    max_output_tokens: int | None = field(default=None, validator=in_range(1, None))
    #: Chat models: the image formats it reads, by :attr:`FileContent.format` (``png``, ``jpeg``).
    image_formats: frozenset[str] | None = field(default=None, converter=_formats, validator=_declared_formats)
    #: Chat models: the document formats it reads (``pdf``, ``docx``, ``md``, …).
    document_formats: frozenset[str] | None = field(default=None, converter=_formats, validator=_declared_formats)

    def __attrs_post_init__(self) -> None:
        if not self.display_name:
            object.__setattr__(self, "display_name", self.model_id)

    @property
    def ref(self) -> str:
        """``provider:model_id``, the reference the CLI and :meth:`Host.model` accept."""
        return f"{self.provider}:{self.model_id}"


@frozen(kw_only=True)
class KnowledgeBase:
    """A knowledge base the host can retrieve from and ingest into (the seed's ``Connection``).

    :param collection: the collection (index) inside the provider's store; collections are
        isolated from each other.
    :param embedding_model: the model that embeds its chunks and queries, when the host embeds
        (a provider that embeds server-side leaves it None).
    """

    provider: str = field(validator=_check_provider_name)
    name: str = field(validator=non_empty)
    collection: str = field(default="", converter=str)
    embedding_model: DeployedModel | None = None
    description: str | None = None

    def __attrs_post_init__(self) -> None:
        if not self.collection:
            object.__setattr__(self, "collection", self.name)

    @property
    def ref(self) -> str:
        return f"{self.provider}:{self.name}"


@frozen(kw_only=True)
class Agent:
    """An agent a provider hosts (Bedrock Agents: the agent id and alias id)."""

    provider: str = field(validator=_check_provider_name)
    agent_id: str = field(validator=non_empty)
    alias_id: str | None = None
    display_name: str = field(default="", converter=str)

    def __attrs_post_init__(self) -> None:
        if not self.display_name:
            object.__setattr__(self, "display_name", self.agent_id)

    @property
    def ref(self) -> str:
        return f"{self.provider}:{self.agent_id}"


@frozen(kw_only=True)
class ProviderInfo:
    """A provider a plugin offers, and the capabilities it implements."""

    name: str = field(validator=_check_provider_name)
    capabilities: frozenset[Capability] = field(converter=_capabilities)
    description: str = ""
    version: str | None = None
    #: The search types its retrievals honour (see :class:`SearchType`); the host refuses others
    #: before calling, and runs a query that names none with ``[knowledge] search_type`` only when
    #: it is here (``vector`` otherwise).
    search_types: frozenset[SearchType] = field(default=frozenset({SearchType.VECTOR}), converter=_search_types)
