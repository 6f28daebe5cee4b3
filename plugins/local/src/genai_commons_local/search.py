"""The query vector: checked against the collection and scaled to unit length."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from genai_commons import ValidationError

from .segments import normalise

if TYPE_CHECKING:
    from .segments import Matrix


def query_vector(vector: Sequence[float], dimension: int | None, collection: str) -> Matrix:
    """The query as a unit float32 vector, checked against the collection's dimension."""
    q = np.asarray(vector, dtype=np.float32)
    if dimension is not None and q.shape != (dimension,):
        raise ValidationError(
            f"the query vector has {q.size} dimensions but collection {collection!r} holds {dimension}-dimension "
            "vectors: embed the query with the collection's embedding model"
        )
    if not np.isfinite(q).all():
        raise ValidationError("the query vector has NaN or infinite numbers")
    return normalise(q)
