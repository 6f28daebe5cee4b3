"""``-o KEY=VALUE`` of ``genai chat``: provider options, checked by the provider's own classes.

A provider names its chat option classes in ``Provider.option_classes()`` (OpenAI:
``OpenAIChatOptions``; Bedrock: ``ClaudeOptions`` and ``GuardrailOptions``). Each KEY names a field
of one of them; VALUE is read as JSON when it is JSON (``42``, ``true``, ``["a"]``) and as text
otherwise. The option objects are built through the domain model's converter, so a wrong type or
a value the class refuses is a usage error naming the option.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import attrs
import click

from ._state import CliState

__all__ = ["provider_options"]

_HINT = "'-o' / '--option'"


_TEXT_TYPES = (str, str | None)


def _value(text: str, field_type: Any) -> Any:
    """``text`` as JSON, unless the field takes text (``-o user=1234`` is the string ``"1234"``)."""
    if field_type in _TEXT_TYPES:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def provider_options(state: CliState, model: str, pairs: Iterable[str]) -> tuple[Any, ...]:
    """The option objects that ``KEY=VALUE`` pairs stand for, for the provider of ``model``."""
    from ..errors import ValidationError  # noqa: PLC0415
    from ..serialization import structure  # noqa: PLC0415 - the converter loads on first use

    provider = state.host.model(model).provider
    plugin = state.host.plugin_manager.get_plugin(provider)
    declared = getattr(plugin, "option_classes", None)
    classes: tuple[type, ...] = tuple(declared()) if callable(declared) else ()
    if not classes:
        raise click.BadParameter(f"provider {provider!r} takes no options", param_hint=_HINT)
    fields = {name: cls for cls in reversed(classes) for name in attrs.fields_dict(cls)}
    for cls in classes:
        attrs.resolve_types(cls)
    grouped: dict[type, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=_HINT)
        owner = fields.get(key)
        if owner is None:
            raise click.BadParameter(
                f"{key!r} is not an option of provider {provider!r}; its options are {', '.join(sorted(fields))}",
                param_hint=_HINT,
            )
        grouped.setdefault(owner, {})[key] = _value(text, attrs.fields_dict(owner)[key].type)
    options: list[Any] = []
    for cls, data in grouped.items():
        try:
            options.append(structure(data, cls))
        except ValidationError as exc:
            raise click.BadParameter(str(exc), param_hint=_HINT) from None
    return tuple(options)
