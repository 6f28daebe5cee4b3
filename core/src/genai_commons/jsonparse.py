"""Parsing JSON that came from outside — a provider's answer, a stream event, a model's tool-call
arguments — where the nesting is chosen by whoever wrote it.

The standard library's parser recurses once per level: an answer of 200 KB nested 100,000 levels
deep (``[[[[…]]]]``) raises :class:`RecursionError`, which no handler of "not JSON" expects, and
one nested just under the interpreter's limit parses, then breaks whatever walks it next
(``json.dumps``, ``repr``). :func:`loads` refuses JSON nested deeper than :data:`MAX_DEPTH` levels
with :class:`JSONTooDeep`, a :class:`json.JSONDecodeError` (so a :class:`ValueError`): every
``except ValueError`` or ``except json.JSONDecodeError`` that maps an answer that is not JSON maps
this one too. :func:`check_depth` does the check alone, on what a faster parser (orjson) made.

The check walks the parsed value level by level, without recursion; the items of each list or
object are sorted by type in one C-level pass, so an embedding vector costs tens of microseconds
(a tenth of the time json takes to parse it).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "JSONTooDeep", "check_depth", "loads"]

#: The deepest nesting accepted: far beyond any API's answer, far below the interpreter's
#: recursion limit (1000), so that code walking a parsed answer has room to recurse.
MAX_DEPTH = 256


class JSONTooDeep(json.JSONDecodeError):
    """JSON nested deeper than :data:`MAX_DEPTH` levels, or than the parser can follow."""

    def __init__(
        self, msg: str = f"the JSON is nested more than {MAX_DEPTH} levels deep", doc: str = "", pos: int = 0
    ) -> None:
        super().__init__(msg, doc, pos)
        self.args = (msg,)  # no line and column: the whole text is the problem


def _nested(items: Any) -> list[Any]:
    """The lists and objects among ``items``."""
    kinds = set(map(type, items))
    if list not in kinds and dict not in kinds:
        return []
    return [item for item in items if type(item) is list or type(item) is dict]


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`JSONTooDeep` when ``value`` (parsed JSON: dicts, lists and scalars) nests more
    than ``limit`` lists and objects."""
    level = [value] if type(value) is list or type(value) is dict else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            raise JSONTooDeep(f"the JSON is nested more than {limit} levels deep")
        below: list[Any] = []
        for node in level:
            below += _nested(node.values() if type(node) is dict else node)
        level = below


def loads(text: str | bytes | bytearray) -> Any:
    """:func:`json.loads`, raising :class:`JSONTooDeep` for JSON nested more than :data:`MAX_DEPTH`
    levels deep (instead of a :class:`RecursionError`, or of a value too deep to walk)."""
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise JSONTooDeep() from exc
    check_depth(value)
    return value
