"""Configuration: the ecosystem's environment variables and ``[providers.openai]``, credentials
asked for only when a call is made, secrets that never show, the model table and its extension,
discovery through ``GET /models``, and the entry points."""

from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path

import httpx
import pytest
import structlog

from genai_commons import (
    Config,
    ConfigurationError,
    FileCollection,
    FileContent,
    Host,
    MissingCredentialsError,
    Modality,
)
from genai_commons_openai import OpenAIProvider
from genai_commons_openai.catalog import KNOWN
from genai_commons_openai.testing import FakeOpenAI, FakeOpenAIServer


def _forbidden(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request may be made: {request.url}")


def test_the_environment_variables(tmp_path: Path, server: FakeOpenAIServer, service: FakeOpenAI) -> None:
    environ = {
        "GENAI_HOME": str(tmp_path),
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": server.url + "/",
        "OPENAI_ORG_ID": "org-42",
        "OPENAI_PROJECT_ID": "proj_7",
    }
    with Host(Config.load(environ=environ), load_entry_points=False, plugins=[OpenAIProvider]) as host:
        assert host.chat("openai:gpt-4o-mini", "hi").text == "You said: hi"
    headers = service.calls[-1].headers
    assert headers["authorization"] == "Bearer sk-test"
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-42", "proj_7")


def test_the_environment_wins_over_the_file(tmp_path: Path, server: FakeOpenAIServer) -> None:
    (tmp_path / "config.toml").write_text(
        '[providers.openai]\nbase_url = "http://127.0.0.1:9/v1"\napi_key = "sk-wrong"\ntimeout = 30\n'
    )
    environ = {"GENAI_HOME": str(tmp_path), "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "sk-test"}
    with Host(Config.load(environ=environ), load_entry_points=False, plugins=[OpenAIProvider]) as host:
        assert host.chat("openai:gpt-4o-mini", "from the environment").text.endswith("environment")
        provider = host.plugin_manager.get_plugin("openai")
        assert provider.endpoint.timeout == 30.0


def test_no_credentials_needed_until_a_call(tmp_path: Path) -> None:
    plugin = OpenAIProvider(httpx.MockTransport(_forbidden))
    with Host(Config.defaults(tmp_path), load_entry_points=False, plugins=[plugin]) as host:
        refs = [m.ref for m in host.models("openai")]
        assert refs == [f"openai:{m}" for m in KNOWN]
        assert host.model("openai:gpt-4o").supports_function_calling
        with pytest.raises(MissingCredentialsError, match="OPENAI_API_KEY"):
            host.chat("openai:gpt-4o-mini", "hello")


def test_a_compatible_server_needs_no_key(tmp_path: Path) -> None:
    service = FakeOpenAI(api_key=None)
    with FakeOpenAIServer(service) as server:
        config = Config.defaults(tmp_path, providers={"openai": {"base_url": server.url}})
        with Host(config, load_entry_points=False, plugins=[OpenAIProvider]) as host:
            assert host.chat("openai:llama3.2", "hi").text == "You said: hi"
    assert "authorization" not in service.calls[-1].headers


def test_secrets_never_show(tmp_path: Path, server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture) -> None:
    secret = "sk-very-secret-value"
    config = Config.defaults(tmp_path, providers={"openai": {"base_url": server.url, "api_key": secret}})
    with Host(config, load_entry_points=False, plugins=[OpenAIProvider]) as host:
        provider = host.plugin_manager.get_plugin("openai")
        with pytest.raises(Exception) as info:
            host.chat("openai:gpt-4o-mini", "hi")  # the fake wants sk-test: 401
        texts = [repr(provider.endpoint), str(provider.endpoint), repr(provider.settings), str(info.value)]
        texts.append(repr(provider.clients.sync().headers))
        assert all(secret not in text for text in texts)
        assert secret not in (info.value.body or "")


def test_unknown_or_wrong_settings_fail_at_registration(tmp_path: Path) -> None:
    for table, message in (
        ({"api_kye": "x"}, "unknown key 'api_kye'"),
        ({"timeout": "soon"}, "timeout must be a number"),
        ({"max_connections": 0}, "max_connections"),
        ({"base_url": "localhost:8080"}, "http"),
        ({"embedding_encoding": "int8"}, "embedding_encoding"),
        ({"models": {"x": {"vision": "yes"}}}, "vision must be true or false"),
        ({"models": {"x": {"colour": "blue"}}}, "unknown keys colour"),
        ({"models": {"x": {"output": "audio"}}}, "output must be one of"),
        ({"models": ["x"]}, "models must be a table"),
    ):
        config = Config.defaults(tmp_path, providers={"openai": table})
        with Host(config, load_entry_points=False) as host, pytest.raises(ConfigurationError, match=message):
            host.register(OpenAIProvider)


def test_the_model_table_can_be_extended(openai_host, service: FakeOpenAI) -> None:
    service.models["llava:13b"] = {"kind": "chat"}
    host = openai_host(
        models={
            "llava:13b": {"vision": True, "display_name": "LLaVA 13B"},
            "fast": {"model": "gpt-4o-mini"},
            "my-embedder": {"output": "embeddings", "dimensions": 384},
        }
    )
    llava = host.model("openai:llava:13b")
    assert Modality.IMAGE in llava.input_modalities and llava.display_name == "LLaVA 13B"
    files = FileCollection.of(FileContent.from_url("https://example.com/cat.png"))
    assert host.chat("openai:llava:13b", "What is it?", files=files).text.endswith("(1 images, 0 files)")
    assert service.calls[-1].body["model"] == "llava:13b"
    fast = host.model("openai:fast")
    assert fast.display_name == "fast" and fast.supports_function_calling and Modality.IMAGE in fast.input_modalities
    host.chat("openai:fast", "alias")
    assert service.calls[-1].body["model"] == "gpt-4o-mini"
    embedder = host.model("openai:my-embedder")
    assert embedder.output_modality is Modality.EMBEDDINGS and embedder.dimensions == 384


def test_capabilities_of_the_table_and_of_unknown_ids(openai_host) -> None:
    host = openai_host(discover=False)
    dated = host.model("openai:gpt-4o-2024-08-06")
    assert dated.display_name == "gpt-4o-2024-08-06" and Modality.DOCUMENT in dated.input_modalities
    assert not host.model("openai:o1-mini").supports_system_prompt
    assert host.model("openai:text-embedding-3-large").dimensions == 3072
    assert host.model("openai:gpt-image-1-mini").output_modality is Modality.IMAGE
    unknown = host.model("openai:qwen2.5:7b")
    assert unknown.supports_streaming and unknown.supports_function_calling
    assert unknown.input_modalities == frozenset({Modality.TEXT})
    assert host.model("openai:mxbai-embed-large").output_modality is Modality.EMBEDDINGS


def test_discovery_lists_configured_and_served_models(openai_host, service: FakeOpenAI) -> None:
    host = openai_host(models={"extra": {"model": "gpt-4o"}})
    models = host.models("openai")
    refs = [m.ref for m in models]
    assert refs[0] == "openai:extra" and "openai:llama3.2" in refs and "openai:gpt-image-1" in refs
    assert "openai:whisper-1" not in refs  # speech models are not chat, embedding or image models
    for model in models:
        assert host.model(model.ref) == model
    host.models("openai")
    assert [r.path for r in service.requests].count("/v1/models") == 1  # listed once per provider


def test_discovery_can_be_off_and_fails_softly(openai_host, service: FakeOpenAI) -> None:
    assert [m.ref for m in openai_host(discover=False).models("openai")] == []
    assert service.requests == []
    service.fail_next("server_error")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        with structlog.testing.capture_logs() as logs:
            assert openai_host().models("openai") == []
    finally:
        structlog.reset_defaults()
    assert logs[0]["event"] == "models_listing_failed" and "sk-test" not in str(logs)


def test_entry_points_and_the_cli_without_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="genai_commons")}
    assert names["openai"] == "genai_commons_openai:OpenAIProvider"
    assert names["azure"] == "genai_commons_openai:AzureOpenAIProvider"
    from click.testing import CliRunner

    from genai_commons.cli import main

    env = {
        "GENAI_HOME": str(tmp_path),
        "GENAI_PLUGINS_ALLOW": "openai,azure",
        "OPENAI_API_KEY": "",
        "OPENAI_BASE_URL": "",
    }
    plugins = CliRunner().invoke(main, ["plugins"], env=env)
    assert plugins.exit_code == 0, plugins.output
    assert "openai" in plugins.output and "azure" in plugins.output
    models = CliRunner().invoke(main, ["models", "--provider", "openai"], env=env)
    assert models.exit_code == 0 and "openai:gpt-4o-mini" in models.output
    chat = CliRunner().invoke(main, ["chat", "openai:gpt-4o-mini", "hi"], env=env)
    assert chat.exit_code == 1 and "OPENAI_API_KEY" in chat.output
