"""What botocore hands over, checked against the service model before the plugin reads it.

botocore parses leniently: an event whose payload is not JSON parses as an empty event (its text
is taken for an error message and dropped), a known event carrying another's payload lacks its
required members, and values of the wrong type pass as they are. Read on, such an event would
be lost without a word, or fail deep in the plugin as a ``TypeError``. :func:`mismatch` compares a
parsed answer or event with its shape in botocore's service model (required members, types), and
:func:`checked_events` refuses a stream event that does not fit as damaged
(``ServiceUnavailableError``), after checking the call's deadline for every event botocore hands
over — those the plugin consumes without yielding anything included. Events of a kind the
installed botocore does not know are skipped by botocore itself (new kinds must not break old
clients); their bytes still count against the deadline (:mod:`.bounded_reads`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from genai_commons import ServiceUnavailableError, deadlines

from .errors import PROVIDER

__all__ = ["ShapeMismatch", "checked_events", "event_shapes", "mismatch"]

_NUMBERS = (int, float)
#: The Python type botocore gives each scalar type of the service model.
_SCALARS: Mapping[str, type | tuple[type, ...]] = {
    "string": str,
    "boolean": bool,
    "integer": int,
    "long": int,
    "float": _NUMBERS,
    "double": _NUMBERS,
    "blob": (bytes, bytearray),
    "timestamp": datetime,
}


class ShapeMismatch(Exception):
    """An answer or event that does not fit the service model: the ``__cause__`` of the
    ``ServiceUnavailableError`` raised for it."""


def mismatch(value: Any, shape: Any, path: str) -> str | None:
    """Where ``value`` (as botocore parsed it) does not fit ``shape`` (a botocore ``Shape``), in
    words (``stream.contentBlockDelta.delta.text is not a string``), or None when it fits.
    Documents (free-form JSON) fit whatever they hold."""
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_document_type", False):
            return None
        if not isinstance(value, Mapping):
            return f"{path} is not an object"
        missing = [name for name in shape.required_members if name not in value]
        if missing:
            return f"{path} lacks {', '.join(missing)}"
        members = shape.members
        for name, item in value.items():
            member = members.get(name)
            found = None if member is None else mismatch(item, member, f"{path}.{name}")
            if found:
                return found
        return None
    if kind == "list":
        if not isinstance(value, list):
            return f"{path} is not a list"
        return next((f for i, v in enumerate(value) if (f := mismatch(v, shape.member, f"{path}[{i}]"))), None)
    if kind == "map":
        return None if isinstance(value, Mapping) else f"{path} is not an object"
    expected = _SCALARS.get(kind)
    if expected is None:
        return None
    if not isinstance(value, expected) or (isinstance(value, bool) and kind != "boolean"):
        return f"{path} is not {'an' if kind[0] in 'aeiou' else 'a'} {kind}"
    return None


def event_shapes(client: Any, operation: str, member: str) -> Any:
    """The shape of the event stream ``member`` of ``operation``'s answer (``ConverseStream``,
    ``stream``), from the client's service model."""
    return client.meta.service_model.operation_model(operation).output_shape.members[member]


def checked_events(events: Iterable[Mapping[str, Any]], shapes: Any, *, what: str) -> Iterator[Mapping[str, Any]]:
    """``events`` (botocore's, each ``{kind: body}``), the deadline in force checked before each is
    looked at, and each compared with its shape: a known kind that parsed to nothing (a payload
    that is not its JSON object) or does not fit its shape raises ``ServiceUnavailableError``.

    :param shapes: the event stream's shape (:func:`event_shapes`).
    :param what: the stream, for the message (``the ConverseStream answer``).
    """
    members = shapes.members
    for event in events:
        deadlines.check(PROVIDER)
        for kind, body in event.items():
            shape = members.get(kind)
            if shape is None:
                continue
            problem = f"its {kind} event is empty" if not body else mismatch(body, shape, kind)
            if problem:
                raise ServiceUnavailableError(
                    f"{what} was damaged in transit or is not Bedrock's ({problem}); the answer is incomplete, "
                    "try again",
                    provider=PROVIDER,
                ) from ShapeMismatch(problem)
        yield event
