"""Bedrock's retrieval filter (``RetrievalFilter``), checked and evaluated as the service does:
typed comparisons (the string ``"2024"`` is not the number ``2024``), negations and comparisons
only for chunks that have the key, ``andAll`` / ``orAll`` of at least two filters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_COMPARISONS = {
    "greaterThan": lambda a, b: a > b,
    "greaterThanOrEquals": lambda a, b: a >= b,
    "lessThan": lambda a, b: a < b,
    "lessThanOrEquals": lambda a, b: a <= b,
}
_ATTRIBUTE_OPERATORS = frozenset(
    {"equals", "notEquals", "in", "notIn", "startsWith", "stringContains", "listContains", *_COMPARISONS}
)


class FilterError(ValueError):
    """The filter is not one Bedrock accepts (the service answers 400 ValidationException)."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def same(a: Any, b: Any) -> bool:
    """Equal values of the same JSON type (``1`` is not ``True``, ``"1"`` is not ``1``)."""
    if _number(a) and _number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


def check(node: Any, path: str = "filter") -> None:
    """Raise :class:`FilterError` for a filter Bedrock would refuse."""
    if not isinstance(node, Mapping) or len(node) != 1:
        given = sorted(node) if isinstance(node, Mapping) else node
        raise FilterError(f"{path} must set exactly one operator, got {given!r}")
    ((operator, operand),) = node.items()
    if operator in ("andAll", "orAll"):
        if not isinstance(operand, list) or len(operand) < 2:
            raise FilterError(f"{path}.{operator} must hold at least 2 filters")
        for i, member in enumerate(operand):
            check(member, f"{path}.{operator}.{i}")
        return
    if operator not in _ATTRIBUTE_OPERATORS:
        raise FilterError(f"{path}: unknown operator {operator!r}")
    if not isinstance(operand, Mapping) or set(operand) != {"key", "value"} or not operand["key"]:
        raise FilterError(f"{path}.{operator} needs a key and a value")
    value = operand["value"]
    if operator in ("in", "notIn") and not isinstance(value, list):
        raise FilterError(f"{path}.{operator}.value must be a list")
    if operator in _COMPARISONS and not _number(value):
        raise FilterError(f"{path}.{operator}.value must be a number")
    if operator in ("startsWith", "stringContains") and not isinstance(value, str):
        raise FilterError(f"{path}.{operator}.value must be a string")


def matches(node: Mapping[str, Any], metadata: Mapping[str, Any]) -> bool:
    """Whether a chunk's metadata passes the (checked) filter."""
    ((operator, operand),) = node.items()
    if operator == "andAll":
        return all(matches(member, metadata) for member in operand)
    if operator == "orAll":
        return any(matches(member, metadata) for member in operand)
    key, wanted = operand["key"], operand["value"]
    if key not in metadata:
        return False  # every operator, negations included, needs the key
    have = metadata[key]
    if operator == "equals":
        return same(have, wanted)
    if operator == "notEquals":
        return not same(have, wanted)
    if operator == "in":
        return any(same(have, w) for w in wanted)
    if operator == "notIn":
        return not any(same(have, w) for w in wanted)
    if operator in _COMPARISONS:
        return _number(have) and bool(_COMPARISONS[operator](have, wanted))
    if operator == "startsWith":
        return isinstance(have, str) and have.startswith(wanted)
    if operator == "stringContains":
        return isinstance(have, str) and wanted in have
    return isinstance(have, list) and any(same(item, wanted) for item in have)  # listContains
