"""What Bedrock's knowledge bases return, in the core's terms: Retrieve results as
:class:`KnowledgeBaseChunk`, and the citations of RetrieveAndGenerate and of an agent's answer
(generated response part + retrieved references) as :class:`Reference` with :class:`Citation`.
Pure functions over botocore's parsed answers, no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from genai_commons.model import Citation, KnowledgeBaseChunk, MetadataCollection, Reference, SourceType

#: Location type -> (member of the location, field holding the address).
LOCATION_FIELDS: Mapping[str, tuple[str, str]] = {
    "S3": ("s3Location", "uri"),
    "WEB": ("webLocation", "url"),
    "CONFLUENCE": ("confluenceLocation", "url"),
    "SALESFORCE": ("salesforceLocation", "url"),
    "SHAREPOINT": ("sharePointLocation", "url"),
    "ONEDRIVE": ("oneDriveLocation", "url"),
    "GOOGLEDRIVE": ("googleDriveLocation", "url"),
    "KENDRA": ("kendraDocumentLocation", "uri"),
    "CUSTOM": ("customDocumentLocation", "id"),
    "SQL": ("sqlLocation", "query"),
}
#: Metadata keys the plugin sets on every retrieved chunk.
SOURCE_URL = "sourceUrl"
LOCATION_TYPE = "locationType"
_CHUNK_ID = "x-amz-bedrock-kb-chunk-id"
_SOURCE_URI = "x-amz-bedrock-kb-source-uri"
_TITLES = ("title", "x-amz-bedrock-kb-title", "Title")


def source_location(location: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """The address of a retrieved chunk's source (S3 URI, web URL, …) and the location type."""
    if not location:
        return None, None
    kind = location.get("type")
    member, key = LOCATION_FIELDS.get(str(kind), ("", ""))
    address = (location.get(member) or {}).get(key) if member else None
    if address is None:  # a location type this plugin does not know yet: take any address it has
        for value in location.values():
            if isinstance(value, Mapping):
                address = value.get("uri") or value.get("url") or value.get("id")
                if address:
                    break
    return (str(address) if address else None), (str(kind) if kind else None)


def content_text(content: Mapping[str, Any] | None) -> str:
    """The text of retrieved content: its text, a table row as ``column: value`` pairs, or the
    transcription or summary of audio and video."""
    if not content:
        return ""
    if content.get("text"):
        return str(content["text"])
    if content.get("row"):
        return "; ".join(f"{cell.get('columnName')}: {cell.get('columnValue')}" for cell in content["row"])
    for kind, key in (("audio", "transcription"), ("video", "summary")):
        part = content.get(kind) or {}
        if part.get(key):
            return str(part[key])
    return ""


def metadata_value(value: Any) -> str | None:
    """A Bedrock metadata value (any JSON value) as the core's string; None for null."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _metadata(result: Mapping[str, Any]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for key, value in (result.get("metadata") or {}).items():
        text = metadata_value(value)
        if text is not None:
            metadata[str(key)] = text
    return metadata


def _similarity(score: Any) -> float | None:
    """Bedrock's relevance score as the core's similarity, held within [-1, 1]."""
    if not isinstance(score, int | float):
        return None
    return max(-1.0, min(1.0, float(score)))


def _title(metadata: Mapping[str, str], address: str | None) -> str | None:
    for key in _TITLES:
        if metadata.get(key):
            return metadata[key]
    if address:
        return address.rstrip("/").rsplit("/", 1)[-1] or address
    return None


def chunk_from_result(result: Mapping[str, Any]) -> KnowledgeBaseChunk:
    """One Retrieve result as a chunk: its text, score as similarity, Bedrock's metadata, and
    the source's address (``sourceUrl``) and location type (``locationType``) in the metadata."""
    address, kind = source_location(result.get("location"))
    text = content_text(result.get("content")) or address or "(content without text)"
    metadata = _metadata(result)
    if address:
        metadata[SOURCE_URL] = address
    if kind:
        metadata[LOCATION_TYPE] = kind
    chunk_id = metadata.get(_CHUNK_ID) or result.get("documentId")
    if not chunk_id:  # stable across calls: the same passage of the same source has the same id
        chunk_id = hashlib.sha256(f"{address}\n{text}".encode()).hexdigest()[:32]
    return KnowledgeBaseChunk(
        input_text=text,
        chunk_id=str(chunk_id),
        human_readable_id=_title(metadata, address) or str(chunk_id),
        source_id=metadata.get(_SOURCE_URI) or address,
        source_type=kind,
        metadata=MetadataCollection(items=metadata),
        similarity=_similarity(result.get("score")),
    )


def _citation(part: Mapping[str, Any] | None, quote: str | None) -> Citation | None:
    """The cited part of the answer. Bedrock's span ends at the part's last character; the core's
    ``end_index`` is one past it (``text[start_index:end_index]``)."""
    text_part = (part or {}).get("textResponsePart") or {}
    text = text_part.get("text")
    span = text_part.get("span") or {}
    start, end = span.get("start"), span.get("end")
    if isinstance(start, int) and isinstance(end, int):
        if text and end - start + 1 == len(text):
            end += 1  # an inclusive end, as Bedrock writes it
        if end < start:
            start = end = None
    else:
        start = end = None
    if text is None and start is None:
        return None
    return Citation(start_index=start, end_index=end, text=text, quote=quote or None)


def references_from_citations(citations: Iterable[Mapping[str, Any]]) -> tuple[Reference, ...]:
    """Bedrock's citations (RetrieveAndGenerate's, or the attribution of an agent's answer) as
    references: one per cited passage of a source, each with every part of the answer citing it."""
    order: list[tuple[str | None, str]] = []
    found: dict[tuple[str | None, str], dict[str, Any]] = {}
    for citation in citations:
        for retrieved in citation.get("retrievedReferences") or ():
            address, _kind = source_location(retrieved.get("location"))
            text = content_text(retrieved.get("content"))
            key = (address, text)
            if key not in found:
                order.append(key)
                metadata = _metadata(retrieved)
                found[key] = {"title": _title(metadata, address), "address": address, "citations": []}
            cited = _citation(citation.get("generatedResponsePart"), text)
            if cited is not None:
                found[key]["citations"].append(cited)
    references = []
    for key in order:
        entry = found[key]
        address = entry["address"]
        web = bool(address) and str(address).startswith(("http://", "https://"))
        references.append(
            Reference(
                title=entry["title"],
                content=key[1] or None,
                source=address,
                source_type=SourceType.URL if web else SourceType.LOCATION,
                citations=entry["citations"],
            )
        )
    return tuple(references)
