"""Metadata filter keys and values cannot change the structure of a query: they match literally.

The same adversarial strings — SQL (quotes, comments, ``UNION``, ``LIKE`` wildcards, parameter
markers, NUL), OpenSearch query DSL and Lucene syntax (``{"match_all":{}}`` as text, ``*``, ``?``,
``a OR b``, ranges, regular expressions, field paths such as ``metadata.team`` or ``_id``), keys
such as ``__proto__`` and dotted keys, and Unicode look-alikes — are stored as metadata keys and
values in every knowledge-base backend (local SQLite with exact and HNSW search, OpenSearch,
Mendix Cloud), and used in filters. Each listing and retrieval returns exactly the chunks
:meth:`Filter.matches` selects in Python over the same metadata; afterwards the stores are intact
(tables, row counts, the index mapping). For OpenSearch, the query DSL the plugin sent is
inspected: every key and value sits inside a ``term``/``terms`` leaf as data, never as a field
name or in a query type that parses text. Property-based tests add random strings over the same
dangerous alphabet.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from osmem_server import OsmemServer
from security_backends import KINDS, Backend, open_backend

from genai_commons import (
    And,
    ChunkCollection,
    Config,
    Eq,
    Filter,
    Host,
    In,
    IngestMode,
    KnowledgeBaseChunk,
    MetadataCollection,
    Not,
    Or,
    Range,
    RetrievalQuery,
)
from genai_commons.cli import CliState, main
from genai_commons_local import LocalProvider

SQL = [
    "' OR 1=1 --",
    "' OR '1'='1",
    '"; DROP TABLE chunks; --',
    "'); DELETE FROM metadata; --",
    "' UNION SELECT input_text, 1 FROM chunks --",
    "1; ATTACH DATABASE 'x.db' AS x; --",
    "' || (SELECT group_concat(name) FROM sqlite_master) || '",
    "%",
    "_",
    "%%",
    "a%",
    "_a",
    "\\",
    "\\'",
    "a\x00b",
    "?",
    "?1",
    ":name",
    "@p",
    "$1",
    "/*",
    "--",
    ";",
    "NULL",
    "\u02bc OR 1=1 --",  # modifier letter apostrophe
    "\uff07 OR 1=1 --",  # fullwidth apostrophe
]
DSL = [
    '{"match_all":{}}',
    '{"match_all": {}}',
    "*",
    "a*",
    "*:*",
    "a OR b",
    "a AND NOT b",
    "title:*",
    '"]',
    '","',
    '["team","a"]',
    "\\u0000",
    "_id",
    "_source",
    "metadata.team",
    "metadata_pairs",
    "metadata_numbers.key",
    "__proto__",
    "constructor",
    "a.b.c",
    "..",
    '{"$ne": null}',
    '{"script": {"source": "ctx._source"}}',
    "+a -b",
    "a~",
    "/a.*/",
    "[* TO *]",
]
OTHER = ["", " ", "a", "A", "Ω", "\U0001f525", "\u202eevil", "a\nb", "x" * 300]
CORPUS = [*SQL, *DSL, *OTHER]
#: Keys of their own in every chunk; corpus strings are keys too (when distinct from these).
FIXED_KEYS = ("value", "team")


def dataset() -> dict[str, dict[str, str]]:
    """Chunk id -> metadata: one chunk per corpus string (as a value, and as a key), and decoys."""
    data: dict[str, dict[str, str]] = {}
    for number, text in enumerate(CORPUS):
        metadata = {"value": text, "team": "a" if number % 2 else "b"}
        if text.strip() and text not in FIXED_KEYS:  # a key is not blank
            metadata[text] = "yes"
        data[f"v{number:02d}"] = metadata
    data["plain-a"] = {"value": "a OR", "team": "a"}
    data["plain-1"] = {"value": "1", "team": "1", "yes": "yes"}
    data["plain-none"] = {}
    return data


DATA = dataset()


def filters_for(text: str) -> list[Filter]:
    found: list[Filter] = [
        Eq(key="value", value=text),
        In(key="value", values=[text, "a OR"]),
        Not(filter=Eq(key="value", value=text)),
        Or(filters=[Eq(key="value", value=text), Eq(key="team", value="nobody")]),
    ]
    if text.strip():
        found += [
            Eq(key=text, value="yes"),
            And(filters=[Eq(key="team", value="a"), Not(filter=Eq(key=text, value="yes"))]),
            Range(key=text, gte=0),
        ]
    return found


def expected(where: Filter | None) -> set[str]:
    return {cid for cid, metadata in DATA.items() if where is None or where.matches(metadata)}


@pytest.fixture(scope="module")
def osmem() -> Iterator[OsmemServer]:
    server = OsmemServer.start(japanese=False)
    yield server
    server.close()


@pytest.fixture(scope="module", params=KINDS)
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, osmem: OsmemServer
) -> Iterator[Backend]:
    """Each backend once per module, holding :data:`DATA` in the collection ``injection``."""
    with open_backend(request.param, tmp_path_factory.mktemp(request.param), osmem) as backend:
        chunks = [
            KnowledgeBaseChunk(
                chunk_id=cid,
                input_text=f"text of {cid}",
                vector=[1.0, n / 100, 0.3, 0.1],
                source_id=f"s{n % 5}",
                metadata=MetadataCollection.of(metadata),
            )
            for n, (cid, metadata) in enumerate(DATA.items())
        ]
        backend.provider.ingest(backend.kb("injection"), ChunkCollection(chunks=chunks), IngestMode.INSERT)
        yield backend


def found(backend: Backend, where: Filter | None) -> set[str]:
    kb = backend.kb("injection")
    listed = {c.chunk_id for c in backend.provider.list_chunks(kb, where, 0, 1000)}
    query = RetrievalQuery(vector=[1.0, 0.5, 0.3, 0.1], k=len(DATA), filter=where)
    retrieved = {c.chunk_id for c in backend.provider.retrieve(kb, query).chunks}
    assert listed == retrieved, f"listing and retrieval disagree for {where!r}"
    return listed


@pytest.mark.parametrize("text", CORPUS, ids=[ascii(t)[:30] for t in CORPUS])
def test_adversarial_keys_and_values_match_only_literally(loaded: Backend, text: str) -> None:
    for where in filters_for(text):
        assert found(loaded, where) == expected(where), where


def test_the_stores_are_intact_afterwards(loaded: Backend) -> None:
    assert found(loaded, None) == set(DATA)
    if loaded.kind == "local":
        database = loaded.provider.local_settings.database  # type: ignore[attr-defined]
        with sqlite3.connect(database) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert {"collections", "chunks", "metadata"} <= tables
            assert conn.execute("SELECT COUNT(*) FROM chunks").fetchone() == (len(DATA),)
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    if loaded.standin is not None:
        status, mapping = loaded.standin.direct("GET", "/genai-injection/_mapping")
        assert status == 200
        fields = set(mapping["genai-injection"]["mappings"]["properties"])
        layout = {"vector", "chunk_id", "source_id", "source_type", "human_readable_id", "text", "metadata",
                  "metadata_pairs", "metadata_numbers", "fingerprint"}  # fmt: skip
        assert fields <= layout, f"keys became fields of the index: {sorted(fields - layout)}"
        status, count = loaded.standin.direct("GET", "/genai-injection/_count")
        assert count["count"] == len(DATA)


# -- the query DSL the OpenSearch plugin sends ---------------------------------------------------

#: Every object key a filter's query may hold: query types that take data only, their options,
#: and the plugin's own fields.
DSL_KEYS = frozenset(
    {
        "bool", "filter", "should", "must_not", "minimum_should_match", "term", "terms", "nested", "path",
        "query", "range", "gt", "gte", "lt", "lte", "match_all", "match_none", "knn", "vector", "k",
        "metadata_pairs", "metadata_numbers", "metadata_numbers.key", "metadata_numbers.value", "source_id",
        "chunk_id",
    }
)  # fmt: skip


def _dsl_problems(node: Any, path: str = "query") -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key not in DSL_KEYS:
                yield f"{path}: unexpected key {key!r}"
            if key == "term" and isinstance(value, Mapping) and "metadata_pairs" in value:
                yield from _pair_problems(value["metadata_pairs"], f"{path}.term")
            elif key == "terms" and isinstance(value, Mapping) and "metadata_pairs" in value:
                for item in value["metadata_pairs"]:
                    yield from _pair_problems(item, f"{path}.terms")
            else:
                yield from _dsl_problems(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _dsl_problems(item, f"{path}[{index}]")


def _pair_problems(value: Any, path: str) -> Iterator[str]:
    """A term on the pairs field holds one ``["key","value"]`` JSON text of strings."""
    if not isinstance(value, str):
        yield f"{path}: a pair that is not a string: {value!r}"
        return
    pair = json.loads(value)
    if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
        yield f"{path}: not a key/value pair: {value!r}"


def test_opensearch_queries_keep_keys_and_values_inside_term_leaves(tmp_path: Path, osmem: OsmemServer) -> None:
    with open_backend("opensearch", tmp_path, osmem) as backend:
        kb = backend.kb("dsl")
        chunks = [KnowledgeBaseChunk(chunk_id="only", input_text="x", vector=[1.0, 0.0, 0.0, 0.0])]
        backend.provider.ingest(kb, ChunkCollection(chunks=chunks), IngestMode.INSERT)
        assert backend.standin is not None
        backend.standin.reset()
        sent = 0
        for text in CORPUS:
            for where in filters_for(text):
                backend.provider.list_chunks(kb, where, 0, 10)
                backend.provider.retrieve(kb, RetrievalQuery(vector=[1.0, 0.0, 0.0, 0.0], k=5, filter=where))
        for captured in backend.standin.requests:
            assert captured.path in ("/genai-dsl/_search", "/genai-dsl/_mapping"), captured.path
            if captured.path.endswith("_search"):
                body = captured.json()
                query = body["query"]
                if "knn" in query:
                    query = query["knn"]["vector"].get("filter", {"match_all": {}})
                problems = list(_dsl_problems(query))
                assert not problems, problems
                sent += 1
        assert sent >= 2 * len(CORPUS) * 4, "every listing and retrieval was inspected"


# -- random strings over the same alphabet -------------------------------------------------------

ALPHABET = "'\"\\%_*?:;()[]{}<>,.-+~/=!|&$@# \x00\nORANDNOTSELECT\u02bc\uff07Ωa1"
STRINGS = st.one_of(st.sampled_from(CORPUS), st.text(alphabet=ALPHABET, max_size=12))
KEYS = st.one_of(
    st.sampled_from([*FIXED_KEYS, *[t for t in CORPUS if t.strip()]]),
    st.text(alphabet=ALPHABET, min_size=1).filter(str.strip),
)


def leaves() -> st.SearchStrategy[Filter]:
    return st.one_of(
        st.builds(Eq, key=KEYS, value=STRINGS),
        st.builds(In, key=KEYS, values=st.lists(STRINGS, min_size=1, max_size=3)),
        st.builds(Range, key=KEYS, gte=st.floats(-1, 1, allow_nan=False)),
    )


FILTERS = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.builds(And, filters=st.lists(inner, max_size=3)),
        st.builds(Or, filters=st.lists(inner, min_size=1, max_size=3)),
        st.builds(Not, filter=inner),
    ),
    max_leaves=5,
)


@pytest.mark.parametrize("loaded", ["local", "opensearch"], indirect=True)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=FILTERS)
def test_random_adversarial_filters_agree_with_filter_matches(loaded: Backend, where: Filter) -> None:
    assert found(loaded, where) == expected(where)


# -- through the command line ---------------------------------------------------------------------


def test_cli_filters_are_values_not_syntax(tmp_path: Path) -> None:
    provider = LocalProvider()
    config = Config.defaults(tmp_path, providers={"local": {"database": str(tmp_path / "kb.db")}})
    host = Host(config, load_entry_points=False, plugins=[provider])
    try:
        data = {"safe": {"team": "a"}, "quoted": {"team": "' OR 1=1 --"}, "other": {"team": "b"}}
        chunks = [
            KnowledgeBaseChunk(chunk_id=cid, input_text=cid, vector=[1.0, 0.0], metadata=MetadataCollection.of(md))
            for cid, md in data.items()
        ]
        host.ingest("local:cli", ChunkCollection(chunks=chunks))
        for value, ids in (("' OR 1=1 --", ["quoted"]), ("%", []), ("a' OR 'a'='a", []), ("a", ["safe"])):
            result = CliRunner().invoke(
                main, ["kb", "chunks", "local:cli", "--filter", f"team={value}", "--json"], obj=CliState(host=host)
            )
            assert result.exit_code == 0, result.output
            assert [c["chunk_id"] for c in json.loads(result.stdout)] == ids, value
    finally:
        host.close()
