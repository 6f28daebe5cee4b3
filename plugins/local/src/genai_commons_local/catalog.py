"""The store's ``collections`` table: a row as :class:`CollectionInfo`, and whether chunks fit it."""

from __future__ import annotations

from collections.abc import Sequence

from attrs import frozen

from genai_commons import DeployedModel, ValidationError

from .wire import model_from_json

#: The columns :func:`collection_info` reads.
SELECT_COLLECTION = "SELECT id, name, uid, dimension, embedding_model, version FROM collections"


@frozen(kw_only=True)
class CollectionInfo:
    """A collection's row."""

    id: int
    name: str
    #: Random; names the collection's files (a collection dropped and created again gets a new one).
    uid: str
    dimension: int | None
    embedding_model: DeployedModel | None
    version: int


def collection_info(row: Sequence[object]) -> CollectionInfo:
    """A row of :data:`SELECT_COLLECTION`."""
    id_, name, uid, dimension, model, version = row
    return CollectionInfo(
        id=int(id_),  # type: ignore[call-overload]
        name=str(name),
        uid=str(uid),
        dimension=None if dimension is None else int(dimension),  # type: ignore[call-overload]
        embedding_model=model_from_json(None if model is None else str(model)),
        version=int(version),  # type: ignore[call-overload]
    )


def check_compatible(info: CollectionInfo, model: DeployedModel | None, dimension: int | None) -> None:
    """A :class:`ValidationError` when vectors of this dimension, or this model, do not fit the collection."""
    stored = info.embedding_model
    if dimension is not None and info.dimension is not None and dimension != info.dimension:
        made_by = f" (embedding model {stored.ref})" if stored is not None else ""
        raise ValidationError(
            f"collection {info.name!r} holds {info.dimension}-dimension vectors{made_by}; these chunks have "
            f"{dimension} dimensions: embed them with the collection's model, ingest into another collection, "
            "or use mode 'repopulate' to replace the whole collection"
        )
    if model is not None and stored is not None and model.ref != stored.ref:
        raise ValidationError(
            f"collection {info.name!r} was embedded with {stored.ref}, not {model.ref}: use the collection's "
            "model, ingest into another collection, or use mode 'repopulate' to re-embed it all"
        )


def replaces_vectors(info: CollectionInfo, model: DeployedModel | None, dimension: int | None) -> bool:
    """Whether starting the collection over with these vectors changes its dimension or model (so
    that its old vectors cannot stay beside the new ones)."""
    stored = info.embedding_model
    if dimension is not None and info.dimension is not None and dimension != info.dimension:
        return True
    return model is not None and stored is not None and model.ref != stored.ref
