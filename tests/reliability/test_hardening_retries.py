"""What the host says about retries (issue 12, defect 8), and the deadline of its retry loop
(defect 6): every ``call_retried`` warning names the attempt about to start (2, 3, 4 for four
attempts); an error the host did not retry says why in a note (never that the host retries it);
no retry starts, and no wait begins, that the call's deadline would cut short."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner
from faults_servers import FaultProxy, Reply
from faults_support import MODES, chat

import genai_commons
from genai_commons import Config, DeadlineExceededError, Host, RateLimitError, RetryPolicy, ServiceUnavailableError
from genai_commons.cli import CliState, main
from genai_commons_openai import OpenAIProvider
from genai_commons_openai.testing import FakeOpenAI, FakeOpenAIServer

pytestmark = pytest.mark.timeout(60)

KEY = "sk-test"
MODEL = "openai:gpt-4o-mini"


def api_error(status: int, message: str, **headers: str) -> Reply:
    body = {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
    return Reply(status, json.dumps(body).encode(), {"content-type": "application/json", **headers})


UNAVAILABLE = api_error(503, "The engine is currently overloaded.")


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    with FakeOpenAIServer(FakeOpenAI(api_key=KEY)) as upstream, FaultProxy(upstream.url) as running:
        yield running


@pytest.fixture
def make_host(proxy: FaultProxy, tmp_path: Path) -> Iterator[Callable[..., Host]]:
    hosts: list[Host] = []

    def make(retry: RetryPolicy, **settings: Any) -> Host:
        table = {"base_url": f"{proxy.url}/v1", "api_key": KEY, "timeout": 10, **settings}
        host = Host(Config.defaults(tmp_path, retry=retry, providers={"openai": table}), load_entry_points=False,
                    plugins=[OpenAIProvider])  # fmt: skip
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()


@pytest.mark.parametrize("mode", MODES)
def test_retry_warnings_count_the_attempts_2_3_4(mode: str, make_host: Callable[..., Host], proxy: FaultProxy):
    host = make_host(RetryPolicy(max_attempts=4, initial_delay=0.001, max_delay=0.002))
    proxy.script(UNAVAILABLE, UNAVAILABLE, UNAVAILABLE)
    with structlog.testing.capture_logs() as logs:
        assert chat(host, mode, MODEL, "hello").text == "You said: hello"
    assert [e["attempt"] for e in logs if e["event"] == "call_retried"] == [2, 3, 4]


@pytest.mark.parametrize("mode", MODES)
def test_a_retry_after_over_the_limit_is_raised_at_once_and_says_so(
    mode: str, make_host: Callable[..., Host], proxy: FaultProxy
):
    host = make_host(RetryPolicy(max_attempts=3, initial_delay=0.001, max_retry_after=5))
    proxy.script(api_error(429, "Rate limit reached", **{"retry-after": "120"}))
    with pytest.raises(RateLimitError) as info:
        chat(host, mode, MODEL, "hello")
    assert len(proxy.calls()) == 1
    assert info.value.retry_after == 120
    assert "retries" not in str(info.value)
    assert any("not retried" in note and "max_retry_after" in note for note in info.value.__notes__)


def test_the_command_prints_why_an_error_was_not_retried(make_host: Callable[..., Host], proxy: FaultProxy):
    host = make_host(RetryPolicy(max_attempts=2, initial_delay=0.001, max_delay=0.002))
    proxy.script(UNAVAILABLE, UNAVAILABLE)
    result = CliRunner().invoke(main, ["chat", MODEL, "hello"], obj=CliState(host=host))
    assert result.exit_code == 1
    assert "error: " in result.stderr
    assert "gave up after 2 attempts" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_no_retry_starts_that_the_deadline_would_cut_short(
    mode: str, make_host: Callable[..., Host], proxy: FaultProxy
):
    # A wait of 1 s asked for, a deadline of 0.5 s: the first failure is raised at once.
    host = make_host(RetryPolicy(max_attempts=5, initial_delay=0.001))
    proxy.script(*[api_error(503, "busy", **{"retry-after": "1"})] * 5)
    started = time.monotonic()
    with genai_commons.deadline(0.5), pytest.raises(ServiceUnavailableError) as info:
        chat(host, mode, MODEL, "hello")
    assert time.monotonic() - started < 0.5
    assert len(proxy.calls()) == 1
    assert any("deadline" in note for note in info.value.__notes__)


@pytest.mark.parametrize("mode", MODES)
def test_a_provider_deadline_from_the_configuration_ends_a_call_that_is_not_retried(
    mode: str, make_host: Callable[..., Host], proxy: FaultProxy
):
    host = make_host(RetryPolicy(max_attempts=3, initial_delay=0.001), deadline=1.0)
    time.sleep(0)  # the deadline starts with the call, not with the host
    # A margin wide enough for a loaded machine: the first attempt must finish inside the deadline.
    proxy.script(*[api_error(503, "busy", **{"retry-after": "5"})] * 3)
    with pytest.raises(ServiceUnavailableError) as info:
        chat(host, mode, MODEL, "hello")
    assert len(proxy.calls()) == 1  # a wait of 5 s does not fit in 1 s
    assert any("deadline" in note for note in info.value.__notes__)


def test_a_deadline_that_passed_ends_the_next_attempt_before_it_is_sent(make_host: Callable[..., Host]):
    host = make_host(RetryPolicy())

    async def late() -> None:
        with genai_commons.deadline(0.01):
            await asyncio.sleep(0.05)
            await host.achat(MODEL, "hello")

    with pytest.raises(DeadlineExceededError, match=r"deadline of 0\.01 s \(set by genai_commons\.deadline\(\)\)"):
        asyncio.run(late())
    with genai_commons.deadline(0.01), pytest.raises(DeadlineExceededError) as info:
        time.sleep(0.05)
        host.chat(MODEL, "hello")
    assert info.value.provider == "openai"
    assert not info.value.retryable


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "10", True])
def test_a_bad_deadline_is_refused(bad: Any, tmp_path: Path):
    with pytest.raises(genai_commons.ValidationError), genai_commons.deadline(bad):
        pass
    config = Config.defaults(tmp_path, providers={"openai": {"deadline": bad, "api_key": KEY}})
    host = Host(config, load_entry_points=False, plugins=[OpenAIProvider])
    with pytest.raises(genai_commons.ConfigurationError, match=r"\[providers\.openai\] deadline"):
        host.chat(MODEL, "hello")
    host.close()
