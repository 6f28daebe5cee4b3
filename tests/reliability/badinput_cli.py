"""Running ``genai`` for the bad-input suites, and what a clear error looks like.

A runtime error (exit status 1) is exactly one line on standard error, ``error: …`` (or click's
``Error: …`` for a file it cannot open). A usage error (exit status 2) is click's usage header
(``Usage: …``, ``Try '… --help' for help.``, a blank line) and exactly one ``Error: …`` line.
Neither ever shows a traceback. :func:`clean_env` keeps the developer's own configuration and
credentials out of every run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from genai_commons.cli import CliState, main

#: Variables of the real environment that would change what a command does: configuration and credentials.
_OWN_PREFIXES = ("GENAI_", "OPENAI_", "AZURE_OPENAI", "AWS_", "OPENSEARCH_", "MXCLOUD_")
#: A log line of the command: ``warning: event (key=value, …)``, or with ``-v`` structlog's
#: console renderer's ``2025-01-31T10:00:00.123456Z [warning  ] event …``.
LOG_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\dT[\d:.]+Z \[(debug|info|warning|error|critical) *\] |(debug|info|warning|critical): )"
)
_USAGE_HEADER = re.compile(r"^(Usage: genai\b.*|Try 'genai\b.* for help\.|)$")


def clean_env(home: Path, **extra: str | None) -> dict[str, str | None]:
    """An environment with ``GENAI_HOME=home``, every configuration or credential variable of the
    real environment unset (None unsets in CliRunner), and ``extra`` on top."""
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith(_OWN_PREFIXES)}
    env["GENAI_HOME"] = str(home)
    env.update(extra)
    return env


def invoke(
    args: Sequence[str],
    *,
    env: Mapping[str, str | None] | None = None,
    state: CliState | None = None,
    input: str | bytes | None = None,
) -> Result:
    """``genai ARGS`` in-process: with ``state`` against its host, otherwise with the host the
    command builds from the configuration (``env`` should come from :func:`clean_env`)."""
    return CliRunner().invoke(
        main, list(args), env=dict(env or {}), obj=state, input=input, catch_exceptions=True, prog_name="genai"
    )


def genai_command() -> list[str]:
    """The installed ``genai`` script of this interpreter's environment."""
    script = Path(sys.executable).with_name("genai")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from genai_commons.cli import main; main()"]  # pragma: no cover


def run_genai(
    args: Sequence[str], env: Mapping[str, str | None], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``genai ARGS`` in a subprocess, with the environment of :func:`clean_env`."""
    full = {k: v for k, v in os.environ.items() if k not in env}
    full.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run(  # bounded: a hang fails the test
        [*genai_command(), *args], env=full, capture_output=True, text=True, timeout=timeout, check=False
    )


def error_line(stderr: str, code: int, *, logs: bool = False) -> str:
    """The one error line of a failed command's standard error; fails unless there is exactly one.

    :param logs: allow log lines (warnings the host logs on its way, such as a plugin that failed
        to load) before the error line.
    """
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    if logs:
        lines = [line for line in lines if not LOG_LINE.match(line)]
    if code == 2:
        lines = [line for line in lines if not _USAGE_HEADER.match(line)]
        assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    else:
        assert len(lines) == 1 and lines[0].startswith(("error: ", "Error: ")), stderr
    return lines[0]


def assert_error(
    result: Result | subprocess.CompletedProcess[str], code: int, *fragments: str, logs: bool = False
) -> str:
    """The command failed with ``code``, one clear error line holding every fragment, no traceback."""
    if isinstance(result, Result):
        exit_code, stderr, output = result.exit_code, result.stderr, result.output
        unexpected = result.exception is not None and not isinstance(result.exception, SystemExit)
        assert not unexpected, f"{type(result.exception).__name__}: {result.exception}"
    else:
        exit_code, stderr, output = result.returncode, result.stderr, result.stdout + result.stderr
    assert exit_code == code, (exit_code, output)
    assert "Traceback" not in output, output
    line = error_line(stderr, code, logs=logs)
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def secrets_absent(result: Result | subprocess.CompletedProcess[str], *secrets: str) -> None:
    text: Any = result.output if isinstance(result, Result) else result.stdout + result.stderr
    for secret in secrets:
        assert secret not in text, "a secret appeared in the output"
