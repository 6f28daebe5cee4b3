"""A plugin's ``[providers.NAME]`` table as a typed class, checked like the core's own sections.

A plugin declares its settings as a frozen attrs class, each field's type and default its
setting's, with :func:`setting` for an environment variable that wins over the file::

    @frozen(kw_only=True)
    class ParrotSettings:
        api_key: Secret | None = setting(default=None, env="PARROT_API_KEY")
        base_url: str = setting(default="https://api.parrot.invalid", env="PARROT_BASE_URL")
        timeout: float = 30.0

    class ParrotProvider(Provider):
        settings_class = ParrotSettings  # checked when the host configures the provider

then reads ``self.typed_settings`` (or calls ``settings.typed(ParrotSettings)`` itself). What the
file says is taken as written — a string is not a number, ``"false"`` not a boolean — and a key
the class does not have is refused, as in the core's sections, with one line that names the file
and the key (``api_kye`` is not silently ignored). An environment variable is a string, read as
the field's type (``"2.5"`` a float, ``"true"`` a boolean). ``str``, ``int``, ``float``, ``bool``,
:class:`~genai_commons.config.Secret`, ``tuple[str, ...]`` (a list in the file, commas in the
environment), tables as ``Mapping[str, Any]``, and any of those or None are understood.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs

from .config import HOST_PROVIDER_KEYS, Secret, parse_bool
from .errors import ConfigurationError

__all__ = ["setting", "typed_settings"]

T = TypeVar("T")

#: The metadata key of a field's environment variable.
ENV = "genai_commons_env"


def setting(*, default: Any = attrs.NOTHING, env: str | None = None, factory: Any = None) -> Any:
    """A settings field whose environment variable ``env`` (when set and not empty) wins over
    the file."""
    if factory is not None:
        return attrs.field(factory=factory, metadata={ENV: env})
    return attrs.field(default=default, metadata={ENV: env})


def typed_settings(
    cls: type[T], name: str, values: Mapping[str, Any], environ: Mapping[str, str], source: Path | None = None
) -> T:
    """``cls`` made from the ``[providers.name]`` table ``values`` and ``environ`` (see the module
    docstring); :class:`ConfigurationError` naming the file and the key for anything else."""
    where = f"{source}: " if source is not None else ""
    fields = {field.name: field for field in attrs.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields) - HOST_PROVIDER_KEYS)
    if unknown:
        keys = ", ".join(repr(key) for key in unknown)
        raise ConfigurationError(
            f"{where}[providers.{name}] has unknown key{'s' if len(unknown) > 1 else ''} {keys}; the {name} plugin "
            f"reads {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    made: dict[str, Any] = {}
    for field in fields.values():
        kind = hints[field.name]
        env = field.metadata.get(ENV)
        if env and environ.get(env):
            made[field.name] = _from_text(kind, environ[env], f"{env}={environ[env]!r}")
        elif field.name in values:
            made[field.name] = _from_file(kind, values[field.name], f"{where}[providers.{name}] {field.name}")
    try:
        return cls(**made)
    except (TypeError, ValueError) as exc:  # the class's own validators
        raise ConfigurationError(f"{where}[providers.{name}]: {exc}") from None


def _options(kind: Any) -> tuple[Any, bool]:
    """The type without None, and whether None is allowed."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        optional = len(args) < len(typing.get_args(kind))
        return (args[0] if len(args) == 1 else kind), optional
    return kind, False


def _from_file(kind: Any, value: Any, what: str) -> Any:
    base, optional = _options(kind)
    if value is None and optional:
        return None
    origin = typing.get_origin(base)
    if base is bool:
        if isinstance(value, bool):
            return value
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif base is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif base is str:
        if isinstance(value, str):
            return value
    elif base is Secret:
        if isinstance(value, str):
            return Secret(value)
    elif origin is tuple:
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise ConfigurationError(f"{what} must be a list of strings, got {value!r}")
    elif base is Any or origin in (dict, Mapping) or base in (dict, Mapping):
        if base is Any or isinstance(value, dict):
            return value
    else:
        return value
    raise ConfigurationError(f"{what} must be {_name(base)}, got {value!r}")


def _from_text(kind: Any, text: str, what: str) -> Any:
    base, _optional = _options(kind)
    try:
        if base is bool:
            return parse_bool(text, name=what.partition("=")[0])
        if base is int:
            return int(text)
        if base is float:
            return float(text)
        if base is Secret:
            return Secret(text)
        if typing.get_origin(base) is tuple:
            return tuple(part.strip() for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigurationError(f"{what} must be {_name(base)}") from None
    return text


def _name(kind: Any) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", Secret: "a string"}
    return names.get(kind, "a table" if typing.get_origin(kind) in (dict, Mapping) else str(kind))
