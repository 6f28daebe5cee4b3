"""structlog events: fields not f-strings, no prompt text above DEBUG, never a secret."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from genai_commons import (
    AuthenticationError,
    Config,
    DeployedModel,
    Request,
    Response,
    RetryPolicy,
)
from genai_commons.config import ProviderSettings
from genai_commons.serialization import to_json
from genai_commons.testing import FakeProvider, UsageRecorder

SECRET = "sk-CANARY-5ecr3t-never-show-me"
PROMPT = "PROMPT-CANARY tell me everything"


class KeyedProvider(FakeProvider):
    """Reads an API key from its settings, as a real plugin does, and rejects a wrong one."""

    def configure(self, settings: ProviderSettings) -> None:
        self.key = settings.get_secret("api_key", env="KEYED_API_KEY", required=True)

    def chat(self, model: DeployedModel, request: Request) -> Response:
        if self.key is None or self.key.reveal() != SECRET:
            raise AuthenticationError("the API key was rejected; check KEYED_API_KEY", provider=self.name, status=401)
        return super().chat(model, request)


@pytest.fixture(autouse=True)
def reset_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def output() -> io.StringIO:
    """structlog configured by 'the application' at DEBUG, rendering every event as JSON."""
    buffer = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(buffer),
    )
    return buffer


def _host(home: Any, *plugins: Any) -> Any:
    from genai_commons import Host

    config = Config.load(environ={"GENAI_HOME": str(home), "KEYED_API_KEY": SECRET})
    config = Config(
        home=config.home,
        retry=RetryPolicy(max_attempts=2, initial_delay=0, max_delay=0),
        environ=config.environ,
    )
    return Host(config, load_entry_points=False, plugins=plugins)


def test_calls_log_events_with_fields_and_no_secret_or_prompt(genai_home: Any, output: io.StringIO) -> None:
    keyed, recorder = KeyedProvider(name="keyed"), UsageRecorder()
    host = _host(genai_home, keyed, recorder)
    keyed.fail_next("rate_limit")

    host.chat("keyed:chat", PROMPT)
    host.embed("keyed:embed", PROMPT)
    list(host.stream("keyed:chat", PROMPT))

    logs = output.getvalue()
    assert '"event": "call_retried"' in logs
    assert '"event": "chat_completed"' in logs
    assert '"level": "debug"' in logs
    assert SECRET not in logs
    assert "PROMPT-CANARY" not in logs
    for usage in recorder.records:
        assert SECRET not in to_json(usage)
        assert "PROMPT-CANARY" not in to_json(usage)


def test_secrets_stay_out_of_errors_and_reprs(genai_home: Any, output: io.StringIO) -> None:
    keyed = KeyedProvider(name="keyed")
    host = _host(genai_home, keyed)
    keyed.key = None  # as if the key had been revoked
    with pytest.raises(AuthenticationError) as info:
        host.chat("keyed:chat", "hi")
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
    settings = host.config.provider("keyed")
    secret = settings.get_secret("api_key", env="KEYED_API_KEY")
    assert secret is not None and secret.reveal() == SECRET
    for text in (repr(secret), str(secret), repr(settings), repr(host.config), f"{secret}"):
        assert SECRET not in text
    assert SECRET not in output.getvalue()


def test_a_missing_secret_says_where_to_put_it(genai_home: Any) -> None:
    from genai_commons import Host, MissingCredentialsError

    config = Config.load(environ={"GENAI_HOME": str(genai_home)})
    with pytest.raises(MissingCredentialsError, match=r"set KEYED_API_KEY or add api_key to \[providers.keyed\]"):
        Host(config, load_entry_points=False, plugins=[KeyedProvider(name="keyed")])


def test_without_structlog_configuration_the_host_is_quiet_except_warnings(
    genai_home: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeProvider()
    host = _host(genai_home, fake)
    host.chat("fake:chat", PROMPT)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""
    fake.fail_next("unavailable")
    host.chat("fake:chat", "again")
    err = capsys.readouterr().err
    assert "call_retried" in err
    assert "PROMPT-CANARY" not in err
