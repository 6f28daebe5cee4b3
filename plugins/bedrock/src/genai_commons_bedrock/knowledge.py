"""Bedrock knowledge bases: ListKnowledgeBases and GetKnowledgeBase (``bedrock-agent``) as the
core's :class:`KnowledgeBase`, and Retrieve (``bedrock-agent-runtime``) as a :class:`RetrievalResult`.

A Bedrock knowledge base embeds queries and documents itself, so its :class:`KnowledgeBase` has no
``embedding_model``; its ``collection`` is the knowledge base id.
"""

from __future__ import annotations

import re
import time
from typing import Any

from genai_commons import KnowledgeBase, NotFoundError, ValidationError
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


def retrieve_request(knowledge_base: KnowledgeBase, query: RetrievalQuery) -> dict[str, Any]:
    """The keyword arguments of Retrieve: query text, number of results and metadata filter."""
    if query.text is None:
        raise ValidationError(
            f"knowledge base {knowledge_base.ref} embeds queries itself (Bedrock): give the query's text, not a vector"
        )
    search: dict[str, Any] = {"numberOfResults": min(query.k, MAX_RESULTS)}
    where = retrieval_filter(query.combined_filter())
    if where is not None:
        search["filter"] = where
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
        with translated_errors(region=region, resource=resource):
            page = client.retrieve(**kwargs, **({"nextToken": token} if token else {}))
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
