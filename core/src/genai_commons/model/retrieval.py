"""Knowledge-base retrieval and ingestion: queries, portable metadata filters, ingestion results,
and the results of a provider-side sync (a knowledge base that ingests from its own data source).

The portable filter form (:class:`Eq`, :class:`In`, :class:`Range`, :class:`And`, :class:`Or`,
:class:`Not`) is translated by each backend into its own query language; values are always data,
never query text. :meth:`Filter.matches` evaluates a filter in memory, for backends without one.

:class:`SearchType` is the portable choice between nearest-neighbour, keyword (BM25) and hybrid
search; see ``docs/knowledge-bases.md`` for what each backend does with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from enum import StrEnum

from attrs import field, frozen

from ..errors import ValidationError
from ._validators import in_range, non_empty, to_enum
from .enums import SearchType
from .knowledge import FloatArray, KnowledgeBaseChunk, MetadataCollection, to_vector


def _as_number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _text(value: object) -> str:
    """A filter key or value as text that every backend can store: valid Unicode (no lone
    surrogate, which arrives from undecodable command-line bytes)."""
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"filter text {text!r} is not valid Unicode (it holds a lone surrogate)") from None
    return text


def _key(_instance: object, _attribute: object, value: str) -> None:
    non_empty(_instance, _attribute, value)
    _text(value)


def _str_values(value: Iterable[object]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValidationError("filter 'in' takes a list of values, not a single string")
    return tuple(_text(x) for x in value)


@frozen(kw_only=True)
class Eq:
    """Metadata ``key`` equals ``value`` exactly."""

    key: str = field(validator=_key)
    value: str = field(converter=_text)

    def matches(self, metadata: Mapping[str, str]) -> bool:
        return metadata.get(self.key) == self.value


@frozen(kw_only=True)
class In:
    """Metadata ``key`` equals one of ``values``."""

    key: str = field(validator=_key)
    values: tuple[str, ...] = field(converter=_str_values)

    def __attrs_post_init__(self) -> None:
        if not self.values:
            raise ValidationError(f"filter 'in' on {self.key!r} needs at least one value")

    def matches(self, metadata: Mapping[str, str]) -> bool:
        return metadata.get(self.key) in self.values


@frozen(kw_only=True)
class Range:
    """Metadata ``key``, read as a number, lies within the bounds given."""

    key: str = field(validator=_key)
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    def __attrs_post_init__(self) -> None:
        if all(b is None for b in (self.gt, self.gte, self.lt, self.lte)):
            raise ValidationError(f"filter 'range' on {self.key!r} needs at least one bound")

    def matches(self, metadata: Mapping[str, str]) -> bool:
        number = _as_number(metadata.get(self.key))
        if number is None:
            return False
        return (
            (self.gt is None or number > self.gt)
            and (self.gte is None or number >= self.gte)
            and (self.lt is None or number < self.lt)
            and (self.lte is None or number <= self.lte)
        )


def _filters(value: Iterable[Filter]) -> tuple[Filter, ...]:
    return tuple(value)


def _kb_chunks(value: Iterable[KnowledgeBaseChunk]) -> tuple[KnowledgeBaseChunk, ...]:
    return tuple(value)


@frozen(kw_only=True)
class And:
    """Every filter matches."""

    filters: tuple[Filter, ...] = field(converter=_filters)

    def matches(self, metadata: Mapping[str, str]) -> bool:
        return all(f.matches(metadata) for f in self.filters)


@frozen(kw_only=True)
class Or:
    """At least one filter matches."""

    filters: tuple[Filter, ...] = field(converter=_filters)

    def __attrs_post_init__(self) -> None:
        if not self.filters:
            raise ValidationError("filter 'or' needs at least one filter")

    def matches(self, metadata: Mapping[str, str]) -> bool:
        return any(f.matches(metadata) for f in self.filters)


@frozen(kw_only=True)
class Not:
    """The filter does not match."""

    filter: Filter

    def matches(self, metadata: Mapping[str, str]) -> bool:
        return not self.filter.matches(metadata)


#: The portable metadata filter form.
Filter = Eq | In | Range | And | Or | Not


def exact_match(metadata: MetadataCollection | Mapping[str, str]) -> Filter:
    """The seed's filter: every pair must match exactly."""
    pairs = metadata.as_dict() if isinstance(metadata, MetadataCollection) else dict(metadata)
    return And(filters=[Eq(key=k, value=v) for k, v in pairs.items()])


def _search_type(value: object) -> SearchType | None:
    return None if value is None else to_enum(SearchType)(value)


@frozen(kw_only=True)
class RetrievalQuery:
    """A retrieval query: a text, a vector, or both, and how to rank (:class:`SearchType`).

    The host embeds a text-only ``vector`` or ``hybrid`` query with the knowledge base's embedding
    model before the provider sees it, so a provider that searches by vector always gets one; a
    provider that embeds server-side (no embedding model on the knowledge base) gets the text. A
    ``keyword`` query is never embedded.
    """

    text: str | None = None
    vector: FloatArray | None = field(default=None, converter=to_vector)
    k: int = field(default=5, validator=in_range(1, 10_000))
    min_similarity: float | None = field(default=None, validator=in_range(-1.0, 1.0))
    #: Exact-match pairs that must all match (the seed's MetadataCollection filter).
    metadata: MetadataCollection = field(factory=MetadataCollection)
    #: A portable filter, combined with ``metadata`` by AND.
    filter: Filter | None = None
    #: How to rank; None: the configured default (``[knowledge] search_type``). The host resolves
    #: it before the provider sees the query; a provider called directly treats None as ``vector``.
    search_type: SearchType | None = field(default=None, converter=_search_type)

    def __attrs_post_init__(self) -> None:
        if self.text is None and self.vector is None:
            raise ValidationError("a retrieval query needs a text or a vector")
        if self.text is not None and not self.text.strip():
            raise ValidationError("a retrieval query's text must not be empty")

    def combined_filter(self) -> Filter | None:
        """``metadata`` and ``filter`` as one portable filter, or None when there is neither."""
        parts: list[Filter] = []
        if len(self.metadata):
            parts.append(exact_match(self.metadata))
        if self.filter is not None:
            parts.append(self.filter)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else And(filters=parts)


class IngestMode(StrEnum):
    """How ingested chunks meet what the collection holds."""

    #: Add the chunks; chunks with an id already stored are replaced.
    INSERT = "insert"
    #: Delete every chunk of the chunks' source objects first, then add.
    REPLACE = "replace"
    #: Delete the whole collection's chunks first, then add.
    REPOPULATE = "repopulate"


@frozen(kw_only=True)
class IngestResult:
    """What an ingestion changed."""

    inserted: int = field(default=0, validator=in_range(0, None))
    deleted: int = field(default=0, validator=in_range(0, None))
    unchanged: int = field(default=0, validator=in_range(0, None))
    #: Embedding tokens spent, when the backend embedded and its model reports them.
    input_tokens: int | None = field(default=None, validator=in_range(0, None))
    duration_ms: float | None = field(default=None, validator=in_range(0, None))


@frozen(kw_only=True)
class RetrievalResult:
    """The chunks a retrieval returned, most similar first."""

    chunks: tuple[KnowledgeBaseChunk, ...] = field(default=(), converter=_kb_chunks)
    input_tokens: int | None = field(default=None, validator=in_range(0, None))
    duration_ms: float | None = field(default=None, validator=in_range(0, None))

    def __iter__(self) -> Iterator[KnowledgeBaseChunk]:
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)


class SyncStatus(StrEnum):
    """Where a provider-side ingestion job stands (Bedrock's ingestion job status)."""

    STARTING = "starting"
    IN_PROGRESS = "in_progress"
    STOPPING = "stopping"
    COMPLETE = "complete"
    FAILED = "failed"
    STOPPED = "stopped"

    @property
    def finished(self) -> bool:
        """Whether the job has ended, successfully or not."""
        return self in (SyncStatus.COMPLETE, SyncStatus.FAILED, SyncStatus.STOPPED)


def _sync_status(value: object) -> SyncStatus:
    return to_enum(SyncStatus)(value)


def _reasons(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValidationError("failure_reasons takes a list of strings, not a single string")
    return tuple(str(v) for v in value)


def _jobs(value: Iterable[SyncJob]) -> tuple[SyncJob, ...]:
    return tuple(value)


@frozen(kw_only=True)
class SyncJob:
    """One provider-side ingestion job: a knowledge base reading one of its data sources (a
    bucket, a site) again, with the provider's document statistics."""

    job_id: str = field(validator=non_empty)
    data_source_id: str = field(validator=non_empty)
    status: SyncStatus = field(converter=_sync_status)
    #: Documents the job looked at in the data source.
    documents_scanned: int = field(default=0, validator=in_range(0, None))
    #: New documents indexed.
    documents_added: int = field(default=0, validator=in_range(0, None))
    #: Changed documents indexed again.
    documents_modified: int = field(default=0, validator=in_range(0, None))
    #: Documents gone from the data source, and so from the knowledge base.
    documents_deleted: int = field(default=0, validator=in_range(0, None))
    documents_failed: int = field(default=0, validator=in_range(0, None))
    failure_reasons: tuple[str, ...] = field(default=(), converter=_reasons)
    started_at: datetime | None = None
    updated_at: datetime | None = None


@frozen(kw_only=True)
class SyncResult:
    """What a sync started: one job per data source, as they stood when the call returned (finished
    when the caller waited, unless the wait timed out)."""

    jobs: tuple[SyncJob, ...] = field(default=(), converter=_jobs)
    duration_ms: float | None = field(default=None, validator=in_range(0, None))

    @property
    def finished(self) -> bool:
        """Whether every job has ended."""
        return all(job.status.finished for job in self.jobs)

    @property
    def succeeded(self) -> bool:
        """Whether every job completed without failing."""
        return all(job.status is SyncStatus.COMPLETE for job in self.jobs)
