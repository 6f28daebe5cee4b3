"""The reranking stage of a retrieval: how many candidates to fetch, and the chunks as the reranker
ordered them.

With a rerank model, a retrieval fetches ``candidates`` chunks instead of ``k`` (by default
``max(4 * k, 20)``, or ``[knowledge] rerank_candidates``), has the model score them against the
query's text, and keeps the ``k`` best. Each kept chunk's ``similarity`` is then the rerank score
(0 to 1) and ``retrieval_similarity`` what the retrieval gave it.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ..errors import ProviderError, ValidationError
from ..model.knowledge import KnowledgeBaseChunk
from ..model.rerank import RerankResponse

#: The most candidates one retrieval fetches for reranking (a retrieval's own limit of ``k``).
MAX_CANDIDATES = 10_000


def candidates(k: int, given: int | None, configured: int | None) -> int:
    """How many chunks to retrieve for the reranker to keep ``k``: ``given``, else ``configured``,
    else ``max(4 * k, 20)``; never fewer than ``k``."""
    wanted = given if given is not None else configured
    if wanted is not None and not 1 <= wanted <= MAX_CANDIDATES:
        raise ValidationError(f"rerank_candidates must be between 1 and {MAX_CANDIDATES}, got {wanted}")
    if wanted is None:
        wanted = max(4 * k, 20)
    return min(max(wanted, k), MAX_CANDIDATES)


def rerank_text(chunk: KnowledgeBaseChunk) -> str:
    """What the reranker reads of a chunk: its ``knowledge`` metadata when set (as the answering
    model does, see :mod:`genai_commons.knowledge.rag`), else its text."""
    from .rag import model_text  # noqa: PLC0415

    return model_text(chunk)


def reranked(chunks: Sequence[KnowledgeBaseChunk], response: RerankResponse, k: int) -> tuple[KnowledgeBaseChunk, ...]:
    """The ``k`` chunks the reranker put first, with the rerank score as ``similarity`` and the
    retrieval's score as ``retrieval_similarity``."""
    out = []
    for result in response.results[:k]:
        chunk = chunks[result.index]
        original = chunk.similarity if chunk.retrieval_similarity is None else chunk.retrieval_similarity
        out.append(attrs.evolve(chunk, similarity=result.relevance_score, retrieval_similarity=original))
    return tuple(out)


def checked(response: RerankResponse, count: int, wanted: int, provider: str) -> RerankResponse:
    """A provider's rerank response, checked (every index names a candidate) and put in order:
    most relevant first (ties keep the provider's order), at most ``wanted`` results."""
    bad = [r.index for r in response.results if r.index >= count]
    if bad:
        raise ProviderError(
            f"the rerank model answered with candidate indexes {bad} for {count} candidates; "
            "report this to the provider plugin's authors",
            provider=provider,
            code="bad_rerank_index",
        )
    ordered = sorted(response.results, key=lambda r: -r.relevance_score)
    if list(ordered) == list(response.results) and len(ordered) <= wanted:
        return response
    return attrs.evolve(response, results=ordered[:wanted])
