"""Entry-point discovery through the real importlib.metadata machinery.

Each test writes installed-distribution metadata (``*.dist-info`` with ``entry_points.txt``) and
the plugin modules into a temporary directory on ``sys.path``, exactly what ``pip install``
leaves behind.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from genai_commons import Config, Host, UnknownModelError

GOOD = """
from genai_commons import DeployedModel, Provider, Response


class GoodProvider(Provider):
    name = "good"

    def models(self):
        return [DeployedModel(provider="good", model_id="m")]

    def chat(self, model, request):
        return Response.of_text("good answer", input_tokens=1, output_tokens=2)
"""

BROKEN_IMPORT = "raise ImportError('the SDK this plugin needs is not installed')\n"

BROKEN_INIT = """
class Broken:
    def __init__(self):
        raise RuntimeError("cannot start: bad settings")
"""

BAD_HOOK = """
from genai_commons import hookimpl


class BadHook:
    @hookimpl
    def genai_chat_with_typo(self, model, request):
        return None
"""


def _install(site: Path, dist: str, version: str, modules: dict[str, str], entry_points: dict[str, str]) -> None:
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[genai_commons]\n{lines}\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    _install(site, "genai-commons-good", "1.2.3", {"gc_good": GOOD}, {"good": "gc_good:GoodProvider"})
    _install(site, "genai-commons-broken", "0.1", {"gc_broken": BROKEN_IMPORT}, {"broken": "gc_broken:Plugin"})
    _install(site, "genai-commons-badinit", "0.1", {"gc_badinit": BROKEN_INIT}, {"badinit": "gc_badinit:Broken"})
    _install(site, "genai-commons-badhook", "0.1", {"gc_badhook": BAD_HOOK}, {"badhook": "gc_badhook:BadHook"})
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in ("gc_good", "gc_broken", "gc_badinit", "gc_badhook"):
        sys.modules.pop(name, None)


def _host(home: Path, **kwargs: Any) -> Host:
    # The core's own entry points (the usage store) load too, as in a real installation.
    return Host(Config.defaults(home), **kwargs)


def test_installed_plugins_are_discovered_and_used(site: Path, genai_home: Path) -> None:
    host = _host(genai_home)
    assert host.chat("good:m", "hi").text == "good answer"
    info = {p.name: p for p in host.plugins()}["good"]
    assert info.version == "1.2.3"
    assert info.source == "entry point"
    assert {c.value for c in info.capabilities} == {"chat"}


def test_a_broken_plugin_is_reported_by_name_and_the_others_keep_working(site: Path, genai_home: Path) -> None:
    host = _host(genai_home)
    infos = {p.name: p for p in host.plugins()}
    assert "ImportError: the SDK this plugin needs is not installed" in (infos["broken"].error or "")
    assert "RuntimeError: cannot start: bad settings" in (infos["badinit"].error or "")
    assert "genai_chat_with_typo" in (infos["badhook"].error or "")
    assert infos["good"].error is None
    assert infos["usage_sqlite"].error is None
    assert host.chat("good:m", "still works").text == "good answer"


def test_a_broken_plugin_leaves_no_hooks_behind(site: Path, genai_home: Path) -> None:
    host = _host(genai_home)
    registered = {name for name, _ in host.plugin_manager.list_name_plugin()}
    assert "badhook" not in registered
    assert "good" in registered


def test_block_list_switches_plugins_off(site: Path, genai_home: Path) -> None:
    host = _host(genai_home, block=["good", "broken", "badinit", "badhook"])
    names = {p.name for p in host.plugins()}
    assert "usage_sqlite" in names
    assert names.isdisjoint({"good", "broken", "badinit", "badhook"})
    with pytest.raises(UnknownModelError, match="no provider named 'good'"):
        host.chat("good:m", "hi")


def test_allow_list_loads_only_the_named_plugins(site: Path, genai_home: Path) -> None:
    host = _host(genai_home, allow=["good"])
    assert {p.name for p in host.plugins()} == {"good"}


def test_the_environment_filters_plugins(site: Path, genai_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAI_PLUGINS_BLOCK", "broken, badinit,badhook")
    host = Host(Config.load())
    names = {p.name for p in host.plugins()}
    assert {"good", "usage_sqlite"} <= names
    assert names.isdisjoint({"broken", "badinit", "badhook"})
    monkeypatch.setenv("GENAI_ENTRY_POINTS", "false")
    assert Host(Config.load()).plugins() == []


def test_entry_points_can_be_switched_off_and_plugins_registered_in_process(site: Path, genai_home: Path) -> None:
    host = _host(genai_home, load_entry_points=False)
    assert host.plugins() == []
    import gc_good  # type: ignore[import-not-found]

    host.register(gc_good.GoodProvider)
    assert host.chat("good:m", "hi").text == "good answer"


def test_each_host_gets_its_own_plugin_instances(site: Path, genai_home: Path) -> None:
    first, second = _host(genai_home, allow=["good"]), _host(genai_home, allow=["good"])
    assert first.plugin_manager.get_plugin("good") is not second.plugin_manager.get_plugin("good")


BAD_SETTINGS = """
from genai_commons import Provider


class NeedsKey(Provider):
    name = "needskey"

    def configure(self, settings):
        settings.get_secret("api_key", env="NEEDSKEY_API_KEY", required=True)
"""


def test_a_plugin_that_fails_to_configure_fails_alone(site: Path, genai_home: Path) -> None:
    _install(site, "genai-commons-needskey", "0.1", {"gc_needskey": BAD_SETTINGS}, {"needskey": "gc_needskey:NeedsKey"})
    try:
        host = _host(genai_home)
        infos = {p.name: p for p in host.plugins()}
        assert "MissingCredentialsError" in (infos["needskey"].error or "")
        assert "set NEEDSKEY_API_KEY" in (infos["needskey"].error or "")
        assert "needskey" not in host.providers()
        assert host.chat("good:m", "configured after the failure").text == "good answer"
    finally:
        sys.modules.pop("gc_needskey", None)
