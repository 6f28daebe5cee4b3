"""Segments appended at the end of a snapshot write their vectors into the room after the segment
before them: the new rows are copied once, older snapshots keep seeing exactly their own rows, and
two snapshots grown from one never write over each other's rows."""

from __future__ import annotations

import numpy as np

from genai_commons import Eq
from genai_commons_local.columns import Columns, Values
from genai_commons_local.segments import MERGE_ROWS, Segment, Snapshot

DIM = 8


def block(first: int, count: int, values: Values, tag: str = "x") -> Segment:
    ids = np.arange(first, first + count, dtype=np.int64)
    rng = np.random.default_rng(first)
    matrix = rng.standard_normal((count, DIM)).astype(np.float32)
    entries = [(i, "tag", tag, None) for i in range(count)]
    return Segment(ids=ids, matrix=matrix, columns=Columns.build(count, entries, values))


def snapshot(values: Values, *segments: Segment) -> Snapshot:
    return Snapshot(uid="u", version=1, dimension=DIM, last_row=0, last_tombstone=0, values=values, segments=segments)


def test_appended_rows_land_after_the_segment_before_them_and_old_views_do_not_change() -> None:
    values = Values()
    first, second, third = block(1, 10, values), block(11, 5, values, "y"), block(16, 3, values)
    one = snapshot(values, first).appended(second)
    assert len(one.segments) == 1 and one.segments[0].room is not None
    before = one.segments[0].matrix.copy()
    two = one.appended(third)
    joined = two.segments[0]
    assert joined.room is one.segments[0].room, "the second append writes into the same room"
    assert np.array_equal(one.segments[0].matrix, before), "the older snapshot sees its rows only"
    assert np.array_equal(joined.matrix, np.concatenate([first.matrix, second.matrix, third.matrix]))
    assert joined.ids.tolist() == list(range(1, 19))
    tagged = joined.mask(Eq(key="tag", value="y"), values)
    assert tagged is not None and np.flatnonzero(tagged).tolist() == list(range(10, 15))


def test_two_snapshots_grown_from_one_do_not_share_the_rows_after_it() -> None:
    values = Values()
    one = snapshot(values, block(1, 4, values)).appended(block(5, 4, values))
    left = one.appended(block(9, 2, values))
    right = one.appended(block(20, 3, values))  # the room after `one` is taken: a new room
    assert left.segments[0].room is not right.segments[0].room
    assert left.segments[0].ids.tolist()[-2:] == [9, 10]
    assert right.segments[0].ids.tolist()[-3:] == [20, 21, 22]
    assert np.array_equal(left.segments[0].matrix[-2:], block(9, 2, values).matrix)
    assert np.array_equal(right.segments[0].matrix[-3:], block(20, 3, values).matrix)


def test_deleted_rows_stay_flagged_and_a_full_room_starts_a_new_segment() -> None:
    values = Values()
    grown = snapshot(values, block(1, 6, values)).appended(block(7, 6, values))
    grown = grown.without(np.asarray([2, 8], dtype=np.int64)).appended(block(13, 2, values))
    (segment,) = grown.segments
    assert len(segment) == 14 and segment.live_count == 12
    assert not segment.live_mask()[[1, 7]].any()
    big = block(100, MERGE_ROWS - 5, values)
    after = grown.appended(big)
    assert [len(s) for s in after.segments] == [14, MERGE_ROWS - 5], "too many rows to join"
    q = np.ones(DIM, dtype=np.float32)
    ids, _ = after.top_k(q, 50)
    assert not {2, 8} & set(ids.tolist()), "a deleted row is never found"
