"""What typed settings gained for the built-in plugins: paths, enums, unions, converters, a
fallback variable the file overrides, validators that say what is wrong, and secrets never quoted."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen

from genai_commons import ConfigurationError, ProviderSettings
from genai_commons.config import Secret
from genai_commons.typed_settings import at_least, http_url, one_of, positive, setting, within


class Mode(StrEnum):
    FAST = "fast"
    SAFE = "safe"


def _words(value: tuple[str, ...] | str) -> tuple[str, ...]:
    return tuple(value.split()) if isinstance(value, str) else value


@frozen(kw_only=True)
class Kinds:
    home: Path = setting(default=Path("data"), env="KINDS_HOME")
    mode: Mode | None = setting(default=None, env="KINDS_MODE")
    refresh: str | bool = "wait"
    words: tuple[str, ...] = setting(default=(), converter=_words)
    region: str | None = setting(default=None, env="KINDS_REGION_OVERRIDE", fallback_env="KINDS_REGION")
    token: Secret | None = setting(default=None, env="KINDS_TOKEN", repr=False)
    url: str | None = setting(default=None, validator=http_url)
    delay: float = setting(default=1.0, validator=positive())
    workers: int = setting(default=4, validator=within(1, 64))
    floor: float = setting(default=0.0, validator=at_least(0.0))
    colour: str = setting(default="red", validator=one_of({"red", "blue"}))

    def __attrs_post_init__(self) -> None:
        if self.mode is Mode.FAST and self.delay > 10:
            raise ValueError("mode = 'fast' needs a delay of at most 10")


def typed(values: dict[str, Any], environ: dict[str, str] | None = None) -> Kinds:
    return ProviderSettings(name="kinds", values=values, environ=environ or {}).typed(Kinds)


def test_paths_enums_unions_and_converters_from_the_file_and_the_environment() -> None:
    settings = typed({"home": "~/x", "mode": "SAFE", "refresh": True, "words": "a b"})
    assert (settings.home, settings.mode, settings.refresh, settings.words) == (
        Path("~/x").expanduser(),
        Mode.SAFE,
        True,
        ("a", "b"),
    )
    assert typed({"words": ["c"], "refresh": "never"}).words == ("c",)
    settings = typed({"mode": "safe"}, {"KINDS_HOME": "/srv/k", "KINDS_MODE": "fast"})
    assert (settings.home, settings.mode) == (Path("/srv/k"), Mode.FAST)
    assert typed({}) == Kinds()


def test_a_fallback_variable_only_where_the_file_is_silent() -> None:
    assert typed({}, {"KINDS_REGION": "eu"}).region == "eu"
    assert typed({"region": "us"}, {"KINDS_REGION": "eu"}).region == "us"
    assert typed({"region": "us"}, {"KINDS_REGION_OVERRIDE": "ap", "KINDS_REGION": "eu"}).region == "ap"


@pytest.mark.parametrize(
    ("values", "said"),
    [
        ({"home": 3}, "[providers.kinds] home must be a path (a string), got 3"),
        ({"mode": "slow"}, '[providers.kinds] mode must be "fast" or "safe", got \'slow\''),
        ({"refresh": 1}, "[providers.kinds] refresh must be a string or true or false, got 1"),
        ({"words": 7}, "[providers.kinds] words must be a list of strings or a string, got 7"),
        ({"url": "ftp://h"}, "[providers.kinds] url must be an http:// or https:// URL, got 'ftp://h'"),
        ({"delay": 0}, "[providers.kinds] delay must be a positive number, got 0.0"),
        ({"workers": 65}, "[providers.kinds] workers must be a whole number from 1 to 64, got 65"),
        ({"floor": -0.5}, "[providers.kinds] floor must be a number of at least 0.0, got -0.5"),
        ({"colour": "green"}, "[providers.kinds] colour must be one of 'blue', 'red', got 'green'"),
        ({"mode": "fast", "delay": 11}, "[providers.kinds] mode = 'fast' needs a delay of at most 10"),
    ],
)
def test_wrong_values_are_refused_in_one_line(values: dict[str, Any], said: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        typed(values)
    assert str(info.value) == said


def test_a_checks_failure_keeps_its_cause() -> None:
    with pytest.raises(ConfigurationError) as info:
        typed({"workers": 0})
    assert isinstance(info.value.__cause__, ValueError)


def test_secrets_are_never_quoted() -> None:
    with pytest.raises(ConfigurationError) as info:
        typed({"token": 31415926})
    assert "31415926" not in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        typed({"url": "https://user:hunter2@h"})
    assert "hunter2" not in str(info.value) and "must not hold credentials" in str(info.value)
    settings = typed({}, {"KINDS_TOKEN": "tok-1"})
    assert settings.token == Secret("tok-1") and "tok-1" not in repr(settings)
