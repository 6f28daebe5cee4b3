"""``[providers.opensearch]`` as typed settings: a misspelt key and a wrong type refused in one line
naming the file and the key, the environment winning, the password unshown."""

from __future__ import annotations

from pathlib import Path

import pytest

from genai_commons import Config, ConfigurationError, Host
from genai_commons_opensearch import OpenSearchProvider


def _host(tmp_path: Path, toml: str, environ: dict[str, str] | None = None) -> Host:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    config = Config.load(path, environ={"GENAI_HOME": str(tmp_path), **(environ or {})})
    return Host(config, load_entry_points=False, plugins=[OpenSearchProvider])


def test_a_misspelt_key_is_refused_naming_the_file_and_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        _host(tmp_path, '[providers.opensearch]\nindex_prefx = "kb-"\n')
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'config.toml'}: [providers.opensearch] has unknown key 'index_prefx'; ")
    assert "index_prefix" in message and "\n" not in message


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ('hnsw_m = "16"', "[providers.opensearch] hnsw_m must be a whole number, got '16'"),
        ("hnsw_m = 1", "[providers.opensearch] hnsw_m must be a whole number from 2 to 512, got 1"),
        ('serverless = "yes"', "[providers.opensearch] serverless must be true or false, got 'yes'"),
        ("bulk_backoff = -1", "[providers.opensearch] bulk_backoff must be a number of at least 0.0, got -1.0"),
        ('index_prefix = "A B"', "[providers.opensearch] index_prefix: "),
    ],
)
def test_a_wrong_value_is_refused_naming_the_file_and_the_key(tmp_path: Path, toml: str, said: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        _host(tmp_path, f"[providers.opensearch]\n{toml}\n")
    assert str(info.value).startswith(f"{tmp_path / 'config.toml'}: {said}")


def test_the_password_is_not_shown(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        _host(tmp_path, "[providers.opensearch]\npassword = 24681357\n")
    assert "24681357" not in str(info.value)
    with pytest.raises(ConfigurationError, match="must not hold credentials") as info:
        _host(tmp_path, "[providers.opensearch]\n", {"GENAI_OPENSEARCH_URL": "https://admin:pw-9753@h:9200"})
    assert "pw-9753" not in str(info.value)


def test_the_environment_wins_and_the_defaults_stay(tmp_path: Path) -> None:
    toml = '[providers.opensearch]\nurl = "http://file:9200"\nrefresh = false\n'
    environ = {"GENAI_OPENSEARCH_URL": "https://x.us-east-1.aoss.amazonaws.com", "GENAI_OPENSEARCH_PASSWORD": "pw"}
    with _host(tmp_path, toml, environ) as host:
        settings = host.plugin_manager.get_plugin("opensearch").opensearch_settings
        assert (settings.url, settings.aws_service, settings.serverless) == (
            "https://x.us-east-1.aoss.amazonaws.com",
            "aoss",
            True,
        )
        assert settings.password is not None and settings.password.reveal() == "pw" and "pw" not in repr(settings)
        assert (settings.refresh, settings.timeout, settings.index_prefix, settings.bulk_retries) == (
            "false",
            30.0,
            "genai-",
            3,
        )
