"""Choosing the hybrid fusion of ``bench_retrieval_quality.py --tune`` on half of the questions.

For each question the vector and the keyword rankings (``depth`` chunks each, with their cosine
similarities and BM25 scores) are read once through the host; every candidate
:class:`~genai_commons.knowledge.fusion.Fusion` (reciprocal rank with several rank constants and
weights, convex combinations of min-max or z-score normalised scores with several weights) and
every candidate depth is then applied to those rankings offline, exactly as the backends apply
it. The questions are split in two halves by a hash of their text (``crc32 % 2``): the candidates
are ranked by MRR@10 (then recall@3 and recall@1; recall@3 alone moves in steps of one question
and ties a dozen candidates) on the *tuning* half only, and both halves are reported, so
that the figures on the *held-out* half say whether the choice generalises.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from _retrieval_corpora import Labels, Question

from genai_commons import Host, KnowledgeBaseChunk, SearchType
from genai_commons.knowledge.fusion import (
    DEFAULT_FUSION,
    KEYWORD_SCALE,
    Fusion,
    FusionMethod,
    candidates,
)

Ranking = list[tuple[str, float]]
#: The fusion before tuning: reciprocal rank fusion, k = 60, both rankings alike, 50 candidates each.
BEFORE = Fusion(method=FusionMethod.RRF, rank_constant=60, vector_weight=0.5)


@dataclass
class Rankings:
    question: Question
    vector: Ranking
    keyword: Ranking


def half(question: Question) -> int:
    """0: the tuning half, 1: the held-out half."""
    return zlib.crc32(question.text.encode()) % 2


def bm25(similarity: float) -> float:
    """Back from :func:`keyword_similarity` to the BM25 score."""
    return KEYWORD_SCALE * similarity / max(1.0 - similarity, 1e-9)


def collect(
    host: Host, collection: str, questions: Sequence[Question], depth: int
) -> tuple[list[Rankings], dict[str, KnowledgeBaseChunk]]:
    chunks: dict[str, KnowledgeBaseChunk] = {}
    out = []
    for question in questions:
        found = {}
        for search_type in (SearchType.VECTOR, SearchType.KEYWORD):
            result = host.retrieve(collection, question.text, k=depth, search_type=search_type)
            chunks.update((c.chunk_id, c) for c in result)
            score = (lambda s: s) if search_type is SearchType.VECTOR else bm25
            found[search_type] = [(c.chunk_id, score(c.similarity or 0.0)) for c in result]
        out.append(Rankings(question, found[SearchType.VECTOR], found[SearchType.KEYWORD]))
    return out, chunks


def candidates_grid() -> list[Fusion]:
    grid = [
        Fusion(method=FusionMethod.RRF, rank_constant=c, vector_weight=w)
        for c in (1, 5, 10, 20, 40, 60)
        for w in (0.3, 0.4, 0.5, 0.6, 0.7)
    ]
    grid += [
        Fusion(method=method, vector_weight=w)
        for method in (FusionMethod.MIN_MAX, FusionMethod.Z_SCORE)
        for w in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    ]
    return grid


def ranks(
    rankings: Sequence[Rankings],
    chunks: dict[str, KnowledgeBaseChunk],
    labels: Labels,
    fusion: Fusion,
    depth: int,
    k: int,
) -> list[int | None]:
    """Each question's rank of its first hit in the fusion of its rankings cut to ``depth``."""
    out = []
    for r in rankings:
        fused = fusion.fuse(r.vector[:depth], r.keyword[:depth])[:k]
        out.append(labels.rank([chunks[i] for i, _ in fused], r.question))
    return out


def tune(
    rankings: Sequence[Rankings],
    chunks: dict[str, KnowledgeBaseChunk],
    labels: Labels,
    k: int,
    report: Callable[[str], None] = print,
) -> tuple[Fusion, int | None]:
    """Rank every (fusion, depth) on the tuning half; print the best and today's; return the best."""

    def figures(fusion: Fusion, depth: int | None, which: int) -> tuple[float, float, float]:
        every = ranks(rankings, chunks, labels, fusion, depth or candidates(k), k)
        picked = [x for r, x in zip(rankings, every, strict=True) if half(r.question) == which]
        n = len(picked) or 1
        at = [sum(1 for x in picked if x is not None and x <= a) / n for a in (1, 3)]
        mrr = sum(1 / x for x in picked if x is not None) / n
        return at[1], mrr, at[0]

    depths: list[int | None] = [10, 20, 50, 100]
    scored = sorted(
        ((figures(f, d, 0), f, d) for f in candidates_grid() for d in depths),
        key=lambda item: (-item[0][1], -item[0][0], -item[0][2]),  # MRR@10, then recall@3, recall@1
    )
    today = BEFORE
    n0 = sum(1 for r in rankings if half(r.question) == 0)
    report(f"fusion tuning: {n0} tuning / {len(rankings) - n0} held-out questions; depth: candidates per ranking")
    report("                                           tuning: r@3   MRR  r@1 | held-out: r@3   MRR  r@1")
    default_depth = candidates(k)
    shown = [
        ("before tuning: ", figures(today, 50, 0), today, 50),
        ("default: ", figures(DEFAULT_FUSION, default_depth, 0), DEFAULT_FUSION, default_depth),
        *(("", *item) for item in scored[:8]),
    ]
    for name, tuned, fusion, depth in shown:
        held = figures(fusion, depth, 1)
        label = f"{name}{fusion.describe()}, depth {depth}"
        report(
            f"  {label:<40} {tuned[0]:6.2f} {tuned[1]:5.2f} {tuned[2]:4.2f} | "
            f"{held[0]:12.2f} {held[1]:5.2f} {held[2]:4.2f}"
        )
    _, best, depth = scored[0]
    return best, depth
