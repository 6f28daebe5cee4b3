"""JSON form of the domain model, through one private cattrs converter.

Used for storage, the CLI's ``--json`` output and any future HTTP surface. Unions are tagged
(``"type"`` for chunks, tools, stream and agent events; ``"op"`` for filters); vectors become
lists of floats; a :class:`Function`'s callable becomes its import reference ``module:qualname``
and is imported again when read back. Provider option classes join the JSON form by registering
with :func:`register_provider_options`.

Bad documents raise :class:`ValidationError` with every problem and its path.
"""

from __future__ import annotations

import importlib
import json
from array import array
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast, get_args, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import make_converter
from cattrs.strategies import configure_tagged_union, include_subclasses
from cattrs.v import format_exception

from .errors import ValidationError
from .model import (
    AgentEvent,
    Capability,
    ChatStreamEvent,
    Chunk,
    Filter,
    Function,
    Modality,
    Request,
    Tool,
)

T = TypeVar("T")

_PROVIDER_OPTIONS: dict[str, type[Any]] = {}


def register_provider_options(cls: type[T]) -> type[T]:
    """Class decorator: let a plugin's (attrs) option class travel in a Request's JSON form."""
    if not attrs.has(cls):
        raise TypeError("provider options must be an attrs class")
    _PROVIDER_OPTIONS[_type_name(cls)] = cls
    return cast(type[T], cls)


def _type_name(cls: type[Any]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve_reference(reference: str) -> Callable[..., Any]:
    module_name, _, qualname = reference.partition(":")
    if not qualname or "<locals>" in qualname or "<lambda>" in qualname:
        raise ValidationError(f"function reference {reference!r} cannot be imported; use a module-level def")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(f"cannot import function {reference!r}: {exc}") from exc
    if not callable(target):
        raise ValidationError(f"{reference!r} is not callable")
    return target  # type: ignore[no-any-return]


def _is_enum_set(type_: Any) -> bool:
    return get_origin(type_) is frozenset and get_args(type_)[0] in (Modality, Capability)


def _build() -> cattrs.Converter:
    c = make_converter()
    c.register_unstructure_hook(array, lambda v: v.tolist())
    c.register_structure_hook(array, lambda v, _: array("f", v))
    c.register_unstructure_hook(datetime, lambda v: v.isoformat())
    c.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))
    # Sets of enum members (modalities, capabilities) as sorted lists, for stable output.
    c.register_unstructure_hook_func(_is_enum_set, lambda v: sorted(m.value for m in v))

    # Function: the callable travels as its import reference.
    c.register_unstructure_hook(
        Function,
        make_dict_unstructure_fn(
            Function, c, callable=override(unstruct_hook=lambda fn: f"{fn.__module__}:{fn.__qualname__}")
        ),
    )
    c.register_structure_hook(
        Function, make_dict_structure_fn(Function, c, callable=override(struct_hook=lambda v, _: _resolve_reference(v)))
    )
    tag = {"tag_name": "type", "tag_generator": lambda cl: cl.__name__}
    include_subclasses(Chunk, c, union_strategy=lambda u, conv: configure_tagged_union(u, conv, **tag))  # type: ignore[arg-type]
    include_subclasses(Tool, c, union_strategy=lambda u, conv: configure_tagged_union(u, conv, **tag))  # type: ignore[arg-type]
    configure_tagged_union(ChatStreamEvent, c, **tag)  # type: ignore[arg-type]
    configure_tagged_union(AgentEvent, c, **tag)  # type: ignore[arg-type]
    configure_tagged_union(Filter, c, tag_name="op", tag_generator=lambda cl: cl.__name__.lower())
    optional_filter = Filter | None
    c.register_unstructure_hook_func(
        lambda t: t == optional_filter, lambda v: None if v is None else c.unstructure(v, unstructure_as=Filter)
    )
    c.register_structure_hook_func(
        lambda t: t == optional_filter,
        lambda v, _: None if v is None else c.structure(v, Filter),  # type: ignore[arg-type]
    )

    # Request.provider_options: registered attrs classes, tagged by import name.
    def unstructure_options(options: tuple[Any, ...]) -> list[dict[str, Any]]:
        out = []
        for option in options:
            name = _type_name(type(option))
            if name not in _PROVIDER_OPTIONS:
                raise ValidationError(f"provider option class {name} is not registered for JSON")
            out.append({"type": name, **c.unstructure(option)})
        return out

    def structure_options(value: Any, _: Any) -> tuple[Any, ...]:
        out = []
        for item in value:
            data = dict(item)
            cls = _PROVIDER_OPTIONS.get(str(data.pop("type", "")))
            if cls is None:
                raise ValidationError(f"unknown provider option type in {item!r}; is its plugin installed?")
            out.append(c.structure(data, cls))
        return tuple(out)

    c.register_unstructure_hook(
        Request, make_dict_unstructure_fn(Request, c, provider_options=override(unstruct_hook=unstructure_options))
    )
    c.register_structure_hook(
        Request, make_dict_structure_fn(Request, c, provider_options=override(struct_hook=structure_options))
    )
    return c


_converter: cattrs.Converter | None = None


def converter() -> cattrs.Converter:
    """The converter, built on first use."""
    global _converter  # noqa: PLW0603 - built once, lazily, to keep import time low
    if _converter is None:
        _converter = _build()
    return _converter


def _format_problem(exc: BaseException, type_: type | None) -> str:
    if isinstance(exc, ValidationError):
        return str(exc)
    return format_exception(exc, type_)


def unstructure(value: Any) -> Any:
    """A domain object as plain JSON-ready data (dicts, lists, strings, numbers)."""
    return converter().unstructure(value)


def structure(data: Any, cls: type[T]) -> T:
    """A domain object of type ``cls`` from plain data, validated."""
    try:
        return converter().structure(data, cls)
    except ValidationError:
        raise
    except cattrs.BaseValidationError as exc:
        problems = "; ".join(cattrs.transform_error(exc, format_exception=_format_problem))
        raise ValidationError(f"invalid {getattr(cls, '__name__', cls)} document: {problems}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ValidationError(f"invalid {getattr(cls, '__name__', cls)} document: {exc}") from None


def to_json(value: Any, *, indent: int | None = None) -> str:
    """A domain object as JSON text."""
    return json.dumps(unstructure(value), indent=indent, ensure_ascii=False)


def from_json(text: str | bytes, cls: type[T]) -> T:
    """A domain object of type ``cls`` from JSON text; malformed JSON is a :class:`ValidationError`."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"invalid JSON for {getattr(cls, '__name__', cls)}: {exc}") from None
    return structure(data, cls)
