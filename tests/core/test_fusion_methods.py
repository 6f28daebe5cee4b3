"""The fusion of a vector and a keyword ranking (genai_commons.knowledge.fusion): each method's
scores computed by hand, weights, ids found by one ranking only, ties, degenerate rankings, and
the default that every client-side backend uses."""

from __future__ import annotations

import pytest

from genai_commons.knowledge.fusion import DEFAULT_FUSION, Fusion, FusionMethod, fuse

VECTOR = [("a", 0.9), ("b", 0.7), ("c", 0.5)]
KEYWORD = [("c", 12.0), ("d", 6.0), ("b", 2.0)]


def scores(fused: list[tuple[str, float]]) -> dict[str, float]:
    return dict(fused)


def test_weighted_reciprocal_rank_fusion() -> None:
    fused = Fusion(method="rrf", rank_constant=10, vector_weight=0.25).fuse(VECTOR, KEYWORD)
    expected = {
        "a": 0.25 / 11,
        "b": 0.25 / 12 + 0.75 / 13,
        "c": 0.25 / 13 + 0.75 / 11,
        "d": 0.75 / 12,
    }
    assert scores(fused) == pytest.approx(expected)
    assert [item for item, _ in fused] == sorted(expected, key=lambda i: -expected[i])
    # Only the order counts: any scores give the same fusion.
    assert Fusion(method="rrf").fuse([("x", 5.0), ("y", -1.0)], []) == Fusion(method="rrf").fuse(
        [("x", 0.1), ("y", 0.0)], []
    )


def test_min_max_combination_counts_a_missing_id_as_zero() -> None:
    fused = Fusion(method=FusionMethod.MIN_MAX, vector_weight=0.6).fuse(VECTOR, KEYWORD)
    # vector 0.9, 0.7, 0.5 -> 1, 0.5, 0; keyword 12, 6, 2 -> 1, 0.4, 0; absent -> 0
    expected = {"a": 0.6 * 1.0, "b": 0.6 * 0.5, "c": 0.4 * 1.0, "d": 0.4 * 0.4}
    assert scores(fused) == pytest.approx(expected)
    assert [item for item, _ in fused] == ["a", "c", "b", "d"]
    # a ranking holding one id (or only equal scores) gives it 1, the ids it lacks 0
    lone = Fusion(method="min_max", vector_weight=0.6).fuse(VECTOR, [("c", 3.0)])
    assert scores(lone) == pytest.approx({"a": 0.6, "b": 0.3, "c": 0.4})


def test_z_score_combination() -> None:
    fused = Fusion(method=FusionMethod.Z_SCORE, vector_weight=0.5).fuse(VECTOR, KEYWORD)
    v = [(0.9 - 0.7) / 0.163299, 0.0, (0.5 - 0.7) / 0.163299]
    mean = 20 / 3
    deviation = (((12 - mean) ** 2 + (6 - mean) ** 2 + (2 - mean) ** 2) / 3) ** 0.5
    k = [(12 - mean) / deviation, (6 - mean) / deviation, (2 - mean) / deviation]
    expected = {
        "a": 0.5 * v[0] + 0.5 * min(k),
        "b": 0.5 * v[1] + 0.5 * k[2],
        "c": 0.5 * v[2] + 0.5 * k[0],
        "d": 0.5 * min(v) + 0.5 * k[1],
    }
    assert scores(fused) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("method", list(FusionMethod))
def test_degenerate_rankings(method: FusionMethod) -> None:
    fusion = Fusion(method=method)
    assert fusion.fuse([], []) == []
    assert [item for item, _ in fusion.fuse([("x", 0.3)], [])] == ["x"]
    # equal scores: the order in which ids were first seen, the vector ranking's first
    even = Fusion(method=method, vector_weight=0.5)
    assert [item for item, _ in even.fuse([("p", 1.0), ("q", 1.0)], [("r", 1.0)])][:1] == ["p"]
    # weight 1: the vector ranking alone decides
    only_vector = Fusion(method=method, vector_weight=1.0).fuse(VECTOR, KEYWORD)
    assert [item for item, _ in only_vector][:3] == ["a", "b", "c"]


def test_bad_fusions_are_refused() -> None:
    with pytest.raises(ValueError, match="vector_weight"):
        Fusion(vector_weight=1.5)
    with pytest.raises(ValueError, match="rank_constant"):
        Fusion(method="rrf", rank_constant=-1)
    with pytest.raises(ValueError, match="borda"):
        Fusion(method="borda")


def test_fuse_applies_the_default() -> None:
    assert fuse(VECTOR, KEYWORD) == DEFAULT_FUSION.fuse(VECTOR, KEYWORD)
    assert fuse(VECTOR, KEYWORD, Fusion(method="rrf")) == Fusion(method="rrf").fuse(VECTOR, KEYWORD)
    assert "w=" in DEFAULT_FUSION.describe()
