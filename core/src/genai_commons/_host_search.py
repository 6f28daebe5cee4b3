"""Search types of retrievals: which one a query runs, whether the host embeds it, and what happens
when a knowledge base cannot run the configured default.

:func:`resolve` settles ``query.search_type`` before the provider sees the query:

* a query that names a type gets it, when the provider declares it
  (:attr:`ProviderInfo.search_types`); otherwise :class:`UnsupportedCapabilityError`, before
  anything is embedded or sent. ``keyword`` and ``hybrid`` need the query's text;
* a query that names none gets ``[knowledge] search_type`` when the provider declares it and the
  query has a text, and ``vector`` otherwise. Such a query is *defaulted*.

A defaulted query that the provider refuses when called — an :class:`UnsupportedCapabilityError`
naming that search type, as Bedrock raises for a knowledge base whose vector store has no text
field — runs again as a vector search, and the host remembers the refusal for that knowledge base
(:class:`Refusals`), so later queries go straight to vector search. A type asked for explicitly is
never replaced.

Only ``keyword`` queries skip the embedding: :func:`needs_vector`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import attrs

from .errors import UnsupportedCapabilityError, ValidationError
from .model.enums import SearchType

if TYPE_CHECKING:
    from .model import KnowledgeBase, ProviderInfo, RetrievalQuery

#: The order in which a defaulted query falls back when the provider lacks the configured type.
_FALLBACK = (SearchType.VECTOR, SearchType.HYBRID, SearchType.KEYWORD)


class Refusals:
    """The (provider, collection, search type) triples a provider refused for a defaulted query."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, SearchType]] = set()
        self._lock = threading.Lock()

    def add(self, kb: KnowledgeBase, search_type: SearchType) -> None:
        with self._lock:
            self._seen.add((kb.provider, kb.collection, search_type))

    def __call__(self, kb: KnowledgeBase, search_type: SearchType) -> bool:
        with self._lock:
            return (kb.provider, kb.collection, search_type) in self._seen


def unsupported(kb: KnowledgeBase, info: ProviderInfo, wanted: SearchType) -> UnsupportedCapabilityError:
    """The error for a search type the knowledge base's provider does not offer."""
    offered = [t.value for t in _FALLBACK if t in info.search_types]
    if len(offered) == 1:
        what, advice = f"{offered[0]} search only", f"search_type='{offered[0]}' (--search-type {offered[0]})"
    else:
        what, advice = f"{' and '.join(offered) or 'no'} search", "one of those (search_type=..., --search-type)"
    return UnsupportedCapabilityError(
        f"knowledge base {kb.ref} cannot run a {wanted.value} search: provider {kb.provider!r} offers {what}; "
        f"use {advice}, or leave the search type out to get the default",
        target=kb.ref,
        capability=wanted.capability,
    )


def resolve(
    query: RetrievalQuery, kb: KnowledgeBase, info: ProviderInfo, default: str, refused: Refusals
) -> tuple[RetrievalQuery, bool]:
    """The query with its search type settled, and whether that type came from the default."""
    wanted = query.search_type
    if wanted is not None:
        if wanted not in info.search_types:
            raise unsupported(kb, info, wanted)
        if wanted is not SearchType.VECTOR and query.text is None:
            raise ValidationError(
                f"a {wanted.value} search needs the query's text, not only a vector: give RetrievalQuery(text=...)"
            )
        return query, False
    chosen = SearchType.VECTOR
    for candidate in (SearchType(default), *_FALLBACK):
        usable = candidate is SearchType.VECTOR or query.text is not None
        if candidate in info.search_types and usable and not refused(kb, candidate):
            chosen = candidate
            break
    return attrs.evolve(query, search_type=chosen), True


def refused_by(exc: UnsupportedCapabilityError, query: RetrievalQuery, defaulted: bool) -> bool:
    """Whether a provider's refusal is of a defaulted query's search type (so: fall back to vector)."""
    search_type = query.search_type
    return (
        defaulted
        and search_type is not None
        and search_type is not SearchType.VECTOR
        and exc.capability == search_type.capability
    )


def as_vector_search(query: RetrievalQuery) -> RetrievalQuery:
    """The query as a vector search, for the fallback."""
    return attrs.evolve(query, search_type=SearchType.VECTOR)


def needs_vector(query: RetrievalQuery, kb: KnowledgeBase) -> bool:
    """Whether the host embeds the query first: a text query for a vector or hybrid search of a
    knowledge base the host embeds for. A keyword search never waits for an embedding model."""
    return (
        query.search_type is not SearchType.KEYWORD
        and query.vector is None
        and kb.embedding_model is not None
        and query.text is not None
    )
