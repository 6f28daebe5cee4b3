"""Secrets never leave, through the Python API: every plugin, configured with canary secrets
against its loopback fake (see ``security_world.py``), is called through one host with structlog
configured at DEBUG. No canary may appear in a log event, a usage record, the repr or str of any
object the host reaches (providers, their settings classes, connection keys, clients), or any
text of an error — its message, repr, args, ``body``, its causes and its formatted traceback —
whether the key was rejected, the server failed (the error keeps the server's body), or the
server quoted the credentials it received.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from osmem_server import OsmemServer
from security_canaries import CANARIES, exception_texts, leaks, watched_reprs
from security_world import CLAUDE, FOREIGN_PREFIXES, TITAN_EMBED, World, start_world
from structlog.testing import LogCapture

from genai_commons import (
    AuthenticationError,
    ChunkCollection,
    Config,
    GenAIError,
    Host,
    KnowledgeBaseChunk,
    ProviderError,
    RetrievalQuery,
    ServiceUnavailableError,
)
from genai_commons.serialization import to_json
from genai_commons.testing import UsageRecorder


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    server = OsmemServer.start(japanese=False)
    try:
        with server.clone() as clone, start_world(clone.url) as running:
            yield running
    finally:
        server.close()


@pytest.fixture
def events() -> Iterator[LogCapture]:
    """structlog configured by 'the application' at DEBUG, keeping every event."""
    capture = LogCapture()
    structlog.configure(processors=[capture], wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    yield capture
    structlog.reset_defaults()


@pytest.fixture
def make_host(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., tuple[Host, UsageRecorder]]]:
    """``make_host(config="", **environ)``: a host with every installed plugin, configured through
    the environment as a user would (boto3 reads it too), usage storage on."""
    hosts: list[Host] = []
    for name in list(os.environ):
        if name.startswith(FOREIGN_PREFIXES):
            monkeypatch.delenv(name)

    def make(config: str = "", **environ: str) -> tuple[Host, UsageRecorder]:
        home = tmp_path / f"home-{len(hosts)}"
        home.mkdir()
        (home / "config.toml").write_text(world.config(config))
        for name, value in world.environ(home, **environ).items():
            monkeypatch.setenv(name, value)
        recorder = UsageRecorder()
        host = Host(Config.load(), plugins=[recorder])
        hosts.append(host)
        return host, recorder

    yield make
    for host in hosts:
        host.close()


def _chunks(prefix: str) -> ChunkCollection:
    return ChunkCollection(
        chunks=[
            KnowledgeBaseChunk(
                chunk_id=f"{prefix}{n}", input_text=f"text {n}", vector=[1.0, float(n)], source_id=f"s{n}"
            )
            for n in range(3)
        ]
    )


def _no_leak_anywhere(host: Host, recorder: UsageRecorder, events: LogCapture) -> int:
    """Checks events, usage records, files and reprs; the number of reprs checked."""
    for event in events.entries:
        assert not leaks(repr(event)), f"a secret in a log event: {event}"
    for usage in recorder.records:
        assert not leaks(to_json(usage)), f"a secret in a usage record: {usage}"
    for path in host.config.home.rglob("*"):
        if path.is_file() and path.name != "config.toml":
            assert not leaks(path.read_bytes()), f"a secret in {path.name}"
    checked = 0
    for name, text in _reprs(host):
        assert not leaks(text), f"a secret in the repr of a {name}: {leaks(text)}"
        checked += 1
    return checked


def _reprs(host: Host) -> Iterator[tuple[str, str]]:
    """The reprs of what the host reaches, its plugins (providers) included."""
    yield from watched_reprs(host)
    for plugin in host.plugin_manager.get_plugins():
        yield from watched_reprs(plugin)


def test_every_plugin_called_through_the_api_shows_no_secret(
    make_host: Callable[..., tuple[Host, UsageRecorder]], world: World, events: LogCapture
) -> None:
    host, recorder = make_host()
    host.chat("openai:gpt-4o-mini", "hello")
    "".join(e.text for e in host.stream("openai:gpt-4o-mini", "hello") if hasattr(e, "text"))
    host.embed("openai:text-embedding-3-small", ["a", "b"])
    host.chat("azure:gpt-4o-mini", "hello")
    host.chat(f"bedrock:{CLAUDE}", "hello")
    host.embed(f"bedrock:{TITAN_EMBED}", "hello")
    host.chat("mxcloud:claude", "hello")
    host.embed("mxcloud:cohere", "hello")
    for ref in ("opensearch:apicheck", "local:apicheck"):
        host.ingest(ref, _chunks("c"))
        assert len(host.retrieve(ref, RetrievalQuery(vector=[1.0, 0.5], k=2)).chunks) == 2
    host.ingest(
        "mxcloud:kb/apicheck", ChunkCollection(chunks=[KnowledgeBaseChunk(chunk_id="t", input_text="some text")])
    )

    async def calls() -> None:
        await host.achat("openai:gpt-4o-mini", "hello")
        await host.achat("mxcloud:claude", "hello")
        await host.aembed("azure:text-embedding-3-small", "hello")

    asyncio.run(calls())
    assert {u.provider for u in recorder.records} >= {"openai", "azure", "bedrock", "mxcloud"}
    assert world.openai.service.requests and world.bedrock.service.requests
    checked = _no_leak_anywhere(host, recorder, events)
    assert checked > 50, "the walk reached the providers, their settings and clients"
    types = {name for name, _ in _reprs(host)}
    for expected in (
        "Endpoint",
        "BedrockSettings",
        "OpenSearchSettings",
        "ConnectionKey",
        "httpx.Client",
        "OpenSearch",
    ):
        assert any(expected in name for name in types), f"no {expected} reached: {sorted(types)}"


def test_an_assumed_role_shows_no_secret(
    make_host: Callable[..., tuple[Host, UsageRecorder]], world: World, events: LogCapture
) -> None:
    role = f'role_arn = "arn:aws:iam::123456789012:role/genai"\nexternal_id = "{CANARIES["aws_external_id"]}"'
    host, recorder = make_host(role)
    host.chat(f"bedrock:{CLAUDE}", "hello")
    assert world.bedrock.service.calls("assume_role"), "the role was assumed"
    _no_leak_anywhere(host, recorder, events)
    world.bedrock.service.fail_next("permission")  # the role's trust policy refuses
    host2, _ = make_host(role)
    with pytest.raises(GenAIError) as info:
        host2.chat(f"bedrock:{CLAUDE}", "hello")
    for where, text in exception_texts(info.value):
        assert not leaks(text), f"{where}: {leaks(text)}"


def test_opensearch_signed_with_aws_credentials_shows_no_secret(
    make_host: Callable[..., tuple[Host, UsageRecorder]], world: World, events: LogCapture
) -> None:
    """SigV4 for Amazon OpenSearch signs with the AWS credentials (the session token travels)."""
    host, recorder = make_host('\n[providers.opensearch]\nauth = "aws"\naws_region = "us-east-1"')
    host.ingest("opensearch:signed", _chunks("c"))
    assert host.list_chunks("opensearch:signed")
    sent = world.opensearch.requests[-1].headers
    assert sent.get("x-amz-security-token") == CANARIES["aws_session_token"], "signed with the canary credentials"
    _no_leak_anywhere(host, recorder, events)
    world.opensearch.fail_next(403, "security_exception", "no permissions for [indices:data/read/search]")
    with pytest.raises(GenAIError) as info:
        host.list_chunks("opensearch:signed")
    for where, text in exception_texts(info.value):
        assert not leaks(text), f"a secret in the error's {where}: {leaks(text)}"


# -- failing calls --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """A call that fails: ``prepare`` sets the fault, ``call`` makes it; the error must be
    ``expected``, keep the server's ``body`` when ``body`` says so, and show no secret."""

    name: str
    call: Callable[[Host], Any]
    expected: type[GenAIError]
    environ: dict[str, str] | None = None
    prepare: Callable[[World], None] | None = None
    body: bool = True
    redacted: bool = False


def _openai(host: Host) -> Any:
    return host.chat("openai:gpt-4o-mini", "hi")


def _openai_async(host: Host) -> Any:
    return asyncio.run(host.achat("openai:gpt-4o-mini", "hi"))


def _azure(host: Host) -> Any:
    return host.embed("azure:text-embedding-3-small", "hi")


def _bedrock(host: Host) -> Any:
    return host.chat(f"bedrock:{CLAUDE}", "hi")


def _mxcloud(host: Host) -> Any:
    return host.chat("mxcloud:claude", "hi")


def _mxcloud_async(host: Host) -> Any:
    return asyncio.run(host.achat("mxcloud:claude", "hi"))


def _mxcloud_revoked(host: Host) -> Any:
    return host.chat("mxcloud:revoked", "hi")


def _mxcloud_echoed(host: Host) -> Any:
    return host.chat("mxcloud:echoed", "hi")


def _opensearch(host: Host) -> Any:
    return host.list_chunks("opensearch:anything")


FAILURES = (
    Failure("openai, wrong key", _openai, AuthenticationError, {"OPENAI_API_KEY": CANARIES["openai_wrong_key"]}),
    Failure(
        "openai, 500", _openai, ServiceUnavailableError, prepare=lambda w: w.openai.service.fail_next("server_error")
    ),
    Failure(
        "openai async, 500",
        _openai_async,
        ServiceUnavailableError,
        prepare=lambda w: w.openai.service.fail_next("server_error"),
    ),
    Failure("openai, key quoted back", _openai, AuthenticationError, {"OPENAI_BASE_URL": "{echo}/v1"}, redacted=True),
    Failure(
        "openai async, key quoted back",
        _openai_async,
        AuthenticationError,
        {"OPENAI_BASE_URL": "{echo}/v1"},
        redacted=True,
    ),
    Failure("azure, wrong key", _azure, AuthenticationError, {"AZURE_OPENAI_API_KEY": CANARIES["azure_wrong_key"]}),
    Failure("azure, 500", _azure, ServiceUnavailableError, prepare=lambda w: w.azure.service.fail_next("server_error")),
    Failure("azure, key quoted back", _azure, AuthenticationError, {"AZURE_OPENAI_ENDPOINT": "{echo}"}, redacted=True),
    Failure("bedrock, wrong key", _bedrock, AuthenticationError, {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE0WRONGKEY"}),
    Failure(
        "bedrock, 500", _bedrock, ServiceUnavailableError, prepare=lambda w: w.bedrock.service.fail_next("internal")
    ),
    Failure("mxcloud, revoked key", _mxcloud_revoked, AuthenticationError, {"GENAI_MXCLOUD_KEY": "{key:revoked}"}),
    Failure(
        "mxcloud, 503", _mxcloud, ServiceUnavailableError, prepare=lambda w: w.mxcloud.service.fail_next("unavailable")
    ),
    Failure(
        "mxcloud async, 503",
        _mxcloud_async,
        ServiceUnavailableError,
        prepare=lambda w: w.mxcloud.service.fail_next("unavailable"),
    ),
    Failure(
        "mxcloud, key quoted back",
        _mxcloud_echoed,
        AuthenticationError,
        {"GENAI_MXCLOUD_KEY": "{key:echoed}"},
        redacted=True,
    ),
    Failure(
        "opensearch, 401",
        _opensearch,
        AuthenticationError,
        prepare=lambda w: w.opensearch.fail_next(401, "security_exception", "missing authentication credentials"),
    ),
    Failure("opensearch, 500", _opensearch, ServiceUnavailableError, prepare=lambda w: w.opensearch.fail_next(500)),
)


@pytest.mark.parametrize("failure", FAILURES, ids=lambda f: f.name)
def test_errors_show_no_secret(
    failure: Failure, make_host: Callable[..., tuple[Host, UsageRecorder]], world: World, events: LogCapture
) -> None:
    values = {"{echo}": world.echo.url, **{f"{{key:{n}}}": k for n, k in world.keys.items()}}

    def fill(text: str) -> str:
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return text

    environ = {name: fill(given) for name, given in (failure.environ or {}).items()}
    host, recorder = make_host(**environ)
    world.echo.seen.clear()
    if failure.prepare is not None:
        failure.prepare(world)
    with pytest.raises(GenAIError) as info:
        failure.call(host)
    error = info.value
    assert isinstance(error, failure.expected), repr(error)
    assert isinstance(error, ProviderError) and (error.body is not None or not failure.body), "the body is kept"
    for where, text in exception_texts(error):
        assert not leaks(text), f"a secret in the error's {where}: {leaks(text)}"
    if failure.redacted:
        assert world.echo.seen and world.echo.seen[-1] != "none", "the server received the credentials"
        assert error.body is not None and "[redacted]" in error.body, error.body
    _no_leak_anywhere(host, recorder, events)
    assert not recorder.records, "no usage for a failed call"


# -- settings that hold a secret where they should not -------------------------------------------


URLS_WITH_CREDENTIALS = [
    ("opensearch", "GENAI_OPENSEARCH_URL", "http://admin:{password}@127.0.0.1:9200"),
    ("opensearch", "GENAI_OPENSEARCH_URL", "ftp://admin:{password}@127.0.0.1:9200"),
    ("opensearch", "GENAI_OPENSEARCH_URL", "admin:{password}@127.0.0.1:9200"),
    ("openai", "OPENAI_BASE_URL", "http://admin:{password}@127.0.0.1:9/v1"),
    ("azure", "AZURE_OPENAI_ENDPOINT", "https://admin:{password}@example.openai.azure.com"),
]


@pytest.mark.parametrize(("plugin", "variable", "url"), URLS_WITH_CREDENTIALS, ids=lambda v: str(v)[:24])
def test_a_url_holding_credentials_is_refused_without_quoting_them(
    plugin: str, variable: str, url: str, make_host: Callable[..., tuple[Host, UsageRecorder]], events: LogCapture
) -> None:
    from urllib.parse import quote

    host, _ = make_host(**{variable: url.format(password=quote(CANARIES["opensearch_password"], safe=""))})
    # the plugin refuses its settings when the host configures it: it is reported, not loaded
    (broken,) = [p for p in host.plugins() if plugin in [pr.name for pr in p.providers] or p.name == plugin]
    assert broken.error is not None and "credentials" in broken.error, broken
    assert not leaks(repr(host.plugins()))
    with pytest.raises(GenAIError) as info:
        if plugin == "opensearch":
            host.list_chunks("opensearch:anything")
        else:
            host.chat(f"{plugin}:gpt-4o-mini", "hi")
    for where, text in exception_texts(info.value):
        assert not leaks(text), f"a secret in the error's {where}: {leaks(text)}"
    for event in events.entries:
        assert not leaks(repr(event)), event


def test_malformed_connection_keys_are_reported_without_the_key(
    make_host: Callable[..., tuple[Host, UsageRecorder]], world: World, events: LogCapture
) -> None:
    import base64
    import json

    token = CANARIES["mxcloud_token"]
    broken = [
        base64.b64encode(json.dumps({"accessToken": token}).encode()).decode(),  # fields missing
        base64.b64encode(f"not json {token}".encode()).decode(),
        json.dumps({"type": "TEXT_GENERATION", "accessToken": token}),  # the JSON itself, not base64
        world.keys["claude"][:-7] + "!!" + world.keys["claude"][-5:],  # damaged in the middle of a copy
    ]
    host, _ = make_host(GENAI_MXCLOUD_KEY=",".join(broken))
    with pytest.raises(GenAIError) as info:
        host.chat("mxcloud:claude", "hi")
    for where, text in exception_texts(info.value):
        assert not leaks(text), f"a secret in the error's {where}: {leaks(text)}"
    listing = " ".join(repr(m) for m in host.models())
    assert not leaks(listing)
    for event in events.entries:
        assert not leaks(repr(event)), event
