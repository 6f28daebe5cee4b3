"""Structured output: the shape a chat answer must have (``OutputSchema``).

:meth:`OutputSchema.of` normalises what the caller gives, once, into a JSON Schema (what the
provider is sent) and a validator (what the answer is checked and built with):

* a pydantic model class, a standard-library dataclass, a ``TypedDict`` (anything pydantic's
  ``TypeAdapter`` takes whose schema is an object): pydantic writes the schema and validates, and
  :meth:`OutputSchema.parse` returns an instance of the class;
* an attrs class: pydantic does not read attrs classes, so a dataclass mirroring its fields (nested
  attrs classes included) gets the schema and the validation, and cattrs builds the attrs instance
  from the validated data;
* a JSON Schema ``dict`` (of type ``object``): the ``jsonschema`` library checks the schema and
  validates the answer, which comes back as the parsed ``dict``.

Errors never quote the answer (it may hold personal data): a :class:`StructuredOutputError`
carries the raw text as an attribute and names only where the answer breaks the schema.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from attrs import field, frozen

from ..errors import StructuredOutputError, ValidationError

__all__ = ["OutputSchema", "output_schema"]

_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]+")
_DEFAULT_NAME = "answer"


def _name(value: str) -> str:
    cleaned = _NOT_NAME.sub("_", value).strip("_")[:64]
    return cleaned or _DEFAULT_NAME


def _json_object(value: Mapping[str, Any]) -> dict[str, Any]:
    schema = dict(value)
    if schema.get("type") != "object":
        raise ValidationError(
            'an output schema must describe a JSON object ("type": "object"); wrap a list or a single '
            "value in a class with one field"
        )
    return schema


@frozen(kw_only=True)
class OutputSchema:
    """The JSON a chat answer must be, and how to validate and build it (see the module docstring).

    Build one with :meth:`of` (``Request.with_output_schema`` and ``output_schema=`` do).
    """

    #: A name for the schema (1 to 64 letters, digits, ``_`` or ``-``): the class name, the
    #: schema's ``title``, or ``answer``. Providers show it to the model.
    name: str
    #: The JSON Schema (type ``object``) the answer follows.
    json_schema: Mapping[str, Any] = field(converter=_json_object)
    #: The class :meth:`parse` builds, or None for a JSON Schema dict (the answer is a dict).
    target: type[Any] | None = field(default=None, repr=False)
    _validate: Callable[[Any, str], Any] = field(repr=False, eq=False, alias="validate")

    @classmethod
    def of(cls, schema: Any, *, name: str | None = None) -> OutputSchema:
        """Normalise a pydantic model class, a dataclass, an attrs class or a JSON Schema dict."""
        if isinstance(schema, OutputSchema):
            return schema if name is None else attrs.evolve(schema, name=_name(name))
        if isinstance(schema, Mapping):
            return _from_dict(dict(schema), name)
        if not isinstance(schema, type):
            raise ValidationError(
                f"an output schema is a pydantic model class, a dataclass, an attrs class or a JSON Schema "
                f"dict, got {type(schema).__name__}"
            )
        if attrs.has(schema):
            return _from_attrs(schema, name)
        return _from_type(schema, schema, name)

    def parse(self, text: str) -> Any:
        """The validated answer: an instance of :attr:`target`, or the dict for a JSON Schema.

        :raises StructuredOutputError: the text is not JSON, or breaks the schema.
        """
        from ..jsonparse import loads  # noqa: PLC0415

        try:
            data = loads(text)
        except ValueError as exc:
            raise StructuredOutputError(
                f"the answer is not JSON ({exc.__class__.__name__} at character {getattr(exc, 'pos', '?')}); "
                "the model did not follow the output schema: try again, raise max_tokens if it was cut "
                "short, or choose a model that supports structured output",
                text=text,
            ) from exc
        return self._validate(data, text)

    def strict_json_schema(self) -> dict[str, Any] | None:
        """The schema with ``"additionalProperties": false`` on every object, when every object
        lists all its properties as required and takes no other keys (what OpenAI's strict mode
        needs); None when the schema has optional properties or free-form objects, which strict
        mode cannot express without changing the schema's meaning."""
        strict = copy.deepcopy(dict(self.json_schema))
        return strict if _make_strict(strict) else None


def output_schema(value: Any) -> OutputSchema | None:
    """Converter of ``Request.output_schema``: None, or anything :meth:`OutputSchema.of` takes."""
    return None if value is None else OutputSchema.of(value)


# -- JSON Schema dicts: the jsonschema library ----------------------------------------------------


def _from_dict(schema: dict[str, Any], name: str | None) -> OutputSchema:
    from jsonschema import exceptions, validators  # noqa: PLC0415 - only for dict schemas

    checker = validators.validator_for(schema)
    try:
        checker.check_schema(schema)
    except exceptions.SchemaError as exc:
        raise ValidationError(f"the output schema is not a valid JSON Schema: {exc.message}") from exc
    validator = checker(schema)

    def validate(data: Any, text: str) -> Any:
        error = exceptions.best_match(validator.iter_errors(data))
        if error is not None:
            raise StructuredOutputError(
                f"the answer breaks the output schema at {error.json_path}: it fails {error.validator!r} "
                f"{_short(error.validator_value)}; try again or choose a model that supports structured output",
                text=text,
            ) from error
        return data

    title = schema.get("title")
    return OutputSchema(
        name=_name(name or (title if isinstance(title, str) else _DEFAULT_NAME)), json_schema=schema, validate=validate
    )


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


# -- classes: pydantic's TypeAdapter ----------------------------------------------------------------


def _from_type(
    cls: type[Any], adapted: Any, name: str | None, build: Callable[[Any], Any] | None = None
) -> OutputSchema:
    import pydantic  # noqa: PLC0415

    try:
        adapter = pydantic.TypeAdapter(adapted)
        schema = adapter.json_schema()
    except pydantic.PydanticUserError as exc:  # PydanticSchemaGenerationError and the like
        raise ValidationError(
            f"cannot make an output schema of {cls.__name__}: {exc.message}; use a pydantic model, a "
            "dataclass or an attrs class whose fields have JSON types"
        ) from exc

    def validate(data: Any, text: str) -> Any:
        try:
            value = adapter.validate_python(data)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'the answer'}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False)
            )
            raise StructuredOutputError(
                f"the answer breaks the output schema of {cls.__name__} ({problems}); try again or choose a "
                "model that supports structured output",
                text=text,
            ) from exc
        return build(adapter.dump_python(value)) if build is not None else value

    return OutputSchema(name=_name(name or cls.__name__), json_schema=schema, target=cls, validate=validate)


def _from_attrs(cls: type[Any], name: str | None) -> OutputSchema:
    import cattrs  # noqa: PLC0415

    mirror = _mirror(cls, {})
    converter = cattrs.Converter()

    def build(data: Any) -> Any:
        return converter.structure(data, cls)

    return _from_type(cls, mirror, name, build)


def _mirror(cls: type[Any], done: dict[type[Any], Any]) -> Any:
    """A dataclass with the attrs class's fields (types, defaults, docstring), nested attrs classes
    mirrored too, for pydantic to write the schema of and validate."""
    if cls in done:
        return done[cls]
    attrs.resolve_types(cls)
    fields: list[tuple[str, Any, Any]] = []
    for attribute in attrs.fields(cls):
        if not attribute.init:
            continue
        spec: Any = dataclasses.field()
        if isinstance(attribute.default, attrs.Factory):  # type: ignore[arg-type]  # a class at run time
            factory = attribute.default.factory
            if not attribute.default.takes_self:
                spec = dataclasses.field(default_factory=factory)
        elif attribute.default is not attrs.NOTHING:
            spec = dataclasses.field(default=attribute.default)
        fields.append((attribute.alias or attribute.name, _mirrored(attribute.type, done), spec))
    # Fields with defaults after those without, as dataclasses require; the names keep the order.
    fields.sort(
        key=lambda f: f[2].default is not dataclasses.MISSING or f[2].default_factory is not dataclasses.MISSING
    )
    mirror = dataclasses.make_dataclass(cls.__name__, fields, kw_only=True)
    mirror.__doc__ = cls.__doc__
    done[cls] = mirror
    return mirror


def _mirrored(annotation: Any, done: dict[type[Any], Any]) -> Any:
    if isinstance(annotation, type) and attrs.has(annotation):
        return _mirror(annotation, done)
    args = typing.get_args(annotation)
    if not args:
        return Any if annotation is None else annotation
    mirrored = tuple(_mirrored(a, done) for a in args)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return typing.Union[mirrored]  # noqa: UP007 - built from a tuple at run time
    if origin is typing.Annotated:
        return typing.Annotated[(mirrored[0], *args[1:])]
    if origin is typing.Literal:
        return annotation
    return origin[mirrored if len(mirrored) > 1 else mirrored[0]]


# -- OpenAI's strict mode --------------------------------------------------------------------------

_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "$defs", "definitions")


def _make_strict(node: Any) -> bool:
    if isinstance(node, list):
        return all(_make_strict(item) for item in node)
    if not isinstance(node, dict):
        return True
    if node.get("type") == "object" or "properties" in node:
        properties = node.get("properties") or {}
        if node.get("additionalProperties", False) is not False or set(node.get("required", ())) != set(properties):
            return False
        node["additionalProperties"] = False
    for key in _SCHEMA_MAPS:
        children = node.get(key)
        if isinstance(children, dict) and not all(_make_strict(child) for child in children.values()):
            return False
    return all(_make_strict(node[key]) for key in (*_SCHEMA_LISTS, "items") if key in node)
