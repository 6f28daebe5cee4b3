"""Keyword scores and the fusion of a vector and a keyword ranking, shared by the backends that
search both ways and fuse in the client (the local store, OpenSearch).

* :func:`keyword_similarity` maps a BM25 score (0 and up, unbounded) to a similarity in [0, 1):
  ``s / (s + KEYWORD_SCALE)``. Monotonic, so it never changes a keyword ranking; a score of
  ``KEYWORD_SCALE`` is 0.5. ``min_similarity`` of a keyword query applies to that number.
* :class:`Fusion` combines the two rankings into one (:data:`DEFAULT_FUSION` is what every
  backend uses). Its methods (:class:`FusionMethod`):

  - ``rrf``: weighted reciprocal rank fusion (Cormack et al., 2009): a chunk's score is the sum
    over the rankings that hold it of ``weight / (rank_constant + rank)``, ranks from 1. Only
    orders count, never scores.
  - ``min_max`` and ``z_score``: a convex combination of normalised scores, as OpenSearch's
    normalization processor does: each ranking's scores are rescaled (min-max to [0, 1], or to
    z-scores), then a chunk's score is ``vector_weight * vector + (1 - vector_weight) * keyword``,
    a ranking that does not hold the chunk counting as 0 (min-max, as in OpenSearch) or as its
    lowest z-score. A ranking whose scores are all equal normalises to 1 (min-max) or 0 (z-score).

  The default is plain reciprocal rank fusion (``rrf``, rank constant 60, equal weights) over
  the best ``candidates(k)`` (at least 50) of each ranking. ``benchmarks/bench_retrieval_quality.py
  --tune`` compared every method, weight and depth on half of its 110 labelled questions (this
  project's docs, the docs of two third-party libraries, the reference documents) and checked the
  best on the other half: none beat this default on the held-out half by more than one question
  (see benchmarks/README.md), and min-max normalisation can push a lone exact keyword match to
  the bottom of a small collection, so the standard setting stays.
* :func:`fuse`: :data:`DEFAULT_FUSION` applied to a vector and a keyword ranking.
* :func:`candidates`: how many chunks each ranking contributes to a fusion that returns ``k``.
* :func:`hybrid_similarity`: the similarity a hybrid result shows, the larger of its vector and
  keyword similarities (of those known).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from enum import StrEnum
from typing import TypeVar

from attrs import field, frozen, validators

#: The rank constant of reciprocal rank fusion in the paper and in OpenSearch and Elasticsearch.
RRF_K = 60
#: The BM25 score whose keyword similarity is 0.5.
KEYWORD_SCALE = 10.0
#: The fewest candidates each ranking contributes to a fusion.
MIN_CANDIDATES = 50
#: The most candidates each ranking contributes.
MAX_CANDIDATES = 10_000

Id = TypeVar("Id", bound=Hashable)


class FusionMethod(StrEnum):
    """How :class:`Fusion` combines two rankings; see the module docstring."""

    RRF = "rrf"
    MIN_MAX = "min_max"
    Z_SCORE = "z_score"


@frozen(kw_only=True)
class Fusion:
    """One way to fuse a vector and a keyword ranking.

    :param method: reciprocal rank (the default), or a convex combination of min-max or z-score
        normalised scores.
    :param vector_weight: the vector ranking's share, 0 to 1; the keyword ranking has the rest.
    :param rank_constant: the ``k`` of reciprocal rank fusion (``rrf`` only).
    """

    method: FusionMethod = field(default=FusionMethod.RRF, converter=FusionMethod)
    vector_weight: float = field(default=0.5, validator=[validators.ge(0.0), validators.le(1.0)])
    rank_constant: int = field(default=RRF_K, validator=validators.ge(0))

    def describe(self) -> str:
        """A short label: ``rrf k=60 w=0.5``, ``min_max w=0.4``."""
        constant = f" k={self.rank_constant}" if self.method is FusionMethod.RRF else ""
        return f"{self.method.value}{constant} w={self.vector_weight:g}"

    def fuse(self, vector: Sequence[tuple[Id, float]], keyword: Sequence[tuple[Id, float]]) -> list[tuple[Id, float]]:
        """The ids of both rankings (each ``(id, score)`` best first, higher scores better, an id
        at most once) with their fused scores, best first. Ties keep the order in which ids were
        first seen, the vector ranking's first."""
        weights = (self.vector_weight, 1.0 - self.vector_weight)
        scores: dict[Id, float] = {}
        if self.method is FusionMethod.RRF:
            for weight, ranking in zip(weights, (vector, keyword), strict=True):
                for rank, (item, _) in enumerate(ranking, start=1):
                    scores[item] = scores.get(item, 0.0) + weight / (self.rank_constant + rank)
        else:
            normalise = _min_max if self.method is FusionMethod.MIN_MAX else _z_scores
            parts = [normalise([score for _, score in ranking]) for ranking in (vector, keyword)]
            # min-max: an id a ranking lacks scores 0 there, as in OpenSearch (a lone hit scores 1);
            # z-scores: the ranking's lowest (0 is its mean)
            floors = [0.0 if self.method is FusionMethod.MIN_MAX else min(part, default=0.0) for part in parts]
            for ranking in (vector, keyword):
                for item, _ in ranking:
                    scores.setdefault(item, 0.0)
            for weight, ranking, part, floor in zip(weights, (vector, keyword), parts, floors, strict=True):
                present = {item: value for (item, _), value in zip(ranking, part, strict=True)}
                for item in scores:
                    scores[item] += weight * present.get(item, floor)
        order = {item: position for position, item in enumerate(scores)}
        return sorted(scores.items(), key=lambda pair: (-pair[1], order[pair[0]]))


#: The fusion every backend that fuses in the client uses (see the module docstring).
DEFAULT_FUSION = Fusion()


def _min_max(scores: Sequence[float]) -> list[float]:
    if not scores:
        return []
    low, high = min(scores), max(scores)
    if high - low <= 0.0:
        return [1.0] * len(scores)
    return [(s - low) / (high - low) for s in scores]


def _z_scores(scores: Sequence[float]) -> list[float]:
    if not scores:
        return []
    mean = sum(scores) / len(scores)
    deviation = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    if deviation <= 0.0:
        return [0.0] * len(scores)
    return [(s - mean) / deviation for s in scores]


def keyword_similarity(score: float) -> float:
    """A BM25 score (higher is better; negative ones count as 0) as a similarity in [0, 1)."""
    score = max(float(score), 0.0)
    return score / (score + KEYWORD_SCALE)


def candidates(k: int) -> int:
    """How many of its best chunks each ranking gives a fusion that returns ``k``: ``max(4k, 50)``."""
    return min(max(4 * k, MIN_CANDIDATES), MAX_CANDIDATES)


def fuse(
    vector: Sequence[tuple[Id, float]], keyword: Sequence[tuple[Id, float]], fusion: Fusion = DEFAULT_FUSION
) -> list[tuple[Id, float]]:
    """A vector and a keyword ranking (``(id, score)`` pairs, best first) fused with ``fusion``
    (:data:`DEFAULT_FUSION`): every id with its fused score, best first."""
    return fusion.fuse(vector, keyword)


def hybrid_similarity(vector: float | None, keyword: float | None) -> float | None:
    """The similarity of a hybrid result: the larger of those known, None when neither is."""
    known = [value for value in (vector, keyword) if value is not None]
    return max(known) if known else None
