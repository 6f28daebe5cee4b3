"""Cache and reasoning tokens, the price table, the cost of each usage record, and the usage
store's in-place migration from schema 1."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from genai_commons import ConfigurationError, Message, Request, Response, Role, Usage
from genai_commons.config import Config, UsageSettings
from genai_commons.formats.converse import converse_response
from genai_commons.formats.converse_stream import ConverseStreamReader
from genai_commons.prices import Price, price_table, shipped_prices
from genai_commons.testing import FakeProvider, UsageRecorder, tool_call
from genai_commons.usage import UsageDatabase, usage_report


def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


# -- the price table -----------------------------------------------------------------------------


def test_the_shipped_table_says_when_and_where_its_prices_were_taken() -> None:
    table = shipped_prices()
    assert table.currency == "USD"
    assert table.taken is not None and datetime.strptime(table.taken, "%Y-%m-%d")
    assert set(table.sources) == {"openai", "bedrock"}
    assert table.price("openai", "gpt-4o-mini") == Price(input=0.15, cached_input=0.075, output=0.60)
    assert table.price("bedrock", "anthropic.claude-3-haiku-20240307-v1:0") is not None
    assert table.price("openai", "dall-e-3") == Price(image=0.04)
    assert table.price("mxcloud", "anthropic-claude") is None  # Mendix Cloud counts quota, not money


def test_cost_prices_cached_tokens_apart_and_is_never_guessed() -> None:
    price = Price(input=2.0, output=8.0, cached_input=0.5)
    # 1,000,000 input tokens of which 400,000 from the cache; 100,000 output tokens
    cost = price.cost(input_tokens=1_000_000, output_tokens=100_000, cache_read_tokens=400_000)
    assert cost == pytest.approx(0.6 * 2.0 + 0.4 * 0.5 + 0.1 * 8.0)
    assert price.cost(input_tokens=10, output_tokens=1, cache_write_tokens=5) is None  # no cache_write price
    assert Price(input=1.0).cost(input_tokens=10, output_tokens=3) is None  # no output price
    assert Price(image=0.04).cost(input_tokens=0, output_tokens=0, images=3) == pytest.approx(0.12)
    assert shipped_prices().cost("acme", "unknown", input_tokens=5, output_tokens=5) is None


def test_configured_prices_override_key_by_key_and_add_models(tmp_path: Path) -> None:
    file = tmp_path / "config.toml"
    file.write_text(
        '[prices."openai:gpt-4o"]\ninput = 2.0\n\n[prices."acme:big"]\ninput = 1.0\noutput = 3.0\n', encoding="utf-8"
    )
    table = price_table(Config.load(file, environ={"GENAI_HOME": str(tmp_path)}))
    assert table.price("openai", "gpt-4o") == Price(input=2.0, cached_input=1.25, output=10.0)
    assert table.price("acme", "big") == Price(input=1.0, output=3.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[prices."gpt-4o"]\ninput = 1.0\n', "PROVIDER:MODEL"),
        ('[prices."openai:gpt-4o"]\ninput = -1.0\n', "at least 0"),
        ('[prices."openai:gpt-4o"]\ninput = "cheap"\n', "expected float"),
        ('[prices."openai:gpt-4o"]\nper_token = 1.0\n', "per_token"),
    ],
)
def test_bad_prices_are_configuration_errors(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "config.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        Config.load(file, environ={"GENAI_HOME": str(tmp_path)})


# -- Converse (Bedrock and Mendix Cloud) ---------------------------------------------------------


def test_converse_counts_cache_reads_and_writes_within_the_input() -> None:
    usage = {
        "inputTokens": 4,
        "outputTokens": 246,
        "totalTokens": 2010,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 1760,
    }
    answer = {"output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}}, "usage": usage}
    response = converse_response(answer)
    assert (response.input_tokens, response.output_tokens, response.total_tokens) == (1764, 246, 2010)
    assert (response.cache_read_tokens, response.cache_write_tokens) == (0, 1760)

    reader = ConverseStreamReader(provider="bedrock", service="Bedrock")
    for event in (
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": {**usage, "cacheReadInputTokens": 6}}},
    ):
        reader.feed(event)
    end = reader.end()
    assert (end.input_tokens, end.cache_read_tokens, end.cache_write_tokens) == (1770, 6, 1760)


# -- the host: usage records with the new counts and their cost ----------------------------------


def _reply(text: str | None, **tokens: Any) -> Response:
    calls = () if text else (tool_call("add", {"a": 1, "b": 2}, id="c1"),)
    message = Message(role=Role.ASSISTANT, content=text, tool_calls=calls)
    return Response(message=message, **tokens)


def test_a_tool_loop_sums_cache_and_reasoning_tokens_and_the_record_has_a_cost(make_host: Any) -> None:
    fake, recorder = FakeProvider(), UsageRecorder()
    host = make_host(fake, recorder, prices={"fake:chat": Price(input=1.0, cached_input=0.25, output=4.0)})
    fake.script(
        _reply(None, input_tokens=1000, output_tokens=100, cache_read_tokens=800, reasoning_tokens=60),
        _reply("3", input_tokens=1200, output_tokens=50, cache_read_tokens=1000, reasoning_tokens=20),
    )
    response = host.chat("fake:chat", Request.from_prompt("1 + 2?").with_function(add))

    assert (response.cache_read_tokens, response.reasoning_tokens, response.cache_write_tokens) == (1800, 80, None)
    (usage,) = recorder.records
    assert (usage.input_tokens, usage.output_tokens, usage.calls) == (2200, 150, 2)
    assert (usage.cache_read_tokens, usage.cache_write_tokens, usage.reasoning_tokens) == (1800, 0, 80)
    assert usage.cost == pytest.approx((400 * 1.0 + 1800 * 0.25 + 150 * 4.0) / 1_000_000)


def test_a_stream_carries_the_token_detail_and_a_model_without_a_price_has_no_cost(make_host: Any) -> None:
    fake, recorder = FakeProvider(), UsageRecorder()
    host = make_host(fake, recorder)
    fake.script(_reply("hello", input_tokens=10, output_tokens=5, cache_read_tokens=4, reasoning_tokens=2))
    stream = host.stream("fake:chat", "hi")
    assert "".join(e.text for e in stream if hasattr(e, "text")) == "hello"
    assert stream.response is not None and stream.response.cache_read_tokens == 4
    (usage,) = recorder.records
    assert (usage.cache_read_tokens, usage.reasoning_tokens, usage.cost) == (4, 2, None)


def test_embeddings_and_images_are_priced_too(make_host: Any) -> None:
    fake, recorder = FakeProvider(), UsageRecorder()
    prices = {"fake:embed": Price(input=0.02), "fake:image": Price(image=0.04)}
    host = make_host(fake, recorder, prices=prices)
    host.embed("fake:embed", ["one two three"])
    host.generate_image("fake:image", "a cat")
    embed, image = recorder.records
    assert embed.cost == pytest.approx(embed.input_tokens * 0.02 / 1_000_000)
    assert image.operation == "image" and image.cost == pytest.approx(0.04)


# -- the usage store: migration in place and costs in reports ------------------------------------

_SCHEMA_1 = """
CREATE TABLE usage (
    id INTEGER PRIMARY KEY,
    timestamp REAL NOT NULL,
    provider TEXT NOT NULL,
    deployed_model_display_name TEXT NOT NULL,
    model_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    duration_ms REAL NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX usage_timestamp ON usage (timestamp);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('last_automatic_cleanup', '1714521600.0');
PRAGMA user_version = 1;
"""
MAY = datetime(2024, 5, 2, 12, tzinfo=UTC)


def _schema_1_database(path: Path) -> None:
    """A usage database exactly as schema 1 wrote it, with two records."""
    conn = sqlite3.connect(path)
    conn.executescript(_SCHEMA_1)
    rows = [
        (MAY.timestamp(), "openai", "GPT-4o mini", "gpt-4o-mini", "chat", 100, 20, 120, 300.0, 1),
        (MAY.timestamp() + 60, "bedrock", "Claude", "anthropic.claude", "chat", 200, 50, 250, 900.0, 3),
    ]
    conn.executemany("INSERT INTO usage VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()


def test_a_schema_1_database_is_migrated_in_place_losing_no_row(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    _schema_1_database(path)
    with UsageDatabase(path) as db:
        old = db.records()
        assert [(u.provider, u.input_tokens, u.output_tokens, u.total_tokens, u.calls) for u in old] == [
            ("openai", 100, 20, 120, 1),
            ("bedrock", 200, 50, 250, 3),
        ]
        assert all(u.cost is None and u.cache_read_tokens == 0 and u.reasoning_tokens == 0 for u in old)
        assert db.last_automatic_cleanup() == datetime(2024, 5, 1, tzinfo=UTC)  # the meta table is kept
        new = Usage(
            provider="openai",
            deployed_model_display_name="GPT-4o mini",
            model_id="gpt-4o-mini",
            operation="chat",
            input_tokens=1000,
            output_tokens=10,
            cache_read_tokens=600,
            reasoning_tokens=4,
            cost=0.0012,
            timestamp=datetime(2024, 5, 3, tzinfo=UTC),
        )
        db.insert(new)
        assert db.records()[-1] == new
        report = usage_report(db, by="provider")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (2,)
    conn.close()
    openai = report.rows[1]
    assert (openai.provider, openai.calls, openai.cache_read_tokens, openai.reasoning_tokens) == ("openai", 2, 600, 4)
    assert openai.cost == pytest.approx(0.0012) and openai.unpriced_records == 1
    assert report.rows[0].cost is None and report.rows[0].unpriced_records == 1
    assert report.total.cost == pytest.approx(0.0012) and report.total.unpriced_records == 2


def test_the_usage_store_keeps_the_cost(make_host: Any, tmp_path: Path) -> None:
    fake = FakeProvider()
    host = make_host(
        fake,
        usage=UsageSettings(store=True, database=str(tmp_path / "usage.db")),
        prices={"fake:chat": Price(input=1.0, output=1.0)},
    )
    from genai_commons.usage import SQLiteUsageStore

    host.register(SQLiteUsageStore)
    host.chat("fake:chat", "one two three")
    with UsageDatabase(tmp_path / "usage.db") as db:
        (record,) = db.records()
    assert record.cost == pytest.approx(record.total_tokens / 1_000_000)


def test_config_takes_prices_as_tables_and_refuses_a_misspelt_key(tmp_path: Path) -> None:
    config = Config.defaults(tmp_path, prices={"fake:chat": {"input": 2.5, "output": 10.0}})
    assert config.prices["fake:chat"] == Price(input=2.5, output=10.0)
    with pytest.raises(ConfigurationError, match=r"\[prices\.\"fake:chat\"\] has no key 'inptu'"):
        Config.defaults(tmp_path, prices={"fake:chat": {"inptu": 2.5}})
