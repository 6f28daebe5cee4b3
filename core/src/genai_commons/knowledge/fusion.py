"""Keyword scores and rank fusion, shared by the backends that search by keywords and by vectors.

* :func:`keyword_similarity` maps a BM25 score (0 and up, unbounded) to a similarity in [0, 1):
  ``s / (s + KEYWORD_SCALE)``. Monotonic, so it never changes a keyword ranking; a score of
  ``KEYWORD_SCALE`` is 0.5. ``min_similarity`` of a keyword query applies to that number.
* :func:`fuse` is reciprocal rank fusion (Cormack et al., 2009): a chunk's fused score is the sum
  over the rankings that hold it of ``1 / (RRF_K + rank)``, ranks counted from 1. Scores of the
  two rankings are never compared, only their orders, so cosine similarities and BM25 scores need
  no common scale.
* :func:`candidates`: how many chunks each ranking contributes to a fusion that returns ``k``.
* :func:`hybrid_similarity`: the similarity a hybrid result shows, the larger of its vector and
  keyword similarities (of those known).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

#: The rank constant of reciprocal rank fusion (60, as in the paper and in OpenSearch and Elasticsearch).
RRF_K = 60
#: The BM25 score whose keyword similarity is 0.5.
KEYWORD_SCALE = 10.0
#: The fewest candidates each ranking contributes to a fusion.
MIN_CANDIDATES = 50
#: The most candidates each ranking contributes.
MAX_CANDIDATES = 10_000

Id = TypeVar("Id", bound=Hashable)


def keyword_similarity(score: float) -> float:
    """A BM25 score (higher is better; negative ones count as 0) as a similarity in [0, 1)."""
    score = max(float(score), 0.0)
    return score / (score + KEYWORD_SCALE)


def candidates(k: int) -> int:
    """How many of its best chunks each ranking gives a fusion that returns ``k``: ``max(4k, 50)``."""
    return min(max(4 * k, MIN_CANDIDATES), MAX_CANDIDATES)


def fuse(rankings: Iterable[Sequence[Id]], k: int = RRF_K) -> list[tuple[Id, float]]:
    """Reciprocal rank fusion of rankings (each best first, an id at most once): the ids of all of
    them with their fused scores, best first. Ties keep the order in which ids were first seen
    (the first ranking's order first)."""
    scores: dict[Id, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    order = {item: position for position, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda pair: (-pair[1], order[pair[0]]))


def hybrid_similarity(vector: float | None, keyword: float | None) -> float | None:
    """The similarity of a hybrid result: the larger of those known, None when neither is."""
    known = [value for value in (vector, keyword) if value is not None]
    return max(known) if known else None
