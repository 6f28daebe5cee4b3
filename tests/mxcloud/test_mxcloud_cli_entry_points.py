"""The core's extension point for plugin commands: entry points in the group ``genai_commons.cli``.

A throw-away distribution (a ``dist-info`` directory and a module on ``sys.path``) declares a good
command, a broken one, one that is not a click command and one that tries to take a built-in name;
the installed genai-commons-mxcloud declares ``mxcloud``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner

from genai_commons.cli import main

ENTRY_POINTS = """\
[genai_commons.cli]
hello = genai_cli_probe:hello
broken = genai_cli_probe_missing:command
notclick = genai_cli_probe:not_a_command
chat = genai_cli_probe:hello
"""

MODULE = '''\
import click


@click.command()
@click.argument("name")
def hello(name):
    """Say hello (a plugin command)."""
    click.echo(f"hello {name} from a plugin")


not_a_command = object()
'''


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "genai_cli_probe-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: genai-cli-probe\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    (tmp_path / "genai_cli_probe.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("GENAI_ENTRY_POINTS", raising=False)


def test_the_installed_plugin_adds_its_group() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert re.search(r"\n  mxcloud +Mendix Cloud GenAI: connection keys and the monthly quota.", result.output)
    keys = CliRunner().invoke(main, ["mxcloud", "key", "--help"])
    assert keys.exit_code == 0 and "import" in keys.output and "remove" in keys.output


@pytest.mark.usefixtures("probe")
def test_plugin_commands_run_and_broken_ones_are_left_out() -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["hello", "ann"]).output == "hello ann from a plugin\n"
    listed = runner.invoke(main, ["--help"]).output
    assert "hello" in listed and "Say hello (a plugin command)." in listed
    assert "broken" not in listed.split("Commands:")[1] and "notclick" not in listed.split("Commands:")[1]
    with structlog.testing.capture_logs() as logs:
        broken = runner.invoke(main, ["broken"])
        not_click = runner.invoke(main, ["notclick"])
    assert broken.exit_code == 2 and "No such command 'broken'" in broken.output
    assert not_click.exit_code == 2 and "No such command 'notclick'" in not_click.output
    failures = [(e["command"], e["error"]) for e in logs if e["event"] == "plugin_command_failed"]
    assert failures == [
        ("broken", "ModuleNotFoundError: No module named 'genai_cli_probe_missing'"),
        ("notclick", "not a click command"),
    ]
    # a built-in name stays the built-in command
    assert "Send PROMPT to MODEL" in runner.invoke(main, ["chat", "--help"]).output


@pytest.mark.usefixtures("probe")
def test_switching_entry_points_off_hides_plugin_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAI_ENTRY_POINTS", "0")
    result = CliRunner().invoke(main, ["hello", "ann"])
    assert result.exit_code == 2 and "No such command 'hello'" in result.output
