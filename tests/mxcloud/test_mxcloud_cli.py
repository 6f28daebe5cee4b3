"""`genai mxcloud key …` and `genai mxcloud quota`, and the core's commands on Mendix Cloud resources:
`genai chat`, `genai embed`, `genai kb ingest / search / ask / list / chunks / delete`."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from genai_commons import Host
from genai_commons.cli import CliState, main
from genai_commons_mxcloud.testing import FakeMxCloud


def run(host: Host, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), obj=CliState(host=host), input=input, catch_exceptions=False)


@pytest.fixture
def store_host(make_mx_host: Callable[..., Host]) -> Host:
    """A host with a key store and no keys yet."""
    return make_mx_host(keys=[], key_store="mxcloud-keys.json", monthly_tokens={"claude": 1000})


def test_import_list_test_and_remove_a_key(store_host: Host, keys: dict[str, str], tmp_path: Path) -> None:
    result = run(store_host, "mxcloud", "key", "import", "-", input=keys["claude"] + "\n")
    assert result.exit_code == 0, result.output
    assert "imported key 'claude' (text generation, anthropic.claude" in result.output
    assert "use it as mxcloud:claude" in result.output
    store = tmp_path / "mxcloud-keys.json"
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
    assert run(store_host, "mxcloud", "key", "import", keys["kb"], "--name", "Hand Book").exit_code == 0
    key_file = tmp_path / "cohere.key"
    key_file.write_text(keys["cohere"])
    assert run(store_host, "mxcloud", "key", "import", "--file", str(key_file)).exit_code == 0

    listed = run(store_host, "mxcloud", "key", "list")
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "MODEL", "SOURCE", "HOST", "USE", "AS"]
    assert [line.split()[0] for line in lines[1:]] == ["claude", "cohere", "hand-book"]
    assert "mxcloud:hand-book/COLLECTION mxcloud:hand-book/embeddings" in listed.output
    as_json = json.loads(run(store_host, "mxcloud", "key", "list", "--json").output)
    assert [k["name"] for k in as_json["keys"]] == ["claude", "cohere", "hand-book"]
    assert as_json["keys"][0]["monthly_tokens"] == 1000 and as_json["problems"] == []
    for secret in ("tok-claude", "tok-kb", keys["claude"]):
        assert secret not in listed.output and secret not in json.dumps(as_json)

    tested = run(store_host, "mxcloud", "key", "test", "claude")
    assert tested.exit_code == 0 and "key 'claude' works: chat answered" in tested.output
    assert (
        "key 'cohere' works: embedding of 16 dimensions" in run(store_host, "mxcloud", "key", "test", "cohere").output
    )
    kb_test = run(store_host, "mxcloud", "key", "test", "hand-book")
    assert "created and deleted collection 'genai-key-test-" in kb_test.output

    assert "removed key 'cohere'" in run(store_host, "mxcloud", "key", "remove", "cohere").output
    left = json.loads(run(store_host, "mxcloud", "key", "list", "--json").output)["keys"]
    assert [k["name"] for k in left] == ["claude", "hand-book"]
    missing = CliRunner().invoke(main, ["mxcloud", "key", "remove", "cohere"], obj=CliState(host=store_host))
    assert missing.exit_code == 1 and "no key named 'cohere'" in missing.output


def test_the_key_test_sends_what_the_portal_sends(store_host: Host, keys: dict[str, str], service: FakeMxCloud) -> None:
    run(store_host, "mxcloud", "key", "import", keys["claude"])
    run(store_host, "mxcloud", "key", "test", "claude")
    [call] = service.calls("/converse")
    assert call.body["messages"] == [{"role": "user", "content": [{"text": "Hello World!"}]}]
    assert call.body["inferenceConfig"] == {"maxTokens": 10}


def test_import_refuses_with_the_key_store_turned_off_and_names_each_broken_key(
    make_mx_host: Callable[..., Host], keys: dict[str, str], tmp_path: Path
) -> None:
    host = make_mx_host(keys=[], key_store="")
    result = CliRunner().invoke(main, ["mxcloud", "key", "import", keys["claude"]], obj=CliState(host=host))
    assert result.exit_code == 1 and 'the key store is turned off (key_store = "" in [providers.mxcloud])' in (
        result.output
    )
    assert not (tmp_path / "mxcloud-keys.json").exists()
    broken = CliRunner().invoke(main, ["mxcloud", "key", "import", "nope!"], obj=CliState(host=host))
    assert broken.exit_code == 1 and "error: the key is not valid base64" in broken.output
    both = CliRunner().invoke(main, ["mxcloud", "key", "import", "x", "--from-env"], obj=CliState(host=host))
    assert both.exit_code == 2 and "exactly one" in both.output


def test_import_from_the_environment(make_mx_host: Callable[..., Host], keys: dict[str, str]) -> None:
    host = make_mx_host(keys=[], key_store="k.json", environ={"GENAI_MXCLOUD_KEY": keys["cohere"]})
    result = run(host, "mxcloud", "key", "import", "--from-env", "--name", "embedder")
    assert "imported key 'embedder'" in result.output


def test_remove_says_where_a_key_comes_from(make_mx_host: Callable[..., Host], keys: dict[str, str]) -> None:
    host = make_mx_host(keys=[keys["claude"]], key_store="k.json")
    result = CliRunner().invoke(main, ["mxcloud", "key", "remove", "claude"], obj=CliState(host=host))
    assert result.exit_code == 1 and "comes from settings, not from the key store" in result.output


def test_a_failing_key_test(host: Host, service: FakeMxCloud) -> None:
    service.revoke("tok-claude")
    result = CliRunner().invoke(main, ["mxcloud", "key", "test", "claude"], obj=CliState(host=host))
    assert result.exit_code == 1 and "key 'claude' failed its test: Mendix Cloud GenAI rejected" in result.output


def test_the_quota_report(make_mx_host: Callable[..., Host]) -> None:
    host = make_mx_host(monthly_tokens={"claude": 100})
    run(host, "chat", "mxcloud:claude", "one two three")
    table = run(host, "mxcloud", "quota")
    assert table.exit_code == 0
    row = next(line for line in table.output.splitlines() if line.startswith("claude"))
    assert row.split() == ["claude", "8", "100", "8.0%", "1"]
    data = json.loads(run(host, "mxcloud", "quota", "--json").output)
    claude = next(line for line in data if line["key"] == "claude")
    expected = {"key": "claude", "since": None, "used_tokens": 8, "calls": 1, "entitlement": 100}
    assert claude | {"since": None} == expected | {"share": 0.08, "remaining": 92}


def test_chat_and_embed_commands(host: Host) -> None:
    chat = run(host, "chat", "mxcloud:claude", "Hello from the command line")
    assert chat.exit_code == 0 and chat.output.strip() == "You said: Hello from the command line"
    embed = run(host, "embed", "mxcloud:cohere", "vendor-neutral")
    assert embed.exit_code == 0 and embed.output.splitlines()[0] == "dimensions: 16"


def test_kb_ingest_search_ask_list_chunks_and_delete(host: Host, service: FakeMxCloud, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cats.md").write_text("# Cats\n\nCats purr when they are content.\n\n# Dogs\n\nDogs bark at the postman.\n")
    (docs / "billing.txt").write_text("Invoices are due within thirty days of the invoice date.\n")
    ingest = run(host, "kb", "ingest", "mxcloud:kb/handbook", str(docs))
    assert ingest.exit_code == 0, ingest.output
    assert "into mxcloud:kb/handbook" in ingest.output
    assert service.knowledge.collections["handbook"]
    again = run(host, "kb", "ingest", "mxcloud:kb/handbook", str(docs))
    assert "0 inserted" in again.output  # unchanged chunks are found by their stored ids

    search = run(host, "kb", "search", "mxcloud:kb/handbook", "invoices due days", "-k", "1")
    assert search.exit_code == 0 and "billing" in search.output and "Invoices are due" in search.output
    ask = run(host, "kb", "ask", "mxcloud:kb/handbook", "When are invoices due?", "--model", "mxcloud:claude")
    assert ask.exit_code == 0 and "When are invoices due?" in ask.output
    prompt = service.calls("/converse")[-1].body
    assert "Invoices are due within thirty days" in json.dumps(prompt)  # the chunks went to the model

    listed = run(host, "kb", "list")
    assert "mxcloud:kb/handbook" in listed.output and "mxcloud:kb/embeddings" in listed.output
    chunks = run(host, "kb", "chunks", "mxcloud:kb/handbook", "--json")
    assert len(json.loads(chunks.output)) >= 2
    deleted = run(host, "kb", "delete", "mxcloud:kb/handbook", "--yes")
    assert deleted.exit_code == 0
    assert "handbook" not in service.knowledge.collections
