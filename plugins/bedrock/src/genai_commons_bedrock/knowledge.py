"""Bedrock knowledge bases: ListKnowledgeBases and GetKnowledgeBase (``bedrock-agent``) as the
core's :class:`KnowledgeBase`, and Retrieve (``bedrock-agent-runtime``) as a :class:`RetrievalResult`.

A Bedrock knowledge base embeds queries and documents itself, so its :class:`KnowledgeBase` has no
``embedding_model``; its ``collection`` is the knowledge base id.

The portable search type becomes ``vectorSearchConfiguration.overrideSearchType``: ``vector`` is
``SEMANTIC``, ``hybrid`` is ``HYBRID`` (vector and text search, which Bedrock runs on vector
stores with a filterable text field, such as Amazon OpenSearch Serverless), and ``keyword`` has no
equivalent: it is refused before any call. A vector store that cannot run a hybrid search makes
Bedrock answer ``ValidationException``; that is raised as :class:`UnsupportedCapabilityError`, so
that the host runs a query whose search type was only the configured default again as a vector
search (an explicit ``hybrid`` stays an error). A query with no search type sends no override:
Bedrock chooses.
"""

from __future__ import annotations

import re
import time
from typing import Any

from genai_commons import (
    BadRequestError,
    KnowledgeBase,
    NotFoundError,
    SearchType,
    UnsupportedCapabilityError,
    ValidationError,
)
from genai_commons.model import KnowledgeBaseChunk, RetrievalQuery, RetrievalResult

from .errors import PROVIDER, Resource, translated_errors
from .filters import retrieval_filter
from .references import chunk_from_result

#: Knowledge base (and agent, data source) ids: ten letters and digits.
RESOURCE_ID = re.compile(r"^[0-9a-zA-Z]{10}$")
#: The most results one Retrieve call returns.
MAX_RESULTS = 100
#: Pages of Retrieve results read at most, whatever the service answers.
_MAX_PAGES = 100
#: Knowledge base states that cannot answer.
_GONE = frozenset({"DELETING", "DELETE_UNSUCCESSFUL"})


def _knowledge_base(summary: dict[str, Any]) -> KnowledgeBase:
    return KnowledgeBase(
        provider=PROVIDER,
        name=summary["name"],
        collection=summary["knowledgeBaseId"],
        description=summary.get("description") or None,
    )


def list_knowledge_bases(client: Any, *, region: str | None) -> list[KnowledgeBase]:
    """Every knowledge base of the account in the region (ListKnowledgeBases, all pages)."""
    found: list[KnowledgeBase] = []
    with translated_errors(region=region, resource=Resource("knowledge base")):
        for page in client.get_paginator("list_knowledge_bases").paginate():
            found.extend(
                _knowledge_base(summary)
                for summary in page.get("knowledgeBaseSummaries", ())
                if summary.get("status") not in _GONE
            )
    return found


def get_knowledge_base(client: Any, knowledge_base_id: str, *, region: str | None) -> KnowledgeBase:
    """One knowledge base by id (GetKnowledgeBase)."""
    with translated_errors(region=region, resource=Resource("knowledge base", knowledge_base_id)):
        answer = client.get_knowledge_base(knowledgeBaseId=knowledge_base_id)
    return _knowledge_base(answer["knowledgeBase"])


def find_knowledge_base(client: Any, name: str, *, region: str | None) -> KnowledgeBase | None:
    """The knowledge base with this id or name, or None."""
    if RESOURCE_ID.match(name):
        try:
            return get_knowledge_base(client, name, region=region)
        except NotFoundError:
            pass  # a name that looks like an id
    for knowledge_base in list_knowledge_bases(client, region=region):
        if name in (knowledge_base.name, knowledge_base.collection):
            return knowledge_base
    return None


#: ``overrideSearchType`` of each portable search type Bedrock runs.
OVERRIDE_SEARCH_TYPE = {SearchType.VECTOR: "SEMANTIC", SearchType.HYBRID: "HYBRID"}


def override_search_type(knowledge_base: KnowledgeBase, search_type: SearchType | None) -> str | None:
    """The ``overrideSearchType`` of a portable search type (None: Bedrock chooses); ``keyword``
    is refused, since Bedrock has no text-only search."""
    if search_type is None:
        return None
    override = OVERRIDE_SEARCH_TYPE.get(search_type)
    if override is None:
        raise UnsupportedCapabilityError(
            f"knowledge base {knowledge_base.ref} cannot run a {search_type.value} search: Bedrock knowledge bases "
            "search by vector (SEMANTIC) or by vector and text together (HYBRID), never by text alone; use "
            "search_type='hybrid' (--search-type hybrid) for the nearest equivalent",
            target=knowledge_base.ref,
            capability=search_type.capability,
        )
    return override


def refused_hybrid(knowledge_base: KnowledgeBase, exc: BadRequestError) -> UnsupportedCapabilityError | None:
    """The error to raise when Bedrock refused a HYBRID search because the knowledge base's vector
    store cannot run one (its ``ValidationException`` names the search type); None otherwise."""
    said = (exc.body or str(exc)).lower()
    if exc.code != "ValidationException" or not ("hybrid" in said or "search type" in said):
        return None
    return UnsupportedCapabilityError(
        f"knowledge base {knowledge_base.ref} cannot run a hybrid search: its vector store has no text search "
        "(Bedrock runs HYBRID on stores with a filterable text field, such as Amazon OpenSearch Serverless); "
        "use search_type='vector' (--search-type vector)",
        target=knowledge_base.ref,
        capability=SearchType.HYBRID.capability,
    )


def retrieve_request(knowledge_base: KnowledgeBase, query: RetrievalQuery) -> dict[str, Any]:
    """The keyword arguments of Retrieve: query text, number of results, metadata filter and search type."""
    override = override_search_type(knowledge_base, query.search_type)
    if query.text is None:
        raise ValidationError(
            f"knowledge base {knowledge_base.ref} embeds queries itself (Bedrock): give the query's text, not a vector"
        )
    search: dict[str, Any] = {"numberOfResults": min(query.k, MAX_RESULTS)}
    where = retrieval_filter(query.combined_filter())
    if where is not None:
        search["filter"] = where
    if override is not None:
        search["overrideSearchType"] = override
    return {
        "knowledgeBaseId": knowledge_base.collection,
        "retrievalQuery": {"text": query.text},
        "retrievalConfiguration": {"vectorSearchConfiguration": search},
    }


def retrieve(
    client: Any, knowledge_base: KnowledgeBase, query: RetrievalQuery, *, region: str | None
) -> RetrievalResult:
    """Retrieve the ``query.k`` most relevant chunks, following ``nextToken`` until there are
    enough; chunks below ``query.min_similarity`` are left out. Most relevant first."""
    kwargs = retrieve_request(knowledge_base, query)
    resource = Resource("knowledge base", knowledge_base.collection)
    started = time.perf_counter()
    chunks: list[KnowledgeBaseChunk] = []
    token = None
    least = query.min_similarity
    for _ in range(_MAX_PAGES):
        try:
            with translated_errors(region=region, resource=resource):
                page = client.retrieve(**kwargs, **({"nextToken": token} if token else {}))
        except BadRequestError as exc:
            refusal = refused_hybrid(knowledge_base, exc) if query.search_type is SearchType.HYBRID else None
            if refusal is None:
                raise
            raise refusal from exc
        results = page.get("retrievalResults") or []
        for result in results:
            chunk = chunk_from_result(result)
            if least is None or (chunk.similarity is not None and chunk.similarity >= least):
                chunks.append(chunk)
        token = page.get("nextToken")
        if not token or not results or len(chunks) >= query.k:
            break
    chunks.sort(key=lambda c: -(c.similarity if c.similarity is not None else -2.0))
    return RetrievalResult(chunks=chunks[: query.k], duration_ms=(time.perf_counter() - started) * 1000)
