"""Options of the OpenAI API that the core's domain model does not carry, as small frozen classes.

* :class:`OpenAIChatOptions` travels in ``Request.with_options(...)``: structured output
  (:class:`JsonSchemaFormat`), seed, reasoning effort, parallel tool calls, penalties, the end-user
  id and a per-call timeout.
* :class:`OpenAIImageOptions` and :class:`OpenAIEmbeddingsOptions` *are* the core's
  :class:`~genai_commons.ImageOptions` and :class:`~genai_commons.EmbeddingsOptions` (subclasses),
  with OpenAI's extra fields; pass them wherever the host takes those options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from attrs import field, frozen

from genai_commons import EmbeddingsOptions, ImageOptions, ValidationError

__all__ = ["JsonSchemaFormat", "OpenAIChatOptions", "OpenAIEmbeddingsOptions", "OpenAIImageOptions"]

_EFFORTS = ("minimal", "low", "medium", "high")


def _positive_timeout(_instance: object, attribute: Any, value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValidationError(f"{attribute.name} must be a positive number of seconds, got {value}")


def _schema(value: Mapping[str, Any]) -> Mapping[str, Any]:
    schema = dict(value)
    if schema.get("type") != "object":
        raise ValidationError("a response format's JSON schema must be of type 'object'")
    return schema


def _penalty(_instance: object, attribute: Any, value: float | None) -> None:
    if value is not None and not -2.0 <= value <= 2.0:
        raise ValidationError(f"{attribute.name} must be between -2 and 2, got {value}")


def _effort(_instance: object, _attribute: Any, value: str | None) -> None:
    if value is not None and value not in _EFFORTS:
        raise ValidationError(f"reasoning_effort must be one of {', '.join(_EFFORTS)}, got {value!r}")


@frozen(kw_only=True)
class JsonSchemaFormat:
    """Structured output: the model answers with JSON that follows ``schema``.

    With ``strict`` (the default) OpenAI guarantees the schema; it then needs every property
    listed in ``required`` and ``"additionalProperties": false`` on every object.
    """

    name: str
    #: A JSON schema of type ``object``.
    schema: Mapping[str, Any] = field(converter=_schema)
    strict: bool = True
    description: str | None = None

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "schema": dict(self.schema), "strict": self.strict}
        if self.description is not None:
            body["description"] = self.description
        return {"type": "json_schema", "json_schema": body}


@frozen(kw_only=True)
class OpenAIChatOptions:
    """OpenAI chat options; add with ``request.with_options(OpenAIChatOptions(...))``.

    ``response_format`` is a :class:`JsonSchemaFormat`, or ``"json_object"`` (any JSON object; say
    "JSON" in the prompt) or ``"text"``. ``timeout`` (seconds) replaces the provider's ``timeout``
    setting for this call only.
    """

    response_format: JsonSchemaFormat | Literal["json_object", "text"] | None = None
    seed: int | None = None
    #: For reasoning models (o-series, gpt-5): ``minimal``, ``low``, ``medium`` or ``high``.
    reasoning_effort: str | None = field(default=None, validator=_effort)
    parallel_tool_calls: bool | None = None
    frequency_penalty: float | None = field(default=None, validator=_penalty)
    presence_penalty: float | None = field(default=None, validator=_penalty)
    #: A stable id of your end user, which helps OpenAI detect abuse (never a name or address).
    user: str | None = None
    timeout: float | None = field(default=None, validator=_positive_timeout)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.response_format, str) and self.response_format not in ("json_object", "text"):
            raise ValidationError("response_format must be a JsonSchemaFormat, 'json_object' or 'text'")

    def to_wire(self) -> dict[str, Any]:
        """The request fields these options set (``timeout`` is not one: it is the client's)."""
        body: dict[str, Any] = {}
        if isinstance(self.response_format, JsonSchemaFormat):
            body["response_format"] = self.response_format.to_wire()
        elif self.response_format is not None:
            body["response_format"] = {"type": self.response_format}
        for name in (
            "seed",
            "reasoning_effort",
            "parallel_tool_calls",
            "frequency_penalty",
            "presence_penalty",
            "user",
        ):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body


@frozen(kw_only=True)
class OpenAIImageOptions(ImageOptions):
    """:class:`~genai_commons.ImageOptions` with OpenAI's image settings.

    ``quality``: ``standard`` or ``hd`` (DALL·E 3), ``low``, ``medium``, ``high`` or ``auto``
    (gpt-image-1). ``style``: ``vivid`` or ``natural`` (DALL·E 3). ``output_format``: ``png``,
    ``jpeg`` or ``webp`` and ``background``: ``transparent``, ``opaque`` or ``auto`` (gpt-image-1).
    Unset values fall back to the model's entry in the configuration, then to OpenAI's defaults.
    """

    quality: str | None = None
    style: str | None = None
    output_format: str | None = None
    background: str | None = None
    user: str | None = None
    timeout: float | None = field(default=None, validator=_positive_timeout)


@frozen(kw_only=True)
class OpenAIEmbeddingsOptions(EmbeddingsOptions):
    """:class:`~genai_commons.EmbeddingsOptions` with an end-user id and a per-call timeout."""

    user: str | None = None
    timeout: float | None = field(default=None, validator=_positive_timeout)
