"""Tools the model may call (``Tool``, ``Function``) and the calls it proposes (``ToolCall``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from attrs import field, frozen

from ..errors import ValidationError
from ..jsonparse import loads
from ._validators import non_empty

#: A JSON object, as parsed by :func:`json.loads`.
JsonObject = Mapping[str, Any]

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_EMPTY_SCHEMA: JsonObject = {"type": "object", "properties": {}}


def _check_tool_name(_instance: object, _attribute: object, value: str) -> None:
    if not _TOOL_NAME.match(value):
        raise ValidationError(
            f"tool name {value!r} is invalid: use 1 to 64 letters, digits, '_' or '-' "
            "(the strictest rule among providers)"
        )


def _check_schema(_instance: object, _attribute: object, value: JsonObject) -> None:
    if value.get("type") != "object":
        raise ValidationError("a tool's parameters must be a JSON schema of type 'object'")


def _freeze_schema(value: Mapping[str, Any] | None) -> JsonObject:
    return dict(_EMPTY_SCHEMA) if value is None else dict(value)


@frozen(kw_only=True)
class Tool:
    """A tool offered to the model (``Tool``): a name, a description and a JSON schema.

    A tool with no Python callable is described to the model only; when the model calls it, the
    host returns the response so that the caller runs it. See :class:`Function` for tools the host
    runs itself.
    """

    name: str = field(validator=_check_tool_name)
    description: str | None = None
    tool_type: str = "function"
    #: JSON schema (type ``object``) of the arguments.
    parameters: JsonObject = field(
        factory=lambda: dict(_EMPTY_SCHEMA), converter=_freeze_schema, validator=_check_schema
    )


#: Functions built as tools in this process, by import reference. JSON documents may name only
#: these: reading a Request never imports arbitrary code (``os:system``) for the host to run.
_KNOWN_FUNCTIONS: dict[str, Callable[..., Any]] = {}


def known_function(reference: str) -> Callable[..., Any] | None:
    """The tool function registered under ``module:qualname``, if this process built one."""
    return _KNOWN_FUNCTIONS.get(reference)


def _function_reference(value: Callable[..., Any]) -> str:
    module = getattr(value, "__module__", None) or "<unknown>"
    qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", "<callable>")
    return f"{module}:{qualname}"


@frozen(kw_only=True)
class Function(Tool):
    """A tool backed by a Python callable that the host runs when the model asks (``Function``).

    Build one with :meth:`from_callable`, which derives the JSON schema from the signature and
    type hints. In JSON, the callable is stored as its import reference ``module:qualname`` (the
    seed's ``Microflow`` attribute) and resolved again when read back.
    """

    callable: Callable[..., Any] = field(eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _KNOWN_FUNCTIONS[self.reference] = self.callable

    @property
    def reference(self) -> str:
        """The callable's import reference, ``module:qualname``."""
        return _function_reference(self.callable)

    @classmethod
    def from_callable(
        cls, fn: Callable[..., Any], *, name: str | None = None, description: str | None = None
    ) -> Function:
        """A function tool from a Python callable; see :func:`genai_commons.model.functions.describe_callable`."""
        from .functions import describe_callable  # noqa: PLC0415 - pydantic is loaded on first use

        described = describe_callable(fn)
        return cls(
            name=name or described.name,
            description=description if description is not None else described.description,
            parameters=described.parameters,
            callable=fn,
        )


@frozen(kw_only=True)
class ToolCall:
    """A call the model proposes (``ToolCall``); only on assistant messages."""

    id: str = field(validator=non_empty)
    name: str
    #: The arguments as JSON text, exactly as the model produced them; may be invalid JSON.
    arguments: str = "{}"
    tool_type: str = "function"

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict; a clear :class:`ValidationError` if the model wrote bad JSON."""
        try:
            value = loads(self.arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"the model's arguments for tool {self.name!r} are not valid JSON: {exc.msg}"
            ) from exc
        if not isinstance(value, dict):
            raise ValidationError(f"the model's arguments for tool {self.name!r} are not a JSON object")
        return value
