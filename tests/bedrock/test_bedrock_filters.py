"""The portable filter in Bedrock's retrieval-filter form, operator by operator; the filters are
also checked against botocore's service model (its parameter validation) and evaluated end to
end in test_bedrock_knowledge.py."""

from __future__ import annotations

from typing import Any

import pytest

from genai_commons import ValidationError
from genai_commons.model import And, Eq, Filter, In, Not, Or, Range
from genai_commons_bedrock.filters import retrieval_filter, typed_values


def eq(key: str, value: Any) -> dict[str, Any]:
    return {"equals": {"key": key, "value": value}}


@pytest.mark.parametrize(
    ("portable", "bedrock"),
    [
        (Eq(key="team", value="red"), eq("team", "red")),
        (Eq(key="year", value="2024"), {"orAll": [eq("year", "2024"), eq("year", 2024)]}),
        (Eq(key="score", value="0.5"), {"orAll": [eq("score", "0.5"), eq("score", 0.5)]}),
        (Eq(key="draft", value="True"), {"orAll": [eq("draft", "True"), eq("draft", True)]}),
        (Eq(key="v", value="nan"), eq("v", "nan")),
        (In(key="team", values=["red", "blue"]), {"in": {"key": "team", "value": ["red", "blue"]}}),
        (
            In(key="year", values=["2023", "x"]),
            {"orAll": [{"in": {"key": "year", "value": ["2023", "x"]}}, {"in": {"key": "year", "value": [2023]}}]},
        ),
        (Range(key="n", gt=1), {"greaterThan": {"key": "n", "value": 1}}),
        (
            Range(key="n", gte=1.5, lte=3),
            {
                "andAll": [
                    {"greaterThanOrEquals": {"key": "n", "value": 1.5}},
                    {"lessThanOrEquals": {"key": "n", "value": 3}},
                ]
            },
        ),
        (Not(filter=Eq(key="team", value="red")), {"notEquals": {"key": "team", "value": "red"}}),
        (Not(filter=In(key="team", values=["a"])), {"notIn": {"key": "team", "value": ["a"]}}),
        (
            Not(filter=Range(key="n", gt=1, lt=5)),
            {
                "orAll": [
                    {"lessThanOrEquals": {"key": "n", "value": 1}},
                    {"greaterThanOrEquals": {"key": "n", "value": 5}},
                ]
            },
        ),
        (Not(filter=Not(filter=Eq(key="a", value="b"))), eq("a", "b")),
        (And(filters=[Eq(key="a", value="b")]), eq("a", "b")),
        (
            And(filters=[Eq(key="a", value="b"), And(filters=[Eq(key="c", value="d"), Eq(key="e", value="f")])]),
            {"andAll": [eq("a", "b"), eq("c", "d"), eq("e", "f")]},
        ),
        (
            Not(filter=Or(filters=[Eq(key="a", value="b"), Eq(key="c", value="d")])),
            {"andAll": [{"notEquals": {"key": "a", "value": "b"}}, {"notEquals": {"key": "c", "value": "d"}}]},
        ),
        (
            Not(filter=And(filters=[Eq(key="a", value="b"), Eq(key="c", value="d")])),
            {"orAll": [{"notEquals": {"key": "a", "value": "b"}}, {"notEquals": {"key": "c", "value": "d"}}]},
        ),
        (And(filters=[]), None),
        (Or(filters=[And(filters=[]), Eq(key="a", value="b")]), None),
        (Not(filter=And(filters=[And(filters=[]), Eq(key="a", value="b")])), {"notEquals": {"key": "a", "value": "b"}}),
        (Or(filters=[Not(filter=And(filters=[])), Eq(key="a", value="b")]), eq("a", "b")),
        (None, None),
    ],
    ids=repr,
)
def test_translation(portable: Filter | None, bedrock: dict[str, Any] | None) -> None:
    assert retrieval_filter(portable) == bedrock


@pytest.mark.parametrize(
    "impossible",
    [Not(filter=And(filters=[])), And(filters=[Eq(key="a", value="b"), Not(filter=And(filters=[]))])],
    ids=repr,
)
def test_a_filter_that_holds_for_nothing_is_refused(impossible: Filter) -> None:
    with pytest.raises(ValidationError, match="can match no chunk"):
        retrieval_filter(impossible)


def test_typed_values() -> None:
    assert typed_values("12") == ["12", 12]
    assert typed_values("1e3") == ["1e3", 1000.0]
    assert typed_values("false") == ["false", False]
    assert typed_values("inf") == ["inf"]
    assert typed_values("red") == ["red"]


def test_translated_filters_fit_the_service_model(session: Any) -> None:
    """botocore validates the request parameters against Bedrock's model before sending."""
    from botocore.stub import Stubber

    client = session.client("bedrock-agent-runtime", region_name="us-east-1")
    portable = And(
        filters=[
            In(key="year", values=["2023", "2024"]),
            Not(filter=Range(key="n", gt=1, lt=5)),
            Eq(key="a", value="1"),
        ]
    )
    configuration = {"vectorSearchConfiguration": {"numberOfResults": 5, "filter": retrieval_filter(portable)}}
    with Stubber(client) as stubber:
        expected = {"knowledgeBaseId": "KB00000001", "retrievalQuery": {"text": "q"}}
        stubber.add_response(
            "retrieve", {"retrievalResults": []}, {**expected, "retrievalConfiguration": configuration}
        )
        client.retrieve(**expected, retrievalConfiguration=configuration)
