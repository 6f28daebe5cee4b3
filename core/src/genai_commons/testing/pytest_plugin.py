"""pytest fixtures for plugin authors, loaded through the ``pytest11`` entry point of ``genai-commons``.

* ``genai_home`` — a temporary directory set as ``GENAI_HOME`` (so no test reads your real
  configuration or writes your usage database).
* ``usage_recorder`` — a fresh :class:`~genai_commons.testing.UsageRecorder`.
* ``fake_provider`` — a fresh :class:`~genai_commons.testing.FakeProvider` named ``fake``.
* ``make_host`` — ``make_host(*plugins, **config)`` builds a :class:`~genai_commons.Host` over
  ``Config.defaults(genai_home, **config)`` with no entry points, registering ``plugins`` (objects
  or classes); every host it made is closed at teardown.

The module imports nothing from genai-commons at import time: pytest loads it in every session of
an environment where genai-commons is installed, and the cost must stay near zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from genai_commons import Host
    from genai_commons.testing.fakes import FakeProvider, UsageRecorder

#: The type of the ``make_host`` fixture.
MakeHost = Callable[..., "Host"]


@pytest.fixture
def genai_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary ``GENAI_HOME``; the configuration variables of the real environment are unset."""
    home = tmp_path / "genai-home"
    home.mkdir()
    monkeypatch.setenv("GENAI_HOME", str(home))
    for variable in ("GENAI_CONFIG", "GENAI_PLUGINS_ALLOW", "GENAI_PLUGINS_BLOCK", "GENAI_STORE_USAGE_METRICS"):
        monkeypatch.delenv(variable, raising=False)
    return home


@pytest.fixture
def usage_recorder() -> UsageRecorder:
    """A plugin that keeps every usage event in ``.records``."""
    from genai_commons.testing.fakes import UsageRecorder  # noqa: PLC0415 - keep the plugin cheap to load

    return UsageRecorder()


@pytest.fixture
def fake_provider() -> FakeProvider:
    """A scriptable in-process provider named ``fake`` (see :mod:`genai_commons.testing.fakes`)."""
    from genai_commons.testing.fakes import FakeProvider  # noqa: PLC0415

    return FakeProvider()


@pytest.fixture
def make_host(genai_home: Path) -> Iterator[MakeHost]:
    """A factory of hosts with only the plugins given: ``make_host(fake_provider, usage_recorder,
    retry=RetryPolicy(max_attempts=2, initial_delay=0))``."""
    from genai_commons import Config, Host  # noqa: PLC0415

    hosts: list[Host] = []

    def make(*plugins: Any, **config: Any) -> Host:
        host = Host(Config.defaults(genai_home, **config), load_entry_points=False, plugins=plugins)
        hosts.append(host)
        return host

    yield make
    for host in reversed(hosts):
        host.close()
