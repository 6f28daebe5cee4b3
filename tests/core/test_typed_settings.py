"""A plugin's settings as a typed class: values taken as written, environment variables read as
the field's type, unknown keys and wrong types refused in one line naming the file and the key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen

from genai_commons import ConfigurationError, Host, Provider, ProviderSettings
from genai_commons.config import Config, Secret
from genai_commons.typed_settings import setting


@frozen(kw_only=True)
class ParrotSettings:
    api_key: Secret | None = setting(default=None, env="PARROT_API_KEY")
    base_url: str = setting(default="https://api.parrot.invalid", env="PARROT_BASE_URL")
    timeout: float = setting(default=30.0, env="PARROT_TIMEOUT")
    retries: int = 2
    stream: bool = setting(default=True, env="PARROT_STREAM")
    voices: tuple[str, ...] = setting(default=(), env="PARROT_VOICES")
    models: Mapping[str, Any] = setting(factory=dict)


def typed(values: dict[str, Any], environ: dict[str, str] | None = None, source: Path | None = None) -> ParrotSettings:
    table = ProviderSettings(name="parrot", values=values, environ=environ or {}, source=source)
    return table.typed(ParrotSettings)


def test_values_as_written_and_defaults() -> None:
    settings = typed({"api_key": "sk-1", "timeout": 5, "retries": 4, "voices": ["a", "b"], "models": {"m": {}}})
    assert settings.api_key is not None and settings.api_key.reveal() == "sk-1" and "sk-1" not in repr(settings)
    assert (settings.timeout, settings.retries, settings.voices, settings.models) == (5.0, 4, ("a", "b"), {"m": {}})
    assert settings.base_url == "https://api.parrot.invalid" and settings.stream is True
    assert typed({"deadline": 3}).retries == 2  # a key the host reads for every provider is not the plugin's


def test_the_environment_wins_read_as_the_field_type() -> None:
    environ = {"PARROT_TIMEOUT": "2.5", "PARROT_STREAM": "false", "PARROT_VOICES": "x, y", "PARROT_API_KEY": "sk-env"}
    settings = typed({"timeout": 9, "api_key": "sk-file"}, environ)
    assert (settings.timeout, settings.stream, settings.voices) == (2.5, False, ("x", "y"))
    assert settings.api_key is not None and settings.api_key.reveal() == "sk-env"
    assert typed({"timeout": 9}, {"PARROT_TIMEOUT": ""}).timeout == 9.0  # empty: not set
    with pytest.raises(ConfigurationError, match=r"^PARROT_TIMEOUT='soon' must be a number$"):
        typed({}, {"PARROT_TIMEOUT": "soon"})
    with pytest.raises(ConfigurationError, match=r"PARROT_STREAM='maybe' is not a boolean"):
        typed({}, {"PARROT_STREAM": "maybe"})


def test_unknown_keys_are_refused_naming_the_file_and_what_is_read(tmp_path: Path) -> None:
    source = tmp_path / "config.toml"
    with pytest.raises(ConfigurationError) as info:
        typed({"api_kye": "sk-1"}, source=source)
    message = str(info.value)
    assert message.startswith(f"{source}: [providers.parrot] has unknown key 'api_kye'; the parrot plugin reads ")
    assert "api_key" in message and "\n" not in message


@pytest.mark.parametrize(
    ("values", "said"),
    [
        ({"timeout": "30"}, "[providers.parrot] timeout must be a number, got '30'"),
        ({"retries": 2.5}, "[providers.parrot] retries must be a whole number, got 2.5"),
        ({"retries": True}, "[providers.parrot] retries must be a whole number, got True"),
        ({"stream": "false"}, "[providers.parrot] stream must be true or false, got 'false'"),
        ({"api_key": 12}, "[providers.parrot] api_key must be a string (the value is a secret, not shown here)"),
        ({"voices": "a,b"}, "[providers.parrot] voices must be a list of strings, got 'a,b'"),
        ({"models": ["m"]}, "[providers.parrot] models must be a table, got ['m']"),
    ],
)
def test_wrong_types_are_refused(values: dict[str, Any], said: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        typed(values)
    assert str(info.value) == said


class Parrot(Provider):
    name = "parrot"
    settings_class = ParrotSettings


def test_a_provider_declares_its_class_and_the_host_checks_it(tmp_path: Path) -> None:
    config = Config.defaults(tmp_path, providers={"parrot": {"timeout": 4}})
    with Host(config, load_entry_points=False, plugins=[Parrot]) as host:
        plugin = host.plugin_manager.get_plugin("parrot")
        assert plugin.typed_settings == ParrotSettings(timeout=4.0)
    bad = Config.defaults(tmp_path, providers={"parrot": {"timeot": 4}})
    with pytest.raises(ConfigurationError, match=r"\[providers.parrot\] has unknown key 'timeot'"):
        Host(bad, load_entry_points=False, plugins=[Parrot])
