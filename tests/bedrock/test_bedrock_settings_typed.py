"""``[providers.bedrock]`` as typed settings: a misspelt key and a wrong type refused in one line
naming the file and the key, the environment winning where the docs say so, secrets unshown."""

from __future__ import annotations

from pathlib import Path

import pytest

from genai_commons import Config, ConfigurationError, Host
from genai_commons_bedrock import BedrockProvider
from genai_commons_bedrock.settings import BedrockSettings, ModelEntry


def _host(tmp_path: Path, toml: str, environ: dict[str, str] | None = None) -> Host:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    config = Config.load(path, environ={"GENAI_HOME": str(tmp_path), **(environ or {})})
    return Host(config, load_entry_points=False, plugins=[BedrockProvider])


def test_a_misspelt_key_is_refused_naming_the_file_and_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        _host(tmp_path, '[providers.bedrock]\nregoin = "eu-west-1"\n')
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'config.toml'}: [providers.bedrock] has unknown key 'regoin'; ")
    assert "region" in message and "\n" not in message


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ('read_timeout = "slow"', "[providers.bedrock] read_timeout must be a number, got 'slow'"),
        ("max_concurrency = 300", "[providers.bedrock] max_concurrency must be a whole number from 1 to 256, got 300"),
        ('list_models = "no"', "[providers.bedrock] list_models must be true or false, got 'no'"),
        ('by_inference_type = "batch"', "[providers.bedrock] by_inference_type must be one of"),
        ("models = [1]", "[providers.bedrock] models must be a list of model ids or a table of model tables"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_file_and_the_key(tmp_path: Path, toml: str, said: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        _host(tmp_path, f"[providers.bedrock]\n{toml}\n")
    assert str(info.value).startswith(f"{tmp_path / 'config.toml'}: {said}")


def test_secrets_are_not_shown(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        _host(tmp_path, "[providers.bedrock]\nsecret_access_key = 98765432\naccess_key_id = 'AKID'\n")
    assert "98765432" not in str(info.value) and "secret_access_key must be a string" in str(info.value)
    with pytest.raises(ConfigurationError, match="needs both access_key_id and secret_access_key, or neither"):
        _host(tmp_path, "[providers.bedrock]\naccess_key_id = 'AKID'\n")
    settings = BedrockSettings(access_key_id=None, secret_access_key=None, external_id=None)
    assert "Secret" not in repr(settings)


def test_the_environment_wins_and_the_region_falls_back(tmp_path: Path) -> None:
    toml = (
        '[providers.bedrock]\nruntime_endpoint_url = "http://127.0.0.1:9"\nby_output_modality = "text"\n'
        'models = ["amazon.nova-pro-v1:0"]\n'
    )
    environ = {"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://127.0.0.1:8", "AWS_REGION": "eu-west-3"}
    with _host(tmp_path, toml, environ) as host:
        settings = host.plugin_manager.get_plugin("bedrock").bedrock_settings
        assert settings.endpoint_urls == {"bedrock-runtime": "http://127.0.0.1:8"}
        assert settings.region == "eu-west-3"  # AWS_REGION when the file names none...
        assert settings.model_filters == {"byOutputModality": "TEXT"}
        assert settings.models == (ModelEntry(model_id="amazon.nova-pro-v1:0"),)
        assert (settings.read_timeout, settings.max_concurrency, settings.agent_alias_id) == (300.0, 16, "TSTALIASID")
    with _host(tmp_path, '[providers.bedrock]\nregion = "us-east-1"\n', environ) as host:
        assert host.plugin_manager.get_plugin("bedrock").bedrock_settings.region == "us-east-1"  # ...the file wins
