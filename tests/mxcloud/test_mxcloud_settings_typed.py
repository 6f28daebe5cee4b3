"""``[providers.mxcloud]`` as typed settings: a misspelt key and a wrong type refused in one line
naming the file and the key, the environment winning, keys never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from genai_commons import Config, ConfigurationError, Host
from genai_commons_mxcloud import MxCloudProvider


def _host(tmp_path: Path, toml: str, environ: dict[str, str] | None = None) -> Host:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    config = Config.load(path, environ={"GENAI_HOME": str(tmp_path), **(environ or {})})
    return Host(config, load_entry_points=False, plugins=[MxCloudProvider])


def test_a_misspelt_key_is_refused_naming_the_file_and_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        _host(tmp_path, '[providers.mxcloud]\nkey_fils = ["a.key"]\n')
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'config.toml'}: [providers.mxcloud] has unknown key 'key_fils'; ")
    assert "key_files" in message and "\n" not in message


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ('timeout = "long"', "[providers.mxcloud] timeout must be a number, got 'long'"),
        ("concurrency = 0", "[providers.mxcloud] concurrency must be a whole number of at least 1, got 0"),
        ("quota_hard_stop = 1", "[providers.mxcloud] quota_hard_stop must be true or false, got 1"),
        ("key_store = 3", "[providers.mxcloud] key_store must be a string, got 3"),
        ("quota_warning = 2", "[providers.mxcloud] quota_warning is a share between 0 and 1, got 2.0"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_file_and_the_key(tmp_path: Path, toml: str, said: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        _host(tmp_path, f"[providers.mxcloud]\n{toml}\n")
    assert str(info.value).startswith(f"{tmp_path / 'config.toml'}: {said}")


def test_keys_of_the_wrong_type_are_not_shown(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="keys must be a list of connection keys") as info:
        _host(tmp_path, '[providers.mxcloud]\nkeys = ["c2VjcmV0LWtleS0x", 7]\n')
    assert "c2VjcmV0LWtleS0x" not in str(info.value)


def test_the_environment_wins_and_paths_are_under_the_home(tmp_path: Path) -> None:
    toml = '[providers.mxcloud]\nkey_store = "file-store.json"\nkey_files = ["a.key"]\ntimeout = 5\n'
    environ = {"GENAI_MXCLOUD_KEY_STORE": "env-store.json", "GENAI_MXCLOUD_KEY_FILE": "b.key, /abs/c.key"}
    with _host(tmp_path, toml, environ) as host:
        provider = host.plugin_manager.get_plugin("mxcloud")
        settings = provider.mx_settings
        assert settings.key_store_path(tmp_path) == tmp_path / "env-store.json"
        assert settings.key_file_paths(tmp_path) == (tmp_path / "b.key", Path("/abs/c.key"))
        assert (settings.timeout, settings.connect_timeout, settings.concurrency) == (5.0, 10.0, 8)
        assert provider.key_store is not None and provider.key_store.path == tmp_path / "env-store.json"
    with _host(tmp_path, '[providers.mxcloud]\nkey_store = ""\nkeys = "one-key"\n') as host:
        provider = host.plugin_manager.get_plugin("mxcloud")
        assert provider.key_store is None and provider.mx_settings.keys == ("one-key",)
        assert "one-key" not in repr(provider.mx_settings)
