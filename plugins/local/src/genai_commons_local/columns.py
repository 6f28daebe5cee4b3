"""The metadata of a block of rows as columns in memory, and portable filters evaluated on them as
boolean masks.

A collection's distinct metadata value strings are numbered once, in :class:`Values` (an
``int32`` code each, handed out in order and never changed). A block of ``size`` rows holds, per
metadata key, two arrays in :class:`Columns`:

- ``codes[key]`` (``int32``): the code of the row's value, ``-1`` where the row lacks the key;
- ``numbers[key]`` (``float64``): the value read as a number (:func:`.filters.number_of`), ``NaN``
  where the row lacks the key or its value is not a number.

That is **12 bytes per row per key** (4 for the code, 8 for the number): 36 MB for a million rows
with three keys. The value strings themselves are held once per collection, in :class:`Values`.

:meth:`Columns.mask` evaluates a :data:`~genai_commons.model.retrieval.Filter` on every row at
once, with exactly the meaning of :meth:`Filter.matches`:

- :class:`Eq` compares codes (a value never seen matches no row); :class:`In` of more than a few
  values looks the codes up in a boolean table indexed by code, whose last slot (where ``-1``
  lands) is False;
- :class:`Range` compares numbers; ``NaN`` never compares true, so a missing key or a value that
  is not a number never matches. A bound that is not exactly a ``float64`` (a large ``int``) is
  rounded in the direction that keeps the comparison exact;
- :class:`And`, :class:`Or`, :class:`Not` combine masks with ``&``, ``|``, ``~``: a row without
  the key is simply not a member of a leaf, so ``Not(Eq(k, v))`` holds for it; ``And()`` of
  nothing holds for every row.

Columns are immutable (their arrays are read-only): :meth:`Columns.concat` and
:meth:`Columns.take` make new ones. :meth:`Columns.to_arrays` and :meth:`Columns.from_arrays`
convert to and from plain arrays for :func:`numpy.savez` without pickling; key names (any text,
even with NUL characters, which numpy's ``str`` arrays drop at the end) travel as UTF-8 bytes with
offsets (:func:`pack_strings`), which also suits :meth:`Values.strings`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice
from operator import itemgetter
from types import MappingProxyType

import attrs
import numpy as np
from numpy.typing import NDArray

from genai_commons import ValidationError
from genai_commons.model.retrieval import And, Eq, Filter, In, Not, Or, Range

#: One metadata entry of a block: (position in the block, key, value, number or None).
Entry = tuple[int, str, str, float | None]

Mask = NDArray[np.bool_]

_BATCH = 65_536  # entries converted to arrays at a time while building
_FEW = 4  # an In of up to this many known values compares codes; beyond, it looks them up in a table
_POSITION, _KEY, _VALUE, _NUMBER = (itemgetter(i) for i in range(4))


class Values:
    """The distinct metadata value strings of one collection, each with an ``int32`` code (0, 1, 2,
    ...) in the order first seen. It only grows. Several threads may add values at once: codes are
    assigned under a lock, and lookups take none (a code is visible only once its string is
    stored, so ``len(values)`` always exceeds every code handed out)."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self._strings: list[str] = []
        self._lock = threading.Lock()

    @classmethod
    def of(cls, strings: Sequence[str]) -> Values:
        """The values with these codes (``strings[code]``), as :meth:`strings` returned them."""
        values = cls()
        values._strings = list(strings)
        values._codes = {text: code for code, text in enumerate(values._strings)}
        if len(values._codes) != len(values._strings):
            raise ValidationError("the saved metadata values repeat a value; delete the saved index to rebuild it")
        return values

    def code(self, value: str) -> int:
        """The value's code, assigned if the value is new."""
        code = self._codes.get(value)
        if code is not None:
            return code
        with self._lock:
            code = self._codes.get(value)
            if code is None:
                code = len(self._strings)
                self._strings.append(value)
                self._codes[value] = code
            return code

    def codes(self, values: Sequence[str]) -> NDArray[np.int32]:
        """The codes of many values at once (new ones assigned), as an array."""
        found = list(map(self._codes.get, values))
        if None in found:
            found = [self.code(value) if code is None else code for value, code in zip(values, found, strict=True)]
        return np.array(found, dtype=np.int32)

    def find(self, value: str) -> int | None:
        """The value's code, or None if it was never seen."""
        return self._codes.get(value)

    def __len__(self) -> int:
        return len(self._strings)

    def strings(self) -> list[str]:
        """Every value, at the index of its code (for persistence; :meth:`of` reads it back)."""
        return self._strings[: len(self._strings)]


def _frozen(array: NDArray[np.generic]) -> NDArray[np.generic]:
    array.flags.writeable = False
    return array


def _readonly_codes(columns: Mapping[str, NDArray[np.int32]]) -> Mapping[str, NDArray[np.int32]]:
    for array in columns.values():
        array.flags.writeable = False
    return MappingProxyType(dict(columns))


def _readonly_numbers(columns: Mapping[str, NDArray[np.float64]]) -> Mapping[str, NDArray[np.float64]]:
    for array in columns.values():
        array.flags.writeable = False
    return MappingProxyType(dict(columns))


@attrs.frozen(eq=False, kw_only=True)
class Columns:
    """The metadata of a block of ``size`` rows (positions ``0 .. size - 1``) as one array pair per
    key: ``codes`` (``int32``, ``-1`` where the row lacks the key) and ``numbers`` (``float64``,
    ``NaN`` where absent or not a number) — 12 bytes per row per key. Read-only."""

    size: int
    codes: Mapping[str, NDArray[np.int32]] = attrs.field(converter=_readonly_codes)
    numbers: Mapping[str, NDArray[np.float64]] = attrs.field(converter=_readonly_numbers)

    def __attrs_post_init__(self) -> None:
        if self.codes.keys() != self.numbers.keys():
            raise ValidationError("metadata columns need the same keys for codes and numbers")
        for key in self.codes:
            if self.codes[key].shape != (self.size,) or self.numbers[key].shape != (self.size,):
                raise ValidationError(f"the metadata column {key!r} does not have {self.size} rows")

    @classmethod
    def empty(cls, size: int) -> Columns:
        """A block of ``size`` rows without metadata."""
        return cls(size=size, codes={}, numbers={})

    @classmethod
    def build(cls, size: int, entries: Iterable[Entry], values: Values) -> Columns:
        """The columns of ``size`` rows from their metadata entries, one per (row, key), with the
        number as the store holds it (None: not a number). Values get their codes from ``values``."""
        positions, key_ids, codes, numbers = [], [], [], []
        keys: dict[str, int] = {}
        iterator = iter(entries)
        while batch := list(islice(iterator, _BATCH)):
            # Field by field with itemgetter, not zip(*batch): that makes an iterator per entry,
            # which the garbage collector counts, and full collections then triple the time.
            for key in dict.fromkeys(map(_KEY, batch)):
                keys.setdefault(key, len(keys))
            positions.append(np.fromiter(map(_POSITION, batch), dtype=np.int64, count=len(batch)))
            key_ids.append(np.fromiter(map(keys.__getitem__, map(_KEY, batch)), dtype=np.int32, count=len(batch)))
            codes.append(values.codes(list(map(_VALUE, batch))))
            numbers.append(np.array(list(map(_NUMBER, batch)), dtype=np.float64))  # None becomes NaN
        if not keys:
            return cls.empty(size)
        all_positions = np.concatenate(positions)
        if all_positions.min() < 0 or all_positions.max() >= size:
            raise ValidationError(f"a metadata entry's position lies outside the block of {size} rows")
        all_keys, all_codes, all_numbers = np.concatenate(key_ids), np.concatenate(codes), np.concatenate(numbers)
        order = np.argsort(all_keys, kind="stable")
        ends = np.cumsum(np.bincount(all_keys, minlength=len(keys)))
        code_columns: dict[str, NDArray[np.int32]] = {}
        number_columns: dict[str, NDArray[np.float64]] = {}
        for key, index in keys.items():
            rows = order[ends[index - 1] if index else 0 : ends[index]]
            code_columns[key] = np.full(size, -1, dtype=np.int32)
            code_columns[key][all_positions[rows]] = all_codes[rows]
            number_columns[key] = np.full(size, np.nan, dtype=np.float64)
            number_columns[key][all_positions[rows]] = all_numbers[rows]
        return cls(size=size, codes=code_columns, numbers=number_columns)

    @classmethod
    def concat(cls, parts: Sequence[Columns]) -> Columns:
        """The blocks one after another; a key missing from a part is absent for its rows."""
        keys = list(dict.fromkeys(key for part in parts for key in part.codes))
        size = sum(part.size for part in parts)
        codes = {
            key: np.concatenate(
                [p.codes[key] if key in p.codes else np.full(p.size, -1, dtype=np.int32) for p in parts]
                or [np.empty(0, dtype=np.int32)]
            )
            for key in keys
        }
        numbers = {
            key: np.concatenate(
                [p.numbers[key] if key in p.numbers else np.full(p.size, np.nan) for p in parts]
                or [np.empty(0, dtype=np.float64)]
            )
            for key in keys
        }
        return cls(size=size, codes=codes, numbers=numbers)

    def take(self, positions: NDArray[np.int64]) -> Columns:
        """The rows at these positions, in that order (a position may repeat)."""
        return Columns(
            size=len(positions),
            codes={key: column[positions] for key, column in self.codes.items()},
            numbers={key: column[positions] for key, column in self.numbers.items()},
        )

    def mask(self, filter: Filter, values: Values) -> Mask:
        """For each row, whether ``filter`` matches its metadata (as :meth:`Filter.matches` says).
        ``values`` must be the one the columns were built with."""
        match filter:
            case Eq(key=key, value=value):
                code = values.find(value)
                if key not in self.codes or code is None:
                    return self._none()
                return _equal(self.codes[key], code)
            case In(key=key, values=wanted):
                if key not in self.codes:
                    return self._none()
                found = [code for code in map(values.find, wanted) if code is not None]
                if not found:
                    return self._none()
                if len(found) <= _FEW:
                    result = _equal(self.codes[key], found[0])
                    for code in found[1:]:
                        result |= _equal(self.codes[key], code)
                    return result
                # One slot per code and a last one, where the -1 of a missing key lands: False.
                table = np.zeros(len(values) + 1, dtype=np.bool_)
                table[found] = True
                looked_up: Mask = table[self.codes[key]]
                return looked_up
            case Range(key=key):
                if key not in self.numbers:
                    return self._none()
                return self._range(filter, self.numbers[key])
            case And(filters=filters):
                result = np.ones(self.size, dtype=np.bool_)
                for inner in filters:
                    result &= self.mask(inner, values)
                return result
            case Or(filters=filters):
                result = self._none()
                for inner in filters:
                    result |= self.mask(inner, values)
                return result
            case Not(filter=inner):
                return ~self.mask(inner, values)
        raise ValidationError(f"not a metadata filter: {filter!r}; use Eq, In, Range, And, Or or Not")

    def _none(self) -> Mask:
        return np.zeros(self.size, dtype=np.bool_)

    def _range(self, filter: Range, numbers: NDArray[np.float64]) -> Mask:
        result: Mask | None = None
        bounds = (
            (filter.gt, True, True),
            (filter.gte, True, False),
            (filter.lt, False, True),
            (filter.lte, False, False),
        )
        for bound, above, strict in bounds:
            if bound is None:
                continue
            compare, limit = _comparison(bound, above=above, strict=strict)
            test: Mask = compare(numbers, limit)
            result = test if result is None else result & test
        return self._none() if result is None else result

    def to_arrays(self) -> dict[str, NDArray[np.generic]]:
        """Plain arrays for :func:`numpy.savez` (no object arrays, so no pickling on load)."""
        keys = list(self.codes)
        data, offsets = pack_strings(keys)
        return {
            "size": np.array(self.size, dtype=np.int64),
            "key_data": data,
            "key_offsets": offsets,
            "codes": np.stack([self.codes[k] for k in keys]) if keys else np.empty((0, self.size), np.int32),
            "numbers": np.stack([self.numbers[k] for k in keys]) if keys else np.empty((0, self.size), np.float64),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, NDArray[np.generic]]) -> Columns:
        """The columns that :meth:`to_arrays` gave."""
        try:
            size = int(arrays["size"])
            keys = unpack_strings(arrays["key_data"], arrays["key_offsets"])
            codes = np.asarray(arrays["codes"], dtype=np.int32)
            numbers = np.asarray(arrays["numbers"], dtype=np.float64)
        except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
            raise ValidationError(
                f"the saved metadata columns cannot be read ({exc}); delete the saved index to rebuild it"
            ) from exc
        if codes.shape != (len(keys), size) or numbers.shape != (len(keys), size):
            raise ValidationError("the saved metadata columns are inconsistent; delete the saved index to rebuild it")
        return cls(
            size=size,
            codes={key: codes[i] for i, key in enumerate(keys)},
            numbers={key: numbers[i] for i, key in enumerate(keys)},
        )

    def nbytes(self) -> int:
        """The memory the arrays take (12 bytes per row per key)."""
        return sum(a.nbytes for a in self.codes.values()) + sum(a.nbytes for a in self.numbers.values())


def _equal(column: NDArray[np.int32], code: int) -> Mask:
    equal: Mask = column == code
    return equal


Compare = Callable[[NDArray[np.float64], float], Mask]


def _comparison(bound: float, *, above: bool, strict: bool) -> tuple[Compare, float]:
    """The numpy comparison and float64 limit equal to ``number > bound`` (``above``, ``strict``),
    ``>=``, ``<`` or ``<=`` for every float64 ``number``, even where ``bound`` (an ``int``, say) is
    not a float64: then no float lies between it and its nearest float, and the test turns strict
    or not accordingly."""
    try:
        limit = float(bound)
    except OverflowError:
        limit = math.inf if bound > 0 else -math.inf
    if limit != bound and not math.isnan(limit):
        strict = limit < bound if above else limit > bound
    if above:
        return (np.greater if strict else np.greater_equal), limit
    return (np.less if strict else np.less_equal), limit


def pack_strings(strings: Sequence[str]) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Strings as their UTF-8 bytes end to end and the offset where each ends, for saving with
    :func:`numpy.savez` without pickling; any text survives (NUL characters too)."""
    encoded = [text.encode("utf-8", "surrogatepass") for text in strings]
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    offsets = np.cumsum([len(e) for e in encoded], dtype=np.int64)
    return data, offsets


def unpack_strings(data: NDArray[np.generic], offsets: NDArray[np.generic]) -> list[str]:
    """The strings that :func:`pack_strings` packed."""
    blob = np.asarray(data, dtype=np.uint8).tobytes()
    ends = [int(end) for end in np.asarray(offsets, dtype=np.int64)]
    return [blob[start:end].decode("utf-8", "surrogatepass") for start, end in zip([0, *ends], ends, strict=False)]
