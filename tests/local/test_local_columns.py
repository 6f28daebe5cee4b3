"""Metadata columns in memory: masks agree with Filter.matches for any filter and any metadata, and
columns survive concatenation, selection and a save/load round trip."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_commons import And, Eq, Filter, In, Not, Or, Range, ValidationError
from genai_commons_local.columns import Columns, Values, pack_strings, unpack_strings
from genai_commons_local.filters import number_of

Row = dict[str, str]

#: Keys in the metadata, and one ("absent") that no row has.
KEYS = st.sampled_from(["a", "b", "c", "absent"])
ROW_KEYS = st.sampled_from(["a", "b", "c"])
#: Numbers, things float() reads in odd ways, plain text, and numbers where an int bound is not a
#: float64 (2**53, 1e20, beyond 1e308).
VALUES = st.sampled_from(
    [
        "1",
        "2",
        "10",
        "-1.5",
        "0",
        "-0",
        "1e3",
        " 2 ",
        "1_000",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "1e400",
        "x",
        "",
        "it's",
        "9007199254740992",
        "1e20",
        "1.5e308",
    ]
)
#: Values that may or may not occur in the rows.
WANTED = VALUES | st.sampled_from(["never", "3"])
BOUND = (
    st.floats(allow_nan=True)
    | st.floats(-3, 12)
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([2**53 + 1, -(2**53) - 1, 10**400, -(10**400), 1000, 2])
)
BOUNDS = st.none() | BOUND


@st.composite
def range_filter(draw: st.DrawFn) -> Filter:
    bounds = {name: draw(BOUNDS) for name in ("gt", "gte", "lt", "lte")}
    if all(b is None for b in bounds.values()):
        bounds[draw(st.sampled_from(sorted(bounds)))] = draw(BOUND)
    return Range(key=draw(KEYS), **bounds)


LEAVES: st.SearchStrategy[Filter] = st.one_of(
    st.builds(Eq, key=KEYS, value=WANTED),
    st.builds(In, key=KEYS, values=st.lists(WANTED, min_size=1, max_size=12)),
    range_filter(),
)
FILTERS: st.SearchStrategy[Filter] = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.builds(And, filters=st.lists(inner, max_size=3)),
        st.builds(Or, filters=st.lists(inner, min_size=1, max_size=3)),
        st.builds(Not, filter=inner),
    ),
    max_leaves=8,
)
ROWS = st.lists(st.dictionaries(ROW_KEYS, VALUES, max_size=3), max_size=300)


def entries(rows: list[Row]) -> Iterator[tuple[int, str, str, float | None]]:
    """The rows' metadata as the store holds it: (position, key, value, number)."""
    for position, row in enumerate(rows):
        for key, value in row.items():
            yield position, key, value, number_of(value)


def expected(filter: Filter, rows: list[Row]) -> list[bool]:
    return [filter.matches(row) for row in rows]


@settings(max_examples=300, deadline=None)
@given(rows=ROWS, filters=st.lists(FILTERS, min_size=1, max_size=4), data=st.data())
def test_masks_agree_with_filter_matches(rows: list[Row], filters: list[Filter], data: st.DataObject) -> None:
    values = Values()
    columns = Columns.build(len(rows), entries(rows), values)
    # The same rows as two blocks built apart (different keys in each), and a shuffled selection.
    split = data.draw(st.integers(0, len(rows)))
    parts = Columns.concat(
        [
            Columns.build(split, entries(rows[:split]), values),
            Columns.build(len(rows) - split, entries(rows[split:]), values),
        ]
    )
    order = np.array(data.draw(st.permutations(range(len(rows)))), dtype=np.int64)
    taken = columns.take(order)
    for filter in filters:
        want = expected(filter, rows)
        assert columns.mask(filter, values).tolist() == want, filter
        assert parts.mask(filter, values).tolist() == want, filter
        assert taken.mask(filter, values).tolist() == [want[i] for i in order], filter


ROWS_OF_A_FEW = [{"a": "1", "b": "x"}, {}, {"a": "nan", "c": " 2 "}, {"b": "x", "c": "1e3"}]


def test_a_missing_key_is_not_a_member() -> None:
    values = Values()
    columns = Columns.build(4, entries(ROWS_OF_A_FEW), values)
    assert columns.mask(Not(filter=Eq(key="a", value="1")), values).tolist() == [False, True, True, True]
    assert columns.mask(Not(filter=Eq(key="zzz", value="1")), values).tolist() == [True] * 4
    assert columns.mask(Range(key="a", gte=-1e300), values).tolist() == [
        True,
        False,
        False,
        False,
    ]  # "nan" is no number
    assert columns.mask(Range(key="c", gt=1.5), values).tolist() == [False, False, True, True]
    assert columns.mask(And(filters=[]), values).tolist() == [True] * 4
    assert columns.mask(In(key="b", values=["x", "never"]), values).tolist() == [True, False, False, True]
    assert columns.mask(In(key="b", values=["never"]), values).tolist() == [False] * 4
    many = In(key="c", values=[" 2 ", "1", "x", "1e3", "nan", "never"])  # past the few compared one by one
    assert columns.mask(many, values).tolist() == [False, False, True, True]
    assert columns.mask(Not(filter=many), values).tolist() == [True, True, False, False]


@pytest.mark.parametrize(
    "bound", [2**53 + 1, -(2**53) - 1, 10**20 + 1, 10**20 - 1, 10**400, -(10**400), 2**53, float("nan"), 2.5]
)
def test_bounds_that_are_not_float64_compare_exactly(bound: float) -> None:
    texts = ["9007199254740992", "-9007199254740992", "1e20", "1.5e308", "inf", "-1.5e308", "-inf", "2.5", "3"]
    rows = [{"n": text} for text in texts]
    values = Values()
    columns = Columns.build(len(rows), entries(rows), values)
    for name in ("gt", "gte", "lt", "lte"):
        filter = Range(key="n", **{name: bound})
        assert columns.mask(filter, values).tolist() == expected(filter, rows), filter


def test_concat_fills_keys_missing_from_a_part() -> None:
    values = Values()
    first = Columns.build(2, [(0, "a", "1", 1.0), (1, "a", "two", None)], values)
    second = Columns.build(3, [(2, "b", "5", 5.0)], values)
    both = Columns.concat([first, Columns.empty(1), second])
    assert both.size == 6
    assert both.codes["a"].tolist() == [values.find("1"), values.find("two"), -1, -1, -1, -1]
    assert both.codes["b"].tolist() == [-1, -1, -1, -1, -1, values.find("5")]
    assert np.isnan(both.numbers["a"][1:]).all() and both.numbers["a"][0] == 1.0
    assert both.numbers["b"][5] == 5.0 and np.isnan(both.numbers["b"][:5]).all()
    assert Columns.concat([]).size == 0


def test_take_selects_rows_in_order() -> None:
    values = Values()
    columns = Columns.build(4, entries(ROWS_OF_A_FEW), values)
    taken = columns.take(np.array([3, 0, 0], dtype=np.int64))
    assert taken.size == 3
    assert taken.codes["b"].tolist() == [values.find("x")] * 3
    assert taken.codes["a"].tolist() == [-1, values.find("1"), values.find("1")]
    assert taken.numbers["c"][0] == 1000.0 and np.isnan(taken.numbers["c"][1:]).all()


def test_columns_are_read_only_and_take_twelve_bytes_per_row_and_key() -> None:
    values = Values()
    columns = Columns.build(4, entries(ROWS_OF_A_FEW), values)
    assert columns.nbytes() == 12 * 4 * 3
    with pytest.raises(ValueError, match="read-only"):
        columns.codes["a"][0] = 7


def test_build_rejects_a_position_outside_the_block() -> None:
    with pytest.raises(ValidationError, match="outside the block"):
        Columns.build(2, [(2, "a", "1", 1.0)], Values())
    assert Columns.build(3, [], Values()).mask(And(filters=[]), Values()).tolist() == [True] * 3


def test_arrays_round_trip_through_npz_without_pickling() -> None:
    odd_keys = ["a\x00", "", "Ωmega ✓", "key with space", "\x00"]
    rows = [{key: str(i * j) for j, key in enumerate(odd_keys) if (i + j) % 2} for i in range(7)]
    values = Values()
    columns = Columns.build(len(rows), entries(rows), values)
    buffer = io.BytesIO()
    np.savez(buffer, **columns.to_arrays())
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as saved:
        loaded = Columns.from_arrays(dict(saved))
    assert loaded.size == columns.size
    assert list(loaded.codes) == list(columns.codes) and set(columns.codes) == set(odd_keys)
    for key in odd_keys:
        assert loaded.codes[key].tolist() == columns.codes[key].tolist()
        np.testing.assert_array_equal(loaded.numbers[key], columns.numbers[key])
    filter = Or(filters=[Eq(key="a\x00", value="1"), Range(key="\x00", gte=8)])
    assert loaded.mask(filter, values).tolist() == expected(filter, rows)
    empty = Columns.from_arrays(Columns.empty(3).to_arrays())
    assert empty.size == 3 and not empty.codes


def test_from_arrays_rejects_inconsistent_arrays() -> None:
    arrays = Columns.build(2, [(0, "a", "1", 1.0)], Values()).to_arrays()
    arrays["size"] = np.array(5)
    with pytest.raises(ValidationError, match="rebuild"):
        Columns.from_arrays(arrays)
    with pytest.raises(ValidationError, match="rebuild"):
        Columns.from_arrays({})


def test_values_persist_as_packed_strings() -> None:
    values = Values()
    texts = ["b", "", "a\x00", "\x00", "Ω"]
    assert [values.code(text) for text in texts] == [0, 1, 2, 3, 4]
    again = Values.of(unpack_strings(*pack_strings(values.strings())))
    assert [again.find(text) for text in texts] == [0, 1, 2, 3, 4]
    assert again.find("never") is None and len(again) == 5
    assert unpack_strings(*pack_strings([])) == []
    with pytest.raises(ValidationError, match="repeat"):
        Values.of(["a", "a"])


def test_threads_coding_overlapping_values_get_one_code_each() -> None:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to provoke races
    try:
        for _ in range(10):
            code_at_once(threads_count=8, per_thread=3_000)
    finally:
        sys.setswitchinterval(previous)


def code_at_once(threads_count: int, per_thread: int) -> None:
    """Threads released together code mostly the same values, most in the same order (where
    they collide most), some reversed or through the bulk call; every value must get one code."""
    values = Values()
    start = threading.Barrier(threads_count)
    results: list[dict[str, int]] = [{} for _ in range(threads_count)]

    def work(index: int) -> None:
        texts = [f"v{(index // 4 * 500 + i)}" for i in range(per_thread)]
        if index == threads_count - 1:
            texts.reverse()
        start.wait()
        if index == 0:
            results[index] = dict(zip(texts, values.codes(texts).tolist(), strict=True))
        else:
            results[index] = {text: values.code(text) for text in texts}

    threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    strings = values.strings()
    assert len(strings) == len(set(strings)) == len(values)
    assert sorted(strings) == sorted(set().union(*results))
    for result in results:
        for text, code in result.items():
            assert strings[code] == text
            assert values.find(text) == code
