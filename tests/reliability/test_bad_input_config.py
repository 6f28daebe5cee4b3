"""Bad configuration: malformed files, wrong types, unknown sections and keys, bad environment values.

The documented behaviour (docs/configuration.md) is strict: an unknown section or key, a value of
the wrong type or out of range stops every command with exit status 1 and one line on standard
error that names the file (or the variable) and the problem — never a traceback, never a value
guessed. A provider's own table is its plugin's to check: a bad value there fails that plugin
alone (listed by ``genai plugins``), and a call to its provider says why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from badinput_cli import assert_error, clean_env, invoke, run_genai

#: Commands that read the configuration before anything else they do.
COMMANDS = [
    ["plugins"],
    ["models", "--json"],
    ["chat", "openai:gpt-4o-mini", "hello"],
    ["kb", "list"],
    ["usage", "report", "--json"],
]

#: (file content, fragments of the one error line).
BAD_FILES = {
    "unclosed array": ("x = [", ["not valid TOML"]),
    "not UTF-8": (b"\xff\xfe[retry]\n", ["not valid TOML"]),
    "binary junk": (b"\x00\x01\x02\x03", ["not valid TOML"]),
    "a key twice": ("[retry]\nmax_attempts = 1\nmax_attempts = 2\n", ["not valid TOML"]),
    "a table twice": ("[retry]\n[retry]\n", ["not valid TOML"]),
    "unknown section": ("[bogus]\na = 1\n", ["extra fields found (bogus)"]),
    "misspelt key": ("[retry]\nmax_attempt = 3\n", ["max_attempt", "config.retry"]),
    "string for an int": ('[retry]\nmax_attempts = "3"\n', ["expected int", "config.retry.max_attempts"]),
    "float for an int": ("[tools]\nmax_steps = 2.5\n", ["expected int", "config.tools.max_steps"]),
    "int for a bool": ("[plugins]\nentry_points = 1\n", ["expected bool", "config.plugins.entry_points"]),
    "string for a bool": ('[usage]\nstore = "yes"\n', ["expected bool", "config.usage.store"]),
    "int for a string": ("[usage]\ndatabase = 5\n", ["expected str", "config.usage.database"]),
    "string for a list": ('[plugins]\nallow = "openai"\n', ["list of strings", "config.plugins.allow"]),
    "a number in a list": ('[plugins]\nblock = ["openai", 3]\n', ["list of strings", "config.plugins.block"]),
    "a section that is a number": ("retry = 5\n", ["config.retry"]),
    "providers not a table": ("providers = 5\n", ["config.providers"]),
    "a provider not a table": ("[providers]\nopenai = 5\n", ["config.providers"]),
    "knowledge bases as a list": ("knowledge_bases = [1]\n", ["config.knowledge_bases"]),
    "no attempts": ("[retry]\nmax_attempts = 0\n", ["max_attempts must be at least 1"]),
    "negative delay": ("[retry]\nmax_delay = -1.0\n", ["delays must be positive"]),
    "nan multiplier": ("[retry]\nmultiplier = nan\n", ["finite numbers"]),
    "infinite delay": ("[retry]\ninitial_delay = inf\n", ["finite numbers"]),
    "negative retention": ("[usage]\ncleanup_after_days = -1\n", ["[usage] cleanup_after_days must be 0"]),
    "no tool steps": ("[tools]\nmax_steps = 0\n", ["max_steps must be at least 1"]),
    "no embedding batch": ("[knowledge]\nembed_batch_size = 0\n", ["embed_batch_size"]),
    "model without provider": ('[knowledge]\ndefault_embedding_model = "minilm"\n', ["PROVIDER:MODEL"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_configuration_file_stops_every_command_with_one_line(tmp_path: Path, case: str) -> None:
    content, fragments = BAD_FILES[case]
    home = tmp_path / "home"
    home.mkdir()
    file = home / "config.toml"
    if isinstance(content, bytes):
        file.write_bytes(content)
    else:
        file.write_text(content)
    for command in COMMANDS:
        result = invoke(command, env=clean_env(home))
        line = assert_error(result, 1, str(file), *fragments)
        assert result.stdout == "", (command, result.stdout)
        assert line.count(str(file)) == 1


#: (environment, fragments of the one error line).
BAD_ENVIRONMENT = {
    "usage store maybe": ({"GENAI_STORE_USAGE_METRICS": "maybe"}, ["GENAI_STORE_USAGE_METRICS='maybe'", "boolean"]),
    "entry points 2": ({"GENAI_ENTRY_POINTS": "2"}, ["GENAI_ENTRY_POINTS='2'", "boolean"]),
    "retention soon": ({"GENAI_USAGE_CLEANUP_AFTER_DAYS": "soon"}, ["GENAI_USAGE_CLEANUP_AFTER_DAYS='soon'"]),
    "retention 1.5": ({"GENAI_USAGE_CLEANUP_AFTER_DAYS": "1.5"}, ["GENAI_USAGE_CLEANUP_AFTER_DAYS='1.5'"]),
    "negative retention": ({"GENAI_USAGE_CLEANUP_AFTER_DAYS": "-3"}, ["GENAI_USAGE_CLEANUP_AFTER_DAYS='-3'"]),
    "embedding model": ({"GENAI_EMBEDDING_MODEL": "minilm"}, ["GENAI_EMBEDDING_MODEL='minilm'", "PROVIDER:MODEL"]),
    "fetch urls perhaps": ({"GENAI_FETCH_URLS": "perhaps"}, ["GENAI_FETCH_URLS='perhaps'", "boolean"]),
}


@pytest.mark.parametrize("case", sorted(BAD_ENVIRONMENT))
def test_a_bad_environment_variable_stops_every_command_with_one_line(tmp_path: Path, case: str) -> None:
    extra, fragments = BAD_ENVIRONMENT[case]
    for command in COMMANDS:
        result = invoke(command, env=clean_env(tmp_path, **extra))
        assert_error(result, 1, *fragments)
        assert result.stdout == ""


def test_a_configuration_file_that_is_missing_or_not_a_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    assert_error(
        invoke(["plugins"], env=clean_env(tmp_path, GENAI_CONFIG=str(missing))), 1, str(missing), "does not exist"
    )
    assert_error(
        invoke(["--config", str(missing), "models"], env=clean_env(tmp_path)), 1, str(missing), "does not exist"
    )
    assert_error(invoke(["--config", str(tmp_path), "models"], env=clean_env(tmp_path)), 2, "is a directory")
    assert_error(invoke(["plugins"], env=clean_env(tmp_path, GENAI_CONFIG=str(tmp_path))), 1, "is not a file")
    home = tmp_path / "home"
    (home / "config.toml").mkdir(parents=True)  # the optional file of the home directory, as a directory
    assert_error(invoke(["plugins"], env=clean_env(home)), 1, str(home / "config.toml"), "is not a file")


def test_a_fifo_in_place_of_the_configuration_file_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "config.toml")  # reading it would wait forever for a writer
    assert_error(invoke(["plugins"], env=clean_env(tmp_path)), 1, "is not a file")


def test_an_empty_file_and_an_empty_section_are_fine(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("# nothing yet\n\n[retry]\n")
    result = invoke(["plugins", "--json"], env=clean_env(tmp_path, GENAI_ENTRY_POINTS="0"))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "[]"


# -- provider and knowledge-base tables: checked by their owners, when used ------------------------------


def test_a_bad_provider_table_fails_that_plugin_alone_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[providers.openai]\ntimeout = "soon"\n')
    env = clean_env(tmp_path)
    listed = invoke(["plugins"], env=env)
    assert listed.exit_code == 0, listed.output  # documented: listed with its error, the others work
    row = next(line for line in listed.stdout.splitlines() if line.startswith("openai "))
    assert "FAILED" in row and "[providers.openai] timeout must be a number" in row
    assert "1 plugin(s) failed to load" in listed.stderr
    called = invoke(["chat", "openai:gpt-4o-mini", "hello"], env=env)
    line = assert_error(called, 1, "provider 'openai' is not available", "[providers.openai] timeout", logs=True)
    assert "pip install" not in line, "the plugin is installed: the error must not say to install it"


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ("provider = 5", "[knowledge_bases.notes] provider must be a string"),
        ('embedding_model = "minilm"', "[knowledge_bases.notes] embedding_model 'minilm' must be PROVIDER:MODEL"),
        ('provider = "nowhere"', "no provider named 'nowhere'"),
    ],
)
def test_a_bad_knowledge_base_table_is_one_line_when_the_knowledge_base_is_used(
    tmp_path: Path, table: str, fragment: str
) -> None:
    (tmp_path / "config.toml").write_text(f"[knowledge_bases.notes]\n{table}\n")
    assert_error(invoke(["kb", "search", "notes", "query"], env=clean_env(tmp_path)), 1, fragment)


# -- the real command, in a process of its own ----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "args", "fragment"),
    [
        ("[retry\n", ["models"], "not valid TOML"),
        ("[bogus]\n", ["plugins"], "extra fields found (bogus)"),
        ('[plugins]\nallow = "openai"\n', ["chat", "openai:gpt-4o-mini", "hello"], "list of strings"),
    ],
)
def test_the_installed_command_exits_1_with_one_line(
    tmp_path: Path, content: str, args: list[str], fragment: str
) -> None:
    (tmp_path / "config.toml").write_text(content)
    result = run_genai(args, clean_env(tmp_path))
    assert_error(result, 1, str(tmp_path / "config.toml"), fragment)
    assert result.stdout == ""
