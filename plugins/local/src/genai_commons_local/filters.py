"""The portable metadata filter as an SQL condition on a chunk, with bound parameters only.

Each leaf (:class:`Eq`, :class:`In`, :class:`Range`) is a ``SELECT`` of the row ids of the
chunks whose ``metadata`` rows match it, and a whole filter a membership
test of the chunk's row id in those sets (:func:`condition`), so a missing key is simply "not a
member" and SQL's three-valued logic never leaks into :class:`Not`: the condition is true exactly
when :meth:`Filter.matches` is. Keys, values and bounds travel as parameters; the SQL text is
made of constant fragments only, whatever the filter holds.

Listings and keyword searches use :func:`condition`; vector searches evaluate the same filter in
memory (:mod:`.columns`).
"""

from __future__ import annotations

import json
import math

from genai_commons import ValidationError
from genai_commons.model.retrieval import And, Eq, Filter, In, Not, Or, Range

#: A condition and its parameters, in order.
Condition = tuple[str, list[object]]

_LEAF = "SELECT m.chunk FROM metadata m WHERE m.key = ? AND {test}"
_RANGE_TESTS = (("gt", "m.number > ?"), ("gte", "m.number >= ?"), ("lt", "m.number < ?"), ("lte", "m.number <= ?"))

#: The leaves of the filter form: each matches on one metadata key.
Leaf = Eq | In | Range


def condition(filter: Filter, column: str = "c.id") -> Condition:
    """The SQL condition (for a ``WHERE``) that holds for the chunk rows ``column`` names when
    ``filter`` matches their metadata. ``column`` is a constant of the caller's query."""
    params: list[object] = []
    sql = _translate(filter, column, params)
    return sql, params


def _leaf(leaf: Leaf, params: list[object]) -> str:
    match leaf:
        case Eq(key=key, value=value):
            params.extend((key, value))
            return _LEAF.format(test="m.value = ?")
        case In(key=key, values=values):
            # One JSON parameter, whatever the number of values (no limit on bound variables).
            # SQLite's JSON functions end a text at a NUL character ("a\0b" would come out as
            # "a"), so the rare values holding one are bound one by one.
            whole = [value for value in values if "\x00" in value]
            params.extend((key, json.dumps([value for value in values if "\x00" not in value])))
            test = "m.value IN (SELECT j.value FROM json_each(?) j)"
            if whole:
                params.extend(whole)
                test = f"({test} OR m.value IN ({', '.join('?' * len(whole))}))"
            return _LEAF.format(test=test)
        case Range():
            params.append(leaf.key)
            tests = []
            for name, test in _RANGE_TESTS:
                bound = getattr(leaf, name)
                if bound is not None:
                    tests.append(test)
                    params.append(float(bound))
            return _LEAF.format(test=" AND ".join(tests))
    raise ValidationError(f"not a metadata filter: {leaf!r}; use Eq, In, Range, And, Or or Not")


def _translate(filter: Filter, column: str, params: list[object]) -> str:
    match filter:
        case Eq() | In() | Range():
            return f"{column} IN ({_leaf(filter, params)})"
        case And(filters=filters):
            if not filters:
                return "1"
            return "(" + " AND ".join(_translate(f, column, params) for f in filters) + ")"
        case Or(filters=filters):
            return "(" + " OR ".join(_translate(f, column, params) for f in filters) + ")"
        case Not(filter=inner):
            return "NOT (" + _translate(inner, column, params) + ")"
    raise ValidationError(f"not a metadata filter: {filter!r}; use Eq, In, Range, And, Or or Not")


def number_of(value: str) -> float | None:
    """A metadata value read as a number the way :class:`Range` reads it, or None (NaN too)."""
    try:
        number = float(value)
    except ValueError:
        return None
    return None if math.isnan(number) else number
