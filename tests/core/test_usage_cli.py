"""``genai usage report`` and ``genai usage cleanup``."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from genai_commons import Host, Usage
from genai_commons.cli import CliState, main
from genai_commons.config import Config, UsageSettings
from genai_commons.usage import UsageDatabase

TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def usage(provider: str, model_id: str, days_ago: int, tokens: tuple[int, int], *, name: str = "") -> Usage:
    return Usage(
        provider=provider,
        deployed_model_display_name=name or model_id,
        model_id=model_id,
        operation="chat",
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        total_tokens=sum(tokens),
        duration_ms=1500.0,
        timestamp=TODAY - timedelta(days=days_ago),
    )


def seed(path: Path) -> None:
    with UsageDatabase(path) as db:
        db.insert_many(
            [
                usage("openai", "gpt-4o-mini", 0, (100, 20)),
                usage("openai", "gpt-4o-mini", 1, (50, 10)),
                usage("bedrock", "anthropic.claude", 1, (200, 100), name="Claude"),
                usage("bedrock", "anthropic.claude", 45, (7, 7), name="Claude"),
            ]
        )


@pytest.fixture
def make_host(tmp_path: Path) -> Iterator[Callable[..., Host]]:
    hosts: list[Host] = []

    def build(**settings: Any) -> Host:
        config = Config.defaults(tmp_path, usage=UsageSettings(**settings))
        host = Host(config, load_entry_points=False)
        hosts.append(host)
        return host

    yield build
    for host in hosts:
        host.close()


def run(host: Host, args: Sequence[str]) -> Result:
    return CliRunner().invoke(main, ["usage", *args], obj=CliState(host=host), env={"COLUMNS": "100"})


def test_report_prints_a_table_and_a_daily_chart(make_host: Callable[..., Host], tmp_path: Path) -> None:
    seed(tmp_path / "usage.db")
    result = run(make_host(store=True), ["report"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Tokens by model" in out
    assert "gpt-4o-mini" in out
    assert "Claude" in out
    assert "180" in out  # gpt-4o-mini: 120 + 60
    assert "480" in out  # the total of the last 30 days (the 45-day-old record is outside)
    assert "Total tokens per day (UTC)" in out
    assert TODAY.date().isoformat() in out
    assert "█" in out
    assert result.stderr == ""  # storing is on: no note


def test_report_no_chart_and_grouping(make_host: Callable[..., Host], tmp_path: Path) -> None:
    seed(tmp_path / "usage.db")
    host = make_host(store=True)
    result = run(host, ["report", "--by", "provider", "--no-chart", "--days", "60"])
    assert result.exit_code == 0, result.output
    assert "Provider" in result.stdout
    assert "bedrock" in result.stdout
    assert "314" in result.stdout  # bedrock over 60 days: 300 + 14
    assert "Total tokens per day" not in result.stdout
    by_day = run(host, ["report", "--by", "day", "--json", "--days", "2"])
    rows = json.loads(by_day.stdout)["rows"]
    assert [row["total_tokens"] for row in rows] == [360, 120]


def test_report_json(make_host: Callable[..., Host], tmp_path: Path) -> None:
    seed(tmp_path / "usage.db")
    result = run(make_host(store=True), ["report", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["by"] == "model"
    assert data["until"] is None
    assert [(r["provider"], r["model_id"], r["calls"]) for r in data["rows"]] == [
        ("bedrock", "anthropic.claude", 1),
        ("openai", "gpt-4o-mini", 2),
    ]
    assert data["total"]["total_tokens"] == 480


def test_report_since_until_and_csv(make_host: Callable[..., Host], tmp_path: Path) -> None:
    seed(tmp_path / "usage.db")
    day = (TODAY - timedelta(days=1)).date().isoformat()
    target = tmp_path / "out.csv"
    result = run(make_host(store=True), ["report", "--since", day, "--until", day, "--csv", str(target), "--json"])
    assert result.exit_code == 0, result.output
    assert "wrote 2 rows" in result.stderr
    rows = list(csv.DictReader(target.open(encoding="utf-8", newline="")))
    assert [(r["model_id"], r["total_tokens"]) for r in rows] == [("anthropic.claude", "300"), ("gpt-4o-mini", "60")]
    assert json.loads(result.stdout)["total"]["calls"] == 2


def test_report_csv_to_a_missing_directory_fails_cleanly(make_host: Callable[..., Host], tmp_path: Path) -> None:
    seed(tmp_path / "usage.db")
    result = run(make_host(store=True), ["report", "--csv", str(tmp_path / "no" / "such" / "out.csv")])
    assert result.exit_code == 1
    assert "out.csv" in result.stderr
    assert "Traceback" not in result.output


def test_report_notes_when_storing_is_disabled(make_host: Callable[..., Host], tmp_path: Path) -> None:
    seed(tmp_path / "usage.db")
    result = run(make_host(store=False), ["report", "--json"])
    assert result.exit_code == 0
    assert "disabled" in result.stderr
    assert "GENAI_STORE_USAGE_METRICS=1" in result.stderr
    assert "[usage] store = true" in result.stderr
    assert json.loads(result.stdout)["total"]["calls"] == 3  # what is stored is still reported


def test_report_without_a_database_creates_none(make_host: Callable[..., Host], tmp_path: Path) -> None:
    host = make_host(store=True, database="sub/usage.db")
    result = run(host, ["report"])
    assert result.exit_code == 0, result.output
    assert "No usage recorded" in result.stdout
    assert "no usage database" in result.stdout
    assert json.loads(run(host, ["report", "--json"]).stdout)["rows"] == []
    assert not (tmp_path / "sub").exists()


def test_a_file_that_is_not_a_database_fails_cleanly(make_host: Callable[..., Host], tmp_path: Path) -> None:
    (tmp_path / "usage.db").write_bytes(b"this is not a SQLite database, not even close" * 10)
    for args in (["report"], ["cleanup", "--days", "1"]):
        result = run(make_host(store=True), args)
        assert result.exit_code == 1
        assert f"cannot use the usage database {tmp_path / 'usage.db'}" in result.stderr
        assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--since", "2024-13-01"], "'--since'"),
        (["report", "--until", "yesterday"], "'--until'"),
        (
            ["report", "--since", "2024-05-02", "--until", "2024-05-01"],
            "--since 2024-05-02 is after --until 2024-05-01",
        ),
        (["report", "--days", "-1"], "'--days'"),
        (["report", "--days", "0"], "'--days'"),
        (["report", "--days", "3", "--since", "2024-05-01"], "either --days or --since/--until"),
        (["report", "--by", "prompt"], "'--by'"),
        (["cleanup", "--days", "-1"], "'--days'"),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_line(
    make_host: Callable[..., Host], args: list[str], message: str
) -> None:
    result = run(make_host(store=True), args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_cleanup_with_days(make_host: Callable[..., Host], tmp_path: Path) -> None:
    seed(tmp_path / "usage.db")
    result = run(make_host(store=True), ["cleanup", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 usage record older than 30 days" in result.stdout
    assert UsageDatabase(tmp_path / "usage.db").count() == 3


def test_cleanup_uses_the_configured_retention(make_host: Callable[..., Host], tmp_path: Path) -> None:
    seed(tmp_path / "usage.db")
    # Records sit at noon of their day; a 10-day retention deletes only the 45-day-old one at any
    # time of day (a 1-day retention would depend on whether it is before or after noon UTC).
    result = run(make_host(store=True, cleanup_after_days=10), ["cleanup", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["older_than_days"] == 10
    assert data["deleted"] == 1
    assert UsageDatabase(tmp_path / "usage.db").count() == 3
    assert data["database"] == str(tmp_path / "usage.db")
    assert datetime.fromisoformat(data["cutoff"]) < datetime.now(UTC)


def test_cleanup_without_retention_deletes_nothing(make_host: Callable[..., Host], tmp_path: Path) -> None:
    seed(tmp_path / "usage.db")
    host = make_host(store=True)
    result = run(host, ["cleanup"])
    assert result.exit_code == 0
    assert "Nothing deleted" in result.stdout
    assert "retention keeps everything" in result.stdout
    assert json.loads(run(host, ["cleanup", "--days", "0", "--json"]).stdout)["deleted"] == 0
    assert UsageDatabase(tmp_path / "usage.db").count() == 4


def test_cleanup_without_a_database_creates_none(make_host: Callable[..., Host], tmp_path: Path) -> None:
    result = run(make_host(store=True), ["cleanup", "--days", "1", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["deleted"] == 0
    assert not (tmp_path / "usage.db").exists()


def test_commands_find_the_database_through_genai_home(tmp_path: Path) -> None:
    seed(tmp_path / "usage.db")
    env = {"GENAI_HOME": str(tmp_path), "GENAI_ENTRY_POINTS": "0", "GENAI_STORE_USAGE_METRICS": "1"}
    result = CliRunner().invoke(main, ["usage", "report", "--json", "--days", "60"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"]["calls"] == 4
    assert result.stderr == ""
    env["GENAI_USAGE_CLEANUP_AFTER_DAYS"] = "30"
    cleaned = CliRunner().invoke(main, ["usage", "cleanup", "--json"], env=env)
    assert cleaned.exit_code == 0, cleaned.output
    assert json.loads(cleaned.stdout)["deleted"] == 1
