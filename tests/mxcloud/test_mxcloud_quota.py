"""Quota awareness: monthly entitlements per key, the warning at a threshold, the hard stop, the report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog

from genai_commons import ConfigurationError, Host, QuotaExceededError, Usage
from genai_commons.config import UsageSettings
from genai_commons.usage import SQLiteUsageStore, UsageDatabase
from genai_commons_mxcloud.quota import month_start
from genai_commons_mxcloud.testing import FakeMxCloud


def _usage(model_id: str, tokens: int, when: datetime | None = None) -> Usage:
    return Usage(
        provider="mxcloud",
        deployed_model_display_name=model_id,
        model_id=model_id,
        operation="chat",
        input_tokens=tokens,
        total_tokens=tokens,
        timestamp=when or datetime.now(UTC),
    )


def test_a_warning_event_once_the_threshold_is_crossed(make_mx_host: Callable[..., Host]) -> None:
    # "You said: ..." answers: each call here costs 3 input and 5 output tokens
    host = make_mx_host(monthly_tokens={"claude": 40}, quota_warning=0.5)
    with structlog.testing.capture_logs() as logs:
        host.chat("mxcloud:claude", "one two three")  # 8 tokens: 20 %
        host.chat("mxcloud:claude", "one two three")  # 16: 40 %
        assert [e for e in logs if e["event"] == "quota_threshold_reached"] == []
        host.chat("mxcloud:claude", "one two three")  # 24: 60 %, warns
        host.chat("mxcloud:claude", "one two three")  # warned once a month, not again
    warnings = [e for e in logs if e["event"] == "quota_threshold_reached"]
    assert len(warnings) == 1
    assert warnings[0] | {"share": 0} == {
        "event": "quota_threshold_reached",
        "log_level": "warning",
        "key": "claude",
        "used_tokens": 24,
        "entitlement": 40,
        "share": 0,
        "threshold": 0.5,
    }


def test_the_hard_stop_refuses_before_sending(make_mx_host: Callable[..., Host], service: FakeMxCloud) -> None:
    host = make_mx_host(monthly_tokens={"claude": 10}, quota_hard_stop=True)
    host.chat("mxcloud:claude", "one two three")  # 8 tokens
    host.chat("mxcloud:claude", "one two three")  # 16: over the entitlement now
    sent = len(service.requests)
    with pytest.raises(QuotaExceededError, match="key 'claude' has used 16 of its 10 tokens this month") as info:
        host.chat("mxcloud:claude", "refused")
    assert not info.value.retryable and len(service.requests) == sent
    with pytest.raises(QuotaExceededError):
        host.stream("mxcloud:claude", "refused").collect()
    assert host.embed("mxcloud:cohere", "other keys are not limited").first_vector()


def test_consumption_comes_from_the_usage_store(make_mx_host: Callable[..., Host], tmp_path: Path) -> None:
    with UsageDatabase(tmp_path / "usage.db") as db:
        db.insert(_usage("claude", 90))
        db.insert(_usage("claude", 1000, month_start() - timedelta(days=1)))  # last month does not count
        db.insert(_usage("cohere", 7))
    host = make_mx_host(
        monthly_tokens={"claude": 100},
        quota_hard_stop=True,
        usage=UsageSettings(store=True),
        plugins=(SQLiteUsageStore,),
    )
    host.chat("mxcloud:claude", "one two three")  # 90 + 8 = 98
    with pytest.raises(QuotaExceededError, match="used 106 of its 100"):
        host.chat("mxcloud:claude", "one two three")
        host.chat("mxcloud:claude", "refused")
    provider = host.plugin_manager.get_plugin("mxcloud")
    report = {line.key: line for line in provider.quota.report(["claude", "cohere", "kb/embeddings"])}
    assert report["claude"].used_tokens == 106 and report["claude"].entitlement == 100
    assert report["claude"].share == pytest.approx(1.06) and report["claude"].remaining == 0
    assert report["cohere"].used_tokens == 7 and report["cohere"].entitlement is None
    assert report["kb/embeddings"].used_tokens == 0


def test_bad_quota_settings_are_configuration_errors(make_mx_host: Callable[..., Host]) -> None:
    with pytest.raises(ConfigurationError, match="monthly_tokens"):
        make_mx_host(monthly_tokens={"claude": "lots"}).chat("mxcloud:claude", "hi")
    with pytest.raises(ConfigurationError, match="quota_warning is a share between 0 and 1"):
        make_mx_host(quota_warning=80).chat("mxcloud:claude", "hi")
