"""``genai plugins`` and ``genai models``, the configuration file on the command line, and the docs.

Chat is tested in ``test_cli_chat.py``; embeddings and images in ``test_cli_generate.py``.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import attrs
import click
import pytest
import structlog
from click.testing import CliRunner, Result

from genai_commons import Config, DeployedModel, Host, Provider, Request, Response
from genai_commons.cli import CliState, main

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CONFIG_SOURCE = ROOT / "core" / "src" / "genai_commons" / "config.py"
COMMANDS = ("plugins", "models", "chat", "embed", "image")


class AlphaProvider(Provider):
    name = "alpha"
    version = "2.0.1"

    def models(self) -> list[DeployedModel]:
        return [
            DeployedModel(
                provider="alpha",
                model_id="chatty",
                display_name="Chatty Large",
                input_modalities=["text", "image"],
                supports_function_calling=True,
                supports_streaming=True,
            ),
            DeployedModel(provider="alpha", model_id="old", supports_history=False, active=False),
        ]

    def chat(self, model: DeployedModel, request: Request) -> Response:
        return Response.of_text("hi")


class BetaProvider(Provider):
    name = "beta"

    def models(self) -> list[DeployedModel]:
        return [DeployedModel(provider="beta", model_id="vec:v2", output_modality="embeddings")]


class EmptyProvider(Provider):
    name = "empty"


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def make_state(tmp_path: Path, *plugins: object, **host_args: object) -> CliState:
    host = Host(Config.defaults(tmp_path), load_entry_points=False, plugins=plugins, **host_args)  # type: ignore[arg-type]
    return CliState(host=host)


def run(state: CliState | None, *args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), obj=state, env=env)


# -- plugins --------------------------------------------------------------------------------


def test_plugins_table(tmp_path: Path) -> None:
    result = run(make_state(tmp_path, AlphaProvider, BetaProvider), "plugins")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "SOURCE", "PROVIDERS", "CAPABILITIES"]
    assert lines[1].split() == ["alpha", "2.0.1", "in-process", "alpha", "chat"]
    assert lines[2].split() == ["beta", "-", "in-process", "beta", "-"]
    assert result.stderr == ""


def test_plugins_json(tmp_path: Path) -> None:
    result = run(make_state(tmp_path, AlphaProvider), "plugins", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "name": "alpha",
            "version": "2.0.1",
            "source": "in-process",
            "providers": [
                {
                    "name": "alpha",
                    "capabilities": ["chat"],
                    "description": "",
                    "version": "2.0.1",
                    "search_types": ["vector"],
                }
            ],
            "error": None,
            "capabilities": ["chat"],
        }
    ]


@pytest.fixture
def broken_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An installed distribution whose ``genai_commons`` entry point names a module that is missing."""
    site = tmp_path / "site"
    dist_info = site / "genai_broken_demo-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: genai-broken-demo\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[genai_commons]\nbroken_demo = genai_no_such_module_xyz:Plugin\n")
    monkeypatch.syspath_prepend(str(site))
    return "broken_demo"


def test_plugins_lists_a_failed_plugin_without_crashing(tmp_path: Path, broken_entry_point: str) -> None:
    host = Host(Config.defaults(tmp_path), load_entry_points=True, allow=[broken_entry_point], plugins=[AlphaProvider])
    result = run(CliState(host=host), "plugins")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    alpha, broken = result.stdout.splitlines()[1:]
    assert alpha.split()[0] == "alpha"
    assert broken.split()[:4] == ["broken_demo", "-", "entry", "point"]
    assert (
        "FAILED: plugin 'broken_demo' (genai_no_such_module_xyz:Plugin) failed to load: ModuleNotFoundError" in broken
    )
    assert "1 plugin(s) failed to load; the others work" in result.stderr

    data = json.loads(run(CliState(host=host), "plugins", "--json").stdout)
    failed = next(p for p in data if p["name"] == broken_entry_point)
    assert failed["source"] == "entry point"
    assert "No module named 'genai_no_such_module_xyz'" in failed["error"]
    assert (failed["providers"], failed["capabilities"]) == ([], [])


def test_plugins_when_none_are_installed(tmp_path: Path) -> None:
    result = run(make_state(tmp_path), "plugins")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no plugins installed" in result.stderr
    assert json.loads(run(make_state(tmp_path), "plugins", "--json").stdout) == []


# -- models ---------------------------------------------------------------------------------


def test_models_table(tmp_path: Path) -> None:
    result = run(make_state(tmp_path, AlphaProvider, BetaProvider), "models")
    assert result.exit_code == 0, result.output
    header, chatty, old, vec = result.stdout.splitlines()
    assert re.split(r"\s{2,}", header) == ["MODEL", "NAME", "OUTPUT", "INPUT", "FEATURES"]
    assert re.split(r"\s{2,}", chatty) == [
        "alpha:chatty", "Chatty Large", "text", "image, text", "tools, streaming, system, history"
    ]  # fmt: skip
    assert re.split(r"\s{2,}", old) == ["alpha:old", "old", "text", "text", "system, (inactive)"]
    assert re.split(r"\s{2,}", vec) == ["beta:vec:v2", "vec:v2", "embeddings", "text", "-"]


def test_models_of_one_provider_as_json(tmp_path: Path) -> None:
    result = run(make_state(tmp_path, AlphaProvider, BetaProvider), "models", "--provider", "beta", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "ref": "beta:vec:v2",
            "provider": "beta",
            "model_id": "vec:v2",
            "display_name": "vec:v2",
            "output_modality": "embeddings",
            "input_modalities": ["text"],
            "supports_system_prompt": True,
            "supports_history": True,
            "supports_function_calling": False,
            "supports_streaming": False,
            "supports_structured_output": False,
            "url_input_modalities": ["document", "image"],
            "active": True,
            "lifecycle": None,
            "max_batch_size": None,
            "max_input_tokens": None,
            "dimensions": None,
            "temperature_range": None,
            "top_p_range": None,
            "max_output_tokens": None,
            "image_formats": None,
            "document_formats": None,
        }
    ]


def test_models_of_an_unknown_provider(tmp_path: Path) -> None:
    result = run(make_state(tmp_path, AlphaProvider), "models", "-p", "gamma")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: no provider named 'gamma' is installed (installed: alpha)")
    assert result.stderr.count("\n") == 1


def test_models_when_a_provider_offers_none(tmp_path: Path) -> None:
    result = run(make_state(tmp_path, EmptyProvider), "models", "--provider", "empty")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "provider 'empty' offers none" in result.stderr


# -- the configuration file -----------------------------------------------------------------


def test_invalid_config_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[retry]\nmax_attempt = 5\n")
    result = run(None, "--config", str(config), "models", env={"GENAI_HOME": str(tmp_path), "GENAI_CONFIG": None})
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"error: {config}: extra fields found (max_attempt) @ config.retry\n"


def test_config_toml_in_genai_home_is_read(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[plugins]\nentry_points = 'sometimes'\n")
    result = run(None, "plugins", env={"GENAI_HOME": str(tmp_path), "GENAI_CONFIG": None})
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {tmp_path / 'config.toml'}: ")
    assert "config.plugins.entry_points" in result.stderr
    assert result.stderr.count("\n") == 1


def test_missing_config_file_and_bad_environment(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    result = run(None, "plugins", env={"GENAI_HOME": str(tmp_path), "GENAI_CONFIG": str(missing)})
    assert (result.exit_code, result.stderr) == (1, f"error: configuration file {missing} does not exist\n")
    env = {"GENAI_HOME": str(tmp_path), "GENAI_CONFIG": None, "GENAI_ENTRY_POINTS": "maybe"}
    result = run(None, "plugins", env=env)
    assert (result.exit_code, result.stderr) == (
        1,
        "error: GENAI_ENTRY_POINTS='maybe' is not a boolean; use true or false\n",
    )


def test_valid_config_file_is_used(tmp_path: Path) -> None:
    config = tmp_path / "quiet.toml"
    config.write_text("[plugins]\nentry_points = false\n")
    result = run(None, "--config", str(config), "plugins", "--json", env={"GENAI_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


# -- help and docs --------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "--json" in result.stdout


def _blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_cli_docs_mention_every_command_and_option() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        command = main.commands[name]
        assert f"## `genai {name}`" in text
        for param in command.params:
            if isinstance(param, click.Option):
                for opt in param.opts:
                    assert f"`{opt}" in text, f"docs/cli.md does not document {name} {opt}"
    assert _blocks(DOCS / "cli.md", "console")


def test_configuration_docs_example_files_load(tmp_path: Path) -> None:
    blocks = _blocks(DOCS / "configuration.md", "toml")
    assert blocks
    for index, block in enumerate(blocks):
        file = tmp_path / f"example-{index}.toml"
        file.write_text(block, encoding="utf-8")
        Config.load(file, environ={"GENAI_HOME": str(tmp_path)})
    complete = max(blocks, key=len)
    file = tmp_path / "complete.toml"
    file.write_text(complete, encoding="utf-8")
    config = Config.load(file, environ={"GENAI_HOME": str(tmp_path)})
    assert config.providers and config.knowledge_bases
    data = tomllib.loads(complete)
    for section, settings in [
        ("plugins", config.plugins),
        ("retry", config.retry),
        ("usage", config.usage),
        ("tools", config.tools),
    ]:
        assert set(data[section]) == {f.name for f in attrs.fields(type(settings))}, f"[{section}] is incomplete"


def test_configuration_docs_cover_every_key_and_variable() -> None:
    from genai_commons.config import KnowledgeSettings, PluginSettings, RetryPolicy, ToolSettings, UsageSettings

    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for section, cls in [
        ("plugins", PluginSettings),
        ("retry", RetryPolicy),
        ("usage", UsageSettings),
        ("tools", ToolSettings),
        ("knowledge", KnowledgeSettings),
    ]:
        assert f"### `[{section}]`" in text
        for field in attrs.fields(cls):
            assert f"`{field.name}`" in text, f"[{section}] {field.name} is not documented"
    assert "[providers.NAME]" in text and "[knowledge_bases.NAME]" in text
    variables = set(re.findall(r"\bGENAI_[A-Z_]+\b", CONFIG_SOURCE.read_text(encoding="utf-8")))
    assert len(variables) >= 7
    for variable in variables:
        assert f"`{variable}`" in text, f"{variable} is not documented"


@pytest.mark.parametrize("doc", ["cli.md", "configuration.md"])
def test_python_examples_in_docs_run(doc: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAI_HOME", str(tmp_path))
    monkeypatch.delenv("GENAI_CONFIG", raising=False)
    for block in _blocks(DOCS / doc, "python"):
        exec(compile(block, str(DOCS / doc), "exec"), {"__name__": "__docs__"})
