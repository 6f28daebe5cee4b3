"""Options and results of embedding calls (``EmbeddingsOptions``, ``EmbeddingsResponse``)."""

from __future__ import annotations

import json
from typing import Any

from attrs import field, frozen

from ..errors import ValidationError
from ._options import CarriesProviderOptions
from ._validators import embedding_purpose, in_range
from .enums import EmbeddingPurpose
from .knowledge import ChunkCollection, FloatArray


@frozen(kw_only=True)
class EmbeddingsOptions(CarriesProviderOptions):
    """Optional settings of an embedding call ("Embeddings: Create EmbeddingsOptions")."""

    #: Number of dimensions of the output vectors, for models that can shorten them.
    dimensions: int | None = field(default=None, validator=in_range(1, None))
    #: Documents to store, or a query to search with.
    purpose: EmbeddingPurpose = field(default=EmbeddingPurpose.DOCUMENT, converter=embedding_purpose)
    #: Ask the model for unit-length vectors, where it offers the choice.
    normalize: bool = True

    #: Provider-specific option objects (a plugin's own small frozen class); see :meth:`option`.
    provider_options: tuple[Any, ...] = field(default=(), converter=tuple)


@frozen(kw_only=True)
class EmbeddingsResponse:
    """What an embedding call returns: the chunks with their vectors, and token usage."""

    chunks: ChunkCollection
    #: Tokens of the input (the seed's ``PromptTokens``), when the provider reports them.
    input_tokens: int | None = field(default=None, validator=in_range(0, None))
    total_tokens: int | None = field(default=None, validator=in_range(0, None))
    duration_ms: float | None = field(default=None, validator=in_range(0, None))
    model_id: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.total_tokens is None and self.input_tokens is not None:
            object.__setattr__(self, "total_tokens", self.input_tokens)

    @property
    def vectors(self) -> list[FloatArray]:
        out = []
        for chunk in self.chunks:
            if chunk.vector is None:
                raise ValidationError("a chunk of this response has no vector")
            out.append(chunk.vector)
        return out

    def first_vector(self) -> FloatArray:
        """The first vector ("Embeddings: Get the First Vector from Response")."""
        if not self.chunks.chunks or self.chunks.chunks[0].vector is None:
            raise ValidationError("this response holds no vector")
        return self.chunks.chunks[0].vector

    def first_vector_string(self) -> str:
        """The first vector as the seed returns it: a string, here a JSON array."""
        return json.dumps(self.first_vector().tolist())
