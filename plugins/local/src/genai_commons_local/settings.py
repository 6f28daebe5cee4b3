"""The ``[providers.local]`` table, read once into a frozen class.

::

    [providers.local]
    database = "knowledge.db"     # relative paths are under the home directory (GENAI_HOME)
    index = "auto"                # "exact" | "hnsw" | "auto" (HNSW above ann_threshold chunks)
    ann_threshold = 100000
    hnsw_m = 32
    hnsw_ef_construction = 64
    hnsw_ef_search = 128
    exact_filter_limit = 20000    # a filter keeping at most this many rows is searched exactly
    busy_timeout = 30.0           # seconds to wait for another process's write
    batch_size = 64               # texts per forward pass of an embedding model
    offline = true                # HF_HUB_OFFLINE=1 unless the environment says otherwise
    device = "cpu"                # torch device of the embedding models
    runtime = "onnx"              # "onnx" (the default when onnxruntime is installed) | "torch"
    model_cache = "models"        # exported ONNX models, under the home; env GENAI_LOCAL_MODEL_CACHE
    threads = 0                   # ONNX Runtime threads per run; 0: 1, runs side by side on every core

    [providers.local.models]      # more sentence-transformers models: id = name or path
    e5-small = "/opt/models/multilingual-e5-small"
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from attrs import field, frozen

from genai_commons import ConfigurationError, ProviderSettings

DEFAULT_DATABASE = "knowledge.db"


class Runtime(StrEnum):
    """What runs the local embedding models."""

    #: ONNX Runtime, from a graph exported once per model (no torch in later processes).
    ONNX = "onnx"
    #: sentence-transformers on torch.
    TORCH = "torch"


def default_runtime() -> Runtime:
    """ONNX Runtime where it is installed, else torch."""
    return Runtime.ONNX if importlib.util.find_spec("onnxruntime") is not None else Runtime.TORCH


class IndexKind(StrEnum):
    """How a collection is searched."""

    EXACT = "exact"
    HNSW = "hnsw"
    AUTO = "auto"


def _models(value: Mapping[str, str]) -> dict[str, str]:
    return dict(value)


@frozen(kw_only=True)
class LocalSettings:
    """Everything the local provider is configured with."""

    database: Path
    index: IndexKind = IndexKind.AUTO
    ann_threshold: int = 100_000
    hnsw_m: int = 32
    hnsw_ef_construction: int = 64
    hnsw_ef_search: int = 128
    #: A filter that keeps at most this many rows (or a tenth of the collection) is searched exactly.
    exact_filter_limit: int = 20_000
    busy_timeout: float = 30.0
    batch_size: int = 64
    offline: bool = True
    device: str = "cpu"
    runtime: Runtime = field(factory=default_runtime, converter=Runtime)
    #: Where exported ONNX models are cached; None: ``models`` next to the database.
    model_cache: Path | None = None
    #: ONNX Runtime's threads for one run; 0 for 1 (runs then go side by side, one per usable core).
    threads: int = 0
    #: Extra sentence-transformers models: model id -> Hugging Face name or local path.
    models: dict[str, str] = field(factory=dict, converter=_models)

    @property
    def onnx_cache(self) -> Path:
        """The directory of exported ONNX models: ``model_cache``, else ``models`` beside the database."""
        return self.model_cache if self.model_cache is not None else self.database.parent / "models"

    @classmethod
    def read(cls, settings: ProviderSettings, home: Path) -> LocalSettings:
        """The settings of ``[providers.local]``; relative paths are under ``home``."""
        database = Path(settings.get_str("database", env="GENAI_LOCAL_DATABASE", default=DEFAULT_DATABASE) or "")
        database = database.expanduser()
        raw_index = settings.get_str("index", default=IndexKind.AUTO.value) or ""
        try:
            index = IndexKind(raw_index.lower())
        except ValueError:
            raise ConfigurationError(
                f'[providers.local] index = {raw_index!r}: use "exact", "hnsw" or "auto"'
            ) from None
        return cls(
            database=database if database.is_absolute() else home / database,
            index=index,
            ann_threshold=_int(settings, "ann_threshold", 100_000, minimum=0),
            hnsw_m=_int(settings, "hnsw_m", 32, minimum=4),
            hnsw_ef_construction=_int(settings, "hnsw_ef_construction", 64, minimum=8),
            hnsw_ef_search=_int(settings, "hnsw_ef_search", 128, minimum=8),
            exact_filter_limit=_int(settings, "exact_filter_limit", 20_000, minimum=0),
            busy_timeout=settings.get_float("busy_timeout", default=30.0) or 0.0,
            batch_size=_int(settings, "batch_size", 64, minimum=1),
            offline=settings.get_bool("offline", default=True),
            device=settings.get_str("device", default="cpu") or "cpu",
            runtime=_runtime(settings),
            model_cache=_under(home, settings.get_str("model_cache", env="GENAI_LOCAL_MODEL_CACHE") or "models"),
            threads=_int(settings, "threads", 0, minimum=0),
            models=_model_table(settings.get("models", default={})),
        )


def _runtime(settings: ProviderSettings) -> Runtime:
    raw = settings.get_str("runtime", env="GENAI_LOCAL_RUNTIME")
    if raw is None:
        return default_runtime()
    try:
        return Runtime(raw.lower())
    except ValueError:
        raise ConfigurationError(f'[providers.local] runtime = {raw!r}: use "onnx" or "torch"') from None


def _under(home: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else home / path


def _int(settings: ProviderSettings, key: str, default: int, *, minimum: int) -> int:
    value = settings.get(key, default=default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"[providers.local] {key} must be a whole number of at least {minimum}, got {value!r}")
    return value


def _model_table(value: Any) -> dict[str, str]:
    """``{id: name-or-path}``, or a list of names/paths (each its own id)."""
    if isinstance(value, list):
        value = {str(item): item for item in value}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) and v for v in value.values()):
        raise ConfigurationError(
            "[providers.local] models is a table of model id = sentence-transformers name or path "
            '(e.g. e5-small = "/opt/models/multilingual-e5-small"), or a list of names'
        )
    return {str(k): v for k, v in value.items()}
