"""Monthly budgets: limits in tokens and USD, warnings, refusal before the call, and
``genai usage budget``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs

from genai_commons import BudgetExceededError, ConfigurationError, Host, QuotaExceededError, Response, Usage
from genai_commons.budget_settings import BudgetLimit, BudgetSettings
from genai_commons.cli import CliState, main
from genai_commons.config import Config, UsageSettings
from genai_commons.prices import Price
from genai_commons.testing import FakeProvider
from genai_commons.usage import SQLiteUsageStore, UsageDatabase

#: 1,000 USD per million tokens: each token costs 0.001 USD.
PRICES = {"fake:chat": Price(input=1000.0, output=1000.0)}


def _chat(host: Host, fake: FakeProvider, tokens: int, ref: str = "fake:chat") -> Response:
    """A chat whose answer reports ``tokens`` tokens (all input)."""
    fake.script(Response.of_text("ok", input_tokens=tokens, output_tokens=0))
    return host.chat(ref, "hi")


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., tuple[Host, FakeProvider]]]:
    hosts: list[Host] = []

    def build(budgets: BudgetSettings, *, store: bool = True, **config: Any) -> tuple[Host, FakeProvider]:
        fake = FakeProvider()
        settings = Config.defaults(tmp_path, usage=UsageSettings(store=store), budgets=budgets, prices=PRICES, **config)
        host = Host(settings, load_entry_points=False, plugins=[fake, SQLiteUsageStore])
        hosts.append(host)
        return host, fake

    yield build
    for host in hosts:
        host.close()


def _record(path: Path, tokens: int, *, when: datetime | None = None, cost: float | None = None) -> None:
    with UsageDatabase(path) as db:
        db.insert(
            Usage(
                provider="fake",
                deployed_model_display_name="Fake Chat",
                model_id="chat",
                operation="chat",
                input_tokens=tokens,
                total_tokens=tokens,
                cost=cost,
                timestamp=when or datetime.now(UTC),
            )
        )


def test_a_token_limit_warns_once_then_refuses_before_any_call(make: Any) -> None:
    host, fake = make(BudgetSettings(warn_at=0.5, models={"fake:chat": BudgetLimit(tokens=20)}))
    with capture_logs() as logs:
        _chat(host, fake, 10)  # half the limit
        _chat(host, fake, 5)  # below the limit still: no second warning
        warnings = [e for e in logs if e["event"] == "budget_threshold_crossed"]
        assert len(warnings) == 1
        assert warnings[0]["scope"] == "model fake:chat" and warnings[0]["limit"] == 20
        _chat(host, fake, 5)
        assert [e["event"] for e in logs].count("budget_exhausted") == 1
    calls = len(fake.calls)
    with pytest.raises(BudgetExceededError, match=r"model fake:chat is used up.*\[budgets\]") as caught:
        host.chat("fake:chat", "one more")
    assert len(fake.calls) == calls  # refused before the provider was called
    assert isinstance(caught.value, QuotaExceededError)
    assert (caught.value.unit, caught.value.limit, caught.value.provider) == ("tokens", 20, "fake")
    assert caught.value.spent == 20
    host.chat("fake:basic", "another model is not limited")


def test_usd_limits_count_costs_per_provider_and_overall(make: Any) -> None:
    host, fake = make(BudgetSettings(providers={"fake": BudgetLimit(usd=0.02)}, overall=BudgetLimit(usd=100.0)))
    _chat(host, fake, 10)  # 0.01 USD
    _chat(host, fake, 10)
    with pytest.raises(BudgetExceededError, match="provider fake"):
        host.chat("fake:basic", "the whole provider is limited")
    with pytest.raises(BudgetExceededError):
        host.embed("fake:embed", ["embedding is refused too"])


async def test_the_async_and_streaming_calls_are_checked_too(make: Any, tmp_path: Path) -> None:
    _record(tmp_path / "usage.db", 50)
    host, fake = make(BudgetSettings(overall=BudgetLimit(tokens=50)))
    with pytest.raises(BudgetExceededError, match="overall"):
        await host.achat("fake:chat", "hi")
    with pytest.raises(BudgetExceededError):
        host.stream("fake:chat", "hi")
    assert fake.calls == []


def test_the_month_sums_come_from_the_store_and_last_month_does_not_count(make: Any, tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    _record(path, 1000, when=start - timedelta(seconds=1))  # last month
    _record(path, 40, when=start + timedelta(seconds=1))
    host, fake = make(BudgetSettings(overall=BudgetLimit(tokens=50)))
    _chat(host, fake, 10)  # 40 + 10: the limit is reached after this call
    with pytest.raises(BudgetExceededError, match="overall"):
        host.chat("fake:chat", "hi")


def test_budgets_need_the_usage_store(make: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"\[usage\] store = true"):
        make(BudgetSettings(overall=BudgetLimit(tokens=10)), store=False)


def test_a_usd_limit_on_a_model_without_a_price_is_refused(make: Any) -> None:
    with pytest.raises(ConfigurationError, match=r'no price is known for fake:basic.*\[prices."fake:basic"\]'):
        make(BudgetSettings(models={"fake:basic": BudgetLimit(usd=5.0)}))


def test_without_budgets_the_host_has_no_guard(make_host: Any) -> None:
    host = make_host(FakeProvider())
    assert host._budgets is None  # the per-call check is one attribute read


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[budgets.overall]\n", "tokens, usd or both"),
        ("[budgets.overall]\nusd = 0\n", "positive"),
        ("[budgets]\nwarn_at = 1.5\n", "warn_at"),
        ('[budgets.models."gpt-4o"]\ntokens = 5\n', "PROVIDER:MODEL"),
        ("[budgets.overall]\neuros = 5\n", "euros"),
    ],
)
def test_bad_budgets_are_configuration_errors(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "config.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        Config.load(file, environ={"GENAI_HOME": str(tmp_path)})


def test_a_budget_file_is_read(tmp_path: Path) -> None:
    file = tmp_path / "config.toml"
    file.write_text(
        "[usage]\nstore = true\n\n[budgets]\nwarn_at = 0.9\n\n[budgets.overall]\nusd = 100.0\n\n"
        '[budgets.providers.openai]\ntokens = 5000000\n\n[budgets.models."openai:gpt-4o"]\nusd = 20\ntokens = 1000\n',
        encoding="utf-8",
    )
    budgets = Config.load(file, environ={"GENAI_HOME": str(tmp_path)}).budgets
    assert budgets == BudgetSettings(
        warn_at=0.9,
        overall=BudgetLimit(usd=100.0),
        providers={"openai": BudgetLimit(tokens=5_000_000)},
        models={"openai:gpt-4o": BudgetLimit(usd=20.0, tokens=1000)},
    )


# -- the command line ------------------------------------------------------------------------------


def _run(host: Host, *args: str) -> Any:
    return CliRunner().invoke(main, ["usage", *args], obj=CliState(host=host), env={"COLUMNS": "120"})


def test_genai_usage_budget_shows_spend_against_each_limit(make: Any, tmp_path: Path) -> None:
    _record(tmp_path / "usage.db", 900, cost=1.5)
    budgets = BudgetSettings(overall=BudgetLimit(usd=2.0), models={"fake:chat": BudgetLimit(tokens=1000)})
    host, _fake = make(budgets)
    result = _run(host, "budget", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(b["scope"], b["unit"], b["limit"], b["spent"]) for b in data["budgets"]] == [
        ("overall", "usd", 2.0, 1.5),
        ("model fake:chat", "tokens", 1000, 900),
    ]
    assert data["budgets"][0]["used"] == 0.75
    text = _run(host, "budget")
    assert text.exit_code == 0
    assert "model fake:chat" in text.stdout and "1.50 USD" in text.stdout and "90%" in text.stdout


def test_genai_usage_budget_without_budgets_says_how_to_set_them(make_host: Any) -> None:
    result = _run(make_host(FakeProvider()), "budget")
    assert result.exit_code == 0 and "[budgets.overall]" in result.stdout


def test_genai_usage_report_has_a_cost_column_and_total(make: Any, tmp_path: Path) -> None:
    _record(tmp_path / "usage.db", 100, cost=0.25)
    _record(tmp_path / "usage.db", 100)
    host, _fake = make(BudgetSettings(overall=BudgetLimit(usd=50.0)))
    result = _run(host, "report", "--no-chart")
    assert result.exit_code == 0, result.output
    assert "Cost (USD)" in result.stdout and "0.2500*" in result.stdout
    assert "1 records have no cost" in result.stdout
    data = json.loads(_run(host, "report", "--json").stdout)
    assert data["total"]["cost"] == 0.25 and data["total"]["unpriced_records"] == 1
