"""The Python example of docs/opensearch.md runs as written against osmem-server and the stand-in.

The page's blocks are marked ``no-run`` for tests/test_docs_examples.py (they need a cluster);
here the host of the first block is built from the page's own ``[knowledge_bases.handbook]``
table, pointed at the stand-in, with a fake ``openai`` provider standing in for the embedding and
chat models the page names; the second block then runs unchanged.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from opensearch_standin import OpenSearchStandIn

from genai_commons import Config, DeployedModel, Host, Modality
from genai_commons.testing import FakeProvider
from genai_commons_opensearch import OpenSearchProvider

PAGE = Path(__file__).resolve().parents[2] / "docs" / "opensearch.md"
MARKER = "<!-- the next two blocks run in tests/opensearch/test_opensearch_docs.py"


def fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}[^\n]*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_the_python_example_runs(
    standin: OpenSearchStandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = PAGE.read_text(encoding="utf-8")
    setup, example = fenced(text[text.index(MARKER) :], "python")[:2]
    assert "Host()" in setup
    table = next(tomllib.loads(block) for block in fenced(text, "toml") if "[knowledge_bases.handbook]" in block)
    assert table["knowledge_bases"]["handbook"]["provider"] == "opensearch"

    openai = FakeProvider(
        name="openai",
        models=[
            DeployedModel(provider="openai", model_id="gpt-4o-mini"),
            DeployedModel(provider="openai", model_id="text-embedding-3-small", output_modality=Modality.EMBEDDINGS),
        ],
    )
    config = Config.defaults(
        tmp_path, providers={"opensearch": {"url": standin.url}}, knowledge_bases=table["knowledge_bases"]
    )
    with Host(config, load_entry_points=False, plugins=[OpenSearchProvider, openai]) as host:
        exec(compile(example, str(PAGE), "exec"), {"host": host})
        printed = capsys.readouterr().out.splitlines()
        assert printed[0] == "2 0 0"
        assert re.fullmatch(r"-?\d\.\d\d  handbook/leave\.md  Every employee has 25 days .*", printed[1])
        assert re.fullmatch(r"\['[0-9a-f-]{36}'\]", printed[2])  # one chunk of team hr
        assert "'leave': frozenset" in printed[3] and "'expenses': frozenset" in printed[3]
        assert printed[4].startswith("echo: ")
        assert "https://intranet.example/leave" in printed[5]
        assert set(host.stored_chunk_ids("handbook", ["leave", "expenses"])) == {"leave"}
        assert len(standin.knn_searches) == 2  # the search, and the retrieval of retrieve-and-generate
