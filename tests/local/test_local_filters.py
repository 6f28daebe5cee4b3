"""Metadata filters: the SQL translation agrees with Filter.matches, and values are only ever data —
with every search type (vector, keyword and hybrid): each test that retrieves runs once for each."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from local_helpers import chunk, collection

from genai_commons import (
    And,
    Eq,
    Filter,
    In,
    IngestMode,
    KnowledgeBase,
    MetadataCollection,
    Not,
    Or,
    Range,
    RetrievalQuery,
    SearchType,
)
from genai_commons_local import LocalProvider
from genai_commons_local.filters import condition

NASTY = [
    "it's",
    'say "hi"',
    "100%",
    "a_b",
    "%",
    "_",
    "'; DROP TABLE chunks; --",
    '"); DELETE FROM metadata; --',
    "\\",
    "line\nbreak",
    "Ωmega ✓",
    "",
    "NULL",
    "1 OR 1=1",
]


@pytest.fixture
def filled(provider: LocalProvider, kb: KnowledgeBase) -> LocalProvider:
    """One chunk per nasty string, used both as a key and as a value."""
    chunks = [
        chunk(f"v{i}", [1.0, float(i)], metadata={"value": text, f"key {text}" if text else "blank": "yes"})
        for i, text in enumerate(NASTY)
    ]
    provider.ingest(kb, collection(*chunks), IngestMode.INSERT)
    return provider


@pytest.fixture(params=list(SearchType), ids=[t.value for t in SearchType])
def search_type(request: pytest.FixtureRequest) -> SearchType:
    """Each test that retrieves runs for every search type."""
    return SearchType(request.param)


def query(search_type: SearchType, **fields: object) -> RetrievalQuery:
    """A query of that type that every chunk of these tests answers: the vector [1, 0] (unless
    given), and the word "text", which every chunk's text ("text of ID") holds."""
    vector = None if search_type is SearchType.KEYWORD else fields.pop("vector", [1.0, 0.0])
    return RetrievalQuery(text="text", vector=vector, search_type=search_type, **fields)  # type: ignore[arg-type]


def found(provider: LocalProvider, kb: KnowledgeBase, filter: Filter, search_type: SearchType) -> set[str]:
    listed = {c.chunk_id for c in provider.list_chunks(kb, filter, 0, 1000)}
    retrieved = {c.chunk_id for c in provider.retrieve(kb, query(search_type, k=1000, filter=filter))}
    assert listed == retrieved, f"listing and {search_type.value} retrieval filter alike"
    return listed


@pytest.mark.parametrize(("index", "text"), list(enumerate(NASTY)))
def test_values_and_keys_with_sql_characters_match_literally(
    filled: LocalProvider, kb: KnowledgeBase, index: int, text: str, search_type: SearchType
):
    assert found(filled, kb, Eq(key="value", value=text), search_type) == {f"v{index}"}
    key = f"key {text}" if text else "blank"
    assert found(filled, kb, Eq(key=key, value="yes"), search_type) == {f"v{index}"}
    assert found(filled, kb, In(key="value", values=[text, "absent"]), search_type) == {f"v{index}"}
    assert found(filled, kb, Not(filter=Eq(key="value", value=text)), search_type) == {
        f"v{i}" for i in range(len(NASTY))
    } - {f"v{index}"}


def test_injection_attempts_leave_the_store_intact(
    filled: LocalProvider, kb: KnowledgeBase, database: Path, search_type: SearchType
):
    for text in NASTY:
        found(filled, kb, Eq(key=text or "k", value=text), search_type)
        found(filled, kb, Range(key=text or "k", gte=0), search_type)
    assert len(filled.list_chunks(kb, None, 0, 1000)) == len(NASTY)
    with sqlite3.connect(database) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"chunks", "metadata", "collections"} <= tables


def test_the_sql_text_never_contains_a_value_or_key():
    secret = "zz'; DROP TABLE chunks; --"
    where = Or(
        filters=[
            Eq(key=secret, value=secret),
            In(key=secret, values=[secret, "x"]),
            Not(filter=Range(key=secret, gt=1, lte=2)),
            And(filters=[]),
        ]
    )
    sql, params = condition(where)
    assert "zz" not in sql and "DROP" not in sql
    assert sql.count("?") == len(params)
    assert secret in params


def test_like_wildcards_are_not_wildcards(filled: LocalProvider, kb: KnowledgeBase, search_type: SearchType):
    assert found(filled, kb, Eq(key="value", value="%"), search_type) == {f"v{NASTY.index('%')}"}
    assert found(filled, kb, Eq(key="value", value="_"), search_type) == {f"v{NASTY.index('_')}"}


def test_range_reads_values_as_numbers(provider: LocalProvider, kb: KnowledgeBase, search_type: SearchType):
    values = ["1", "2.5", "10", "-3", "1e3", " 7 ", "nan", "inf", "abc", "", "1_000"]
    provider.ingest(
        kb, collection(*(chunk(f"r{i}", [1.0, 0.0], metadata={"n": v}) for i, v in enumerate(values))), "insert"
    )
    assert found(provider, kb, Range(key="n", gte=2, lt=10), search_type) == {"r1", "r5"}  # 2.5 and " 7 "
    assert found(provider, kb, Range(key="n", gt=100), search_type) == {"r4", "r7", "r10"}  # 1e3, inf, 1_000
    assert found(provider, kb, Range(key="n", lte=1), search_type) == {"r0", "r3"}
    assert "r6" not in found(provider, kb, Range(key="n", gte=float("-inf")), search_type)  # nan is no number
    assert found(provider, kb, Not(filter=Range(key="n", gt=-1e9)), search_type) == {"r6", "r8", "r9"}
    assert found(provider, kb, Range(key="missing", gt=0), search_type) == set()


def test_exact_match_metadata_and_filter_combine(provider: LocalProvider, kb: KnowledgeBase, search_type: SearchType):
    provider.ingest(
        kb,
        collection(
            chunk("a", [1.0, 0.0], metadata={"lang": "en", "year": "2023"}),
            chunk("b", [0.9, 0.1], metadata={"lang": "en", "year": "2024"}),
            chunk("c", [0.8, 0.2], metadata={"lang": "nl", "year": "2024"}),
            chunk("d", [0.7, 0.3], metadata={"year": "2024"}),
        ),
        IngestMode.INSERT,
    )

    def ids(retrieval: RetrievalQuery) -> list[str]:
        found = [c.chunk_id for c in provider.retrieve(kb, retrieval)]
        return found if search_type is SearchType.VECTOR else sorted(found)  # BM25 ties between equal texts

    both = query(search_type, k=10, metadata={"lang": "en"}, filter=Range(key="year", gte=2024))
    assert ids(both) == ["b"]
    everything_but_nl = query(search_type, k=10, filter=Not(filter=Eq(key="lang", value="nl")))
    assert ids(everything_but_nl) == ["a", "b", "d"]
    either = Or(filters=[Eq(key="lang", value="nl"), And(filters=[Eq(key="year", value="2023")])])
    assert ids(query(search_type, k=10, filter=either)) == ["a", "c"]


def test_a_large_in_list_binds_one_parameter(provider: LocalProvider, kb: KnowledgeBase, search_type: SearchType):
    provider.ingest(kb, collection(chunk("a", [1.0, 0.0], metadata={"id": "4999"})), IngestMode.INSERT)
    many = In(key="id", values=[str(i) for i in range(50_000)])
    assert condition(many)[0].count("?") == 2
    assert found(provider, kb, many, search_type) == {"a"}


# -- property: SQL and Filter.matches agree on random metadata and filters ------------------

KEYS = st.sampled_from(["a", "b", "c"])
VALUES = st.sampled_from(["1", "2", "10", "x", "it's", "%", "-1.5", "nan"])


def leaves() -> st.SearchStrategy[Filter]:
    return st.one_of(
        st.builds(Eq, key=KEYS, value=VALUES),
        st.builds(In, key=KEYS, values=st.lists(VALUES, min_size=1, max_size=3)),
        st.builds(
            Range,
            key=KEYS,
            gt=st.none() | st.floats(-2, 11, allow_nan=False),
            lte=st.floats(-2, 11, allow_nan=False),
        ),
    )


FILTERS = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.builds(And, filters=st.lists(inner, max_size=3)),
        st.builds(Or, filters=st.lists(inner, min_size=1, max_size=3)),
        st.builds(Not, filter=inner),
    ),
    max_leaves=6,
)
METADATA = st.lists(st.dictionaries(KEYS, VALUES, max_size=3), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=METADATA, filters=st.lists(FILTERS, min_size=1, max_size=5))
def test_sql_agrees_with_filter_matches(provider: LocalProvider, rows, filters, search_type: SearchType):
    kb = KnowledgeBase(provider="local", name="prop")  # one store for every example: repopulated each time
    chunks = [chunk(f"p{i}", [1.0, float(i)], metadata=m) for i, m in enumerate(rows)]
    provider.ingest(kb, collection(*chunks), IngestMode.REPOPULATE)
    for where in filters:
        expected = {c.chunk_id for c in chunks if where.matches(MetadataCollection.of(c.metadata.as_dict()).as_dict())}
        assert found(provider, kb, where, search_type) == expected, where
