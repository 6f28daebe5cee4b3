"""Checks of a chat request against what its model declares it takes: the ranges of
``temperature``, ``top_p`` and ``max_tokens``, and the formats of its images and documents.

The host runs them before any call reaches the provider (:func:`check_parameters` from
:func:`~genai_commons.capabilities.check_chat`, :func:`check_formats` there and again after it
downloads file URLs). A model that declares nothing (every field None) takes anything the
:class:`~genai_commons.model.Request` itself allows; a file whose format cannot be told is left to
the provider.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import UnsupportedCapabilityError, ValidationError
from .model.enums import FileType

if TYPE_CHECKING:
    from .model import DeployedModel, Request


def declares_parameters(model: DeployedModel) -> bool:
    """Whether ``model`` declares any parameter range (a few attribute reads)."""
    return not (model.temperature_range is None and model.top_p_range is None and model.max_output_tokens is None)


def check_parameters(model: DeployedModel, request: Request) -> None:
    """Fail unless ``request``'s temperature, top_p and max_tokens are within the model's ranges."""
    _check_range(model, "temperature", request.temperature, model.temperature_range)
    _check_range(model, "top_p", request.top_p, model.top_p_range)
    most = model.max_output_tokens
    if most is not None and request.max_tokens is not None and request.max_tokens > most:
        raise ValidationError(
            f"model {model.ref} writes at most {most} output tokens, got max_tokens={request.max_tokens}; "
            f"lower max_tokens to {most} or less"
        )


def _check_range(model: DeployedModel, name: str, value: float | None, bounds: tuple[float, ...] | None) -> None:
    if value is None or bounds is None:
        return
    if not bounds:
        raise UnsupportedCapabilityError(
            f"model {model.ref} takes no {name}: it sets its own (reasoning models do); leave {name} unset",
            target=model.ref,
            capability=name,
        )
    low, high = bounds
    if not low <= value <= high:
        raise ValidationError(
            f"model {model.ref} takes {name} from {low:g} to {high:g}, got {value:g}; "
            f"pass a value in that range or leave {name} unset"
        )


def declares_formats(model: DeployedModel) -> bool:
    """Whether ``model`` declares the image or document formats it reads."""
    return not (model.image_formats is None and model.document_formats is None)


def check_formats(model: DeployedModel, request: Request) -> None:
    """Fail when an image or document of ``request`` has a format the model does not read."""
    if not declares_formats(model):
        return
    for message in request.messages:
        if message.files is None:
            continue
        for file in message.files:
            is_image = file.file_type is FileType.IMAGE
            accepted = model.image_formats if is_image else model.document_formats
            if accepted is None:
                continue
            found = file.format
            if found is not None and found not in accepted:
                kind = "image" if is_image else "document"
                raise ValidationError(
                    f"model {model.ref} does not read {kind}s in format {found!r}; it reads "
                    f"{', '.join(sorted(accepted))}: convert the {kind} to one of these or choose another model"
                )
