"""Settings and the connection: nothing connects or imports the SDK at configure time; basic auth and
SigV4 reach the wire as they should; missing settings fail at call time with what to set."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opensearch_helpers import chunk, chunks, kb, settings_for
from opensearch_standin import OpenSearchStandIn

from genai_commons import (
    Capability,
    Config,
    ConfigurationError,
    Host,
    IngestMode,
    MissingCredentialsError,
    ProviderSettings,
    Secret,
)
from genai_commons_opensearch import OpenSearchProvider
from genai_commons_opensearch.client import aws_endpoint
from genai_commons_opensearch.settings import OpenSearchSettings


def parse(values: dict[str, Any], environ: dict[str, str] | None = None) -> OpenSearchSettings:
    return OpenSearchSettings.from_provider_settings(
        ProviderSettings(name="opensearch", values=values, environ=environ or {})
    )


def test_defaults_and_environment() -> None:
    defaults = parse({})
    assert (defaults.url, defaults.index_prefix, defaults.engine, defaults.refresh) == (
        None,
        "genai-",
        "lucene",
        "wait_for",
    )
    assert (defaults.auth_mode(), defaults.serverless, defaults.verify_certs, defaults.timeout) == (
        "none",
        False,
        True,
        30,
    )
    env = {
        "GENAI_OPENSEARCH_URL": "https://search.example:9200",
        "GENAI_OPENSEARCH_USERNAME": "admin",
        "GENAI_OPENSEARCH_PASSWORD": "pw",
    }
    settings = parse({"url": "http://ignored:9200", "username": "other"}, env)
    assert (settings.url, settings.username, settings.password) == (
        "https://search.example:9200",
        "admin",
        Secret("pw"),
    )
    assert settings.auth_mode() == "basic" and settings.basic_credentials() == ("admin", "pw")
    assert "pw" not in repr(settings)


def test_amazon_endpoints_select_sigv4_and_serverless() -> None:
    serverless = parse({"url": "https://abc123.us-east-1.aoss.amazonaws.com"})
    assert (serverless.auth_mode(), serverless.aws_service, serverless.serverless) == ("aws", "aoss", True)
    assert serverless.refresh_param is None
    domain = parse({"url": "https://search-kb-xyz.eu-west-1.es.amazonaws.com"})
    assert (domain.auth_mode(), domain.aws_service, domain.serverless) == ("aws", None, False)
    assert aws_endpoint(domain.url) == ("eu-west-1", "es")
    assert aws_endpoint(serverless.url) == ("us-east-1", "aoss")
    assert aws_endpoint("http://localhost:9200") == (None, None)
    assert parse({"url": "http://proxy:9200", "aws_region": "eu-west-1"}).auth_mode() == "aws"
    assert parse({"url": "https://x.aoss.amazonaws.com", "serverless": False}).serverless is False


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"url": "localhost:9200"}, "http:// or https://"),
        ({"url": "https://admin:pw@host:9200"}, "must not hold credentials"),
        ({"auth": "kerberos"}, "auth must be one of"),
        ({"aws_service": "s3"}, "aws_service must be"),
        ({"engine": "nmslib"}, "engine must be one of"),
        ({"refresh": "sometimes"}, "refresh must be"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"bulk_batch_size": 0}, "bulk_batch_size must be a whole number"),
        ({"bulk_retries": "3"}, "bulk_retries must be a whole number"),
        ({"hnsw_m": True}, "hnsw_m must be a whole number"),
        ({"number_of_shards": 0}, "number_of_shards must be a whole number"),
        ({"verify_certs": "maybe"}, "verify_certs must be true or false"),
    ],
)
def test_bad_settings_are_configuration_errors(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse(values)


def test_refresh_policy_reaches_the_writes(
    make_provider: Callable[..., OpenSearchProvider], standin: OpenSearchStandIn
) -> None:
    provider = make_provider(refresh=False)
    provider.ingest(kb(), chunks(chunk("a", [1.0, 0.0], source_id="s")), IngestMode.INSERT)
    provider.delete_chunks(kb(), ["s"])
    assert standin.calls("POST", "_bulk")[0].params == {"refresh": "false"}
    assert standin.calls("POST", "_delete_by_query")[0].params["refresh"] == "false"


def test_nothing_connects_before_the_first_call(standin: OpenSearchStandIn) -> None:
    provider = OpenSearchProvider()
    provider.configure(settings_for(standin.url, username="admin", password="pw"))
    assert standin.requests == []
    provider.close()


def test_missing_settings_fail_at_call_time_with_what_to_set(standin: OpenSearchStandIn) -> None:
    provider = OpenSearchProvider()
    provider.configure(ProviderSettings(name="opensearch", values={}, environ={}))
    with pytest.raises(ConfigurationError, match="set GENAI_OPENSEARCH_URL"):
        provider.ingest(kb(), chunks(chunk("a", [1.0])), IngestMode.INSERT)
    provider.configure(settings_for(standin.url, username="admin"))
    with pytest.raises(MissingCredentialsError, match="GENAI_OPENSEARCH_PASSWORD"):
        provider.resolve_knowledge_base("docs")
    provider.close()


def test_basic_auth_on_the_wire(standin: OpenSearchStandIn) -> None:
    provider = OpenSearchProvider()
    provider.configure(settings_for(standin.url, username="admin", password="s3cret"))
    provider.knowledge_bases()
    provider.knowledge_bases()
    expected = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    assert [c.headers.get("authorization") for c in standin.requests] == [expected, expected]
    provider.close()


def test_sigv4_signs_every_request(standin: OpenSearchStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("boto3")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "session-token",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }.items():
        monkeypatch.setenv(name, value)
    provider = OpenSearchProvider()
    provider.configure(settings_for(standin.url, auth="aws", aws_region="eu-west-1", aws_service="aoss"))
    provider.ingest(kb(), chunks(chunk("a", [1.0, 0.0])), IngestMode.INSERT)
    assert standin.requests
    for call in standin.requests:
        authorization = call.headers["authorization"]
        assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
        assert "/eu-west-1/aoss/aws4_request" in authorization and "Signature=" in authorization
        assert call.headers["x-amz-security-token"] == "session-token"
        assert call.headers["x-amz-content-sha256"] == hashlib.sha256(call.body).hexdigest()
    provider.close()


def test_sigv4_without_credentials_is_a_missing_credentials_error(
    standin: OpenSearchStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("boto3")
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    provider = OpenSearchProvider()
    provider.configure(settings_for(standin.url, auth="aws", aws_region="eu-west-1"))
    with pytest.raises(MissingCredentialsError, match="no AWS credentials"):
        provider.knowledge_bases()
    assert standin.requests == []
    provider.configure(settings_for(standin.url, auth="aws"))
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(ConfigurationError, match="set aws_region"):
        provider.knowledge_bases()


def test_the_host_lists_the_provider_without_a_cluster(tmp_path: Path) -> None:
    with Host(Config.defaults(tmp_path), load_entry_points=False, plugins=[OpenSearchProvider]) as host:
        assert host.providers()["opensearch"].capabilities == {Capability.RETRIEVE, Capability.INGEST}
        assert host.knowledge_bases("opensearch") == []


def test_opensearch_py_and_boto3_load_only_on_the_first_call() -> None:
    script = """
import sys
from genai_commons import Config, Host
from genai_commons_opensearch import OpenSearchProvider
config = Config.defaults(".", providers={"opensearch": {"url": "https://x.eu-west-1.aoss.amazonaws.com"}})
with Host(config, load_entry_points=False, plugins=[OpenSearchProvider]) as host:
    host.providers()
    loaded = [m for m in ("opensearchpy", "boto3", "botocore") if m in sys.modules]
    assert not loaded, loaded
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "ok", result.stderr
