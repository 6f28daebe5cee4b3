"""Runs the command-line examples of ``docs/openai.md`` against the loopback fake OpenAI server, so
that the page cannot drift from what the commands do.

Each ``python`` block preceded by ``<!-- saved as NAME by tests/openai/test_openai_docs_cli.py -->``
is written to the file NAME first (tools for ``--tool``). Each ``console`` block preceded by
``<!-- tested by tests/openai/test_openai_docs_cli.py -->`` is a session: ``$ export NAME=VALUE``
sets a variable for the commands after it (``OPENAI_BASE_URL`` is pointed at the loopback server,
whatever the page says), ``$ genai …`` runs through click's
``CliRunner`` with the installed plugins found through their entry points, and the lines up to the
next ``$`` are its expected output. A chat answer is whatever the model says, so the test scripts
the fake server to say the text the page shows — after a call of the command's ``--tool``, with the
arguments of :data:`TOOL_ARGUMENTS` — and everything else (the request over HTTP, the plugin, the
host, the tool run, the command's output format) is real.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from genai_commons.cli import main
from genai_commons_openai.testing import FakeOpenAIServer

PAGE = Path(__file__).resolve().parents[2] / "docs" / "openai.md"
MARKER = "<!-- tested by tests/openai/test_openai_docs_cli.py -->"
SAVED = re.compile(r"<!-- saved as (\S+) by tests/openai/test_openai_docs_cli.py -->\s*```python\n(.*?)```", re.DOTALL)
_BLOCK = re.compile(r"```console\n(.*?)```", re.DOTALL)
#: What the scripted model passes to each tool it calls.
TOOL_ARGUMENTS = {"get_weather": {"city": "Paris"}}


def saved_files() -> dict[str, str]:
    return {name: code for name, code in SAVED.findall(PAGE.read_text(encoding="utf-8"))}


def sessions() -> list[list[tuple[str, list[str]]]]:
    """The marked blocks, each a list of ``(command, expected output lines)``."""
    text = PAGE.read_text(encoding="utf-8")
    found = []
    for part in text.split(MARKER)[1:]:
        block = _BLOCK.search(part)
        assert block is not None and part[: block.start()].strip() == "", "the marker must precede a console block"
        steps: list[tuple[str, list[str]]] = []
        for line in block.group(1).splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
        found.append(steps)
    return found


def test_the_page_has_tested_examples() -> None:
    commands = [command for steps in sessions() for command, _ in steps]
    needed_commands = ("genai chat openai:", "genai chat --stream", "genai chat --tool", "genai embed", "genai image")
    for needed in needed_commands:
        assert any(c.startswith(needed) for c in commands), f"docs/openai.md shows no `{needed}…` example"


@pytest.mark.parametrize("steps", sessions(), ids=lambda steps: steps[-1][0][:40])
def test_command_line_examples(
    steps: list[tuple[str, list[str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, code in saved_files().items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    with FakeOpenAIServer() as server:
        env = {"GENAI_HOME": str(tmp_path / "home"), "GENAI_PLUGINS_ALLOW": "openai,azure"}
        runner = CliRunner()
        for command, expected in steps:
            words = shlex.split(command)
            if words[0] == "export":
                name, _, value = words[1].partition("=")
                env[name] = server.url if name == "OPENAI_BASE_URL" else value
                continue
            assert words[0] == "genai", command
            tools = [words[i + 1].rpartition(":")[2] for i, word in enumerate(words) if word in ("--tool", "-T")]
            if words[1] == "chat":
                if tools:
                    server.service.script([(name, TOOL_ARGUMENTS[name]) for name in tools])
                server.service.script("\n".join(expected))
            result = runner.invoke(main, words[1:], env=env)
            assert result.exit_code == 0, f"{command}\n{result.output}"
            assert result.output.splitlines() == expected, command
            if tools:  # the function ran, and its answer went back to the model
                last = server.service.calls[-1].body["messages"][-1]
                assert last["role"] == "tool" and last["content"] == "18 degrees and sunny in Paris"
            if words[1] == "image":
                written = Path(words[words.index("-o") + 1])
                assert written.read_bytes().startswith(b"\x89PNG")
        assert server.service.requests, "the commands reached the server"
        assert all(r.headers.get("authorization") == "Bearer sk-test" for r in server.service.requests)
