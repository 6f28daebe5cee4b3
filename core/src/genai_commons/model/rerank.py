"""Reranking: what a rerank call takes (``RerankRequest``) and returns (``RerankResponse``).

A rerank model reads a query and candidate texts and scores how relevant each candidate is to the
query, which a nearest-neighbour or keyword search only approximates. The results name the
candidates by their index in :attr:`RerankRequest.documents`, best first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from attrs import field, frozen

from ..errors import ValidationError
from ._validators import in_range, non_empty


def _documents(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValidationError("documents takes a list of texts, not a single string")
    texts = tuple(value)
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise ValidationError(f"document {index} to rerank must be a non-empty text")
    return texts


def _score(_instance: object, _attribute: object, value: float) -> None:
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValidationError(f"a relevance score lies between 0 and 1, got {value!r}")


@frozen(kw_only=True)
class RerankRequest:
    """A query and the candidate texts to score against it.

    :param top_n: how many results to return (the best ones); None: every candidate.
    """

    query: str = field(validator=non_empty)
    documents: tuple[str, ...] = field(converter=_documents)
    top_n: int | None = field(default=None, validator=in_range(1, None))

    def __attrs_post_init__(self) -> None:
        if not self.query.strip():
            raise ValidationError("a rerank query must not be blank")
        if not self.documents:
            raise ValidationError("nothing to rerank: give at least one document")

    @property
    def wanted(self) -> int:
        """How many results the call returns: ``top_n``, at most the number of documents."""
        return len(self.documents) if self.top_n is None else min(self.top_n, len(self.documents))


@frozen(kw_only=True)
class RerankResult:
    """One candidate's score: its index in the request's documents and how relevant it is."""

    index: int = field(validator=in_range(0, None))
    #: 0 (irrelevant) to 1 (answers the query); rerank models that score otherwise are mapped to
    #: this range by their plugin.
    relevance_score: float = field(validator=_score)


def _results(value: Iterable[RerankResult]) -> tuple[RerankResult, ...]:
    return tuple(value)


@frozen(kw_only=True)
class RerankResponse:
    """The scored candidates, most relevant first, and the usage of the call."""

    results: tuple[RerankResult, ...] = field(default=(), converter=_results)
    input_tokens: int | None = field(default=None, validator=in_range(0, None))
    #: Output tokens of a chat model serving as the reranker; 0 or None for rerank models.
    output_tokens: int | None = field(default=None, validator=in_range(0, None))
    total_tokens: int | None = field(default=None, validator=in_range(0, None))
    duration_ms: float | None = field(default=None, validator=in_range(0, None))
    model_id: str | None = None

    def __attrs_post_init__(self) -> None:
        indexes = [r.index for r in self.results]
        if len(set(indexes)) != len(indexes):
            raise ValidationError(f"each candidate is ranked at most once, got indexes {indexes}")
        if self.total_tokens is None and self.input_tokens is not None:
            object.__setattr__(self, "total_tokens", self.input_tokens + (self.output_tokens or 0))

    def __iter__(self) -> Iterator[RerankResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    @property
    def indexes(self) -> list[int]:
        """The candidates' indexes, most relevant first."""
        return [r.index for r in self.results]
