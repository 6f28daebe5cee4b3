"""Azure OpenAI: deployments in the URL, ``api-version``, ``api-key`` or Entra ID bearer tokens,
the ``AZURE_OPENAI_*`` variables, and deployments declared in the configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from genai_commons import Config, Host, MissingCredentialsError, Modality, RetryPolicy
from genai_commons_openai import AzureOpenAIProvider
from genai_commons_openai.endpoint import AZURE_API_VERSION
from genai_commons_openai.testing import FakeOpenAI, FakeOpenAIServer


def test_the_deployment_goes_in_the_path_with_the_api_version_and_key(azure_host, service: FakeOpenAI) -> None:
    host = azure_host()
    assert host.chat("azure:gpt-4o-mini", "hello").text == "You said: hello"
    sent = service.calls[-1]
    assert sent.path == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert sent.query == {"api-version": AZURE_API_VERSION}
    assert sent.headers["api-key"] == "sk-test" and "authorization" not in sent.headers
    vectors = host.embed("azure:text-embedding-3-small", ["a", "b"]).vectors
    assert len(vectors) == 2 and service.calls[-1].path == "/openai/deployments/text-embedding-3-small/embeddings"


def test_the_azure_environment_variables(tmp_path: Path, server: FakeOpenAIServer, service: FakeOpenAI) -> None:
    environ = {
        "GENAI_HOME": str(tmp_path),
        "AZURE_OPENAI_ENDPOINT": server.endpoint + "/openai/",
        "AZURE_OPENAI_API_KEY": "sk-test",
        "OPENAI_API_VERSION": "2025-01-01-preview",
    }
    with Host(Config.load(environ=environ), load_entry_points=False, plugins=[AzureOpenAIProvider]) as host:
        host.stream("azure:gpt-4o", "streamed").collect()
    assert service.calls[-1].query == {"api-version": "2025-01-01-preview"}
    assert service.calls[-1].body["stream_options"] == {"include_usage": True}


def test_deployments_from_the_configuration(azure_host, service: FakeOpenAI) -> None:
    service.models["prod-chat"] = {"kind": "chat"}
    service.models["vectors"] = {"kind": "embeddings", "dimensions": 3072, "shortenable": True}
    host = azure_host(
        deployments={
            "prod-chat": {"model": "gpt-4o", "display_name": "Production chat"},
            "vectors": {"model": "text-embedding-3-large"},
        }
    )
    assert [m.ref for m in host.models("azure")] == ["azure:prod-chat", "azure:vectors"]
    chat = host.model("azure:prod-chat")
    assert chat.display_name == "Production chat" and Modality.IMAGE in chat.input_modalities
    assert host.model("azure:vectors").dimensions == 3072
    host.chat("azure:prod-chat", "hi")
    assert service.calls[-1].path == "/openai/deployments/prod-chat/chat/completions"
    assert service.requests[0].path != "/v1/models"  # Azure deployments are not discovered


def test_entra_id_tokens_static_and_from_a_provider(tmp_path: Path) -> None:
    service = FakeOpenAI(api_key="not-used", ad_token="entra-token")
    issued: list[str] = []

    def token_provider() -> str:
        issued.append("entra-token")
        return "entra-token"

    with FakeOpenAIServer(service) as server:
        config = Config.defaults(
            tmp_path, providers={"azure": {"endpoint": server.endpoint, "ad_token": "entra-token"}}
        )
        with Host(config, load_entry_points=False, plugins=[AzureOpenAIProvider]) as host:
            host.chat("azure:gpt-4o-mini", "static token")
        assert service.calls[-1].headers["authorization"] == "Bearer entra-token"
        assert "api-key" not in service.calls[-1].headers
        config = Config.defaults(tmp_path, providers={"azure": {"endpoint": server.endpoint}})
        plugin = AzureOpenAIProvider(token_provider=token_provider)
        with Host(config, load_entry_points=False, plugins=[plugin]) as host:
            host.chat("azure:gpt-4o-mini", "one")
            host.stream("azure:gpt-4o-mini", "two").collect()
        assert len(issued) == 2  # a fresh token for each request


def test_missing_endpoint_or_credentials_are_reported_at_call_time(tmp_path: Path) -> None:
    for table, message in (
        ({}, "AZURE_OPENAI_ENDPOINT"),
        ({"endpoint": "https://r.openai.azure.com"}, "AZURE_OPENAI_API_KEY"),
    ):
        config = Config.defaults(tmp_path, providers={"azure": table})
        with Host(config, load_entry_points=False, plugins=[AzureOpenAIProvider]) as host:
            assert host.models("azure") == []
            with pytest.raises(MissingCredentialsError, match=message):
                host.chat("azure:gpt-4o", "hi")


def test_a_content_filter_answer(azure_host, service: FakeOpenAI) -> None:
    from genai_commons import ContentFilteredError

    host = azure_host(retry=RetryPolicy(max_attempts=1))
    service.fail_next("content_filter")
    with pytest.raises(ContentFilteredError, match="rephrase") as info:
        host.chat("azure:gpt-4o-mini", "something bad")
    assert info.value.code == "ResponsibleAIPolicyViolation" and "innererror" in (info.value.body or "")


def test_an_unknown_deployment(azure_host) -> None:
    from genai_commons import NotFoundError

    with pytest.raises(NotFoundError, match="deployment does not exist"):
        azure_host().chat("azure:nobody-deployed-this", "hi")
