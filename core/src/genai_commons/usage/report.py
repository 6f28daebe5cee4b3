"""Usage reports: sums over a period, grouped by model, day, provider or model and day.

Periods are in UTC and half-open (``since <= timestamp < until``); a ``date`` given as ``until``
includes that whole day. Reports export to CSV (stdlib ``csv``) and to JSON (the cattrs form).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from attrs import frozen

from ..errors import ValidationError
from .sqlite_store import UsageDatabase


class GroupBy(StrEnum):
    """How a report groups its rows."""

    MODEL = "model"
    DAY = "day"
    PROVIDER = "provider"
    OPERATION = "operation"
    #: One row per day and model: the data of the daily chart.
    MODEL_DAY = "model_day"


_MODEL = ("provider", "model_id", "deployed_model_display_name")
#: The row fields that identify a group, per grouping (in column order).
GROUP_FIELDS: dict[GroupBy, tuple[str, ...]] = {
    GroupBy.MODEL: _MODEL,
    GroupBy.DAY: ("day",),
    GroupBy.PROVIDER: ("provider",),
    GroupBy.OPERATION: ("operation",),
    GroupBy.MODEL_DAY: ("day", *_MODEL),
}
SUM_FIELDS = (
    "calls",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "duration_ms",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost",
    "unpriced_records",
)


@frozen(kw_only=True)
class UsageRow:
    """The sums of one group; the group's own fields are set, the others are None."""

    provider: str | None = None
    model_id: str | None = None
    deployed_model_display_name: str | None = None
    operation: str | None = None
    day: date | None = None
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    duration_ms: float = 0.0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    #: USD: the sum over the group's records that have a cost; None when none has one.
    cost: float | None = None
    #: Records without a cost (no price known for their model, or recorded before costs were).
    unpriced_records: int = 0

    @property
    def model(self) -> str:
        """``provider:model_id``."""
        return f"{self.provider}:{self.model_id}"

    @property
    def model_label(self) -> str:
        """The deployed model's display name, or ``provider:model_id`` when it has none."""
        return self.deployed_model_display_name or self.model


@frozen(kw_only=True)
class UsageReport:
    """Usage sums over a period, one row per group, ordered by the group's fields."""

    by: GroupBy
    #: Start of the period (inclusive); None: from the first record.
    since: datetime | None
    #: End of the period (exclusive); None: up to now.
    until: datetime | None
    rows: tuple[UsageRow, ...]
    total: UsageRow

    @property
    def fields(self) -> tuple[str, ...]:
        """The columns of the export: the group's fields, then the sums."""
        return (*GROUP_FIELDS[self.by], *SUM_FIELDS)

    def days(self, *, today: date | None = None) -> list[date]:
        """Every day of the period (for a chart), from ``since`` (or the first row's day) to
        ``until`` (or today)."""
        days = [row.day for row in self.rows if row.day is not None]
        first = self.since.date() if self.since is not None else min(days, default=None)
        if first is None:
            return []
        last = (self.until - timedelta(microseconds=1)).date() if self.until else (today or datetime.now(UTC).date())
        last = max([last, *days])
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def to_dict(self) -> dict[str, Any]:
        """The cattrs form, with only the group's own fields in each row."""
        from ..serialization import unstructure  # noqa: PLC0415 - cattrs only when exporting

        data: dict[str, Any] = unstructure(self)
        keep = set(self.fields)
        data["rows"] = [{k: v for k, v in row.items() if k in keep} for row in data["rows"]]
        data["total"] = {k: v for k, v in data["total"].items() if k in SUM_FIELDS}
        return data

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def write_csv(self, file: TextIO) -> int:
        """Write a header and one line per row; returns the number of rows. Open files with
        ``newline=""``."""
        writer = csv.writer(file)
        writer.writerow(self.fields)
        for row in self.rows:
            writer.writerow([_csv_value(getattr(row, name), name) for name in self.fields])
        return len(self.rows)

    def save_csv(self, path: str | Path) -> int:
        """Write the CSV file at ``path``; returns the number of rows."""
        with Path(path).open("w", encoding="utf-8", newline="") as file:
            return self.write_csv(file)


@frozen(kw_only=True)
class CleanupResult:
    """What a clean-up did: ``deleted`` records older than ``cutoff``; ``older_than_days`` None
    means retention keeps everything and nothing was deleted."""

    database: str
    older_than_days: int | None
    cutoff: datetime | None
    deleted: int


def _csv_value(value: Any, name: str = "") -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6 if name == "cost" else 3)
    return value


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def period(
    *,
    days: int | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    now: datetime | None = None,
) -> tuple[datetime | None, datetime | None]:
    """The ``(since, until)`` instants of a period: the last ``days`` calendar days (UTC, today
    included), or from ``since`` to ``until``. A ``date`` as ``until`` includes that day;
    a ``datetime`` is exclusive. Raises :class:`ValidationError` on a bad period."""
    if days is not None:
        if since is not None or until is not None:
            raise ValidationError("give either a number of days or since/until, not both")
        if days < 1:
            raise ValidationError(f"days must be at least 1, got {days}")
        today = (now or datetime.now(UTC)).astimezone(UTC).date()
        return _start_of(today - timedelta(days=days - 1)), None
    start = _start_of(since) if isinstance(since, date) and not isinstance(since, datetime) else since
    end = _start_of(until + timedelta(days=1)) if isinstance(until, date) and not isinstance(until, datetime) else until
    for value in (start, end):
        if value is not None and value.tzinfo is None:
            raise ValidationError("report times must be timezone-aware (UTC)")
    if start is not None and end is not None and start >= end:
        raise ValidationError(f"since ({start.date()}) must be before until ({end.date()})")
    return start, end


def usage_report(
    db: UsageDatabase,
    *,
    by: GroupBy | str = GroupBy.MODEL,
    since: datetime | None = None,
    until: datetime | None = None,
    **filters: str | None,
) -> UsageReport:
    """Aggregate the records of ``db`` with ``since <= timestamp < until`` (see :func:`period`),
    optionally filtered on ``provider``, ``model_id``, ``deployed_model_display_name`` or
    ``operation``. A database file that does not exist gives an empty report."""
    try:
        group = GroupBy(by)
    except ValueError:
        raise ValidationError(f"cannot group usage by {by!r}; use one of {', '.join(GroupBy)}") from None
    keys = GROUP_FIELDS[group]
    rows = tuple(_row(keys, values) for values in db.totals(keys, since=since, until=until, **filters))
    costs = [r.cost for r in rows if r.cost is not None]
    total = UsageRow(
        calls=sum(r.calls for r in rows),
        input_tokens=sum(r.input_tokens for r in rows),
        output_tokens=sum(r.output_tokens for r in rows),
        total_tokens=sum(r.total_tokens for r in rows),
        duration_ms=sum(r.duration_ms for r in rows),
        cache_read_tokens=sum(r.cache_read_tokens for r in rows),
        cache_write_tokens=sum(r.cache_write_tokens for r in rows),
        reasoning_tokens=sum(r.reasoning_tokens for r in rows),
        cost=sum(costs) if costs else None,
        unpriced_records=sum(r.unpriced_records for r in rows),
    )
    return UsageReport(by=group, since=since, until=until, rows=rows, total=total)


def _row(keys: tuple[str, ...], values: tuple[Any, ...]) -> UsageRow:
    groups: dict[str, Any] = dict(zip(keys, values, strict=False))
    if "day" in groups:
        groups["day"] = date.fromisoformat(groups["day"])
    calls, inp, out, total, duration, read, write, reasoning, cost, unpriced = values[len(keys) :]
    return UsageRow(
        **groups,
        calls=int(calls),
        input_tokens=int(inp),
        output_tokens=int(out),
        total_tokens=int(total),
        duration_ms=float(duration),
        cache_read_tokens=int(read),
        cache_write_tokens=int(write),
        reasoning_tokens=int(reasoning),
        cost=None if cost is None else float(cost),
        unpriced_records=int(unpriced),
    )


def cleanup(db: UsageDatabase, older_than_days: int | None, *, now: datetime | None = None) -> CleanupResult:
    """Delete the records older than ``older_than_days`` days (None or 0 keeps everything)."""
    if older_than_days is not None and older_than_days < 0:
        raise ValidationError(f"days must be 0 (keep everything) or more, got {older_than_days}")
    current = now or datetime.now(UTC)
    if not older_than_days:
        return CleanupResult(database=str(db.path), older_than_days=None, cutoff=None, deleted=0)
    deleted = db.cleanup(older_than_days, now=current)
    cutoff = current - timedelta(days=older_than_days)
    return CleanupResult(database=str(db.path), older_than_days=older_than_days, cutoff=cutoff, deleted=deleted)
