"""Chunks, metadata and their collections: the input and output of embeddings and knowledge bases."""

from __future__ import annotations

import uuid
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs
from attrs import field, frozen

from ..errors import ValidationError
from ._validators import in_range, non_empty

if TYPE_CHECKING:
    FloatArray = array[float]
else:  # array is not subscriptable at run time before Python 3.12
    FloatArray = array

#: An embedding vector: a compact array of 32-bit floats (``array('f')``).
Vector = array


def to_vector(value: Sequence[float] | FloatArray | None) -> FloatArray | None:
    """Normalise a sequence of floats (or bytes-backed array) to ``array('f')``."""
    if value is None:
        return None
    if isinstance(value, array) and value.typecode == "f":
        return value
    try:  # a buffer of float32 (a numpy vector, say) is copied whole, not number by number
        view = memoryview(value)  # type: ignore[arg-type]
    except TypeError:
        view = None
    if view is not None and view.ndim == 1 and view.format == "f" and view.c_contiguous:
        vector = array("f")
        vector.frombytes(view.cast("B"))
        return vector
    try:
        return array("f", value)
    except TypeError as exc:
        raise ValidationError(f"an embedding vector is a sequence of numbers: {exc}") from None


@frozen(kw_only=True)
class Metadata:
    """One key/value pair stored with a chunk and usable as a retrieval filter (``Metadata``)."""

    key: str = field(validator=non_empty)
    value: str = field(converter=str)


def _metadata_tuple(value: Iterable[Metadata] | Mapping[str, str]) -> tuple[Metadata, ...]:
    if isinstance(value, Mapping):
        return tuple(Metadata(key=k, value=v) for k, v in value.items())
    return tuple(value)


@frozen(kw_only=True)
class MetadataCollection:
    """The metadata of one chunk (``MetadataCollection``); keys are unique."""

    items: tuple[Metadata, ...] = field(default=(), converter=_metadata_tuple)

    def __attrs_post_init__(self) -> None:
        keys = [m.key for m in self.items]
        if len(set(keys)) != len(keys):
            raise ValidationError(f"metadata keys must be unique, got {keys}")

    @classmethod
    def with_metadata(cls, key: str, value: str) -> MetadataCollection:
        """A new collection holding one pair ("Initialize MetadataCollection with Metadata")."""
        return cls(items=(Metadata(key=key, value=value),))

    @classmethod
    def of(cls, mapping: Mapping[str, str] | None = None, /, **pairs: str) -> MetadataCollection:
        """A collection from a mapping and/or keyword pairs."""
        return cls(items={**(mapping or {}), **pairs})

    def add(self, key: str, value: str) -> MetadataCollection:
        """A copy with one more pair ("Add Metadata to MetadataCollection")."""
        return MetadataCollection(items=(*self.items, Metadata(key=key, value=value)))

    def as_dict(self) -> dict[str, str]:
        return {m.key: m.value for m in self.items}

    def get(self, key: str, default: str | None = None) -> str | None:
        for item in self.items:
            if item.key == key:
                return item.value
        return default

    def matches(self, required: MetadataCollection) -> bool:
        """True when every required pair is present with exactly that value (the seed's filter)."""
        own = self.as_dict()
        return all(own.get(m.key) == m.value for m in required.items)

    def __iter__(self) -> Iterator[Metadata]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def to_metadata(value: MetadataCollection | Mapping[str, str] | Iterable[Metadata]) -> MetadataCollection:
    """A :class:`MetadataCollection` from itself, a mapping, or pairs."""
    return value if isinstance(value, MetadataCollection) else MetadataCollection(items=value)


@frozen(kw_only=True)
class Chunk:
    """A piece of text and, once embedded, its vector (``Chunk``)."""

    input_text: str = field(validator=non_empty)
    vector: FloatArray | None = field(
        default=None, converter=to_vector, repr=lambda v: "None" if v is None else f"<{len(v)} dims>"
    )

    def with_vector(self, vector: Sequence[float] | FloatArray) -> Chunk:
        return attrs.evolve(self, vector=vector)


def _new_chunk_id() -> str:
    return str(uuid.uuid4())


@frozen(kw_only=True)
class KnowledgeBaseChunk(Chunk):
    """A chunk stored in or retrieved from a knowledge base (``KnowledgeBaseChunk``).

    ``source_id`` and ``source_type`` are the seed's *MxObjectID* and *MxEntity*: the identity and
    kind of the record the chunk was made from, so it can be found again after retrieval.
    """

    chunk_id: str = field(factory=_new_chunk_id, validator=non_empty)
    #: A front-end reference users recognise (URL, document location, record number).
    human_readable_id: str = field(default="", converter=str)
    source_id: str | None = None
    source_type: str | None = None
    metadata: MetadataCollection = field(factory=MetadataCollection, converter=to_metadata)
    #: Cosine similarity to the query, on chunks returned by a retrieval; after reranking, the
    #: rerank model's relevance score (0 to 1).
    similarity: float | None = field(default=None, validator=in_range(-1.0001, 1.0001))
    #: The retrieval's own similarity, on chunks a rerank model re-scored (``similarity`` then
    #: holds the rerank score); None otherwise.
    retrieval_similarity: float | None = field(default=None, validator=in_range(-1.0001, 1.0001))


def _chunk_tuple(value: Iterable[Chunk]) -> tuple[Chunk, ...]:
    return tuple(value)


@frozen(kw_only=True)
class ChunkCollection:
    """Chunks to embed or to store (``ChunkCollection``); may mix plain and knowledge-base chunks."""

    chunks: tuple[Chunk, ...] = field(default=(), converter=_chunk_tuple)

    @classmethod
    def of_texts(cls, texts: Iterable[str]) -> ChunkCollection:
        return cls(chunks=tuple(Chunk(input_text=t) for t in texts))

    def add_chunk(self, input_text: str) -> ChunkCollection:
        """A copy with one more plain chunk ("Chunk: Add Chunk to ChunkCollection")."""
        return ChunkCollection(chunks=(*self.chunks, Chunk(input_text=input_text)))

    def add_knowledge_base_chunk(
        self,
        input_text: str,
        human_readable_id: str,
        *,
        source_id: str | None = None,
        source_type: str | None = None,
        metadata: MetadataCollection | Mapping[str, str] | None = None,
        chunk_id: str | None = None,
    ) -> ChunkCollection:
        """A copy with one more knowledge-base chunk ("Chunk: Add KnowledgeBaseChunk to ChunkCollection")."""
        if metadata is None:
            metadata = MetadataCollection()
        elif not isinstance(metadata, MetadataCollection):
            metadata = MetadataCollection(items=metadata)
        chunk = KnowledgeBaseChunk(
            chunk_id=chunk_id or _new_chunk_id(),
            input_text=input_text,
            human_readable_id=human_readable_id,
            source_id=source_id,
            source_type=source_type,
            metadata=metadata,
        )
        return ChunkCollection(chunks=(*self.chunks, chunk))

    @property
    def texts(self) -> list[str]:
        return [c.input_text for c in self.chunks]

    def with_vectors(self, vectors: Sequence[Sequence[float] | FloatArray]) -> ChunkCollection:
        """A copy whose chunks carry the given vectors, in order."""
        if len(vectors) != len(self.chunks):
            raise ValidationError(f"got {len(vectors)} vectors for {len(self.chunks)} chunks")
        return ChunkCollection(chunks=tuple(c.with_vector(v) for c, v in zip(self.chunks, vectors, strict=True)))

    def __iter__(self) -> Iterator[Chunk]:
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)
