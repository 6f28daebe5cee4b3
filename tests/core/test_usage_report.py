"""Usage reports: periods, grouping, totals, CSV and JSON export, clean-up results."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from genai_commons import Usage, ValidationError
from genai_commons.usage import GroupBy, UsageDatabase, UsageReport, UsageRow, cleanup, period, usage_report

NOW = datetime(2024, 5, 10, 15, 0, tzinfo=UTC)


def usage(provider: str, model_id: str, when: datetime, tokens: tuple[int, int], *, name: str = "") -> Usage:
    return Usage(
        provider=provider,
        deployed_model_display_name=name or model_id,
        model_id=model_id,
        operation="embed" if "embed" in model_id else "chat",
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        total_tokens=sum(tokens),
        duration_ms=100.0,
        timestamp=when,
    )


@pytest.fixture
def db(tmp_path: Path) -> UsageDatabase:
    database = UsageDatabase(tmp_path / "usage.db")
    database.insert_many(
        [
            usage("openai", "gpt-4o-mini", datetime(2024, 5, 1, 9, tzinfo=UTC), (100, 20)),
            usage("openai", "gpt-4o-mini", datetime(2024, 5, 1, 23, 59, tzinfo=UTC), (50, 10)),
            usage("openai", "gpt-4o-mini", datetime(2024, 5, 3, 0, 1, tzinfo=UTC), (10, 5)),
            usage("openai", "text-embed-3", datetime(2024, 5, 3, 8, tzinfo=UTC), (400, 0)),
            usage("bedrock", "claude", datetime(2024, 5, 3, 9, tzinfo=UTC), (200, 100), name="Claude"),
            usage("bedrock", "claude", datetime(2024, 4, 1, 9, tzinfo=UTC), (1, 1), name="Claude"),
        ]
    )
    return database


def test_period_of_last_days_is_calendar_days_in_utc() -> None:
    assert period(days=1, now=NOW) == (datetime(2024, 5, 10, tzinfo=UTC), None)
    assert period(days=30, now=NOW) == (datetime(2024, 4, 11, tzinfo=UTC), None)


def test_period_until_a_date_includes_that_day() -> None:
    since, until = period(since=date(2024, 5, 1), until=date(2024, 5, 3))
    assert (since, until) == (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 4, tzinfo=UTC))
    assert period(since=date(2024, 5, 1), until=date(2024, 5, 1))[1] == datetime(2024, 5, 2, tzinfo=UTC)
    assert period(until=date(2024, 5, 1)) == (None, datetime(2024, 5, 2, tzinfo=UTC))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": 0}, "at least 1"),
        ({"days": -3}, "at least 1"),
        ({"days": 3, "since": date(2024, 5, 1)}, "not both"),
        ({"since": date(2024, 5, 3), "until": date(2024, 5, 1)}, "before"),
        ({"since": datetime(2024, 5, 3)}, "timezone-aware"),
    ],
)
def test_bad_periods_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        period(**kwargs)  # type: ignore[arg-type]


def test_report_by_model(db: UsageDatabase) -> None:
    since, until = period(since=date(2024, 5, 1), until=date(2024, 5, 31))
    report = usage_report(db, by="model", since=since, until=until)
    assert report.by is GroupBy.MODEL
    assert [(r.model, r.calls, r.total_tokens) for r in report.rows] == [
        ("bedrock:claude", 1, 300),
        ("openai:gpt-4o-mini", 3, 195),
        ("openai:text-embed-3", 1, 400),
    ]
    assert report.rows[0].model_label == "Claude"
    assert report.rows[0].day is None
    assert report.total == UsageRow(
        calls=5, input_tokens=760, output_tokens=135, total_tokens=895, duration_ms=500.0, unpriced_records=5
    )


def test_report_by_day_provider_and_operation(db: UsageDatabase) -> None:
    since, until = period(since=date(2024, 5, 1), until=date(2024, 5, 3))
    by_day = usage_report(db, by=GroupBy.DAY, since=since, until=until)
    assert [(r.day, r.calls, r.input_tokens, r.output_tokens) for r in by_day.rows] == [
        (date(2024, 5, 1), 2, 150, 30),
        (date(2024, 5, 3), 3, 610, 105),
    ]
    by_provider = usage_report(db, by="provider")  # the whole history
    assert [(r.provider, r.calls, r.total_tokens) for r in by_provider.rows] == [
        ("bedrock", 2, 302),
        ("openai", 4, 595),
    ]
    by_operation = usage_report(db, by="operation", since=since, until=until)
    assert [(r.operation, r.calls) for r in by_operation.rows] == [("chat", 4), ("embed", 1)]
    with pytest.raises(ValidationError, match="cannot group usage by 'prompt'"):
        usage_report(db, by="prompt")


def test_report_by_model_and_day_fills_the_chart_days(db: UsageDatabase) -> None:
    since, until = period(since=date(2024, 5, 1), until=date(2024, 5, 4))
    report = usage_report(db, by=GroupBy.MODEL_DAY, since=since, until=until)
    assert [(r.day, r.model) for r in report.rows] == [
        (date(2024, 5, 1), "openai:gpt-4o-mini"),
        (date(2024, 5, 3), "bedrock:claude"),
        (date(2024, 5, 3), "openai:gpt-4o-mini"),
        (date(2024, 5, 3), "openai:text-embed-3"),
    ]
    assert report.days() == [date(2024, 5, d) for d in range(1, 5)]
    open_ended = usage_report(db, by=GroupBy.DAY, since=datetime(2024, 5, 2, tzinfo=UTC))
    assert open_ended.days(today=date(2024, 5, 5)) == [date(2024, 5, d) for d in range(2, 6)]


def test_report_filters(db: UsageDatabase) -> None:
    report = usage_report(db, by="model", provider="openai", operation="chat")
    assert [r.model for r in report.rows] == ["openai:gpt-4o-mini"]


def test_empty_and_missing_databases_give_empty_reports(tmp_path: Path) -> None:
    missing = UsageDatabase(tmp_path / "nothing" / "usage.db")
    report = usage_report(missing, by="day")
    assert report.rows == ()
    assert report.total.calls == 0
    assert report.days() == []
    assert not (tmp_path / "nothing").exists()


def test_csv_export(db: UsageDatabase, tmp_path: Path) -> None:
    report = usage_report(db, by="model", since=datetime(2024, 5, 1, tzinfo=UTC))
    path = tmp_path / "usage.csv"
    assert report.save_csv(path) == 3
    rows = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
    assert list(rows[0]) == [
        "provider", "model_id", "deployed_model_display_name",
        "calls", "input_tokens", "output_tokens", "total_tokens", "duration_ms",
        "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost", "unpriced_records",
    ]  # fmt: skip
    assert rows[1] == {
        "provider": "openai",
        "model_id": "gpt-4o-mini",
        "deployed_model_display_name": "gpt-4o-mini",
        "calls": "3",
        "input_tokens": "160",
        "output_tokens": "35",
        "total_tokens": "195",
        "duration_ms": "300.0",
        "cache_read_tokens": "0",
        "cache_write_tokens": "0",
        "reasoning_tokens": "0",
        "cost": "",
        "unpriced_records": "3",
    }
    by_day = io.StringIO(newline="")
    usage_report(db, by="day").write_csv(by_day)
    assert by_day.getvalue().splitlines()[:2] == [
        "day,calls,input_tokens,output_tokens,total_tokens,duration_ms,"
        "cache_read_tokens,cache_write_tokens,reasoning_tokens,cost,unpriced_records",
        "2024-04-01,1,1,1,2,100.0,0,0,0,,1",
    ]


def test_json_export_is_the_cattrs_form_with_the_group_fields_only(db: UsageDatabase) -> None:
    since, until = period(since=date(2024, 5, 1), until=date(2024, 5, 3))
    report = usage_report(db, by="day", since=since, until=until)
    data = json.loads(report.to_json())
    assert data == report.to_dict()
    assert data["by"] == "day"
    assert data["since"] == "2024-05-01T00:00:00+00:00"
    assert data["until"] == "2024-05-04T00:00:00+00:00"
    assert data["rows"][0] == {
        "day": "2024-05-01",
        "calls": 2,
        "input_tokens": 150,
        "output_tokens": 30,
        "total_tokens": 180,
        "duration_ms": 200.0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "cost": None,
        "unpriced_records": 2,
    }
    assert data["total"] == {
        "calls": 5,
        "input_tokens": 760,
        "output_tokens": 135,
        "total_tokens": 895,
        "duration_ms": 500.0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "cost": None,
        "unpriced_records": 5,
    }
    assert isinstance(report, UsageReport)


def test_cleanup_result(db: UsageDatabase) -> None:
    kept = cleanup(db, None)
    assert (kept.older_than_days, kept.deleted, kept.cutoff) == (None, 0, None)
    assert cleanup(db, 0).deleted == 0
    result = cleanup(db, 20, now=datetime(2024, 5, 10, tzinfo=UTC))
    assert result.deleted == 1
    assert result.cutoff == datetime(2024, 4, 20, tzinfo=UTC)
    assert result.database == str(db.path)
    assert db.count() == 5
    with pytest.raises(ValidationError, match="0 \\(keep everything\\) or more"):
        cleanup(db, -1)
