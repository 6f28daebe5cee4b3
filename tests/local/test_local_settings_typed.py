"""``[providers.local]`` as typed settings: a misspelt key and a wrong type refused in one line
naming the file and the key, the environment winning, paths under the home."""

from __future__ import annotations

from pathlib import Path

import pytest

from genai_commons import Config, ConfigurationError, Host
from genai_commons_local import LocalProvider
from genai_commons_local.settings import IndexKind, Runtime


def _host(tmp_path: Path, toml: str, environ: dict[str, str] | None = None) -> Host:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    config = Config.load(path, environ={"GENAI_HOME": str(tmp_path), **(environ or {})})
    return Host(config, load_entry_points=False, plugins=[LocalProvider])


def test_a_misspelt_key_is_refused_naming_the_file_and_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        _host(tmp_path, '[providers.local]\ndatabse = "kb.db"\n')
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'config.toml'}: [providers.local] has unknown key 'databse'; ")
    assert "database" in message and "\n" not in message


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ('batch_size = "64"', "[providers.local] batch_size must be a whole number, got '64'"),
        ("hnsw_ef_search = 4", "[providers.local] hnsw_ef_search must be a whole number of at least 8, got 4"),
        ("offline = 0", "[providers.local] offline must be true or false, got 0"),
        ('index = "flat"', '[providers.local] index must be "exact", "hnsw" or "auto", got \'flat\''),
        ("database = 7", "[providers.local] database must be a path (a string), got 7"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_file_and_the_key(tmp_path: Path, toml: str, said: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        _host(tmp_path, f"[providers.local]\n{toml}\n")
    assert str(info.value).startswith(f"{tmp_path / 'config.toml'}: {said}")


def test_the_environment_wins_and_paths_are_under_the_home(tmp_path: Path) -> None:
    toml = '[providers.local]\ndatabase = "file.db"\nruntime = "onnx"\nindex = "HNSW"\n'
    environ = {"GENAI_LOCAL_DATABASE": "kb/env.db", "GENAI_LOCAL_RUNTIME": "torch", "GENAI_LOCAL_MODEL_CACHE": "/m"}
    with _host(tmp_path, toml, environ) as host:
        settings = host.plugin_manager.get_plugin("local").local_settings
        assert (settings.database, settings.runtime, settings.index) == (
            tmp_path / "kb" / "env.db",
            Runtime.TORCH,
            IndexKind.HNSW,
        )
        assert (settings.model_cache, settings.batch_size, settings.busy_timeout) == (Path("/m"), 64, 30.0)
    with pytest.raises(ConfigurationError, match=r"^GENAI_LOCAL_RUNTIME='jax' must be \"onnx\" or \"torch\"$"):
        _host(tmp_path, "", {"GENAI_LOCAL_RUNTIME": "jax"})
