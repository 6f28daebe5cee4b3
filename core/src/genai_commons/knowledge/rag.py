"""Retrieve-and-generate: answer from a knowledge base's chunks, with references and citations.

The host uses :func:`grounded_request` and :func:`with_references` when the knowledge base's
provider has no native operation: the retrieved chunks become numbered sources in the system
prompt, the model is asked to cite them as ``[n]``, and each cited marker becomes a
:class:`Citation` of the matching :class:`Reference`. As in the Mendix seed, a chunk's metadata
key ``sourceUrl`` is the reference's link and ``knowledge`` replaces the text the model sees.
:func:`knowledge_base_tool` hands a knowledge base to a chat request as a tool instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import attrs

from ..errors import ValidationError
from ..model.chat import Citation, Reference, Request, Response
from ..model.enums import Role, SourceType
from ..model.tools import Function

if TYPE_CHECKING:
    from ..model import KnowledgeBase, KnowledgeBaseChunk
    from ..model.retrieval import Filter, RetrievalQuery, RetrievalResult

#: Metadata key whose value is the reference's link.
SOURCE_URL_KEY = "sourceUrl"
#: Metadata key whose value replaces the chunk text given to the model.
KNOWLEDGE_KEY = "knowledge"

INSTRUCTIONS = (
    "Answer the user's question using only the numbered sources below. After each statement, cite "
    "the sources it rests on by their numbers in square brackets, like [1] or [2][3]. If the sources "
    "do not contain the answer, say that you do not know."
)

_MARKER = re.compile(r"\[(\d{1,3})\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def question_of(request: Request) -> str:
    """The text of the request's last user message: the question to retrieve for."""
    for message in reversed(request.messages):
        if message.role is Role.USER and message.content and message.content.strip():
            return message.content
    raise ValidationError("retrieve-and-generate needs a request whose last user message has text")


def as_request(question: str | Request) -> Request:
    return Request.from_prompt(question) if isinstance(question, str) else question


def model_text(chunk: KnowledgeBaseChunk) -> str:
    """What the model reads of a chunk: its ``knowledge`` metadata when set, else its text."""
    return chunk.metadata.get(KNOWLEDGE_KEY) or chunk.input_text


def title_of(chunk: KnowledgeBaseChunk) -> str:
    return chunk.human_readable_id or chunk.source_id or chunk.chunk_id


def sources_block(chunks: Sequence[KnowledgeBaseChunk]) -> str:
    """The chunks as numbered sources, ``[1] title`` then the text."""
    return "\n\n".join(f"[{n}] {title_of(chunk)}\n{model_text(chunk)}" for n, chunk in enumerate(chunks, 1))


def grounded_request(request: Request, chunks: Sequence[KnowledgeBaseChunk]) -> Request:
    """``request`` with the instructions and the numbered sources added to its system prompt."""
    context = f"{INSTRUCTIONS}\n\nSources:\n\n{sources_block(chunks)}" if chunks else INSTRUCTIONS
    system = f"{request.system_prompt}\n\n{context}" if request.system_prompt else context
    return attrs.evolve(request, system_prompt=system)


def citations_in(answer: str, count: int) -> dict[int, list[Citation]]:
    """Citations by source number (1-based): the sentence around each ``[n]`` marker."""
    found: dict[int, list[Citation]] = {}
    start = 0
    for sentence_end in [*(m.start() for m in _SENTENCE_END.finditer(answer)), len(answer)]:
        sentence = answer[start:sentence_end]
        for marker in _MARKER.finditer(sentence):
            number = int(marker.group(1))
            if 1 <= number <= count:
                text = sentence.strip()
                offset = start + sentence.index(text) if text else start
                found.setdefault(number, []).append(
                    Citation(start_index=offset, end_index=offset + len(text), text=text)
                )
        start = sentence_end
    return found


def references_for(chunks: Sequence[KnowledgeBaseChunk], answer: str) -> tuple[Reference, ...]:
    """One reference per chunk, in retrieval order, with the citations the answer makes of it."""
    cited = citations_in(answer, len(chunks))
    return tuple(
        Reference(
            title=title_of(chunk),
            content=chunk.input_text,
            source=chunk.metadata.get(SOURCE_URL_KEY),
            source_type=_source_type(chunk.metadata.get(SOURCE_URL_KEY)),
            citations=_unique(cited.get(n, [])),
        )
        for n, chunk in enumerate(chunks, 1)
    )


def numbered_references(references: Sequence[Reference], *, cited_only: bool = True) -> list[tuple[int, Reference]]:
    """The references with their numbers (from 1, the ``[n]`` the answer cites them by): those
    with citations only, unless ``cited_only`` is false. A provider's own retrieve-and-generate
    (Bedrock) returns the passages it cites, each with its citations, so they are kept as well."""
    return [(n, ref) for n, ref in enumerate(references, 1) if ref.citations or not cited_only]


def _source_type(link: str | None) -> SourceType:
    return SourceType.URL if link is None or link.startswith(("http://", "https://")) else SourceType.LOCATION


def _unique(citations: list[Citation]) -> tuple[Citation, ...]:
    return tuple(dict.fromkeys(citations))


def with_references(response: Response, chunks: Sequence[KnowledgeBaseChunk]) -> Response:
    """The model's response with the chunks as its references."""
    return attrs.evolve(response, references=(*response.references, *references_for(chunks, response.text)))


class Searcher(Protocol):
    """What a knowledge-base tool needs of the host (the host is one; this module does not import it)."""

    def knowledge_base(self, ref: KnowledgeBase | str) -> KnowledgeBase: ...

    def retrieve(self, knowledge_base: KnowledgeBase | str, query: RetrievalQuery) -> RetrievalResult: ...


def knowledge_base_tool(
    host: Searcher,
    knowledge_base: KnowledgeBase | str,
    *,
    k: int = 5,
    min_similarity: float | None = None,
    filter: Filter | None = None,
    name: str = "search_knowledge_base",
    description: str | None = None,
) -> Function:
    """A function tool that searches the knowledge base; add it with ``Request.with_tool``.

    The model calls it with a query when it needs facts; the host runs the search and hands the
    numbered passages back, each with its source link when the chunk has one.
    """
    from ..model.retrieval import RetrievalQuery  # noqa: PLC0415

    kb = host.knowledge_base(knowledge_base)

    def search(query: str) -> str:
        result = host.retrieve(kb, RetrievalQuery(text=query, k=k, min_similarity=min_similarity, filter=filter))
        if not result.chunks:
            return "No passage of the knowledge base matches this query."
        parts = []
        for n, chunk in enumerate(result.chunks, 1):
            link = chunk.metadata.get(SOURCE_URL_KEY)
            parts.append(f"[{n}] {title_of(chunk)}" + (f" ({link})" if link else "") + f"\n{model_text(chunk)}")
        return "\n\n".join(parts)

    about = kb.description or f"the knowledge base {kb.name!r}"
    return Function(
        name=name,
        description=description or f"Search {about} for passages relevant to a query; returns them numbered.",
        parameters={
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to look for, in a few words."}},
            "required": ["query"],
            "additionalProperties": False,
        },
        callable=search,
    )
