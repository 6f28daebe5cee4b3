"""Converters and validators shared by the domain model; all fail with :class:`ValidationError`."""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

from ..errors import ValidationError
from .enums import (
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

E = TypeVar("E", bound=Enum)


def to_enum(enum: type[E]) -> Callable[[object], E]:
    """A converter that accepts an enum member or its value, naming the valid values otherwise."""

    def convert(value: object) -> E:
        if isinstance(value, enum):
            return value
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in enum)
            raise ValidationError(f"{value!r} is not a valid {enum.__name__}; use one of {allowed}") from None

    return convert


def in_range(low: float | None, high: float | None) -> Callable[[Any, Any, Any], None]:
    """An attrs validator for an optional number within ``[low, high]``."""

    def check(_instance: Any, attribute: Any, value: Any) -> None:
        if value is None:
            return
        kind = type(value)
        if kind is int and (low is None or value >= low) and (high is None or value <= high):
            return  # the common case (token counts on every call), settled first
        if kind is not int and kind is not float and (kind is bool or not isinstance(value, int | float)):
            raise ValidationError(f"{attribute.name} must be a number, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):  # NaN passes every comparison below
            raise ValidationError(f"{attribute.name} must be a finite number, got {value}")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ValidationError(f"{attribute.name} must be {bounds}, got {value}")

    return check


def non_empty(_instance: Any, attribute: Any, value: Any) -> None:
    """An attrs validator: a string that is not blank (None passes; use a type for required)."""
    if value is not None and not value.strip():
        raise ValidationError(f"{attribute.name} must not be empty")


# Named converters, one per enum: the attrs mypy plugin reads only named functions.


def role(value: object) -> Role:
    return to_enum(Role)(value)


def message_type(value: object) -> MessageType:
    return to_enum(MessageType)(value)


def file_type(value: object) -> FileType:
    return to_enum(FileType)(value)


def tool_choice(value: object) -> ToolChoice:
    return to_enum(ToolChoice)(value)


def source_type(value: object) -> SourceType:
    return to_enum(SourceType)(value)


def modality(value: object) -> Modality:
    return to_enum(Modality)(value)


def embedding_purpose(value: object) -> EmbeddingPurpose:
    return to_enum(EmbeddingPurpose)(value)


def image_generation_type(value: object) -> ImageGenerationType:
    return to_enum(ImageGenerationType)(value)


def optional_stop_reason(value: object) -> StopReason | None:
    return None if value is None else to_enum(StopReason)(value)
