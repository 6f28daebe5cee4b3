"""Embedding and image-generation calls of the host."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import attrs

from ._host_base import HostBase, ModelRef
from .capabilities import check_model
from .errors import ProviderError, ValidationError
from .fallbacks import over_targets
from .model.enums import Capability, Modality

if TYPE_CHECKING:
    from .model import (
        ChunkCollection,
        DeployedModel,
        EmbeddingsOptions,
        EmbeddingsResponse,
        ImageOptions,
        Response,
    )


class MediaCalls(HostBase):
    """``embed``, ``aembed``, ``generate_image``, ``agenerate_image``."""

    def _embed_input(
        self, model: ModelRef, inputs: str | Iterable[str] | ChunkCollection
    ) -> tuple[DeployedModel, ChunkCollection]:
        from .model.knowledge import ChunkCollection  # noqa: PLC0415

        deployed = self.model(model)
        check_model(deployed, Modality.EMBEDDINGS, "embeddings")
        self._route(deployed.provider, Capability.EMBED, deployed.model_id)
        if isinstance(inputs, str):
            chunks = ChunkCollection.of_texts([inputs])
        elif isinstance(inputs, ChunkCollection):
            chunks = inputs
        else:
            chunks = ChunkCollection.of_texts(inputs)
        if not len(chunks):
            raise ValidationError("nothing to embed: give at least one text")
        if deployed.max_input_tokens is not None:
            from .knowledge.token_limits import warn_if_truncated  # noqa: PLC0415

            warn_if_truncated(self, deployed, chunks.texts)
        return deployed, chunks

    def count_tokens(self, model: ModelRef, texts: Sequence[str]) -> list[int] | None:
        """How many tokens ``model`` reads for each text, counted by its provider with the model's
        own tokenizer (special tokens included); ``None`` when no provider counts for that model
        (:func:`genai_commons.knowledge.token_limits.estimate_tokens` then gives an estimate)."""
        deployed = self.model(model)
        if not texts:
            return []
        counted = self._hook.genai_count_tokens(model=deployed, texts=list(texts))
        if counted is None:
            return None
        counts = [int(count) for count in counted]
        if len(counts) != len(texts):
            raise ProviderError(
                f"provider {deployed.provider!r} counted tokens for {len(counts)} texts of {len(texts)}; "
                "report this to the plugin's authors",
                provider=deployed.provider,
            )
        return counts

    def _embedded(self, deployed: DeployedModel, result: EmbeddingsResponse, started: float) -> EmbeddingsResponse:
        if result.duration_ms is None:
            result = attrs.evolve(result, duration_ms=(time.perf_counter() - started) * 1000)
        self._record(
            deployed.provider,
            deployed.display_name,
            deployed.model_id,
            "embed",
            input_tokens=result.input_tokens,
            output_tokens=0,
            total_tokens=result.total_tokens,
            duration_ms=result.duration_ms or 0.0,
        )
        return result

    def embed(
        self,
        model: ModelRef,
        inputs: str | Iterable[str] | ChunkCollection,
        options: EmbeddingsOptions | None = None,
    ) -> EmbeddingsResponse:
        """Embeddings of a string, of strings, or of a chunk collection (returned with vectors)."""
        from .model.embeddings import EmbeddingsOptions  # noqa: PLC0415

        deployed, chunks = self._embed_input(model, inputs)
        opts = options or EmbeddingsOptions()
        started = time.perf_counter()
        result = self._call(
            deployed.provider,
            Capability.EMBED,
            lambda: self._hook.genai_embed(model=deployed, chunks=chunks, options=opts),
        )
        return self._embedded(deployed, result, started)

    async def aembed(
        self,
        model: ModelRef,
        inputs: str | Iterable[str] | ChunkCollection,
        options: EmbeddingsOptions | None = None,
    ) -> EmbeddingsResponse:
        """:meth:`embed`, async."""
        from .model.embeddings import EmbeddingsOptions  # noqa: PLC0415

        deployed, chunks = self._embed_input(model, inputs)
        opts = options or EmbeddingsOptions()
        started = time.perf_counter()
        result = await self._call_async(
            deployed.provider,
            Capability.EMBED,
            lambda: self._hook.genai_embed_async(model=deployed, chunks=chunks, options=opts),
        )
        return self._embedded(deployed, result, started)

    def _image_input(self, model: ModelRef, prompt: str) -> DeployedModel:
        deployed = self.model(model)
        check_model(deployed, Modality.IMAGE, "image generation")
        self._route(deployed.provider, Capability.IMAGE, deployed.model_id)
        if not prompt or not prompt.strip():
            raise ValidationError("an image prompt must not be empty")
        return deployed

    @over_targets
    def generate_image(self, model: ModelRef, prompt: str, options: ImageOptions | None = None) -> Response:
        """Images from a text description; see :meth:`Response.generated_images`."""
        from .model.images import ImageOptions  # noqa: PLC0415

        deployed = self._image_input(model, prompt)
        opts = options or ImageOptions()
        started = time.perf_counter()
        response = self._call(
            deployed.provider,
            Capability.IMAGE,
            lambda: self._hook.genai_generate_image(model=deployed, prompt=prompt, options=opts),
        )
        response = self._timed(response, started)
        self._record_response(deployed, "image", response, 1)
        return response

    @over_targets
    async def agenerate_image(self, model: ModelRef, prompt: str, options: ImageOptions | None = None) -> Response:
        """:meth:`generate_image`, async."""
        from .model.images import ImageOptions  # noqa: PLC0415

        deployed = self._image_input(model, prompt)
        opts = options or ImageOptions()
        started = time.perf_counter()
        response = await self._call_async(
            deployed.provider,
            Capability.IMAGE,
            lambda: self._hook.genai_generate_image_async(model=deployed, prompt=prompt, options=opts),
        )
        response = self._timed(response, started)
        self._record_response(deployed, "image", response, 1)
        return response
