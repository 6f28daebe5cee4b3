"""Shared set-up of the Bedrock plugin's tests: an AWS environment with nothing from the machine in
it, fake credentials, and the local Bedrock-compatible service in-process or on a loopback port."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from bedrock_models import REGION

from genai_commons import Config, Host, RetryPolicy
from genai_commons.testing import UsageRecorder
from genai_commons_bedrock import BedrockProvider
from genai_commons_bedrock.testing import LocalBedrock, LocalBedrockServer, attach


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS variable of the machine, no shared files, no instance metadata; fake static keys."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


_LOADER: Any = None


def new_session() -> Any:
    """A boto3 session with fake credentials and a region. Sessions share one botocore data loader,
    so the service models are read from disk once per test run, not once per test."""
    import boto3
    import botocore.loaders
    import botocore.session

    global _LOADER  # noqa: PLW0603
    if _LOADER is None:
        _LOADER = botocore.loaders.create_loader()
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(
        botocore_session=core,
        aws_access_key_id="AKIDTESTTESTTEST",
        aws_secret_access_key="fake-secret",
        region_name=REGION,
    )


@pytest.fixture
def session() -> Any:
    """A boto3 session with fake credentials and a region."""
    return new_session()


@pytest.fixture
def service(session: Any) -> LocalBedrock:
    """The local service, answering ``session``'s requests in-process."""
    return attach(session, LocalBedrock())


@pytest.fixture
def recorder() -> UsageRecorder:
    return UsageRecorder()


@pytest.fixture
def make_host(tmp_path: Path, recorder: UsageRecorder) -> Iterator[Callable[..., Host]]:
    """Builds hosts with only the given Bedrock provider (and a usage recorder); closes them."""
    hosts: list[Host] = []

    def make(plugin: BedrockProvider, settings: Mapping[str, Any] | None = None, *, attempts: int = 3) -> Host:
        config = Config.defaults(
            tmp_path,
            providers={"bedrock": {"region": REGION, **(settings or {})}},
            retry=RetryPolicy(max_attempts=attempts, initial_delay=0, max_delay=0),
        )
        host = Host(config, load_entry_points=False, plugins=[plugin, recorder])
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()


@pytest.fixture
def host(make_host: Callable[..., Host], session: Any, service: LocalBedrock) -> Host:
    """A host whose Bedrock provider talks to the in-process local service."""
    return make_host(BedrockProvider(session=session))


@pytest.fixture
def provider(host: Host) -> BedrockProvider:
    plugin = host.plugin_manager.get_plugin("bedrock")
    assert isinstance(plugin, BedrockProvider)
    return plugin


@pytest.fixture
def server() -> Iterator[LocalBedrockServer]:
    """The local service on a loopback port, with short stalls for timeout tests."""
    with LocalBedrockServer(stall_seconds=1.0) as running:
        yield running


@pytest.fixture
def server_env(server: LocalBedrockServer, monkeypatch: pytest.MonkeyPatch) -> LocalBedrockServer:
    """The standard endpoint variables point at the loopback server; fake keys in the environment."""
    for name, value in server.environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return server
