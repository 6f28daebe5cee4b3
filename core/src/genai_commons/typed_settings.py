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
environment), tables as ``Mapping[str, Any]``, :class:`~pathlib.Path` (``~`` expanded), an
:class:`~enum.Enum` of strings (one of its values), a union of those (the first that fits), and
any of those or None are understood.

A field with an attrs ``converter`` is checked against the type of the converter's argument (a
list of strings or a table, say) and made into the field's type by it. Checks beyond types go in
attrs validators — :func:`positive`, :func:`at_least`, :func:`within`, :func:`one_of` and
:func:`http_url` say what is wrong in the same one line — or in ``__attrs_post_init__`` for keys
that depend on each other; a ``ValueError`` they raise becomes a
:class:`~genai_commons.errors.ConfigurationError` naming the file and the table.
``setting(fallback_env=…)`` names a variable read only when the file does not set the key (an
ecosystem's variable, like ``AWS_REGION``, that the file overrides).
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs

from .config import HOST_PROVIDER_KEYS, Secret, parse_bool
from .errors import ConfigurationError

__all__ = ["at_least", "http_url", "one_of", "positive", "setting", "typed_settings", "within"]

T = TypeVar("T")

#: The metadata keys of a field's environment variable, and of its fallback variable.
ENV = "genai_commons_env"
FALLBACK_ENV = "genai_commons_fallback_env"


def setting(
    *,
    default: Any = attrs.NOTHING,
    env: str | None = None,
    factory: Any = None,
    fallback_env: str | None = None,
    converter: Any = None,
    validator: Any = None,
    repr: bool = True,
) -> Any:
    """A settings field whose environment variable ``env`` (when set and not empty) wins over
    the file, and whose ``fallback_env`` is read only when the file does not set it; ``converter``,
    ``validator`` and ``repr`` are attrs'."""
    metadata = {ENV: env, FALLBACK_ENV: fallback_env}
    if factory is not None:
        default = attrs.Factory(factory)
    return attrs.field(default=default, metadata=metadata, converter=converter, validator=validator, repr=repr)


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
        kind = _converter_input(field.converter) or hints[field.name]
        env, fallback = field.metadata.get(ENV), field.metadata.get(FALLBACK_ENV)
        if env and environ.get(env):
            made[field.name] = _from_text(kind, environ[env], _shown(env, environ[env], kind))
        elif field.name in values:
            made[field.name] = _from_file(kind, values[field.name], f"{where}[providers.{name}] {field.name}")
        elif fallback and environ.get(fallback):
            made[field.name] = _from_text(kind, environ[fallback], _shown(fallback, environ[fallback], kind))
    try:
        return cls(**made)
    except (TypeError, ValueError) as exc:  # the class's own converters and validators
        raise ConfigurationError(f"{where}[providers.{name}] {exc}") from exc


# -- checks beyond types: attrs validators that say what is wrong in one line --------------------


def _key(attribute: attrs.Attribute[Any]) -> str:
    """The key, with the environment variable that may set it instead."""
    env = attribute.metadata.get(ENV)
    return f"{attribute.name} (or {env})" if env else attribute.name


def _unless_none(check: Callable[[Any], bool], wanted: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def validate(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and not check(value):
            raise ValueError(f"{_key(attribute)} must be {wanted}, got {value!r}")

    return validate


def positive() -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """A number above 0 (None passes)."""
    return _unless_none(lambda value: value > 0, "a positive number")


def at_least(low: float) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """A number of at least ``low`` (None passes); a whole number when ``low`` is an int."""
    kind = "a whole number" if isinstance(low, int) else "a number"
    return _unless_none(lambda value: value >= low, f"{kind} of at least {low}")


def within(low: int, high: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """A number from ``low`` to ``high`` (None passes)."""
    return _unless_none(lambda value: low <= value <= high, f"a whole number from {low} to {high}")


def one_of(allowed: Collection[str]) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """One of ``allowed`` (None passes)."""
    return _unless_none(lambda value: value in allowed, "one of " + ", ".join(repr(a) for a in sorted(allowed)))


def http_url(_instance: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    """An ``http://`` or ``https://`` URL with a host and no credentials (None and ``""`` pass);
    a URL with a user or password is refused without quoting it."""
    if not value:
        return
    authority = value.split("://", 1)[-1].partition("/")[0]  # a URL without a scheme too
    if "@" in authority:
        raise ValueError(f"{_key(attribute)} must not hold credentials (user:password@); give them as settings")
    if not value.startswith(("http://", "https://")) or not value.partition("://")[2].strip("/"):
        raise ValueError(f"{_key(attribute)} must be an http:// or https:// URL, got {value!r}")


# -- reading values -------------------------------------------------------------------------------


def _converter_input(converter: Any) -> Any:
    """The type of a converter function's argument (what the file must hold), or None."""
    if not inspect.isfunction(converter):
        return None
    hints = typing.get_type_hints(converter)
    first = next(iter(inspect.signature(converter).parameters), None)
    return hints.get(first) if first is not None else None


def _shown(env: str, text: str, kind: Any) -> str:
    """How an environment variable is named in a message: with its value, unless a secret."""
    base, _optional = _options(kind)
    return env if base is Secret else f"{env}={text!r}"


def _options(kind: Any) -> tuple[Any, bool]:
    """The type without None, and whether None is allowed."""
    if _is_union(kind):
        args = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        optional = len(args) < len(typing.get_args(kind))
        return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), optional  # noqa: UP007
    return kind, False


def _is_union(kind: Any) -> bool:
    return isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union


def _is_enum(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, enum.Enum)


def _member(kind: type[enum.Enum], text: str) -> enum.Enum | None:
    return next((m for m in kind if str(m.value).lower() == text.strip().lower()), None)


def _from_file(kind: Any, value: Any, what: str) -> Any:
    base, optional = _options(kind)
    if value is None and optional:
        return None
    origin = typing.get_origin(base)
    if _is_union(base):  # several types: the first that fits
        for option in typing.get_args(base):
            try:
                return _from_file(option, value, what)
            except ConfigurationError:
                continue
    elif base is bool:
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
        raise ConfigurationError(f"{what} must be a string (the value is a secret, not shown here)")
    elif base is Path:
        if isinstance(value, str):
            return Path(value).expanduser()
    elif _is_enum(base):
        member = _member(base, value) if isinstance(value, str) else None
        if member is not None:
            return member
    elif origin is tuple:
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
    elif base is Any or origin in (dict, Mapping) or base in (dict, Mapping):
        if base is Any or isinstance(value, dict):
            return value
    else:
        return value
    raise ConfigurationError(f"{what} must be {_name(base)}, got {value!r}")


def _from_text(kind: Any, text: str, what: str) -> Any:
    base, _optional = _options(kind)
    try:
        if _is_union(base):  # several types: the first that reads the text
            for option in typing.get_args(base):
                try:
                    return _from_text(option, text, what)
                except ConfigurationError:
                    continue
            raise ValueError(text)
        if base is bool:
            return parse_bool(text, name=what.partition("=")[0])
        if base is int:
            return int(text)
        if base is float:
            return float(text)
        if base is Secret:
            return Secret(text)
        if base is Path:
            return Path(text).expanduser()
        if _is_enum(base):
            member = _member(base, text)
            if member is None:
                raise ValueError(text)
            return member
        if typing.get_origin(base) is tuple:
            return tuple(part.strip() for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigurationError(f"{what} must be {_name(base)}") from None
    return text


def _name(kind: Any) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", Secret: "a string"}
    if _is_union(kind):
        return " or ".join(_name(option) for option in typing.get_args(kind))
    if _is_enum(kind):  # as TOML writes them: "exact", "hnsw" or "auto"
        quoted = [f'"{member.value}"' for member in kind]
        return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    if kind is Path:
        return "a path (a string)"
    if typing.get_origin(kind) is tuple:
        return "a list of strings"
    return names.get(kind, "a table" if typing.get_origin(kind) in (dict, Mapping) else str(kind))
