"""``genai usage report`` and ``genai usage cleanup``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._state import CliState, echo_json, pass_state

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ..budgets import BudgetStatus
    from ..usage import UsageDatabase, UsageReport, UsageRow

_DATE = click.DateTime(formats=["%Y-%m-%d"])
_DEFAULT_DAYS = 30
_PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta", "bright_green")
_BAR = "█"
_HEADERS = {
    "provider": "Provider",
    "day": "Day (UTC)",
    "operation": "Operation",
}
_DISABLED_NOTE = (
    "note: usage storage is disabled, so new calls are not recorded; enable it with "
    "GENAI_STORE_USAGE_METRICS=1 or `[usage] store = true` in the configuration file"
)


def register(main: click.Group) -> None:
    """Add this module's commands to the ``genai`` group."""
    main.add_command(usage)


@click.group("usage")
def usage() -> None:
    """Token usage recorded by the usage store: reports and clean-up."""


def _period(
    days: int | None, since: datetime | None, until: datetime | None
) -> tuple[datetime | None, datetime | None]:
    from ..usage import period  # noqa: PLC0415

    if days is not None and (since is not None or until is not None):
        raise click.UsageError("give either --days or --since/--until, not both")
    if since is not None and until is not None and since > until:
        raise click.UsageError(f"--since {since:%Y-%m-%d} is after --until {until:%Y-%m-%d}")
    if days is None and since is None and until is None:
        days = _DEFAULT_DAYS
    return period(
        days=days,
        since=since.date() if since is not None else None,
        until=until.date() if until is not None else None,
    )


@contextmanager
def _database(path: Path) -> Iterator[UsageDatabase]:
    """The usage database; a file SQLite cannot use ends the command with one clear line."""
    import sqlite3  # noqa: PLC0415

    from ..usage import UsageDatabase  # noqa: PLC0415

    db = UsageDatabase(path)
    try:
        yield db
    except sqlite3.Error as exc:
        raise click.ClickException(f"cannot use the usage database {path}: {exc}") from None
    finally:
        db.close()


@usage.command("report")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    metavar="N",
    help=f"The last N days, today included (default {_DEFAULT_DAYS}).",
)
@click.option("--since", type=_DATE, metavar="YYYY-MM-DD", help="First day (YYYY-MM-DD, UTC).")
@click.option("--until", type=_DATE, metavar="YYYY-MM-DD", help="Last day, included (YYYY-MM-DD, UTC).")
@click.option(
    "--by",
    type=click.Choice(["model", "day", "provider", "operation"]),
    default="model",
    show_default=True,
    help="How to group the rows.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--csv", "csv_path", type=click.Path(dir_okay=False), metavar="FILE", help="Also write the rows to this CSV file."
)
@click.option("--no-chart", is_flag=True, help="Leave out the daily bar chart.")
@pass_state
def report(
    state: CliState,
    *,
    days: int | None,
    since: datetime | None,
    until: datetime | None,
    by: str,
    as_json: bool,
    csv_path: str | None,
    no_chart: bool,
) -> None:
    """Token usage over a period, as a table and a daily chart of total tokens."""
    from ..usage import GroupBy, usage_report  # noqa: PLC0415

    start, end = _period(days, since, until)
    config = state.host.config
    if not config.usage.store:
        click.echo(_DISABLED_NOTE, err=True)
    with _database(config.usage_database) as db:
        result = usage_report(db, by=by, since=start, until=end)
        chart = None if (as_json or no_chart) else usage_report(db, by=GroupBy.MODEL_DAY, since=start, until=end)
        found = db.exists
    if csv_path is not None:
        try:
            written = result.save_csv(csv_path)
        except OSError as exc:
            raise click.FileError(csv_path, hint=exc.strerror or str(exc)) from None
        click.echo(f"wrote {written} rows to {csv_path}", err=True)
    if as_json:
        echo_json(result.to_dict())
        return
    _print_report(result, chart, None if found else Path(config.usage_database))


@usage.command("budget")
@click.option("--json", "as_json", is_flag=True, help="Print the limits and spend as JSON.")
@pass_state
def budget(state: CliState, *, as_json: bool) -> None:
    """This month's spend (UTC) against each [budgets] limit."""
    from ..budgets import BudgetGuard  # noqa: PLC0415
    from ..errors import ConfigurationError  # noqa: PLC0415

    config = state.host.config
    if not config.budgets.configured:
        if as_json:
            echo_json({"budgets": []})
            return
        click.echo(
            "No budgets are configured. Add monthly limits to the configuration, for example:\n\n"
            "  [budgets.overall]\n  usd = 100.0\n\n  [budgets.providers.openai]\n  tokens = 5000000"
        )
        return
    try:
        guard = BudgetGuard.for_config(config)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    with _database(config.usage_database):
        try:
            statuses = guard.status()
        finally:
            guard.close()
    if as_json:
        echo_json(
            {
                "warn_at": config.budgets.warn_at,
                "budgets": [
                    {
                        "scope": s.scope,
                        "unit": s.unit,
                        "limit": s.limit,
                        "spent": round(s.spent, 6),
                        "remaining": round(s.remaining, 6),
                        "used": round(s.fraction, 4),
                        "since": s.since.isoformat(),
                    }
                    for s in statuses
                ],
            }
        )
        return
    _print_budgets(statuses, config.budgets.warn_at)


@usage.command("cleanup")
@click.option(
    "--days",
    type=click.IntRange(min=0),
    metavar="N",
    help="Delete records older than N days (default: the configuration's cleanup_after_days; 0 keeps everything).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def cleanup(state: CliState, *, days: int | None, as_json: bool) -> None:
    """Delete usage records older than the retention period."""
    from ..serialization import unstructure  # noqa: PLC0415
    from ..usage import cleanup as run_cleanup  # noqa: PLC0415

    config = state.host.config
    if days is None:
        days = config.usage.cleanup_after_days
    with _database(config.usage_database) as db:
        result = run_cleanup(db, days)
    if as_json:
        echo_json(unstructure(result))
    elif result.older_than_days is None:
        click.echo(
            "Nothing deleted: retention keeps everything. Pass --days N, or set [usage] cleanup_after_days "
            "(GENAI_USAGE_CLEANUP_AFTER_DAYS) in the configuration."
        )
    else:
        cutoff = result.cutoff.strftime("%Y-%m-%d %H:%M UTC") if result.cutoff else "?"
        noun = "record" if result.deleted == 1 else "records"
        click.echo(f"Deleted {result.deleted} usage {noun} older than {result.older_than_days} days (before {cutoff}).")


# -- rendering -----------------------------------------------------------------------------


def _tokens(value: int) -> str:
    return f"{value:,}"


def _money(value: float | None, unpriced: int = 0) -> str:
    """A cost in USD; ``—`` when unknown, and ``*`` when some records of the sum have no cost."""
    if value is None:
        return "—"
    text = f"{value:,.2f}" if value >= 1 else f"{value:.4f}"
    return f"{text}*" if unpriced else text


def _duration(ms: float) -> str:
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:,.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:,.1f} min"
    return f"{seconds / 3600:,.1f} h"


def _describe(report: UsageReport) -> str:
    start = report.since.date().isoformat() if report.since else "the first record"
    end = (report.until - timedelta(microseconds=1)).date().isoformat() if report.until else "now"
    return f"{start} to {end}"


def _group_columns(report: UsageReport) -> tuple[list[str], Callable[[UsageRow], list[str]]]:
    """The headers of the group's columns, and a row's cells in them. Models show by display
    name (the ids are in the JSON and CSV exports), with the id when two rows share a name."""
    if report.by != "model":
        return [_HEADERS[str(report.by)]], lambda row: [str(getattr(row, report.by))]
    names = Counter((row.provider, row.model_label) for row in report.rows)

    def cells(row: UsageRow) -> list[str]:
        label = row.model_label
        if names[(row.provider, label)] > 1 and label != row.model_id:
            label = f"{label} ({row.model_id})"
        return [str(row.provider), label]

    return ["Provider", "Model"], cells


def _print_report(report: UsageReport, chart: UsageReport | None, missing: Path | None) -> None:
    from rich.box import SIMPLE_HEAD  # noqa: PLC0415
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(highlight=False)
    if not report.rows:
        console.print(f"No usage recorded from {_describe(report)}.")
        if missing is not None:
            console.print(f"(There is no usage database at {missing} yet.)")
        return
    table = Table(
        title=f"Tokens by {report.by}, {_describe(report)} (UTC)",
        title_justify="left",
        show_footer=True,
        box=SIMPLE_HEAD,
    )
    headers, cells = _group_columns(report)
    for i, header in enumerate(headers):
        table.add_column(header, footer="" if i else "Total", overflow="fold", no_wrap=header == "Provider")
    total = report.total
    for name, footer in (
        ("Calls", _tokens(total.calls)),
        ("Input", _tokens(total.input_tokens)),
        ("Output", _tokens(total.output_tokens)),
        ("Total", _tokens(total.total_tokens)),
        ("Duration", _duration(total.duration_ms)),
        ("Cost (USD)", _money(total.cost, total.unpriced_records)),
    ):
        table.add_column(name, footer=footer, justify="right", no_wrap=True)
    for row in report.rows:
        table.add_row(
            *cells(row),
            _tokens(row.calls),
            _tokens(row.input_tokens),
            _tokens(row.output_tokens),
            _tokens(row.total_tokens),
            _duration(row.duration_ms),
            _money(row.cost, row.unpriced_records),
        )
    console.print(table)
    if total.unpriced_records:
        console.print(
            f"* {_tokens(total.unpriced_records)} records have no cost: no price is known for their model "
            '(add [prices."PROVIDER:MODEL"] to the configuration), or they were recorded before costs were.'
        )
    if chart is not None and chart.rows:
        console.print()
        console.print(_bar_chart(chart, console.width))


def _amount(value: float, unit: str) -> str:
    return _tokens(int(value)) if unit == "tokens" else f"{value:,.2f} USD"


def _print_budgets(statuses: list[BudgetStatus], warn_at: float) -> None:
    from rich.box import SIMPLE_HEAD  # noqa: PLC0415
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(highlight=False)
    month = f"{statuses[0].since:%Y-%m}" if statuses else ""
    table = Table(title=f"Budgets for {month} (UTC)", title_justify="left", box=SIMPLE_HEAD)
    table.add_column("Budget", overflow="fold")
    for name in ("Spent", "Limit", "Used", "Remaining"):
        table.add_column(name, justify="right", no_wrap=True)
    for s in statuses:
        style = "red" if s.exhausted else "yellow" if s.fraction >= warn_at else ""
        table.add_row(
            s.scope,
            _amount(s.spent, s.unit),
            _amount(s.limit, s.unit),
            f"{s.fraction:.0%}",
            _amount(s.remaining, s.unit),
            style=style,
        )
    console.print(table)


def _bar_chart(chart: UsageReport, width: int) -> RenderableType:
    """Total tokens per day, one bar per day, stacked by model, with a legend."""
    from rich.console import Group  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    models = sorted({(row.model_label, row.model) for row in chart.rows})
    colour = {model: _PALETTE[i % len(_PALETTE)] for i, model in enumerate(models)}
    per_day: dict[date, list[tuple[tuple[str, str], int]]] = {}
    for row in chart.rows:
        if row.day is not None:
            per_day.setdefault(row.day, []).append(((row.model_label, row.model), row.total_tokens))
    days = chart.days(today=datetime.now(UTC).date())
    totals = {day: sum(tokens for _, tokens in per_day.get(day, [])) for day in days}
    peak = max(totals.values(), default=0) or 1
    value_width = max(len(_tokens(v)) for v in totals.values()) if totals else 1
    bar_width = max(10, width - 10 - value_width - 3)
    lines: list[Text] = [Text("Total tokens per day (UTC)", style="bold")]
    for day in days:
        line = Text(f"{day.isoformat()} ")
        cumulative, drawn = 0, 0
        for model, tokens in per_day.get(day, []):
            cumulative += tokens
            end = round(cumulative / peak * bar_width)
            line.append(_BAR * (end - drawn), style=colour[model])
            drawn = end
        line.append(" " * (bar_width - drawn) + " " + _tokens(totals[day]).rjust(value_width))
        lines.append(line)
    legend = Text()
    for i, model in enumerate(models):
        legend.append(("   " if i else "") + "■ ", style=colour[model])
        legend.append(model[0])
    lines.append(legend)
    return Group(*lines)
