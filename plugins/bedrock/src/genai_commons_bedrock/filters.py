"""The core's portable metadata filter in Bedrock's form: the ``filter`` of a knowledge base's
``retrievalConfiguration.vectorSearchConfiguration`` (Retrieve and RetrieveAndGenerate). Pure
functions, no I/O.

==========================  ==============================================================
portable                    Bedrock
==========================  ==============================================================
``Eq``                      ``equals``
``In``                      ``in``
``Range``                   ``greaterThan`` / ``greaterThanOrEquals`` / ``lessThan`` /
                            ``lessThanOrEquals`` (two bounds: ``andAll``)
``And`` / ``Or``            ``andAll`` / ``orAll`` (one member: the member itself)
``Not``                     ``notEquals`` / ``notIn`` / the opposite bounds, and De Morgan's
                            laws through ``And``, ``Or`` and ``Not``
==========================  ==============================================================

Portable values are strings, while Bedrock compares typed values (a ``year`` of ``2024`` in a
document's metadata file is a number): a value that reads as a number or a boolean is compared in
both forms (``orAll`` of the string and the typed value), so ``Eq("year", "2024")`` matches either.
Unlike the in-memory :meth:`Filter.matches`, Bedrock's negations skip chunks that lack the key.
A filter that can match nothing (``Not(And([]))``) has no Bedrock form: :class:`ValidationError`.
"""

from __future__ import annotations

import math
from typing import Any

from genai_commons import ValidationError
from genai_commons.model import And, Eq, Filter, In, Not, Or, Range

Json = dict[str, Any]

_BOUNDS = (("gt", "greaterThan"), ("gte", "greaterThanOrEquals"), ("lt", "lessThan"), ("lte", "lessThanOrEquals"))
#: The bound that holds exactly when a bound does not (for chunks that have the key).
_OPPOSITE = {"gt": "lessThanOrEquals", "gte": "lessThan", "lt": "greaterThanOrEquals", "lte": "greaterThan"}


def retrieval_filter(portable: Filter | None) -> Json | None:
    """Bedrock's ``RetrievalFilter`` for a portable filter; None when it constrains nothing."""
    if portable is None:
        return None
    translated = _translate(portable, negated=False)
    if translated is _NEVER:
        raise ValidationError(
            "this metadata filter can match no chunk (it holds the negation of an empty 'and'); "
            "Bedrock has no form for it: leave the filter out"
        )
    return translated


def typed_values(value: str) -> list[Any]:
    """The forms Bedrock may hold a portable value in: the string, and a number or boolean it reads as."""
    forms: list[Any] = [value]
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        forms.append(lowered == "true")
        return forms
    try:
        number = float(value)
    except ValueError:
        return forms
    if math.isfinite(number):
        forms.append(int(number) if number.is_integer() and "." not in value and "e" not in lowered else number)
    return forms


def _joined(operator: str, parts: list[Json]) -> Json:
    """``andAll`` / ``orAll`` of the parts, nested ones of the same operator spliced in; one part alone."""
    flat: list[Json] = []
    for part in parts:
        flat.extend(part[operator] if set(part) == {operator} else [part])
    return flat[0] if len(flat) == 1 else {operator: flat}


def _any_of(parts: list[Json]) -> Json:
    return _joined("orAll", parts)


def _all_of(parts: list[Json]) -> Json:
    return _joined("andAll", parts)


#: What ``_translate`` returns for a filter that holds for no chunk (None: for every chunk).
_NEVER: Json = {}


def _translate(node: Filter, *, negated: bool) -> Json | None:
    """``node`` (or, when ``negated``, its negation): Bedrock's filter, None when it holds for
    every chunk, or ``_NEVER`` when for none."""
    if isinstance(node, Eq):
        operator = "notEquals" if negated else "equals"
        parts = [{operator: {"key": node.key, "value": v}} for v in typed_values(node.value)]
        return _all_of(parts) if negated else _any_of(parts)
    if isinstance(node, In):
        return _membership(node, negated=negated)
    if isinstance(node, Range):
        return _range(node, negated=negated)
    if isinstance(node, Not):
        return _translate(node.filter, negated=not negated)
    if isinstance(node, And | Or):
        # Not(And(a, b)) is Or(Not a, Not b), and the other way round.
        conjunction = isinstance(node, And) != negated
        members = [_translate(member, negated=negated) for member in node.filters]
        if conjunction:
            if any(m is _NEVER for m in members):
                return _NEVER
            kept = [m for m in members if m is not None]  # a member that always holds drops out
            return _all_of(kept) if kept else None
        possible = [m for m in members if m is not _NEVER]
        if any(m is None for m in possible):
            return None  # one member always holds, so the disjunction does
        kept = [m for m in possible if m is not None]
        return _any_of(kept) if kept else _NEVER
    raise ValidationError(f"unknown filter node {type(node).__name__}")  # pragma: no cover - Filter is closed


def _membership(node: In, *, negated: bool) -> Json:
    strings = list(node.values)
    typed = [form for value in node.values for form in typed_values(value)[1:]]
    operator = "notIn" if negated else "in"
    parts: list[Json] = [{operator: {"key": node.key, "value": strings}}]
    numbers = [v for v in typed if not isinstance(v, bool)]
    if numbers:
        parts.append({operator: {"key": node.key, "value": numbers}})
    for flag in (v for v in typed if isinstance(v, bool)):
        parts.append({("notEquals" if negated else "equals"): {"key": node.key, "value": flag}})
    return _all_of(parts) if negated else _any_of(parts)


def _range(node: Range, *, negated: bool) -> Json:
    bounds = [(name, getattr(node, name)) for name, _ in _BOUNDS if getattr(node, name) is not None]
    for name, value in bounds:
        if not math.isfinite(value):
            raise ValidationError(f"filter 'range' on {node.key!r}: the {name} bound must be a finite number")
    names = dict(_BOUNDS)
    parts = [
        {(_OPPOSITE[name] if negated else names[name]): {"key": node.key, "value": _number(value)}}
        for name, value in bounds
    ]
    # Not(a and b) is (not a) or (not b).
    return _any_of(parts) if negated else _all_of(parts)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value
