"""The ``[providers.local]`` table: checked by the host as :class:`LocalTable` (an unknown key or a
wrong type is refused naming the file and the key), then placed under the home as :class:`LocalSettings`.

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

from genai_commons import ProviderSettings
from genai_commons.typed_settings import at_least, setting

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
    def from_table(cls, table: LocalTable, home: Path) -> LocalSettings:
        """The settings of a checked ``[providers.local]`` table; relative paths are under ``home``."""
        return cls(
            database=_under(home, table.database),
            index=table.index,
            ann_threshold=table.ann_threshold,
            hnsw_m=table.hnsw_m,
            hnsw_ef_construction=table.hnsw_ef_construction,
            hnsw_ef_search=table.hnsw_ef_search,
            exact_filter_limit=table.exact_filter_limit,
            busy_timeout=table.busy_timeout,
            batch_size=table.batch_size,
            offline=table.offline,
            device=table.device or "cpu",
            runtime=table.runtime or default_runtime(),
            model_cache=_under(home, table.model_cache),
            threads=table.threads,
            models=table.models,
        )

    @classmethod
    def read(cls, settings: ProviderSettings, home: Path) -> LocalSettings:
        """The settings of ``[providers.local]``, checked (see :class:`LocalTable`); relative paths
        are under ``home``."""
        return cls.from_table(settings.typed(LocalTable), home)


def _under(home: Path, path: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else home / path


def _model_table(value: Any) -> dict[str, str]:
    """``{id: name-or-path}``, or a list of names/paths (each its own id)."""
    if isinstance(value, list):
        value = {str(item): item for item in value}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) and v for v in value.values()):
        raise ValueError(
            "models is a table of model id = sentence-transformers name or path "
            '(e.g. e5-small = "/opt/models/multilingual-e5-small"), or a list of names'
        )
    return {str(k): v for k, v in value.items()}


@frozen(kw_only=True)
class LocalTable:
    """``[providers.local]`` as written, checked by the host as a typed class
    (:mod:`genai_commons.typed_settings`): unknown keys and wrong types are refused naming the file
    and the key. :meth:`LocalSettings.from_table` places its paths under the home."""

    database: Path = setting(default=Path(DEFAULT_DATABASE), env="GENAI_LOCAL_DATABASE")
    index: IndexKind = IndexKind.AUTO
    ann_threshold: int = setting(default=100_000, validator=at_least(0))
    hnsw_m: int = setting(default=32, validator=at_least(4))
    hnsw_ef_construction: int = setting(default=64, validator=at_least(8))
    hnsw_ef_search: int = setting(default=128, validator=at_least(8))
    exact_filter_limit: int = setting(default=20_000, validator=at_least(0))
    busy_timeout: float = setting(default=30.0, validator=at_least(0.0))
    batch_size: int = setting(default=64, validator=at_least(1))
    offline: bool = True
    device: str = "cpu"
    #: None: ONNX Runtime where it is installed, else torch.
    runtime: Runtime | None = setting(default=None, env="GENAI_LOCAL_RUNTIME")
    model_cache: Path = setting(default=Path("models"), env="GENAI_LOCAL_MODEL_CACHE")
    threads: int = setting(default=0, validator=at_least(0))
    models: dict[str, str] = setting(factory=dict, converter=_model_table)
