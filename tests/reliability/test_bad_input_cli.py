"""Bad command-line arguments, for every command: one clear line on standard error and the
documented exit status (docs/cli.md): 2 for a usage error (a malformed reference, an option out of
range or of the wrong type, a missing file, an empty prompt, options that do not go together), 1
for an error found at run time (an unknown provider or model, a capability the model lacks).
Never a traceback.

Most cases run in-process with click's runner against a host over the fake provider; a few run the
installed ``genai`` script, to check the real exit status and streams.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from badinput_cli import assert_error, clean_env, invoke, run_genai
from click.testing import Result

from genai_commons import Config, Host
from genai_commons.cli import CliState
from genai_commons.config import KnowledgeSettings, UsageSettings
from genai_commons.testing import FakeProvider

CHAT = ["chat", "fake:chat", "hello"]
EMBED = ["embed", "fake:embed", "hello"]
IMAGE = ["image", "fake:image", "a fox"]

#: (arguments, exit status, a fragment of the error line). ``{tmp}`` is a scratch directory holding
#: ``note.txt``, ``tools.py`` (a function ``tool_fn`` and one whose name no provider accepts),
#: ``broken.py`` (a syntax error) and ``exists.png``.
CASES: list[tuple[str, list[str], int, str]] = [
    # model references
    ("chat: no colon", ["chat", "gpt-4o-mini", "hi"], 2, "'gpt-4o-mini' is not a model reference"),
    ("chat: no provider", ["chat", ":chat", "hi"], 2, "is not a model reference"),
    ("chat: no model", ["chat", "fake:", "hi"], 2, "is not a model reference"),
    ("chat: blank model", ["chat", "fake:  ", "hi"], 2, "is not a model reference"),
    ("chat: unknown provider", ["chat", "mistral:large", "hi"], 1, "no provider named 'mistral' is installed"),
    ("chat: unknown model", ["chat", "fake:gpt-9", "hi"], 1, "provider 'fake' has no model 'gpt-9'"),
    ("chat: not a chat model", ["chat", "fake:embed", "hi"], 1, "cannot be used for chat"),
    # sampling options
    ("chat: temperature hot", [*CHAT, "-t", "hot"], 2, "'hot' is not a valid float"),
    ("chat: temperature -1", [*CHAT, "-t", "-1"], 2, "temperature must be between 0.0 and 2.0, got -1.0"),
    ("chat: temperature 3", [*CHAT, "--temperature", "3"], 2, "temperature must be between 0.0 and 2.0, got 3.0"),
    ("chat: temperature nan", [*CHAT, "-t", "nan"], 2, "temperature must be a finite number"),
    ("chat: temperature inf", [*CHAT, "-t", "inf"], 2, "temperature must be a finite number"),
    ("chat: max tokens 0", [*CHAT, "--max-tokens", "0"], 2, "max_tokens must be at least 1, got 0"),
    ("chat: max tokens -5", [*CHAT, "--max-tokens", "-5"], 2, "max_tokens must be at least 1"),
    ("chat: max tokens many", [*CHAT, "--max-tokens", "many"], 2, "'many' is not a valid integer"),
    ("chat: max tokens 1.5", [*CHAT, "--max-tokens", "1.5"], 2, "'1.5' is not a valid integer"),
    ("chat: option without value", [*CHAT, "--max-tokens"], 2, "'--max-tokens' requires an argument"),
    (
        "chat: unknown option",
        [*CHAT, "--temprature", "1"],
        2,
        "No such option '--temprature'.",
    ),
    ("chat: empty prompt", ["chat", "fake:chat", ""], 2, "PROMPT is empty"),
    ("chat: blank prompt", ["chat", "fake:chat", " \n\t"], 2, "PROMPT is empty"),
    ("chat: empty stdin", ["chat", "fake:chat", "-"], 2, "standard input is empty"),
    ("chat: missing prompt", ["chat", "fake:chat"], 2, "Missing argument 'PROMPT'"),
    # capabilities the model lacks (runtime)
    ("chat: system prompt unsupported", ["chat", "fake:basic", "hi", "-s", "be brief"], 1, "system prompts"),
    ("chat: streaming unsupported", ["chat", "fake:basic", "hi", "--stream"], 1, "does not support streaming"),
    ("chat: image unsupported", ["chat", "fake:basic", "hi", "-f", "{tmp}/exists.png"], 1, "image"),
    # files and urls
    ("chat: missing file", [*CHAT, "-f", "{tmp}/absent.pdf"], 2, "does not exist"),
    ("chat: file is a directory", [*CHAT, "-f", "{tmp}"], 2, "is a directory"),
    ("chat: url not http", [*CHAT, "-u", "ftp://example.com/a.pdf"], 2, "is not an http(s) URL"),
    ("chat: url is a path", [*CHAT, "--url", "/etc/hosts"], 2, "is not an http(s) URL"),
    # tools
    ("chat: tool without colon", [*CHAT, "-T", "tool_fn"], 2, "must be MODULE:FUNCTION or PATH.py:FUNCTION"),
    ("chat: tool without function", [*CHAT, "-T", "os:"], 2, "must be MODULE:FUNCTION"),
    ("chat: tool module missing", [*CHAT, "-T", "no_such_module_xyz:f"], 2, "cannot import 'no_such_module_xyz'"),
    ("chat: tool function missing", [*CHAT, "-T", "os.path:no_such_function"], 2, "has no 'no_such_function'"),
    ("chat: tool not callable", [*CHAT, "-T", "os:sep"], 2, "'os:sep' is not callable"),
    ("chat: tool file missing", [*CHAT, "-T", "{tmp}/absent.py:f"], 2, "no such file"),
    ("chat: tool file broken", [*CHAT, "-T", "{tmp}/broken.py:f"], 2, "SyntaxError"),
    ("chat: tool name refused", [*CHAT, "-T", "{tmp}/tools.py:größe"], 2, "tool name 'größe' is invalid"),
    # embed
    ("embed: no colon", ["embed", "minilm", "hi"], 2, "is not a model reference"),
    ("embed: dimensions 0", [*EMBED, "-d", "0"], 2, "dimensions must be at least 1, got 0"),
    ("embed: dimensions x", [*EMBED, "--dimensions", "x"], 2, "'x' is not a valid integer"),
    ("embed: purpose", [*EMBED, "--purpose", "search"], 2, "'search' is not one of 'document', 'query'"),
    ("embed: empty text", ["embed", "fake:embed", ""], 2, "TEXT is empty"),
    ("embed: not an embeddings model", ["embed", "fake:chat", "hi"], 1, "cannot be used for embeddings"),
    # image
    ("image: no output", IMAGE, 2, "Missing option '-o' / '--output'"),
    ("image: width 0", [*IMAGE, "-o", "{tmp}/o.png", "--width", "0"], 2, "width must be between 1 and 16384"),
    ("image: height huge", [*IMAGE, "-o", "{tmp}/o.png", "--height", "99999"], 2, "height must be between"),
    ("image: count 11", [*IMAGE, "-o", "{tmp}/o.png", "-n", "11"], 2, "number_of_images must be between 1 and 10"),
    ("image: count 0", [*IMAGE, "-o", "{tmp}/o.png", "--count", "0"], 2, "number_of_images must be between"),
    ("image: seed -1", [*IMAGE, "-o", "{tmp}/o.png", "--seed", "-1"], 2, "seed must be between 0 and 4294967295"),
    ("image: cfg nan", [*IMAGE, "-o", "{tmp}/o.png", "--cfg-scale", "nan"], 2, "cfg_scale must be a finite number"),
    ("image: cfg 51", [*IMAGE, "-o", "{tmp}/o.png", "--cfg-scale", "51"], 2, "cfg_scale must be between 0.0 and 50.0"),
    ("image: no directory", [*IMAGE, "-o", "{tmp}/absent/o.png"], 2, "does not exist"),
    ("image: output is a directory", [*IMAGE, "-o", "{tmp}"], 2, "is a directory"),
    ("image: output exists", [*IMAGE, "-o", "{tmp}/exists.png"], 2, "already exist(s); use --force to overwrite"),
    ("image: not an image model", ["image", "fake:chat", "a fox", "-o", "{tmp}/o.png"], 1, "image generation"),
    # agents
    ("agent: no colon", ["agent", "invoke", "AGENT1", "hi"], 2, "is not an agent reference"),
    ("agent: attribute", ["agent", "invoke", "fake:a", "hi", "--session-attribute", "novalue"], 2, "KEY=VALUE"),
    ("agent: prompt attribute", ["agent", "invoke", "fake:a", "hi", "--prompt-attribute", "=x"], 2, "KEY=VALUE"),
    ("agent: empty text", ["agent", "invoke", "fake:a", ""], 2, "TEXT is empty"),
    ("agent: unknown provider", ["agent", "invoke", "nowhere:a", "hi"], 1, "no provider named 'nowhere'"),
    # knowledge bases
    ("kb search: colon only", ["kb", "search", ":", "q"], 2, "':' is not a knowledge-base name"),
    ("kb search: no name", ["kb", "search", "local:", "q"], 2, "is not a knowledge-base name"),
    ("kb search: empty name", ["kb", "search", "", "q"], 2, "'' is not a knowledge-base name"),
    ("kb search: no provider", ["kb", "search", ":notes", "q"], 2, "is not a knowledge-base name"),
    ("kb search: unknown provider", ["kb", "search", "nowhere:notes", "q"], 1, "no provider named 'nowhere'"),
    ("kb search: k 0", ["kb", "search", "notes", "q", "-k", "0"], 2, "k must be between 1 and 10000, got 0"),
    ("kb search: k x", ["kb", "search", "notes", "q", "-k", "x"], 2, "'x' is not a valid integer"),
    ("kb search: similarity 2", ["kb", "search", "notes", "q", "--min-similarity", "2"], 2, "min_similarity"),
    ("kb search: filter", ["kb", "search", "notes", "q", "--filter", "team"], 2, "'team' is not KEY=VALUE"),
    ("kb search: filter no key", ["kb", "search", "notes", "q", "--filter", "=blue"], 2, "is not KEY=VALUE"),
    ("kb search: empty query", ["kb", "search", "notes", "  "], 2, "QUERY is empty"),
    ("kb search: rerank no colon", ["kb", "search", "notes", "q", "--rerank", "cohere"], 2, "is not a model reference"),
    ("kb search: rerank pool 0", ["kb", "search", "notes", "q", "--rerank-candidates", "0"], 2, "not in the range"),
    ("kb search: rerank pool x", ["kb", "search", "notes", "q", "--rerank-candidates", "x"], 2, "not a valid integer"),
    ("kb ask: rerank no colon", ["kb", "ask", "notes", "why?", "--model", "fake:chat", "--rerank", "x"], 2, "model"),
    ("kb ask: no model", ["kb", "ask", "notes", "why?"], 2, "Missing option '--model'"),
    ("kb ask: model no colon", ["kb", "ask", "notes", "why?", "--model", "gpt"], 2, "is not a model reference"),
    ("kb ask: k 0", ["kb", "ask", "notes", "why?", "--model", "fake:chat", "-k", "0"], 2, "k must be between"),
    ("kb ask: bad name", ["kb", "ask", "x:", "why?", "--model", "fake:chat"], 2, "is not a knowledge-base name"),
    (
        "kb ask: similarity 2",
        ["kb", "ask", "notes", "q", "--model", "fake:chat", "--min-similarity", "2"],
        2,
        "min_similarity",
    ),
    (
        "kb ask: similarity x",
        ["kb", "ask", "notes", "q", "--model", "fake:chat", "--min-similarity", "x"],
        2,
        "'x' is not a valid float",
    ),
    (
        "kb ask: all references value",
        ["kb", "ask", "notes", "q", "--model", "fake:chat", "--all-references", "yes"],
        2,
        "unexpected extra argument (yes)",
    ),
    ("kb list: extra argument", ["kb", "list", "notes"], 2, "Got unexpected extra argument (notes)"),
    ("kb chunks: limit 0", ["kb", "chunks", "notes", "--limit", "0"], 2, "0 is not in the range 1<=x<=10000"),
    ("kb chunks: offset -1", ["kb", "chunks", "notes", "--offset", "-1"], 2, "-1 is not in the range x>=0"),
    ("kb chunks: bad name", ["kb", "chunks", ":x"], 2, "is not a knowledge-base name"),
    ("kb delete: bad name", ["kb", "delete", "fake:", "--yes"], 2, "is not a knowledge-base name"),
    ("kb sync: bad name", ["kb", "sync", " "], 2, "is not a knowledge-base name"),
    ("kb ingest: bad name", ["kb", "ingest", ":", "{tmp}/note.txt"], 2, "is not a knowledge-base name"),
    ("kb ingest: missing path", ["kb", "ingest", "notes", "{tmp}/absent"], 2, "does not exist"),
    ("kb ingest: chunk size 0", ["kb", "ingest", "notes", "{tmp}/note.txt", "--chunk-size", "0"], 2, "chunk size"),
    ("kb ingest: overlap", ["kb", "ingest", "notes", "{tmp}/note.txt", "--overlap", "500"], 2, "less than the chunk"),
    ("kb ingest: strategy", ["kb", "ingest", "notes", "{tmp}/note.txt", "--strategy", "pages"], 2, "'pages' is not"),
    ("kb ingest: mode", ["kb", "ingest", "notes", "{tmp}/note.txt", "--mode", "upsert"], 2, "'upsert' is not"),
    ("kb ingest: metadata", ["kb", "ingest", "notes", "{tmp}/note.txt", "--metadata", "team"], 2, "KEY=VALUE"),
    ("kb ingest: model", ["kb", "ingest", "notes", "{tmp}/note.txt", "--embedding-model", "minilm"], 2, "reference"),
    ("kb ingest: file options, no files", ["kb", "ingest", "notes", "--strategy", "fixed"], 2, "apply to files"),
    ("kb ingest: json and options", ["kb", "ingest", "notes", "--json", "--include", "*.md"], 2, "apply to files"),
    ("kb ingest: append-only, no files", ["kb", "ingest", "notes", "--append-only"], 2, "--append-only apply to"),
    (
        "kb ingest: append-only value",
        ["kb", "ingest", "notes", "{tmp}/note.txt", "--append-only", "yes"],
        2,
        "does not exist",
    ),
    (
        "kb ingest: reserved metadata",
        ["kb", "ingest", "notes", "{tmp}/note.txt", "--metadata", "sourceRoot=/x"],
        2,
        "'sourceRoot' is where ingestion records the root",
    ),
    # usage
    ("usage: since 13th month", ["usage", "report", "--since", "2024-13-01"], 2, "does not match the format"),
    ("usage: until words", ["usage", "report", "--until", "yesterday"], 2, "does not match the format"),
    ("usage: since after until", ["usage", "report", "--since", "2024-02-01", "--until", "2024-01-01"], 2, "after"),
    ("usage: days and since", ["usage", "report", "--days", "3", "--since", "2024-01-01"], 2, "not both"),
    ("usage: days 0", ["usage", "report", "--days", "0"], 2, "0 is not in the range x>=1"),
    ("usage budget: unknown option", ["usage", "budget", "--month", "2024-01"], 2, "No such option '--month'"),
    ("usage: days x", ["usage", "report", "--days", "x"], 2, "'x' is not a valid integer"),
    ("usage: by week", ["usage", "report", "--by", "week"], 2, "'week' is not one of"),
    ("usage: csv nowhere", ["usage", "report", "--csv", "{tmp}/absent/u.csv"], 1, "Could not open file"),
    ("usage: csv directory", ["usage", "report", "--csv", "{tmp}"], 2, "is a directory"),
    ("usage: cleanup -1", ["usage", "cleanup", "--days", "-1"], 2, "-1 is not in the range x>=0"),
    # discovery and the command itself
    ("models: unknown provider", ["models", "-p", "nowhere", "--json"], 1, "no provider named 'nowhere'"),
    ("plugins: unknown option", ["plugins", "--all"], 2, "No such option '--all'"),
    ("unknown command", ["chatt", "fake:chat", "hi"], 2, "No such command 'chatt'"),
    ("kb unknown command", ["kb", "find", "notes"], 2, "No such command 'find'"),
]


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    (tmp_path / "note.txt").write_text("A short note about cats.")
    (tmp_path / "exists.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "tools.py").write_text(
        "def tool_fn(city: str) -> str:\n    return city\n\n\ndef größe(x: int) -> int:\n    return x\n"
    )
    (tmp_path / "broken.py").write_text("def f(:\n")
    return tmp_path


@pytest.fixture
def run(scratch: Path) -> Callable[[list[str]], Result]:
    """Run ``genai ARGS`` against a host over the fake provider that stores usage (so that
    ``usage report`` prints no note about a disabled store)."""
    config = Config.defaults(
        scratch / "home",
        usage=UsageSettings(store=True),
        knowledge=KnowledgeSettings(default_provider="fake", default_embedding_model="fake:embed"),
    )
    host = Host(config, load_entry_points=False, plugins=[FakeProvider()])

    def run(args: list[str]) -> Result:
        expanded = [arg.replace("{tmp}", str(scratch)) for arg in args]
        return invoke(expanded, state=CliState(host=host), input="")

    yield run
    host.close()


@pytest.mark.parametrize(("args", "code", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_arguments_give_one_line_and_the_documented_exit_status(
    run: Callable[[list[str]], Result], args: list[str], code: int, fragment: str
) -> None:
    result = run(args)
    assert_error(result, code, fragment)
    if code == 2:
        assert result.stdout == "", "a usage error prints nothing on standard output"


def test_every_command_has_a_bad_argument_case() -> None:
    import click

    from genai_commons.cli import main

    def leaves(group: click.Group, prefix: tuple[str, ...]) -> set[tuple[str, ...]]:
        found: set[tuple[str, ...]] = set()
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                found |= leaves(command, (*prefix, name))
            else:
                found.add((*prefix, name))
        return found

    covered = {tuple(args[: len(command)]) for _, args, _, _ in CASES for command in leaves(main, ())}
    missing = {command for command in leaves(main, ()) if command not in covered}
    assert not missing, f"add a bad-argument case for: {sorted(missing)}"


def test_the_installed_command_reports_usage_and_runtime_errors(tmp_path: Path) -> None:
    env = clean_env(tmp_path, GENAI_ENTRY_POINTS="0")
    usage = run_genai(["chat", "gpt-4o-mini", "hello"], env)
    assert_error(usage, 2, "is not a model reference")
    assert usage.stdout == ""
    runtime = run_genai(["chat", "mistral:large", "hello"], env)
    assert_error(runtime, 1, "no provider named 'mistral' is installed")
    assert runtime.stdout == ""
