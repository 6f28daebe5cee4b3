"""Python callables as tools: JSON schema from the signature, and validated calls.

pydantic builds the schema from the type hints and validates (and coerces) the model's arguments
before the call, the same way the OpenAI SDK, LangChain and llm do; docstring-parser takes the
description and the per-parameter documentation from the docstring (Google, NumPy, reST styles).
Both load on first use, not at import time. What a tool returns becomes text in the host's tool
loop (:func:`genai_commons.toolloop.result_text`).
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import Callable, Mapping
from typing import Any, get_type_hints

from attrs import frozen

from ..errors import ValidationError

_MODELS: weakref.WeakKeyDictionary[Callable[..., Any], Any] = weakref.WeakKeyDictionary()
_SKIPPED_KINDS = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@frozen
class DescribedCallable:
    name: str
    description: str | None
    parameters: Mapping[str, Any]


def _docs(fn: Callable[..., Any]) -> tuple[str | None, dict[str, str]]:
    raw = inspect.getdoc(fn)
    if not raw:
        return None, {}
    import docstring_parser  # noqa: PLC0415

    parsed = docstring_parser.parse(raw)
    parts = [p for p in (parsed.short_description, parsed.long_description) if p]
    return ("\n\n".join(parts) or None), {p.arg_name: p.description or "" for p in parsed.params}


def _arguments_model(fn: Callable[..., Any]) -> Any:
    cached = _MODELS.get(fn)
    if cached is not None:
        return cached
    import pydantic  # noqa: PLC0415

    try:
        signature = inspect.signature(fn)
        hints = get_type_hints(fn)
    except (TypeError, ValueError, NameError) as exc:
        raise ValidationError(f"cannot read the signature of {fn!r} to make a tool: {exc}") from exc
    _, param_docs = _docs(fn)
    fields: dict[str, Any] = {}
    for name, param in signature.parameters.items():
        if param.kind in _SKIPPED_KINDS:
            raise ValidationError(
                f"tool function {getattr(fn, '__name__', fn)!r} takes *args or **kwargs; "
                "give it named parameters so that the model knows what to pass"
            )
        annotation = hints.get(name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (annotation, pydantic.Field(default, description=param_docs.get(name) or None))
    # extra="forbid": a parameter the model made up is reported to it, not silently dropped.
    model = pydantic.create_model(
        f"{getattr(fn, '__name__', 'tool')}_arguments", __config__=pydantic.ConfigDict(extra="forbid"), **fields
    )
    with contextlib.suppress(TypeError):  # not weak-referenceable (a builtin): rebuilt each time
        _MODELS[fn] = model
    return model


def describe_callable(fn: Callable[..., Any]) -> DescribedCallable:
    """Name, description and JSON schema (type ``object``) of a callable's parameters."""
    name = getattr(fn, "__name__", None)
    if not name or name == "<lambda>":
        raise ValidationError(
            "a tool function needs a name of its own: use a module-level def, not a lambda "
            "(name= does not help: the JSON form imports the function back by its name)"
        )
    description, _ = _docs(fn)
    schema = dict(_arguments_model(fn).model_json_schema())
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        if isinstance(prop, dict):
            prop.pop("title", None)
    schema.setdefault("properties", {})
    return DescribedCallable(name=name, description=description, parameters=schema)


def prepare_arguments(fn: Callable[..., Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The model's arguments validated and coerced against the callable's type hints."""
    import pydantic  # noqa: PLC0415

    model = _arguments_model(fn)
    try:
        validated = model.model_validate(dict(arguments))
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors())
        raise ValidationError(f"invalid arguments: {problems}") from None
    return {name: getattr(validated, name) for name in model.model_fields}
