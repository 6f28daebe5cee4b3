"""The fake's knowledge-base resource: collections of chunks in memory, exact cosine search."""

from __future__ import annotations

import math
import threading
from typing import Any

from ._errors import ApiError

__all__ = ["KnowledgeStore"]

_CHUNK_FIELDS = {"chunkId", "humanReadableId", "vector", "key", "value", "chunkType", "mxObjectId", "mxEntity",
                 "metadata"}  # fmt: skip
MAX_PAGE = 1000
MAX_INSERT = 100
MAX_TEXT = 2048


def _bad(message: str, status: int = 400) -> ApiError:
    return ApiError(status, "ValidationException", message)


def _missing(collection: str) -> ApiError:
    return ApiError(404, "ResourceNotFoundException", f"collection {collection!r} does not exist")


def _int(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise _bad(f"{name} must be between {low} and {high}")
    return value


def _page(items: list[Any], query: dict[str, str]) -> dict[str, Any]:
    number = _int(query, "pageNumber", 0, 0, 10**9)
    size = _int(query, "pageSize", 20, 1, MAX_PAGE)
    content = items[number * size : (number + 1) * size]
    pages = math.ceil(len(items) / size)
    return {
        "content": content,
        "size": size,
        "number": number,
        "totalPages": pages,
        "totalElements": len(items),
        "first": number == 0,
        "last": number >= pages - 1,
    }


def _public(chunk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in chunk.items() if k != "vector"}


class KnowledgeStore:
    """Collections by name, each chunks by id (insertion order kept), with their dimension."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.collections: dict[str, dict[str, dict[str, Any]]] = {}
        self.dimensions: dict[str, int] = {}

    def list_collections(self, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            names = list(self.collections)
        return _page([{"resourceId": f"col-{n}", "name": n} for n in names], query)

    def insert(self, collection: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or set(body) != {"chunks"} or not isinstance(body["chunks"], list):
            raise _bad("the body must be {chunks: [...]}")
        chunks = body["chunks"]
        if not chunks:
            raise _bad("chunks must not be empty")
        if len(chunks) > MAX_INSERT:
            raise _bad(f"at most {MAX_INSERT} chunks per request", 413)
        for chunk in chunks:
            self._check_chunk(chunk)
        dimension = len(chunks[0]["vector"])
        with self.lock:
            known = self.dimensions.get(collection, dimension)
            if any(len(c["vector"]) != known for c in chunks):
                raise _bad(f"vectors of collection {collection!r} have {known} dimensions")
            stored = self.collections.setdefault(collection, {})
            self.dimensions[collection] = known
            for chunk in chunks:
                stored[chunk["chunkId"]] = dict(chunk)
        return {"inserted": len(chunks)}

    @staticmethod
    def _check_chunk(chunk: Any) -> None:
        if not isinstance(chunk, dict) or set(chunk) != _CHUNK_FIELDS:
            missing = sorted(_CHUNK_FIELDS - set(chunk)) if isinstance(chunk, dict) else []
            raise _bad(f"a chunk has exactly the fields {sorted(_CHUNK_FIELDS)}; missing {missing}")
        for name in _CHUNK_FIELDS - {"vector", "metadata"}:
            if not isinstance(chunk[name], str):
                raise _bad(f"chunk field {name} must be a string")
        if not chunk["chunkId"]:
            raise _bad("chunkId must not be empty")
        if len(chunk["key"]) > MAX_TEXT:
            raise _bad(f"chunk text is longer than {MAX_TEXT} characters")
        vector = chunk["vector"]
        try:
            if not isinstance(vector, list) or not vector or not math.isfinite(math.fsum(vector)):
                raise TypeError
        except TypeError:
            raise _bad("vector must be a non-empty list of numbers") from None
        metadata = chunk["metadata"]
        if not isinstance(metadata, list) or not all(
            isinstance(m, dict) and set(m) == {"name", "value"} and all(isinstance(v, str) for v in m.values())
            for m in metadata
        ):
            raise _bad("metadata must be a list of {name, value} strings")

    def list_chunks(self, collection: str, query: dict[str, str]) -> dict[str, Any]:
        source = query.get("mxObjectId") or None
        with self.lock:
            if collection not in self.collections:
                raise _missing(collection)
            items = [
                _public(c) for c in self.collections[collection].values() if source is None or c["mxObjectId"] == source
            ]
        return _page(items, query)

    def delete_chunks(self, collection: str, query: dict[str, str]) -> None:
        source = query.get("mxObjectId")
        if not source:
            raise _bad("mxObjectId is required")
        with self.lock:
            stored = self.collections.get(collection)
            if stored is None:
                raise _missing(collection)
            for chunk_id in [i for i, c in stored.items() if c["mxObjectId"] == source]:
                del stored[chunk_id]

    def drop(self, collection: str) -> None:
        with self.lock:
            if self.collections.pop(collection, None) is None:
                raise _missing(collection)
            self.dimensions.pop(collection, None)

    def similarity(self, collection: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or set(body) != {"k", "targetVector", "metadataFilters"}:
            raise _bad("the body must be {k, targetVector, metadataFilters}")
        k, target, filters = body["k"], body["targetVector"], body["metadataFilters"]
        if not isinstance(k, int) or not 1 <= k <= 1000:
            raise _bad("k must be between 1 and 1000")
        if not isinstance(filters, list) or not all(
            isinstance(f, dict) and set(f) == {"name", "value"} for f in filters
        ):
            raise _bad("metadataFilters must be a list of {name, value}")
        with self.lock:
            stored = self.collections.get(collection)
            if stored is None:
                raise _missing(collection)
            if not isinstance(target, list) or len(target) != self.dimensions[collection]:
                raise _bad(f"targetVector must have {self.dimensions[collection]} dimensions")
            chunks = list(stored.values())
        wanted = {(f["name"], f["value"]) for f in filters}
        scored = []
        for chunk in chunks:
            pairs = {(m["name"], m["value"]) for m in chunk["metadata"]}
            if wanted <= pairs:
                scored.append((_cosine(target, chunk["vector"]), chunk))
        scored.sort(key=lambda pair: -pair[0])
        return {"chunks": [{"chunk": _public(c), "similarity": round(s, 6)} for s, c in scored[:k]]}


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0
