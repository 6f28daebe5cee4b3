"""Issue 12, "What a first-time user hit": each test runs ``genai`` the way a new user does, with a
temporary genai home and no configuration, and fails on the code before the fix.

- ``genai mxcloud key import`` works with no configuration: the key goes to the default key store
  (mode 0600, directory 0700), the command says where, and later commands find it there.
- A misspelt provider, model or knowledge base gets the closest installed name, and a
  distribution to install only when the project publishes it (never ``genai-commons-opneai``).
- ``genai models PROVIDER`` (docs/local.md shows ``genai models local``) lists that provider's models.
- A damaged PDF among good files is skipped with the file named, and pypdf's own log lines
  (``EOF marker not found``) never reach standard error raw.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from badinput_cli import clean_env, invoke
from click.testing import Result
from firstuse_support import pdf_bytes, repairable_pdf, run_fake_genai, truncated_pdf

from genai_commons import Config, Host
from genai_commons.cli import CliState
from genai_commons.config import KnowledgeSettings
from genai_commons.testing import FakeProvider
from genai_commons_mxcloud.testing import FakeMxCloud, FakeMxCloudServer

ROOT = Path(__file__).resolve().parents[2]


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


# -- mxcloud: importing a key needs no configuration --------------------------------------------------------


@pytest.fixture
def mx_server() -> Iterator[FakeMxCloudServer]:
    with FakeMxCloudServer(FakeMxCloud(dimensions=16)) as running:
        yield running


def test_a_key_imports_with_no_configuration_and_later_commands_find_it(
    tmp_path: Path, mx_server: FakeMxCloudServer
) -> None:
    key = mx_server.service.issue_key("TEXT_GENERATION", name="My Claude", token="tok-first-use")
    home = tmp_path / "fresh-home"  # does not exist yet, as on a new machine
    env = clean_env(home)

    imported = ok(invoke(["mxcloud", "key", "import", "-"], env=env, input=key + "\n"))
    store = home / "mxcloud-keys.json"
    assert f"imported key 'my-claude' (text generation, anthropic.claude-3-5-sonnet-20240620-v1:0) in {store}" in (
        imported.stdout
    )
    assert "use it as mxcloud:my-claude" in imported.stdout
    for secret in (key, "tok-first-use"):
        assert secret not in imported.output
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert not (home / "config.toml").exists(), "importing must not need, or write, a configuration file"

    listed = ok(invoke(["mxcloud", "key", "list"], env=env))
    row = next(line for line in listed.stdout.splitlines() if line.startswith("my-claude "))
    assert "key store" in row and "mxcloud:my-claude" in row
    assert ok(invoke(["chat", "mxcloud:my-claude", "hello"], env=env)).stdout.strip() == "You said: hello"


def test_an_import_into_a_store_that_cannot_be_written_is_one_clear_error(
    tmp_path: Path, mx_server: FakeMxCloudServer
) -> None:
    key = mx_server.service.issue_key("TEXT_GENERATION", name="claude")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the home would be")
    result = invoke(["mxcloud", "key", "import", key], env=clean_env(blocker / "home"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "the key store" in result.stderr and "GENAI_MXCLOUD_KEY_STORE" in result.stderr
    assert key not in result.output


# -- a typo gets the closest installed name, never a look-alike package -------------------------------------


@pytest.fixture
def state(tmp_path: Path) -> Iterator[CliState]:
    """A host whose providers are named ``openai`` and ``fake`` (fakes: nothing leaves the process)."""
    host = Host(
        Config.defaults(tmp_path / "home", knowledge=KnowledgeSettings(default_embedding_model="fake:embed")),
        load_entry_points=False,
        plugins=[FakeProvider(name="openai"), FakeProvider(name="fake")],
    )
    yield CliState(host=host)
    host.close()


TYPOS = [
    (["chat", "opneai:gpt-4o-mini", "hi"], "did you mean openai:gpt-4o-mini?"),
    (["embed", "opneai:text-embedding-3-small", "hi"], "did you mean openai:text-embedding-3-small?"),
    (["image", "opneai:dall-e-3", "a cat", "-o", "cat.png"], "did you mean openai:dall-e-3?"),
    (["models", "--provider", "opneai"], "did you mean openai?"),
    (["kb", "search", "opneai:docs", "query"], "did you mean openai:docs?"),
    (["agent", "invoke", "opneai:agent-1", "hi"], "did you mean openai:agent-1?"),
]


@pytest.mark.parametrize(("args", "suggestion"), TYPOS, ids=[" ".join(a[:2]) for a, _ in TYPOS])
def test_a_misspelt_provider_gets_the_installed_one_not_a_package(
    state: CliState, args: list[str], suggestion: str
) -> None:
    result = invoke(args, state=state)
    assert result.exit_code == 1, result.output
    assert "no provider named 'opneai' is installed" in result.stderr and suggestion in result.stderr
    assert "pip install" not in result.output and "genai-commons-opneai" not in result.output


def test_only_a_published_distribution_is_named_for_installing(state: CliState) -> None:
    missing = invoke(["chat", "bedrock:anthropic.claude-3-haiku-20240307-v1:0", "hi"], state=state)
    assert missing.exit_code == 1 and "pip install genai-commons-bedrock" in missing.stderr
    near = invoke(["chat", "bedrok:anthropic.claude-3-haiku-20240307-v1:0", "hi"], state=state)
    assert "did you mean bedrock:anthropic.claude-3-haiku-20240307-v1:0?" in near.stderr
    assert "pip install genai-commons-bedrock`" in near.stderr and "genai-commons-bedrok" not in near.stderr
    unknown = invoke(["chat", "mistral:large", "hi"], state=state)
    assert "no provider named 'mistral' is installed" in unknown.stderr
    assert "pip install" not in unknown.output and "genai-commons-mistral" not in unknown.output


def test_a_misspelt_model_or_knowledge_base_gets_the_closest_one(state: CliState) -> None:
    model = invoke(["chat", "fake:chta", "hi"], state=state)
    assert model.exit_code == 1 and "provider 'fake' has no model 'chta' (did you mean fake:chat?)" in model.stderr
    kb = invoke(["kb", "search", "fake:dcos", "invoices"], state=state)  # the fake offers fake:docs
    assert kb.exit_code == 1 and "knowledge base fake:dcos holds nothing yet (did you mean docs?)" in kb.stderr


# -- genai models PROVIDER, as docs/local.md shows it ------------------------------------------------------


def test_models_takes_the_provider_as_an_argument(state: CliState) -> None:
    positional = ok(invoke(["models", "fake"], state=state))
    assert positional.stdout == ok(invoke(["models", "--provider", "fake"], state=state)).stdout
    assert "fake:chat" in positional.stdout and "openai:" not in positional.stdout
    both = invoke(["models", "fake", "--provider", "openai"], state=state)
    assert both.exit_code == 2 and "give one" in both.output


def _models_examples(page: Path) -> list[str]:
    """The ``$ genai models …`` lines of a page's console examples (tests/test_docs_examples.py runs
    only Python blocks)."""
    found = []
    for line in page.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\$ (genai models\b[^|#]*?)\s*(#.*)?$", line)
        if match:
            found.append(match.group(1))
    return found


def test_the_models_example_of_docs_local_runs(tmp_path: Path) -> None:
    """Only docs/local.md's: the local provider lists its models without a network, whatever the
    machine's cloud set-up (``genai models bedrock`` might ask AWS)."""
    examples = _models_examples(ROOT / "docs" / "local.md")
    assert "genai models local" in examples
    for example in examples:
        result = invoke(shlex.split(example)[1:], env=clean_env(tmp_path / "home"))
        assert result.exit_code == 0, f"`{example}` exits {result.exit_code}: {result.output}"
        assert "local:all-MiniLM-L6-v2" in result.stdout


# -- a damaged PDF is named, and pypdf's log lines stay off standard error ----------------------------------


def _raw_pypdf_lines(stderr: str) -> list[str]:
    """Lines of standard error that are pypdf's own messages, as the logging fallback prints them."""
    pypdf_messages = ("EOF marker not found", "incorrect startxref pointer", "parsing for Object Streams")
    return [line for line in stderr.splitlines() if line.strip().startswith(pypdf_messages)]


def test_a_damaged_pdf_among_good_files_is_skipped_and_named(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Guide\n\nInvoices are due within 30 days.\n")
    (docs / "good.pdf").write_bytes(pdf_bytes("Receipts go to accounting."))
    (docs / "broken.pdf").write_bytes(truncated_pdf("This file was cut short."))
    result = run_fake_genai(["kb", "ingest", "notes", str(docs)], tmp_path / "home")
    assert result.returncode == 0, result.stderr  # as before: the bad file is skipped, the others ingested
    assert "ingested 2 document(s)" in result.stdout and "skipped: 1" in result.stdout
    assert _raw_pypdf_lines(result.stderr) == [], result.stderr
    [skipped] = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert skipped.startswith(f"skipped {docs / 'broken.pdf'}: not a readable PDF")
    assert "EOF marker not found" in skipped  # pypdf's reason, with the file named


def test_a_repaired_pdf_is_read_and_the_warning_names_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "repaired.pdf").write_bytes(repairable_pdf("Still readable."))
    result = run_fake_genai(["kb", "ingest", "notes", str(docs)], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "ingested 1 document(s) from 1 file(s)" in result.stdout
    assert _raw_pypdf_lines(result.stderr) == [], result.stderr
    [warning] = [line for line in result.stderr.splitlines() if "pdf_repaired" in line]
    assert str(docs / "repaired.pdf") in warning and "incorrect startxref pointer" in warning
