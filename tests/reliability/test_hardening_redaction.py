"""Issue 12, defect 3: a credential quoted back by a server never leaves, on any error path.

Each plugin (OpenAI, Azure OpenAI, Mendix Cloud GenAI, OpenSearch) is configured with a canary
secret of :mod:`security_canaries` and called through a loopback fault proxy that answers, instead
of the service, with a text quoting that secret (:mod:`hardening_redaction_cases`): a 200 answer
that is not JSON, a 200 JSON answer of the wrong shape, a stream event that is not JSON, an error
event inside a stream, 4xx and 5xx answers in HTML and JSON. Sync, async and through the ``genai``
command (with ``--json`` and without, at ``-vv``): the canary, whole or by a beginning of nine
characters or more, in any encoding :func:`security_canaries.forms` knows, appears nowhere — in
the error's message, ``body``, repr, args or any link of its cause chain and formatted traceback,
in a log event (structlog or the standard library's logging), in the command's output — and no
usage is recorded. The errors are those of the core hierarchy.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner, Result
from faults_servers import FaultProxy
from hardening_redaction_cases import QUOTES, TARGETS, Quote, Target, said
from security_canaries import exception_texts, leaks
from structlog.testing import LogCapture

from genai_commons import Config, GenAIError, Host, ProviderError, RetryPolicy
from genai_commons.cli import main
from genai_commons.redaction import REDACTED
from genai_commons.testing import UsageRecorder
from genai_commons_mxcloud import MxCloudProvider
from genai_commons_mxcloud.testing import make_key
from genai_commons_openai import AzureOpenAIProvider, OpenAIProvider
from genai_commons_opensearch import OpenSearchProvider

pytestmark = pytest.mark.timeout(60)

ONCE = RetryPolicy(max_attempts=1)
PLUGINS: dict[str, type[Any]] = {
    "openai": OpenAIProvider,
    "azure": AzureOpenAIProvider,
    "mxcloud": MxCloudProvider,
    "opensearch": OpenSearchProvider,
}
#: Loggers examined at DEBUG: the project's and those of the HTTP clients.
LOGGERS = ("genai_commons", "genai_commons_openai", "genai_commons_mxcloud", "genai_commons_opensearch",
           "httpx", "httpcore", "opensearch", "urllib3")  # fmt: skip
#: Variables of the machine that would change what the commands do.
FOREIGN = ("AWS_", "OPENAI_", "AZURE_", "GENAI_")
#: Statuses whose answer the error keeps as ``body``.
KEPT = ("502", "403", "400", "503")

CASES = [
    pytest.param(TARGETS[provider], quote, id=f"{provider}: {quote.name}")
    for provider in TARGETS
    for quote in QUOTES
    if provider in quote.providers
]


@pytest.fixture(scope="module")
def proxy() -> Iterator[FaultProxy]:
    """Answers only what a test scripts (there is no service behind it)."""
    with FaultProxy() as running:
        yield running
    assert running.problems == []


@pytest.fixture(autouse=True)
def nothing_pending(proxy: FaultProxy) -> Iterator[None]:
    proxy.clear()
    yield
    assert proxy.pending == 0, "the quoting answer was played"


class Records(logging.Handler):
    """Every standard-library log record, formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.texts.append(self.format(record))
        except Exception:
            self.texts.append(f"{record.msg!r} {record.args!r}")


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [root.level, *(logger.level for logger in loggers)]
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    for logger, level in zip([root, *loggers], levels, strict=True):
        logger.setLevel(level)


@pytest.fixture
def events() -> Iterator[LogCapture]:
    """structlog configured by 'the application' at DEBUG, keeping every event."""
    capture = LogCapture()
    structlog.configure(processors=[capture], wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    yield capture
    structlog.reset_defaults()


def settings(target: Target, url: str) -> dict[str, Any]:
    """The provider's table: its service is the proxy, its credential the canary."""
    if target.provider == "openai":
        return {"base_url": f"{url}/v1", "api_key": target.secret, "discover": False, "timeout": 10}
    if target.provider == "azure":
        return {"endpoint": url, "api_key": target.secret, "timeout": 10}
    if target.provider == "mxcloud":
        return {"keys": [make_key("TEXT_GENERATION", url, target.secret, name="claude")], "timeout": 10}
    return {"url": url, "username": "admin", "password": target.secret, "timeout": 10}


def environ(target: Target, url: str, home: Path) -> dict[str, str]:
    """The environment of a ``genai`` command configured as a user would."""
    base = {"GENAI_HOME": str(home)}
    if target.provider == "openai":
        return {**base, "OPENAI_API_KEY": target.secret, "OPENAI_BASE_URL": f"{url}/v1"}
    if target.provider == "azure":
        return {**base, "AZURE_OPENAI_API_KEY": target.secret, "AZURE_OPENAI_ENDPOINT": url}
    if target.provider == "mxcloud":
        return {**base, "GENAI_MXCLOUD_KEY": make_key("TEXT_GENERATION", url, target.secret, name="claude")}
    return {**base, "GENAI_OPENSEARCH_URL": url, "GENAI_OPENSEARCH_USERNAME": "admin",
            "GENAI_OPENSEARCH_PASSWORD": target.secret}  # fmt: skip


@pytest.fixture
def make_host(proxy: FaultProxy, tmp_path: Path) -> Iterator[Callable[[Target], tuple[Host, UsageRecorder]]]:
    hosts: list[Host] = []

    def make(target: Target) -> tuple[Host, UsageRecorder]:
        recorder = UsageRecorder()
        config = Config(home=tmp_path, retry=ONCE, providers={target.provider: settings(target, proxy.url)}, environ={})
        host = Host(config, load_entry_points=False, plugins=[PLUGINS[target.provider], recorder])
        hosts.append(host)
        return host, recorder

    yield make
    for host in hosts:
        host.close()


def call(host: Host, target: Target, quote: Quote, mode: str) -> Any:
    """The call that meets the quoting answer."""
    if target.knowledge:
        if mode == "sync":
            return host.list_chunks(target.ref)
        return asyncio.run(host.alist_chunks(target.ref))
    if quote.stream:
        if mode == "sync":
            return list(host.stream(target.ref, "hi"))

        async def consume() -> list[Any]:
            return [event async for event in await host.astream(target.ref, "hi")]

        return asyncio.run(consume())
    if mode == "sync":
        return host.chat(target.ref, "hi")
    return asyncio.run(host.achat(target.ref, "hi"))


def assert_clean(error: BaseException) -> None:
    for where, text in exception_texts(error):
        assert not leaks(text), f"a secret in the error's {where}: {leaks(text)}\n{text[:400]}"


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("target", "quote"), CASES)
def test_a_quoted_secret_leaves_no_error_nor_log(
    target: Target,
    quote: Quote,
    mode: str,
    proxy: FaultProxy,
    make_host: Callable[[Target], tuple[Host, UsageRecorder]],
    events: LogCapture,
    records: Records,
) -> None:
    host, recorder = make_host(target)
    proxy.script(quote.reply(target))
    with pytest.raises(GenAIError) as info:
        call(host, target, quote, mode)
    error = info.value
    assert isinstance(error, ProviderError), f"{type(error).__name__}: not an error of a provider"
    assert_clean(error)
    if quote.name.startswith(KEPT) and (error.body is not None or "JSON" in quote.name):
        assert error.body is not None and REDACTED in error.body, "the answer is kept, redacted"
    for event in events.entries:
        assert not leaks(repr(event)), f"a secret in a log event: {event}"
    for text in records.texts:
        assert not leaks(text), f"a secret in a log record: {text}"
    assert recorder.records == [], "no usage for a failed call"


@pytest.fixture
def quiet_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Nothing of the machine's configuration; structlog as it was, after the command configured it."""
    for name in list(os.environ):
        if name.startswith(FOREIGN):
            monkeypatch.delenv(name)
    yield
    structlog.reset_defaults()


def invoke(target: Target, quote: Quote, url: str, home: Path, *extra: str) -> Result:
    if target.knowledge:
        args = ["kb", "chunks", target.ref]
    else:
        args = ["chat", target.ref, "hi", *(["--stream"] if quote.stream else [])]
    return CliRunner().invoke(main, ["-vv", *args, *extra], env=environ(target, url, home))


@pytest.mark.usefixtures("quiet_environment")
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize(("target", "quote"), CASES)
def test_a_quoted_secret_leaves_no_command_output(
    target: Target, quote: Quote, as_json: bool, proxy: FaultProxy, tmp_path: Path, records: Records
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[retry]\nmax_attempts = 1\n")
    proxy.script(quote.reply(target))
    result = invoke(target, quote, proxy.url, home, *(["--json"] if as_json else []))
    assert result.exit_code == 1, f"exit {result.exit_code}\n{result.output}{result.exception!r}"
    assert result.stderr.startswith("error: ") or "\nerror: " in result.stderr, result.stderr
    assert not leaks(result.stdout), f"a secret on standard output: {leaks(result.stdout)}\n{result.stdout}"
    assert not leaks(result.stderr), f"a secret on standard error: {leaks(result.stderr)}\n{result.stderr}"
    for text in records.texts:
        assert not leaks(text), f"a secret in a log record: {text}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert_clean(result.exception)
    usage = home / "usage.db"
    assert not usage.exists() or not leaks(usage.read_bytes())


def test_a_model_listing_that_fails_logs_no_secret(
    proxy: FaultProxy, tmp_path: Path, events: LogCapture, records: Records
) -> None:
    """``GET /models`` answered with a page quoting the key: the warning names the failure only."""
    target = TARGETS["openai"]
    config = Config(home=tmp_path, retry=ONCE, providers={"openai": {**settings(target, proxy.url), "discover": True}})
    quote = next(q for q in QUOTES if q.name == "200 not JSON")
    proxy.script(quote.reply(target), path="/models")
    with Host(config, load_entry_points=False, plugins=[OpenAIProvider]) as host:
        assert host.models("openai") is not None
    warned = [event for event in events.entries if event.get("event") == "models_listing_failed"]
    assert warned, "the failed listing is reported"
    for event in events.entries:
        assert not leaks(repr(event)), f"a secret in a log event: {event}"
    for text in records.texts:
        assert not leaks(text), f"a secret in a log record: {text}"


# -- the core's pieces -----------------------------------------------------------------------------


def test_redact_error_cleans_the_whole_chain_in_place() -> None:
    """Messages, bodies, bytes, nested containers, notes and a decoding error's text, in every link."""
    import json

    from genai_commons import ServiceUnavailableError
    from genai_commons.redaction import redact_error

    secret = TARGETS["opensearch"].secret
    raw = said(secret).encode()
    try:
        try:
            try:
                (b"\xff" + raw).decode("utf-8")
            except UnicodeDecodeError as decoding:
                raise ValueError(f"bad answer: {raw!r}", {"info": [said(secret)]}) from decoding
        except ValueError as cause:
            error = ServiceUnavailableError(f"failed: {said(secret)}", provider="p", body=json.dumps(said(secret)))
            error.add_note(f"basic {base64.b64encode(f'admin:{secret}'.encode()).decode()}")
            raise error from cause
    except ServiceUnavailableError as caught:
        assert leaks("".join(text for _, text in exception_texts(caught))), "the canary is there to redact"
        redact_error(caught, [secret])
        assert_clean(caught)
        assert caught.body is not None and REDACTED in caught.body and str(caught).startswith("failed: ")


def test_url_credentials_are_found_as_written_and_decoded() -> None:
    from urllib.parse import quote

    from genai_commons.redaction import url_credentials

    secret = TARGETS["opensearch"].secret
    found = url_credentials(f"https://admin:{quote(secret, safe='')}@example.org:9200/path")
    assert secret in found and quote(secret, safe="") in found and "admin" in found
    assert url_credentials("https://example.org/v1") == [] and url_credentials(None) == []
