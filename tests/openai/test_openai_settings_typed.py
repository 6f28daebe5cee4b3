"""``[providers.openai]`` and ``[providers.azure]`` as typed settings: a misspelt key and a wrong
type refused in one line naming the file and the key, the environment winning, secrets unshown."""

from __future__ import annotations

from pathlib import Path

import pytest

from genai_commons import Config, ConfigurationError, Host
from genai_commons_openai import AzureOpenAIProvider, OpenAIProvider
from genai_commons_openai.settings import AzureSettings, OpenAISettings


def _host(tmp_path: Path, toml: str, environ: dict[str, str] | None = None) -> Host:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    config = Config.load(path, environ={"GENAI_HOME": str(tmp_path), **(environ or {})})
    return Host(config, load_entry_points=False, plugins=[OpenAIProvider, AzureOpenAIProvider])


def test_a_misspelt_key_is_refused_naming_the_file_and_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        _host(tmp_path, '[providers.openai]\napi_kye = "sk-secret-1"\n')
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'config.toml'}: [providers.openai] has unknown key 'api_kye'; ")
    assert "api_key" in message and "sk-secret-1" not in message and "\n" not in message
    with pytest.raises(ConfigurationError, match=r"\[providers.azure\] has unknown key 'endpiont'"):
        _host(tmp_path, '[providers.azure]\nendpiont = "https://r.openai.azure.com"\n')


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ('[providers.openai]\ntimeout = "soon"\n', "[providers.openai] timeout must be a number, got 'soon'"),
        ("[providers.openai]\nstream_usage = 1\n", "[providers.openai] stream_usage must be true or false, got 1"),
        ("[providers.openai]\nmax_connections = 0\n", "[providers.openai] max_connections must be a whole number"),
        ('[providers.openai]\nembedding_encoding = "int8"\n', "[providers.openai] embedding_encoding must be one of"),
        (
            '[providers.openai]\nbase_url = "localhost:8080"\n',
            "[providers.openai] base_url (or OPENAI_BASE_URL) must be an http://",
        ),
        ("[providers.azure]\napi_version = 2024\n", "[providers.azure] api_version must be a string, got 2024"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_file_and_the_key(tmp_path: Path, toml: str, said: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        _host(tmp_path, toml)
    assert str(info.value).startswith(f"{tmp_path / 'config.toml'}: {said}")


def test_a_secret_of_the_wrong_type_or_in_a_url_is_not_shown(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        _host(tmp_path, "[providers.openai]\napi_key = 12345678\n")
    assert "12345678" not in str(info.value) and "api_key must be a string" in str(info.value)
    with pytest.raises(ConfigurationError, match="must not hold credentials") as info:
        _host(tmp_path, '[providers.openai]\nbase_url = "https://me:pw-1234@proxy.example/v1"\n')
    assert "pw-1234" not in str(info.value)


def test_the_environment_wins_and_the_defaults_stay(tmp_path: Path) -> None:
    toml = '[providers.openai]\napi_key = "sk-file"\nbase_url = "http://file.example/v1"\ntimeout = 5\n'
    environ = {"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": "http://env.example/v1/"}
    with _host(tmp_path, toml, environ) as host:
        openai = host.plugin_manager.get_plugin("openai")
        assert isinstance(openai.typed_settings, OpenAISettings)
        endpoint = openai.ready()
        assert endpoint.api_key is not None and endpoint.api_key.reveal() == "sk-env"
        assert (endpoint.base_url, endpoint.timeout, endpoint.connect_timeout) == ("http://env.example/v1", 5.0, 10.0)
        assert "sk-env" not in repr(openai.typed_settings)
        azure = host.plugin_manager.get_plugin("azure").ready()
        assert (azure.base_url, azure.api_version, azure.max_connections) == ("", "2024-10-21", 100)
    environ = {"AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com/openai/", "OPENAI_API_VERSION": "2025-01-01"}
    with _host(tmp_path, '[providers.azure]\nendpoint = "https://file.openai.azure.com"\n', environ) as host:
        azure = host.plugin_manager.get_plugin("azure")
        assert isinstance(azure.typed_settings, AzureSettings)
        assert (azure.ready().base_url, azure.ready().api_version) == ("https://r.openai.azure.com", "2025-01-01")
