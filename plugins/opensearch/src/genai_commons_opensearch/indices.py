"""Collections as indices: describe, create on first ingest, list by prefix, drop.

An index belongs to the plugin when its mapping carries ``_meta.genai_commons`` and a
``knn_vector`` field ``vector``; indices under the prefix without them are left alone (not listed,
never written to or deleted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from genai_commons import KnowledgeBase, ValidationError, get_logger

from .errors import translated_errors
from .mapping import IndexInfo, IndexLayout, index_body, index_info, index_name

if TYPE_CHECKING:
    from .client import LazyClient

log = get_logger(__name__)


class Indices:
    """Index operations of one provider instance."""

    def __init__(self, client: LazyClient, provider: str) -> None:
        self._client = client
        self._provider = provider
        settings = client.settings
        self.prefix = settings.index_prefix
        self.layout = IndexLayout(
            engine=settings.engine,
            m=settings.hnsw_m,
            ef_construction=settings.hnsw_ef_construction,
            number_of_shards=settings.number_of_shards,
            number_of_replicas=settings.number_of_replicas,
        )

    def name(self, collection: str) -> str:
        return index_name(self.prefix, collection)

    def describe(self, collection: str) -> IndexInfo | None:
        """The collection's index, or None when there is none; an index of that name that the plugin
        did not make is refused."""
        name = self.name(collection)
        with translated_errors(self._provider, self._client.settings.url, f"reading index {name}"):
            # ignore=404: a missing index is an answer here, not an error (nor a logged warning)
            answer = self._client.get().indices.get_mapping(index=name, ignore=404)
            if answer.get("status") == 404 and "error" in answer:
                return None
            found = [(index, index_info(index, entry.get("mappings") or {})) for index, entry in answer.items()]
        for index, info in found:
            if info is None:
                raise ValidationError(
                    f"index {index!r} exists but was not created by genai-commons (it has no _meta.genai_commons or "
                    f"no knn_vector field 'vector'); choose another collection name or index_prefix"
                )
            return info
        return None

    def ensure(self, knowledge_base: KnowledgeBase, dimension: int) -> IndexInfo:
        """The collection's index, created for ``dimension``-dimensional vectors when missing; an
        existing one must hold vectors of that dimension from the same embedding model."""
        from opensearchpy.exceptions import RequestError  # noqa: PLC0415

        info = self.describe(knowledge_base.collection)
        if info is None:
            name = self.name(knowledge_base.collection)
            body = index_body(
                knowledge_base.collection,
                dimension,
                self.layout,
                knowledge_base.embedding_model,
                knowledge_base.description,
            )
            with translated_errors(self._provider, self._client.settings.url, f"creating index {name}"):
                try:
                    self._client.get().indices.create(index=name, body=body)
                except RequestError as exc:
                    if exc.error != "resource_already_exists_exception":
                        raise
                    info = self.describe(knowledge_base.collection)  # made meanwhile by another writer
                else:
                    log.info("index_created", index=name, dimension=dimension, engine=self.layout.engine)
                    return IndexInfo(
                        index=name,
                        collection=knowledge_base.collection,
                        dimension=dimension,
                        embedding_model=knowledge_base.embedding_model,
                        description=knowledge_base.description,
                    )
            if info is None:
                raise ValidationError(f"index {name!r} vanished while it was being created; ingest again")
        _check_compatible(info, knowledge_base, dimension)
        return info

    def list(self) -> list[IndexInfo]:
        """The plugin's collections under the prefix, by index name."""
        pattern = f"{self.prefix}*"
        with translated_errors(self._provider, self._client.settings.url, "listing indices"):
            answer = self._client.get().indices.get_mapping(
                index=pattern, allow_no_indices=True, expand_wildcards="open"
            )
            found = [index_info(index, entry.get("mappings") or {}) for index, entry in sorted(answer.items())]
        return [info for info in found if info is not None]

    def drop(self, collection: str) -> bool:
        """Delete the collection's index; whether it existed."""
        info = self.describe(collection)
        if info is None:
            return False
        with translated_errors(self._provider, self._client.settings.url, f"deleting index {info.index}"):
            answer = self._client.get().indices.delete(index=info.index, ignore=404)
        if answer.get("status") == 404 and "error" in answer:
            return False  # deleted meanwhile by someone else
        log.info("index_deleted", index=info.index)
        return True


def _check_compatible(info: IndexInfo, knowledge_base: KnowledgeBase, dimension: int) -> None:
    stored = info.embedding_model
    wanted = knowledge_base.embedding_model
    if (
        stored is not None
        and wanted is not None
        and (stored.provider, stored.model_id)
        != (
            wanted.provider,
            wanted.model_id,
        )
    ):
        raise ValidationError(
            f"collection {info.collection!r} holds vectors of {stored.ref}, not of {wanted.ref}: use its model, or "
            f"drop the collection (genai kb delete) and ingest everything again with the new one"
        )
    if info.dimension != dimension:
        raise ValidationError(
            f"collection {info.collection!r} holds {info.dimension}-dimensional vectors and these chunks have "
            f"{dimension}: embed them with the collection's model, or drop the collection and ingest again"
        )
