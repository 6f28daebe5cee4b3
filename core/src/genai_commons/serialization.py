"""JSON form of the domain model, through one private cattrs converter.

Used for storage, the CLI's ``--json`` output and any future HTTP surface. Unions are tagged
(``"type"`` for chunks, tools, stream and agent events; ``"op"`` for filters); vectors become
lists of floats; a :class:`Function`'s callable becomes its import reference ``module:qualname``
and is imported again when read back. Provider option classes join the JSON form by registering
with :func:`register_provider_options`.

Bad documents raise :class:`ValidationError` with every problem and its path. Documents nested more
than :data:`MAX_DEPTH` arrays and objects deep are refused, so that whatever is read can be written
again without exhausting Python's stack, and so are numbers that are not finite, even in free-form
JSON (a tool's schema, an agent trace's content).
"""

from __future__ import annotations

import json
import math
import sys
from array import array
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum, StrEnum
from types import UnionType
from typing import Any, TypeVar, Union, cast, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import list_structure_factory
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
    EmbeddingsOptions,
    Filter,
    Function,
    ImageOptions,
    KnowledgeBaseChunk,
    Modality,
    OutputSchema,
    Request,
    Tool,
)
from .model._validators import to_enum
from .model.tools import known_function

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
    """The callable of a Function document: only a function this process registered as a tool
    (by building its Function), never an arbitrary import named by the document."""
    if not isinstance(reference, str):
        raise ValidationError(f"a function reference is a 'module:qualname' string, got {reference!r}")
    target = known_function(reference)
    if target is None:
        raise ValidationError(
            f"function {reference!r} is not a tool function of this program; build its Function "
            "(Function.from_callable or Request.with_function) before reading the document"
        )
    return target


def _is_enum_set(type_: Any) -> bool:
    return get_origin(type_) is frozenset and get_args(type_)[0] in (Modality, Capability)


def _is_name_set(type_: Any) -> bool:
    """``frozenset[str]``, optional or not (the formats a model declares)."""
    return type_ in _NAME_SETS


_NAME_SETS = (frozenset[str], frozenset[str] | None)


# -- strict structuring: a document's JSON types must match the model; nothing is guessed ----

_NONE = type(None)
_SCALARS = frozenset({str, int, float, bool, _NONE})


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def _scalar_matches(value: Any, type_: Any) -> bool:
    if type_ is _NONE:
        return value is None
    if type_ is bool or type_ is str:
        return isinstance(value, type_)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if type_ is int:
        return isinstance(value, int)
    return math.isfinite(value) if isinstance(value, float) else abs(value) <= sys.float_info.max


def _is_scalar_union(type_: Any) -> bool:
    return get_origin(type_) in (Union, UnionType) and set(get_args(type_)) <= _SCALARS


def _structure_scalar(value: Any, type_: Any) -> Any:
    """str, int, float, bool (or an optional one) exactly as JSON has it: no "12" or 1.7 for an int."""
    options = get_args(type_) or (type_,)
    for option in options:
        if _scalar_matches(value, option):
            return float(value) if option is float else value
    expected = " or ".join("null" if o is _NONE else ("a finite number" if o is float else o.__name__) for o in options)
    raise ValidationError(f"expected {expected}, got {_json_type(value)}")


def _structure_enum(value: Any, type_: type[Enum]) -> Enum:
    return to_enum(type_)(value)


def _structure_vector(value: Any, _: Any) -> array:  # type: ignore[type-arg]
    if not isinstance(value, list | tuple) or not all(_scalar_matches(x, float) for x in value):
        raise ValidationError(f"a vector is an array of finite numbers, got {_json_type(value)}")
    vector = array("f", value)
    if not all(math.isfinite(x) for x in vector):
        raise ValidationError("a vector's numbers must fit a 32-bit float")
    return vector


def _is_homogeneous_collection(type_: Any) -> bool:
    args = get_args(type_)
    if get_origin(type_) is tuple:
        return len(args) == 2 and args[1] is Ellipsis
    return get_origin(type_) in (list, frozenset, set) and len(args) == 1


def _collection_hook(type_: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """A tuple, list or set is a JSON array: a string or an object is not taken apart."""
    origin = get_origin(type_)
    as_list = list_structure_factory(list[get_args(type_)[0]], conv)  # type: ignore[arg-type,misc]

    def structure_collection(value: Any, _: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise ValidationError(f"expected an array, got {_json_type(value)}")
        items = as_list(value, list)
        return items if origin is list else origin(items)

    return structure_collection


def _mapping_only(cls: type[Any], hook: Callable[[Any, Any], T]) -> Callable[[Any, Any], T]:
    """An attrs class's structure hook that takes nothing but a JSON object."""

    def structure_object(value: Any, type_: Any) -> T:
        if not isinstance(value, Mapping):
            raise ValidationError(f"a {cls.__name__} is a JSON object, got {_json_type(value)}")
        return hook(value, type_)

    return structure_object


def _structure_output_schema(value: Any, _: Any) -> OutputSchema:
    if not isinstance(value, Mapping) or not isinstance(value.get("json_schema"), Mapping):
        raise ValidationError(f"an output schema is an object with a json_schema object, got {_json_type(value)}")
    unknown = sorted(set(value) - {"name", "json_schema"})
    if unknown:
        raise ValidationError(f"an output schema has only name and json_schema, not {', '.join(map(repr, unknown))}")
    name = value.get("name")
    if name is not None and not isinstance(name, str):
        raise ValidationError(f"an output schema's name is a string, got {_json_type(name)}")
    return OutputSchema.of(value["json_schema"], name=name)


def _is_pydantic_model(type_: Any) -> bool:
    return isinstance(type_, type) and callable(getattr(type_, "model_dump", None))


def _register_structured_output(c: cattrs.Converter) -> None:
    """A schema travels as its name and JSON Schema (a class is read back as that schema, its
    answers as dicts); a parsed answer that is a pydantic model as its JSON data."""
    c.register_unstructure_hook(OutputSchema, lambda v: {"name": v.name, "json_schema": dict(v.json_schema)})
    c.register_structure_hook(OutputSchema, _structure_output_schema)
    c.register_unstructure_hook_func(_is_pydantic_model, lambda v: v.model_dump(mode="json"))


def _build() -> cattrs.Converter:
    # Unknown keys are errors (a misspelt "temprature" must not vanish silently).
    c = make_converter(forbid_extra_keys=True)
    for scalar in (str, int, float, bool):
        c.register_structure_hook(scalar, _structure_scalar)
    c.register_structure_hook_func(_is_scalar_union, _structure_scalar)
    c.register_structure_hook(Enum, _structure_enum)
    c.register_structure_hook(StrEnum, _structure_enum)  # StrEnum comes before str in the MRO
    c.register_structure_hook_factory(_is_homogeneous_collection, _collection_hook)
    c.register_structure_hook_factory(attrs.has, lambda cl: _mapping_only(cl, c.gen_structure_attrs_fromdict(cl)))
    c.register_unstructure_hook(array, lambda v: v.tolist())
    c.register_structure_hook(array, _structure_vector)
    c.register_unstructure_hook(datetime, lambda v: v.isoformat())
    c.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))
    # Sets of enum members (modalities, capabilities) as sorted lists, for stable output.
    c.register_unstructure_hook_func(_is_enum_set, lambda v: sorted(m.value for m in v))
    c.register_unstructure_hook_func(_is_name_set, lambda v: None if v is None else sorted(v))

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

    # A KnowledgeBaseChunk on its own (RetrievalResult.chunks) is written with its tag as well.
    def structure_kb_chunk(value: Any, _: Any) -> KnowledgeBaseChunk:
        chunk = c.structure({"type": KnowledgeBaseChunk.__name__, **value}, Chunk)
        if not isinstance(chunk, KnowledgeBaseChunk):
            raise ValidationError(f"expected a KnowledgeBaseChunk, got a {type(chunk).__name__}")
        return chunk

    c.register_structure_hook(KnowledgeBaseChunk, _mapping_only(KnowledgeBaseChunk, structure_kb_chunk))
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

    _register_structured_output(c)

    # provider_options (Request, ImageOptions, EmbeddingsOptions): registered attrs classes, tagged by import name.
    def unstructure_options(options: tuple[Any, ...]) -> list[dict[str, Any]]:
        out = []
        for option in options:
            name = _type_name(type(option))
            if name not in _PROVIDER_OPTIONS:
                raise ValidationError(f"provider option class {name} is not registered for JSON")
            out.append({"type": name, **c.unstructure(option)})
        return out

    def structure_options(value: Any, _: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise ValidationError(f"provider_options is an array, got {_json_type(value)}")
        out = []
        for item in value:
            if not isinstance(item, Mapping):
                raise ValidationError(f"a provider option is a JSON object, got {_json_type(item)}")
            data = dict(item)
            cls = _PROVIDER_OPTIONS.get(str(data.pop("type", "")))
            if cls is None:
                raise ValidationError(f"unknown provider option type in {item!r}; is its plugin installed?")
            out.append(c.structure(data, cls))
        return tuple(out)

    for owner in (Request, ImageOptions, EmbeddingsOptions):
        c.register_unstructure_hook(
            owner, make_dict_unstructure_fn(owner, c, provider_options=override(unstruct_hook=unstructure_options))
        )
        c.register_structure_hook(
            owner,
            _mapping_only(
                owner, make_dict_structure_fn(owner, c, provider_options=override(struct_hook=structure_options))
            ),
        )
    return c


_converter: cattrs.Converter | None = None


def converter() -> cattrs.Converter:
    """The converter, built on first use."""
    global _converter  # noqa: PLW0603 - built once, lazily, to keep import time low
    if _converter is None:
        _converter = _build()
    return _converter


#: The most arrays and objects inside each other that a document may hold. Real documents stay far
#: below (a tool's JSON schema, a filter tree); deeper ones would exhaust the stack when read or written.
MAX_DEPTH = 64

_LEAVES = frozenset({str, int, float, bool, _NONE})


def _check_shape(data: Any, name: str) -> bool:
    """Refuse a document nested more than :data:`MAX_DEPTH` levels deep (iteratively: no recursion);
    whether every number in it is finite (free-form JSON has no typed field to refuse NaN)."""
    finite = True
    level: list[Any] = [data]
    for depth in range(1, MAX_DEPTH + 2):
        below: list[Any] = []
        for value in level:
            if isinstance(value, dict | Mapping):
                children: Any = value.values()
            elif isinstance(value, list | tuple):
                children = value
            else:
                continue
            if depth > MAX_DEPTH:
                raise ValidationError(f"invalid {name} document: nested more than {MAX_DEPTH} arrays and objects deep")
            kinds = set(map(type, children))  # at C speed: a vector of floats costs little
            if float in kinds:
                floats = children if len(kinds) == 1 else [c for c in children if type(c) is float]
                finite = finite and all(map(math.isfinite, floats))
            if not kinds <= _LEAVES:
                below.extend(child for child in children if type(child) not in _LEAVES)
        if not below:
            break
        level = below
    return finite


def _format_problem(exc: BaseException, type_: type | None) -> str:
    if isinstance(exc, ValidationError):
        return str(exc)
    return format_exception(exc, type_)


def unstructure(value: Any) -> Any:
    """A domain object as plain JSON-ready data (dicts, lists, strings, numbers)."""
    try:
        return converter().unstructure(value)
    except RecursionError:  # only an object built in code, not read from a document, gets here
        raise ValidationError(f"a {type(value).__name__} nested too deeply to write as JSON") from None


def structure(data: Any, cls: type[T]) -> T:
    """A domain object of type ``cls`` from plain data, validated."""
    name = getattr(cls, "__name__", str(cls))
    finite = _check_shape(data, name)
    try:
        value = converter().structure(data, cls)
    except ValidationError:
        raise
    except RecursionError:  # called with the stack nearly used up already
        raise ValidationError(f"invalid {name} document: nested too deeply to read here") from None
    except cattrs.BaseValidationError as exc:
        problems = "; ".join(cattrs.transform_error(exc, format_exception=_format_problem))
        raise ValidationError(f"invalid {getattr(cls, '__name__', cls)} document: {problems}") from None
    except KeyError as exc:  # a tagged union's tag ("type", "op") is missing, or names no known class
        raise ValidationError(f"invalid {getattr(cls, '__name__', cls)} document: missing or unknown {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValidationError(f"invalid {getattr(cls, '__name__', cls)} document: {exc}") from None
    if not finite:  # typed fields refuse NaN with their path; this is one in free-form JSON (a tool's schema)
        raise ValidationError(f"invalid {name} document: holds a number that is not finite (NaN or infinity)")
    return value


def to_json(value: Any, *, indent: int | None = None) -> str:
    """A domain object as JSON text."""
    return json.dumps(unstructure(value), indent=indent, ensure_ascii=False)


def from_json(text: str | bytes, cls: type[T]) -> T:
    """A domain object of type ``cls`` from JSON text; malformed JSON is a :class:`ValidationError`."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits or levels
        raise ValidationError(f"invalid JSON for {getattr(cls, '__name__', cls)}: {exc}") from None
    return structure(data, cls)
