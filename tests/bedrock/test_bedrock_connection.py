"""The connection: settings, one reused client per service and region, SDK retries off, timeouts,
endpoint variables, and role assumption with credentials that refresh themselves."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from bedrock_models import CLAUDE, REGION

from genai_commons import (
    Config,
    ConfigurationError,
    Host,
    MissingCredentialsError,
    PermissionDeniedError,
    ServiceUnavailableError,
)
from genai_commons_bedrock import BedrockProvider
from genai_commons_bedrock.settings import BedrockSettings
from genai_commons_bedrock.testing import LocalBedrock, LocalBedrockServer

MODEL = f"bedrock:{CLAUDE}"


def test_one_client_per_service_and_region_created_once_under_concurrency(provider: BedrockProvider) -> None:
    clients: list[Any] = []
    start = threading.Barrier(8)

    def grab() -> None:
        start.wait()
        clients.append(provider.clients.client("bedrock-runtime"))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(c) for c in clients}) == 1
    assert provider.clients.client("bedrock-runtime") is clients[0]
    other = provider.clients.client("bedrock-runtime", "eu-central-1")
    assert other is not clients[0] and other.meta.region_name == "eu-central-1"
    assert provider.clients.client("bedrock").meta.service_model.service_name == "bedrock"


def test_clients_have_no_sdk_retries_and_the_configured_timeouts(make_host: Callable[..., Host], session: Any) -> None:
    host = make_host(
        BedrockProvider(session=session), {"connect_timeout": 3, "read_timeout": 42.5, "max_concurrency": 32}
    )
    config = host.plugin_manager.get_plugin("bedrock").clients.client("bedrock-runtime").meta.config
    assert config.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert (config.connect_timeout, config.read_timeout, config.max_pool_connections) == (3, 42.5, 32)
    assert "genai-commons-bedrock" in config.user_agent_extra


def test_botocore_makes_one_attempt_only(make_host: Callable[..., Host], session: Any, service: LocalBedrock) -> None:
    host = make_host(BedrockProvider(session=session), attempts=1)
    for kind in ("rate_limit", "unavailable", "not_ready", "internal"):
        service.fail_next(kind)
        with pytest.raises(Exception):
            host.chat(MODEL, "hi")
    assert len(service.requests) == 4


def test_the_standard_endpoint_variables_are_honoured_by_botocore(
    server_env: LocalBedrockServer, make_host: Callable[..., Host]
) -> None:
    provider = BedrockProvider()
    host = make_host(provider)
    assert provider.bedrock_settings.endpoint_urls == {}  # the host's environment is empty here...
    assert provider.clients.client("bedrock-runtime").meta.endpoint_url == server_env.url  # ...botocore reads it
    assert provider.clients.client("bedrock").meta.endpoint_url == server_env.url
    assert provider.clients.client("bedrock-agent-runtime").meta.endpoint_url == server_env.url
    assert provider.clients.client("bedrock-agent").meta.endpoint_url == server_env.url
    assert host.chat(MODEL, "hello").text == "You said: hello"


def test_knowledge_base_and_agent_settings(tmp_path: Any) -> None:
    defaults = BedrockSettings.from_provider_settings(Config.defaults(tmp_path).provider("bedrock"))
    assert (defaults.agent_alias_id, defaults.ingestion_timeout, defaults.ingestion_poll_interval) == (
        "TSTALIASID", 3600.0, 5.0,
    )  # fmt: skip
    values = {"agent_alias_id": "PROD000001", "ingestion_timeout": 120, "ingestion_poll_interval": 0.5}
    config = Config.defaults(tmp_path, providers={"bedrock": values})
    settings = BedrockSettings.from_provider_settings(config.provider("bedrock"))
    assert (settings.agent_alias_id, settings.ingestion_timeout, settings.ingestion_poll_interval) == (
        "PROD000001", 120.0, 0.5,
    )  # fmt: skip


def test_endpoints_from_the_settings_and_the_hosts_environment(tmp_path: Any, server: LocalBedrockServer) -> None:
    environ = {"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": server.url, "AWS_REGION": "eu-west-3"}
    config = Config(home=tmp_path, providers={"bedrock": {"endpoint_url": "http://127.0.0.1:9"}}, environ=environ)
    settings = BedrockSettings.from_provider_settings(config.provider("bedrock"))
    assert settings.region == "eu-west-3"
    assert settings.endpoint_urls == {"bedrock-runtime": server.url, "bedrock": "http://127.0.0.1:9"}


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"read_timeout": -1}, "positive"),
        ({"runtime_endpoint_url": "localhost:8000"}, "http"),
        ({"by_output_modality": "SOUND"}, "by_output_modality"),
        ({"access_key_id": "AKID"}, "both"),
        ({"models": [1, 2]}, "models"),
        ({"models": {"x": {"colour": "red"}}}, "display_name and like"),
        ({"role_duration_seconds": 60}, "900"),
        ({"agent_alias_id": "not an alias"}, "agent_alias_id"),
        ({"ingestion_timeout": 0}, "ingestion_timeout must be a positive"),
        ({"ingestion_poll_interval": "often"}, "ingestion_poll_interval must be a number"),
    ],
)
def test_bad_settings_are_configuration_errors(tmp_path: Any, values: dict[str, Any], problem: str) -> None:
    config = Config.defaults(tmp_path, providers={"bedrock": values})
    with pytest.raises(ConfigurationError, match=problem):
        BedrockSettings.from_provider_settings(config.provider("bedrock"))


def test_importing_and_configuring_the_plugin_does_not_import_boto3() -> None:
    code = (
        "import sys, tempfile\n"
        "from genai_commons import Config, Host\n"
        "host = Host(Config.defaults(tempfile.mkdtemp()), allow=['bedrock'])\n"
        "assert 'bedrock' in host.providers(), host.plugins()\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.strip() == "ok", done.stderr


@pytest.fixture
def sts_server() -> Any:
    service = LocalBedrock(accepted_access_keys=["AKIDBASEBASEBASE"])
    with LocalBedrockServer(service) as server:
        yield server


def test_a_role_is_assumed_and_its_credentials_refreshed(
    sts_server: LocalBedrockServer, make_host: Callable[..., Host], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in sts_server.environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDBASEBASEBASE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "base-secret")
    service = sts_server.service
    role = "arn:aws:iam::123456789012:role/bedrock-caller"
    host = make_host(BedrockProvider(), {"role_arn": role, "role_session_name": "tests", "external_id": "ext-1"})
    assert service.requests == []  # nothing reaches STS before the first call
    assert host.chat(MODEL, "first").text == "You said: first"
    assume, chat = service.requests
    assert assume.operation == "assume_role" and assume.access_key_id == "AKIDBASEBASEBASE"
    assert (assume.body["RoleArn"], assume.body["RoleSessionName"], assume.body["ExternalId"]) == (
        [role],
        ["tests"],
        ["ext-1"],
    )
    assert chat.operation == "converse" and chat.access_key_id is not None and chat.access_key_id.startswith("ASIA")
    host.chat(MODEL, "second")  # still valid for an hour: no new AssumeRole
    assert [r.operation for r in service.requests] == ["assume_role", "converse", "converse"]
    # Credentials about to expire are refreshed before the next call.
    service.role_credentials_lifetime = timedelta(minutes=5)
    host2 = make_host(BedrockProvider(), {"role_arn": role})
    host2.chat(MODEL, "a")
    host2.chat(MODEL, "b")
    operations = [r.operation for r in service.requests[3:]]
    assert operations == ["assume_role", "converse", "assume_role", "converse"]
    keys = [r.access_key_id for r in service.requests[3:] if r.operation == "converse"]
    assert keys[0] != keys[1]


def test_a_role_that_cannot_be_assumed(
    sts_server: LocalBedrockServer, make_host: Callable[..., Host], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in sts_server.environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDBASEBASEBASE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "base-secret")
    sts_server.service.fail_next("permission")
    host = make_host(BedrockProvider(), {"role_arn": "arn:aws:iam::1:role/nope"}, attempts=1)
    with pytest.raises(PermissionDeniedError, match=r"cannot assume role arn:aws:iam::1:role/nope.*trust policy"):
        host.chat(MODEL, "hi")
    sts_server.service.fail_next("unavailable")
    host = make_host(BedrockProvider(), {"role_arn": "arn:aws:iam::1:role/later"}, attempts=1)
    with pytest.raises(ServiceUnavailableError):
        host.chat(MODEL, "hi")


def test_a_role_without_credentials_to_start_from(make_host: Callable[..., Host]) -> None:
    host = make_host(BedrockProvider(), {"role_arn": "arn:aws:iam::1:role/x"})
    with pytest.raises(MissingCredentialsError, match="needs AWS credentials to start from"):
        host.chat(MODEL, "hi")


def test_the_region_of_the_settings_reaches_the_client(make_host: Callable[..., Host], session: Any) -> None:
    host = make_host(BedrockProvider(session=session), {"region": "ap-northeast-1"})
    assert (
        host.plugin_manager.get_plugin("bedrock").clients.client("bedrock-runtime").meta.region_name == "ap-northeast-1"
    )
    assert REGION != "ap-northeast-1"
