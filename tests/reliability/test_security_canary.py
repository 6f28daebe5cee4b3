"""Secrets never leave: a canary test over every ``genai`` command.

Every provider is configured with canary secrets (an OpenAI key, an Azure key, an AWS secret
access key and session token, an assumed role's external id, Mendix Cloud access tokens inside
connection keys, an OpenSearch password) against its loopback fake, and every command and
subcommand of the ``genai`` group — found by walking the group, so that a new command without a
case fails :func:`test_every_command_has_a_canary_case` — runs with ``-vv`` (structlog at DEBUG),
with ``--json`` and without, in calls that succeed and calls that fail (a rejected key, a server
error, a server that quotes the credentials back). No canary, in any form of
:func:`security_canaries.forms`, may appear on standard output or error, in a log record of the
standard library's logging at DEBUG, in an exception, or in any file the command leaves under
``GENAI_HOME`` (the usage database, the local knowledge base, a CSV report). The Mendix Cloud key
store, whose purpose is to keep keys, is the one file exempt.

The Python API's side (reprs of everything a host reaches, exceptions of each plugin) is in
``test_security_canary_api.py``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import structlog
from click.testing import CliRunner, Result
from osmem_server import OsmemServer
from security_canaries import CANARIES, exception_texts, leaks
from security_cli_cases import CASES, Case, Step
from security_world import CLAUDE, FOREIGN_PREFIXES, World, clean_environ, start_world

from genai_commons.cli import main
from genai_commons_mxcloud.testing import make_key

#: Standard-library loggers examined at DEBUG: the project's own and those of the HTTP clients the
#: plugins drive. Others are examined from INFO up: botocore prints every request it sends at DEBUG,
#: signed headers (``X-Amz-Security-Token``) included, as its documentation warns; the ``genai``
#: command never enables the standard library's logging, and an application that enables it at
#: DEBUG for botocore asks for that.
DEBUG_LOGGERS = (
    "genai_commons",
    "genai_commons_openai",
    "genai_commons_bedrock",
    "genai_commons_mxcloud",
    "genai_commons_opensearch",
    "genai_commons_local",
    "httpx",
    "httpcore",
    "opensearch",
    "urllib3",
)
#: Files whose purpose is to keep secrets.
SECRET_STORES = frozenset({"config.toml", "mxcloud-keys.json"})
DOCUMENTS = {
    "a.md": "# Rotation\nThe on-call rotation changes every Monday.\n",
    "b.txt": "Lunch is served at noon in the big hall.\n",
}


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    server = OsmemServer.start(japanese=False)
    try:
        with server.clone() as clone, start_world(clone.url) as running:
            yield running
    finally:
        server.close()


@pytest.fixture(autouse=True)
def quiet_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Nothing of the machine's configuration; structlog as it was, after the commands configured it."""
    for name in list(os.environ):
        if name.startswith(FOREIGN_PREFIXES):
            monkeypatch.delenv(name)
    yield
    structlog.reset_defaults()


class Records(logging.Handler):
    """Every standard-library log record, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            text = f"{record.msg!r} {record.args!r}"
        self.records.append((record.name, text))


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    loggers = [root, *map(logging.getLogger, DEBUG_LOGGERS)]
    levels = [logger.level for logger in loggers]
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


class Place:
    """The test's home and documents, and the texts that stand for them in a case's arguments."""

    def __init__(self, tmp_path: Path, world: World) -> None:
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.docs = tmp_path / "docs"
        self.docs.mkdir()
        for name, text in DOCUMENTS.items():
            (self.docs / name).write_text(text)
        bad = f'{{"type": "TEXT_GENERATION", "accessToken": "{CANARIES["mxcloud_token"]}-f"}}'
        (tmp_path / "bad.key").write_text(bad)  # decoded JSON pasted instead of the key
        self.values = {
            "{docs}": str(self.docs),
            "{home}": str(self.home),
            "{bad-file}": str(tmp_path / "bad.key"),
            "{echo}": world.echo.url,
            # a well-formed document with no type: the key's token must not be quoted back
            "{bad-key}": make_key("TEXT_GENERATION", world.mxcloud.url, CANARIES["mxcloud_token"] + "-b", type=None),
            **{f"{{key:{name}}}": key for name, key in world.keys.items()},
        }

    def fill(self, text: str) -> str:
        for placeholder, value in self.values.items():
            text = text.replace(placeholder, value)
        return text


def _check_output(what: str, result: Result, records: Records) -> None:
    assert not leaks(result.stdout), f"{what}: a secret on standard output: {leaks(result.stdout)}"
    assert not leaks(result.stderr), f"{what}: a secret on standard error: {leaks(result.stderr)}"
    for name, text in records.records:
        assert not leaks(text), f"{what}: a secret in a record of logger {name!r}: {leaks(text)}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        for where, text in exception_texts(result.exception):
            assert not leaks(text), f"{what}: a secret in the exception's {where}: {leaks(text)}"


def _check_files(what: str, home: Path) -> None:
    for path in sorted(home.rglob("*")):
        if path.is_file() and path.name not in SECRET_STORES:
            found = leaks(path.read_bytes())
            assert not found, f"{what}: a secret in {path.relative_to(home)}: {found}"


def invoke(world: World, place: Place, step: Step, records: Records) -> Result:
    env = world.environ(place.home, **{k: place.fill(v) for k, v in step.env.items()})
    if step.before is not None:
        step.before(world)
    records.records.clear()
    result = CliRunner().invoke(
        main,
        ["-vv", *(place.fill(a) for a in step.args)],
        env=env,
        input=place.fill(step.input) if step.input is not None else None,
    )
    what = "genai " + " ".join(step.args)
    assert result.exit_code == step.exit_code, f"{what}: exit {result.exit_code}\n{result.output}{result.exception!r}"
    _check_output(what, result, records)
    return result


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_no_command_shows_a_secret(case: Case, world: World, tmp_path: Path, records: Records) -> None:
    place = Place(tmp_path, world)
    (place.home / "config.toml").write_text(world.config(case.config))
    world.reset()
    for step in case.steps:
        invoke(world, place, step, records)
    _check_files(case.id, place.home)
    if case.verify is not None:
        case.verify(world)


# -- every command is covered ----------------------------------------------------------------------


def _commands() -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command of the ``genai`` group, plugin commands included, groups before their commands."""

    def walk(command: click.Command, path: tuple[str, ...], parent: click.Context | None) -> Iterator[Any]:
        ctx = click.Context(command, info_name=path[-1] if path else "genai", parent=parent)
        yield path, command
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, f"genai {' '.join(path)} lists {name!r} but cannot load it"
                yield from walk(sub, (*path, name), ctx)

    yield from walk(main, (), None)


COMMANDS = dict(_commands())


def test_every_command_has_a_canary_case() -> None:
    leaves = {path for path, command in COMMANDS.items() if not isinstance(command, click.Group)}
    covered = {case.command for case in CASES}
    assert sorted(leaves - covered) == [], "commands without a canary case (add them to security_cli_cases.py)"
    assert sorted(covered - leaves) == [], "canary cases of commands that do not exist"
    for path in leaves:
        if any(param.name == "as_json" for param in COMMANDS[path].params):
            last_steps = [case.steps[-1].args for case in CASES if case.command == path]
            assert any("--json" in args for args in last_steps), f"genai {' '.join(path)} has no --json case"
            assert any("--json" not in args for args in last_steps), f"genai {' '.join(path)} has only --json cases"
    provider_commands = {("chat",), ("embed",), ("image",), ("agent", "invoke"), ("kb", "ingest"), ("kb", "sync")}
    for path in provider_commands:
        assert any(s.exit_code for c in CASES if c.command == path for s in c.steps), f"no failing case of {path}"


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda p: " ".join(("genai", *p)))
def test_help_shows_no_secret(path: tuple[str, ...], world: World, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [*path, "--help"], env=world.environ(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ")
    assert not leaks(result.output)


# -- one end-to-end process per provider ----------------------------------------------------------

END_TO_END = {
    "openai": ("chat", "openai:gpt-4o-mini", "hello", "--json"),
    "bedrock": ("chat", f"bedrock:{CLAUDE}", "hello", "--stream"),
    "mxcloud": ("chat", "mxcloud:claude", "hello"),
    "opensearch": ("kb", "ingest", "opensearch:e2e", "{docs}"),
    "local": ("kb", "ingest", "e2e", "{docs}", "--json"),
}


@pytest.mark.parametrize("provider", list(END_TO_END))
def test_a_real_process_shows_no_secret(provider: str, world: World, tmp_path: Path) -> None:
    place = Place(tmp_path, world)
    (place.home / "config.toml").write_text(world.config())
    env = {**clean_environ(os.environ), **world.environ(place.home)}
    args = map(place.fill, END_TO_END[provider])
    command = [sys.executable, "-c", "from genai_commons.cli import main; main()", "-vv", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "the command printed nothing"
    assert "_completed" in done.stderr, "-vv printed the DEBUG events"
    assert not leaks(done.stdout) and not leaks(done.stderr), (leaks(done.stdout), leaks(done.stderr))
    _check_files(provider, place.home)
    assert (place.home / "usage.db").is_file(), "usage storage was on"
