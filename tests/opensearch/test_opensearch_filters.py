"""Portable filters in OpenSearch: the DSL they become, the same answers as Filter.matches — in
listings and in retrievals of every search type (vector, keyword, hybrid) — and keys and values
that look like query syntax staying literal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opensearch_helpers import chunk, chunks, kb, settings_for
from opensearch_standin import OpenSearchStandIn
from osmem_server import OsmemServer

from genai_commons import (
    And,
    Eq,
    Filter,
    In,
    IngestMode,
    MetadataCollection,
    Not,
    Or,
    Range,
    RetrievalQuery,
    SearchType,
)
from genai_commons_opensearch import OpenSearchProvider
from genai_commons_opensearch.queries import filter_query

# Keys and values that mean something to some query language: wildcards, quotes, JSON, Lucene
# query-string syntax, field paths, the plugin's own field names.
WEIRD_KEYS = ["*", "a.b", "metadata_pairs", "_id", 'q"uote', "x OR y", '{"match_all":{}}', "title:*", "?", "ключ"]
WEIRD_VALUES = ["*", "?", "a*", '"', '\\"', '{"match_all": {}}', "x OR y", "title:*", "\\", "*:*", "", " ", "ä"]

DATA: dict[str, dict[str, str]] = {
    "c01": {"team": "a", "year": "2019", "tier": "1"},
    "c02": {"team": "b", "year": "2020", "tier": "2"},
    "c03": {"team": "a*", "year": "2021.5"},
    "c04": {"team": "*", "year": "1_000", "tier": "x"},
    "c05": {"team": "A", "year": " 12 ", "tier": "-3"},
    "c06": {"year": "nan", "tier": "inf"},
    "c07": {"team": "b", "year": "abc", "tier": "-inf"},
    "c08": {},
    "c09": {"*": "*", "a.b": "x OR y", "metadata_pairs": '["team","a"]'},
    "c10": {'q"uote': '"', "_id": "c01", "title:*": "*:*", "?": "?", "ключ": "ä"},
    "c11": {"x OR y": "\\", '{"match_all":{}}': '{"match_all": {}}', "team": " "},
    "c12": {"team": "", "tier": "0"},
}

KEYS = ["team", "year", "tier", *WEIRD_KEYS, "absent"]
VALUES = ["a", "b", "A", "a*", "2019", "2020", "1", "2", "x", *WEIRD_VALUES]
NUMBERS = [-3.0, 0.0, 1.0, 12.0, 1000.0, 2019.0, 2020.0, 2021.5, float("inf"), float("-inf"), float("nan")]
# osmem-server 0.1.6 never answers a range whose lower bound is the largest double or whose upper
# bound is minus it, which is how gte=+inf and lte=-inf are sent; those two are checked as DSL only.
LOWER = [n for n in NUMBERS if n != float("inf")]
UPPER = [n for n in NUMBERS if n != float("-inf")]


@pytest.fixture(scope="module")
def loaded(osmem_server: OsmemServer) -> Iterator[OpenSearchProvider]:
    """One collection holding DATA, shared by the module's (read-only) tests."""
    with osmem_server.clone() as clone, OpenSearchStandIn(clone.url) as proxy:
        provider = OpenSearchProvider()
        provider.configure(settings_for(proxy.url))
        items = [
            chunk(cid, [1.0, float(n)], source_id=f"s{n % 3}", metadata=md)
            for n, (cid, md) in enumerate(DATA.items(), start=1)
        ]
        provider.ingest(kb("filters"), chunks(*items), IngestMode.INSERT)
        yield provider
        provider.close()


def listed(provider: OpenSearchProvider, where: Filter | None) -> set[str]:
    return {c.chunk_id for c in provider.list_chunks(kb("filters"), where, 0, 100)}


@pytest.fixture(params=list(SearchType), ids=[t.value for t in SearchType])
def search_type(request: pytest.FixtureRequest) -> SearchType:
    """Each test that retrieves runs for every search type."""
    return SearchType(request.param)


def found(provider: OpenSearchProvider, where: Filter | None, search_type: SearchType) -> set[str]:
    """What the filter keeps, listed and retrieved (every chunk's text holds the word "text"),
    which must agree."""
    vector = None if search_type is SearchType.KEYWORD else [1.0, 0.0]
    query = RetrievalQuery(text="text", vector=vector, k=50, filter=where, search_type=search_type)
    retrieved = {c.chunk_id for c in provider.retrieve(kb("filters"), query)}
    assert retrieved == listed(provider, where), f"{search_type.value} retrieval and listing disagree"
    return retrieved


def expected(where: Filter | None) -> set[str]:
    return {cid for cid, md in DATA.items() if where is None or where.matches(md)}


def test_translation_keeps_keys_and_values_as_term_data() -> None:
    assert filter_query(Eq(key="title:*", value="*")) == {"term": {"metadata_pairs": '["title:*","*"]'}}
    assert filter_query(In(key="a", values=["x", "y", "x"])) == {
        "terms": {"metadata_pairs": ['["a","x"]', '["a","y"]']}
    }
    assert filter_query(Range(key="y", gte=1, lt=2)) == {
        "nested": {
            "path": "metadata_numbers",
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"metadata_numbers.key": "y"}},
                        {"range": {"metadata_numbers.value": {"gte": 1, "lt": 2}}},
                    ]
                }
            },
        }
    }
    assert filter_query(Not(filter=Or(filters=[Eq(key="a", value="1")]))) == {
        "bool": {
            "must_not": [{"bool": {"should": [{"term": {"metadata_pairs": '["a","1"]'}}], "minimum_should_match": 1}}]
        }
    }
    assert filter_query(And(filters=[])) == {"match_all": {}}
    assert filter_query(None) == {"match_all": {}}
    assert filter_query(Range(key="y", gt=float("nan"))) == {"match_none": {}}
    # Infinite values are stored as the largest double, and infinite bounds are sent the same way.
    biggest = sys.float_info.max
    assert filter_query(Range(key="y", gte=float("inf"), lte=float("-inf")))["nested"]["query"]["bool"]["filter"][
        1
    ] == {"range": {"metadata_numbers.value": {"gte": biggest, "lte": -biggest}}}


@pytest.mark.parametrize(
    "where",
    [
        Eq(key="team", value="a"),
        Eq(key="team", value="*"),
        Eq(key="team", value="a*"),
        Eq(key="team", value=""),
        Eq(key="team", value=" "),
        Eq(key="*", value="*"),
        Eq(key="a.b", value="x OR y"),
        Eq(key="metadata_pairs", value='["team","a"]'),
        Eq(key="_id", value="c01"),
        Eq(key='q"uote', value='"'),
        Eq(key="title:*", value="*:*"),
        Eq(key="?", value="?"),
        Eq(key="ключ", value="ä"),
        Eq(key='{"match_all":{}}', value='{"match_all": {}}'),
        Eq(key="x OR y", value="\\"),
        In(key="team", values=["*", "?", "a*"]),
        In(key="team", values=["b", "A"]),
        Not(filter=Eq(key="team", value="*")),
        Range(key="year", gte=2020),
        Range(key="year", gt=12, lt=2021.5),
        Range(key="tier", lt=0),
        Range(key="tier", gt=1e300),
        Range(key="tier", gt=float("-inf")),
        Range(key="tier", lt=float("inf")),
        Range(key="tier", lte=float("inf")),
        Range(key="tier", gt=float("inf")),
        Range(key="tier", lt=float("-inf")),
        Not(filter=Range(key="year", lt=2000)),
        And(filters=[Eq(key="team", value="b"), Range(key="tier", gte=2)]),
        Or(filters=[Eq(key="*", value="*"), Range(key="year", lte=12)]),
    ],
    ids=repr,
)
def test_filters_match_what_filter_matches_says(
    loaded: OpenSearchProvider, where: Filter, search_type: SearchType
) -> None:
    assert found(loaded, where, search_type) == expected(where)


def test_injection_attempts_match_only_themselves(loaded: OpenSearchProvider) -> None:
    # A wildcard, a match-all JSON fragment or query-string syntax as a value finds nothing but
    # the chunk that holds exactly that text.
    assert listed(loaded, Eq(key="team", value="*")) == {"c04"}
    assert listed(loaded, Eq(key="team", value="?")) == set()
    assert listed(loaded, Eq(key="team", value="*:*")) == set()
    assert listed(loaded, Eq(key="title:*", value="*:*")) == {"c10"}
    assert listed(loaded, Eq(key="*", value="a")) == set()
    assert listed(loaded, Eq(key='{"match_all":{}}', value='{"match_all": {}}')) == {"c11"}
    assert listed(loaded, In(key="team", values=['a","b', '"]'])) == set()


def filters() -> st.SearchStrategy[Filter]:
    leaves = st.one_of(
        st.builds(Eq, key=st.sampled_from(KEYS), value=st.sampled_from(VALUES)),
        st.builds(In, key=st.sampled_from(KEYS), values=st.lists(st.sampled_from(VALUES), min_size=1, max_size=3)),
        st.builds(
            Range,
            key=st.sampled_from(["year", "tier", "team", "absent"]),
            gt=st.none() | st.sampled_from(NUMBERS),
            lte=st.sampled_from(UPPER),
        ),
        st.builds(
            Range, key=st.sampled_from(["year", "tier"]), gte=st.sampled_from(LOWER), lt=st.sampled_from(NUMBERS)
        ),
    )

    def extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.builds(And, filters=st.lists(inner, max_size=3)),
            st.builds(Or, filters=st.lists(inner, min_size=1, max_size=3)),
            st.builds(Not, filter=inner),
        )

    return st.recursive(leaves, extend, max_leaves=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=filters())
def test_any_filter_agrees_with_filter_matches(
    loaded: OpenSearchProvider, where: Filter, search_type: SearchType
) -> None:
    assert found(loaded, where, search_type) == expected(where)


def test_retrieval_filters_inside_the_knn_query(loaded: OpenSearchProvider) -> None:
    query = RetrievalQuery(
        vector=[1.0, 0.0], k=20, filter=In(key="team", values=["b", "*"]), metadata=MetadataCollection.of({"tier": "2"})
    )
    assert {c.chunk_id for c in loaded.retrieve(kb("filters"), query)} == {"c02"}
